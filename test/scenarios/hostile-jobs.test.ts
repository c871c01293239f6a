import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { alive, sandboxChildren } from '../support/process-tree';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';

/** A small iris job; `tags` may carry the test-only stall tag. */
function job(overrides: Record<string, unknown> = {}) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 3, batchSize: 16, seed: 1 },
    ...overrides,
  };
}

async function submit(stack: KilnStack, body: unknown, tenant = 'acme'): Promise<{ status: number; jobId: string }> {
  const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(tenant), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as { jobId: string };
  return { status: res.status, jobId: json.jobId };
}

/** Polls a job until its first epoch is reported (a stall-tagged job is stuck right after it). */
async function firstEpoch(stack: KilnStack, jobId: string): Promise<void> {
  for (let i = 0; ; i++) {
    const view = (await (await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth() })).json()) as any;
    if (view.progress.epoch !== null) return;
    assert.ok(i < 600 && view.status !== 'failed', `job ${jobId} reached its first epoch (${view.status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ENV = {
  KILN_TEST_STALL_TAG: 'stall',
  KILN_STALL_TIMEOUT_SECONDS: '6',
  KILN_CANCEL_GRACE_SECONDS: '1',
  KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0',
  KILN_TENANT_MAX_RUNNING: '0',
};

describe('hostile jobs hurt only themselves', () => {
  let stack: KilnStack;
  before(async () => {
    stack = await startStack({ name: 'hostile', env: ENV });
  });
  after(async () => {
    await stack?.close();
    // Hygiene should an assertion fail: no training process of this test outlives it.
    for (const pid of sandboxChildren(process.pid)) process.kill(pid, 'SIGKILL');
  });

  test('a job whose checkpoint upload fails (ENAMETOOLONG) does not fail the next tenant\'s job', async () => {
    // A path segment no file system takes. Admission may refuse it outright (then there is no bad
    // job to run, and the other tenant's job must succeed all the same).
    const bad = await submit(stack, job({ callbacks: { modelCheckpoint: { filepath: 'c'.repeat(300) + '-{epoch:02d}' } } }));
    const good = await submit(stack, job(), 'globex');
    assert.equal(good.status, 202);
    if (bad.status === 202) {
      const view = await waitForJob(stack, bad.jobId, 90000);
      assert.equal(view.status, 'failed', 'the job with the unstorable checkpoint fails');
    } else {
      assert.equal(bad.status, 400);
    }
    const view = await waitForJob(stack, good.jobId, 90000, 'globex');
    assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
    assert.equal(view.attempts, 1, 'the other tenant\'s job succeeded on its first attempt');
  });

  test('a job stuck in its training thread fails once as TRAINING_STALLED and the worker goes on', async () => {
    const stuck = await submit(stack, job({ tags: { stall: '0' } }));
    const view = await waitForJob(stack, stuck.jobId, 90000);
    assert.equal(view.status, 'failed');
    assert.equal(view.error.code, 'TRAINING_STALLED');
    assert.equal(view.attempts, 1, 'not retried');
    const next = await submit(stack, job());
    assert.equal((await waitForJob(stack, next.jobId, 90000)).status, 'succeeded');
  });

  test('cancel stops a job stuck in its training thread: killed after the grace period, it ends cancelled', async () => {
    const stuck = await submit(stack, job({ tags: { stall: '0' } }));
    await firstEpoch(stack, stuck.jobId);
    const res = await fetch(`${stack.base}/v1/jobs/${stuck.jobId}`, { method: 'DELETE', headers: stack.auth() });
    assert.equal(res.status, 202);
    const view = await waitForJob(stack, stuck.jobId, 90000);
    assert.equal(view.status, 'cancelled');
    assert.equal(view.stopReason, 'cancelled');
    assert.equal(view.progress.epoch, 0);
    // The run says so too, although its process could not write it (the worker records it as the job ends).
    for (let i = 0; ; i++) {
      const run = (await (await fetch(`${stack.base}/v1/runs/${view.runId}`, { headers: stack.auth() })).json()) as any;
      if (run.status === 'cancelled') break;
      assert.ok(i < 100, `run.json says ${run.status}, not cancelled`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe('training processes die with their worker', () => {
  let stack: KilnStack;
  before(async () => {
    stack = await startStack({ name: 'orphans', worker: false, env: { ...ENV, KILN_STALL_TIMEOUT_SECONDS: '600' } });
  });
  after(async () => stack?.close());

  test('after SIGKILL of the worker parent, its stuck training process and its spare exit (no orphans)', async () => {
    // A real worker process (dist/worker/main.js) on the stack's Redis prefix and store; startStack
    // put the stack's settings in this process's environment.
    const worker = spawn(process.execPath, ['--openssl-legacy-provider', join(__dirname, '../../dist/worker/main.js')], { env: process.env, stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = once(worker, 'exit');
    let children: number[] = [];
    try {
      const stuck = await submit(stack, job({ tags: { stall: '0' } }));
      await firstEpoch(stack, stuck.jobId);
      children = sandboxChildren(worker.pid!);
      assert.ok(children.length >= 1, 'the worker runs the job in a child process');
      worker.kill('SIGKILL');
      await exited;
      // The orphan guard looks every 500 ms; generous bound for a loaded machine.
      const deadline = Date.now() + 15000;
      while (children.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(children.filter(alive), [], 'no training process outlived its worker');
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      // Hygiene should the assertion fail: kill what survived.
      for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });
});
