import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createStore } from '../../store/create-store';
import { S3FaultProxy } from '../support/s3-fault-proxy';
import { startS3Server, type TestS3Server } from '../support/s3-server';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';

/**
 * Issue 14, "infrastructure faults wait": a store that refuses every write mid-run pauses the job,
 * which shows that it waits and why, and finishes on its first attempt once the store takes writes
 * again, each epoch once. (The fault suite, test/faults/run.ts, holds the store read-only for
 * 5 minutes; this is the short version.)
 */
let s3: TestS3Server;
let proxy: S3FaultProxy;
let stack: KilnStack;

before(async () => {
  s3 = await startS3Server();
  proxy = await S3FaultProxy.start(s3.endpoint);
  stack = await startStack({ name: 'store-outage', store: { uri: s3.uri, endpoint: proxy.endpoint } });
});
after(async () => {
  await stack?.close();
  await proxy?.close();
  await s3?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function view(jobId: string): Promise<any> {
  return (await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth() })).json();
}

async function until(jobId: string, ok: (v: any) => boolean, what: string, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await view(jobId);
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify({ status: v.status, epoch: v.progress?.epoch, waiting: v.waiting })}`);
    await sleep(100);
  }
}

test('a store that refuses writes mid-run pauses the job, shown as waiting, and it finishes on its first attempt once writes come back', { timeout: 90000 }, async () => {
  const epochs = 24;
  const res = await fetch(`${stack.base}/v1/jobs`, {
    method: 'POST',
    headers: { ...stack.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({
      model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
      compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
      data: { builtin: 'iris', validationSplit: 0.3 },
      fit: { epochs, batchSize: 8, seed: 2 },
    }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const { jobId, runId } = (await res.json()) as { jobId: string; runId: string };
  await until(jobId, (v) => v.status === 'running' && v.progress.epoch !== null && v.progress.epoch >= 1, 'reach epoch 1', 60000);

  proxy.readOnly = true;
  let waiting;
  try {
    waiting = await until(jobId, (v) => v.waiting !== null && v.waiting !== undefined, 'show the job as waiting', 20000);
    assert.equal(waiting.status, 'running');
    assert.equal(waiting.waiting.reason, 'store_unavailable');
    assert.match(waiting.waiting.detail, /503|ServiceUnavailable|read-only/);
    assert.ok(Date.parse(waiting.waiting.until) > Date.parse(waiting.waiting.since), 'says until when it waits');
    // Paused: no epoch is reported while nothing can be stored.
    await sleep(1500);
    assert.equal((await view(jobId)).progress.epoch, waiting.progress.epoch, 'training does not run ahead of the store');
  } finally {
    proxy.readOnly = false;
  }

  const done = await waitForJob(stack, jobId, 60000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.attempts, 1, 'the outage spent no attempt');
  assert.equal(done.waiting, null);
  assert.deepEqual(done.interruptions.map((i: any) => i.reason), ['store_unavailable']);
  assert.ok(proxy.counts.writesRefused > 0);

  const store = createStore({ uri: s3.uri, s3: s3.s3Options });
  const run = JSON.parse((await store.get(`acme/runs/${runId}/run.json`))!.toString('utf8'));
  assert.deepEqual(run.history.map((h: any) => h.epoch), Array.from({ length: epochs }, (_, i) => i), 'every epoch once');
  const best = JSON.parse((await store.get(`acme/runs/${runId}/best.json`))!.toString('utf8'));
  assert.ok(await store.head(`${best.key}/weights.bin`), 'best.json names a stored checkpoint');
  await store.close?.();
});
