import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createStore } from '../../store/create-store';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';

function job(overrides: Record<string, unknown> = {}) {
  return {
    model: { inputShape: [64], layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dense', units: 10, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'digits', validationSplit: 0.2, standardize: true },
    fit: { epochs: 200, batchSize: 8, seed: 1 },
    ...overrides,
  };
}

describe('cancellation, time limits and user errors', () => {
  let stack: KilnStack;
  before(async () => {
    stack = await startStack({ name: 'cancel' });
  });
  after(async () => stack?.close());

  const submit = async (body: unknown) => {
    const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 202, await res.clone().text());
    return (await res.json()) as { jobId: string; runId: string };
  };

  test('a running job stops soon after DELETE, keeps its best checkpoint and ends cancelled', async () => {
    const { jobId } = await submit(job());
    // Wait until at least one epoch (and so one best checkpoint) is done.
    for (let i = 0; ; i++) {
      const view = (await (await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth() })).json()) as any;
      if (view.status === 'running' && view.progress.epoch !== null && view.best) break;
      assert.ok(i < 600, 'the job started and finished an epoch');
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancelledAt = Date.now();
    const res = await fetch(`${stack.base}/v1/jobs/${jobId}`, { method: 'DELETE', headers: stack.auth() });
    assert.equal(res.status, 202);
    const view = await waitForJob(stack, jobId, 30000);
    const took = Date.now() - cancelledAt;
    assert.equal(view.status, 'cancelled');
    assert.equal(view.stopReason, 'cancelled');
    assert.ok(view.progress.epoch < 199, 'it did not run to the end');
    assert.ok(view.best, 'the best checkpoint is kept');
    assert.ok(took < 10000, `stopped within one batch or so (took ${took} ms)`);
    const model = await fetch(`${stack.base}/v1/runs/run_${jobId.slice(4)}/model/model.json`, { headers: stack.auth() });
    assert.equal(model.status, 200);
  });

  test('maxRuntimeSeconds stops training like a cancel, keeps the best, and says why', async () => {
    const { jobId } = await submit(job({ maxRuntimeSeconds: 2 }));
    const view = await waitForJob(stack, jobId, 60000);
    assert.equal(view.status, 'succeeded');
    assert.equal(view.stopReason, 'max_runtime');
    assert.ok(view.progress.epoch < 199);
  });

  test('a user error in the data fails the job at once, without retries, with a message naming the problem', async () => {
    const store = createStore(stack.storeUri);
    await store.put('acme/datasets/bad.csv', 'a,b,label\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n');
    const { jobId } = await submit({
      model: { inputShape: [2], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
      compile: { optimizer: { name: 'sgd' }, loss: 'categorical_crossentropy' },
      data: { uri: 'datasets/bad.csv', labelColumn: 'label' },
      fit: { epochs: 2 },
    });
    const view = await waitForJob(stack, jobId, 60000);
    assert.equal(view.status, 'failed');
    assert.equal(view.error.code, 'DATASET_INVALID');
    assert.match(view.error.detail, /oops/);
    assert.equal(view.attempts, 1, 'not retried');
    const run = (await (await fetch(`${stack.base}/v1/runs/run_${jobId.slice(4)}`, { headers: stack.auth() })).json()) as any;
    assert.equal(run.status, 'failed');
    assert.equal(run.error.code, 'DATASET_INVALID');
  });

  test('a missing dataset object fails the job with a message naming the object', async () => {
    const { jobId } = await submit({
      model: { inputShape: [2], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
      compile: { optimizer: { name: 'sgd' }, loss: 'categorical_crossentropy' },
      data: { uri: 'datasets/missing.csv', labelColumn: 'label' },
      fit: { epochs: 2 },
    });
    const view = await waitForJob(stack, jobId, 60000);
    assert.equal(view.status, 'failed');
    assert.equal(view.error.code, 'DATASET_INVALID');
    assert.match(view.error.detail, /missing\.csv/);
  });
});
