import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { splitRow } from '../../core/callbacks/csv-logger';
import { createStore } from '../../store/create-store';
import { loadConfig as loadWorkerConfig } from '../../worker/config';
import { startWorker } from '../../worker/main';
import { selectBackend } from '../../worker/tfjs/backend';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { trainLocally } from '../support/run-locally';

const DIST = join(__dirname, '../../dist/worker');

function spec(overrides: Record<string, unknown> = {}) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
    fit: { epochs: 30, batchSize: 4, seed: 3 },
    callbacks: { reduceLROnPlateau: { monitor: 'val_loss', patience: 2, factor: 0.5 } },
    ...overrides,
  };
}

/** The sandboxed training children this process forked (BullMQ's child main). */
function trainingChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => /bullmq.*main\.js/.test(l)).map((l) => Number(l.trim().split(/\s+/)[0]));
}

function csvEpochs(text: string): number[] {
  return text.split('\r\n').slice(1).filter((l) => l.length > 0).map((l) => Number(splitRow(l, ',')[0]));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('crash-safe training: resume after a lost worker, hand-back on SIGTERM, poison jobs', { timeout: 150000 }, () => {
  let stack: KilnStack;
  let worker: Awaited<ReturnType<typeof startWorker>> | null = null;
  const env = { KILN_TEST_CRASH_TAG: 'crash', KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0', KILN_TENANT_MAX_RUNNING: '0' };

  before(async () => {
    stack = await startStack({ name: 'resume', worker: false, env });
    await selectBackend('cpu');
  });
  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  const submit = async (body: unknown) => {
    const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 202, await res.clone().text());
    return (await res.json()) as { jobId: string; runId: string };
  };
  const view = async (jobId: string) => (await (await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth() })).json()) as any;
  const waitFor = async (jobId: string, ok: (v: any) => boolean, what: string, timeoutMs = 30000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await view(jobId);
      if (ok(v)) return v;
      assert.ok(Date.now() < deadline, `${what} (job is ${v.status}, epoch ${v.progress?.epoch})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const runOf = async (runId: string) => {
    const store = createStore(stack.storeUri);
    const run = JSON.parse((await store.get(`acme/runs/${runId}/run.json`))!.toString('utf8'));
    const csv = (await store.get(`acme/runs/${runId}/logs/training_log.csv`))?.toString('utf8') ?? '';
    const backups = await store.list(`acme/runs/${runId}/backup/`);
    return { run, csv, backups };
  };

  test('SIGTERM: the worker process backs the job up, hands it back and exits; a second worker resumes it', async () => {
    const first: ChildProcess = spawn(process.execPath, [join(DIST, 'main.js')], { env: { ...process.env, KILN_WORKER_HEALTH_PORT: '0' }, stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
    try {
      const body = spec();
      const { jobId, runId } = await submit(body);
      await waitFor(jobId, (v) => v.status === 'running' && v.progress.epoch !== null && v.progress.epoch >= 2, 'the first worker trains a few epochs', 60000);
      first.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15000))]);
      assert.equal(code, 0, 'the worker exited on its own, well within the grace period');
      const handed = await view(jobId);
      assert.equal(handed.status, 'queued', 'handed back to the queue, not failed');
      assert.ok(handed.progress.epoch < 29, 'it stopped early');
      assert.equal(handed.interruptions.length, 1);
      assert.equal(handed.interruptions[0].reason, 'shutdown');
      assert.equal(handed.interruptions[0].attempt, 1);

      worker = await startWorker(loadWorkerConfig(process.env), { processorFile: join(DIST, 'processor.js') });
      const done = await waitForJob(stack, jobId, 60000);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.progress.epoch, 29);
      assert.equal(done.error, null);
      const { run, csv, backups } = await runOf(runId);
      assert.deepEqual(run.history.map((h: any) => h.epoch), range(30), 'run.json history: each epoch once');
      assert.deepEqual(csvEpochs(csv), range(30), 'CSV: each epoch once');
      assert.deepEqual(run.interruptions.map((i: any) => i.reason), ['shutdown']);
      assert.deepEqual(backups, [], 'the backup is deleted when training ends');
      // Same seed, same backend: the handed-back run ends as an uninterrupted one.
      const ref = await trainLocally(body);
      try {
        assert.ok(Math.abs(done.progress.metrics.val_loss - (ref.result.metrics.val_loss as number)) < 1e-6, `val_loss ${done.progress.metrics.val_loss} vs ${ref.result.metrics.val_loss}`);
        assert.equal(done.best.epoch, ref.result.best?.epoch, 'same best epoch');
      } finally {
        ref.cleanup();
      }
    } finally {
      if (first.exitCode === null) first.kill('SIGKILL');
    }
  });

  const ensureWorker = async () => {
    worker ??= await startWorker(loadWorkerConfig(process.env), { processorFile: join(DIST, 'processor.js') });
  };

  test('SIGKILL of the training process mid-run: the job resumes from its backup and ends with each epoch once', async () => {
    await ensureWorker();
    const { jobId, runId } = await submit(spec({ fit: { epochs: 40, batchSize: 4, seed: 5 } }));
    await waitFor(jobId, (v) => v.status === 'running' && v.progress.epoch !== null && v.progress.epoch >= 3, 'training is under way');
    // The child training the job, and the warm spare waiting for the next one: kill both.
    const children = trainingChildren();
    assert.ok(children.length >= 1 && children.length <= 2, `one child trains, beside at most one spare (${children.length})`);
    for (const pid of children) process.kill(pid, 'SIGKILL');
    const done = await waitForJob(stack, jobId, 60000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(done.interruptions.map((i: any) => [i.attempt, i.reason]), [[1, 'worker_lost']]);
    assert.match(done.interruptions[0].detail, /SIGKILL/);
    const { run, csv } = await runOf(runId);
    assert.deepEqual(run.history.map((h: any) => h.epoch), range(40), 'run.json history: each epoch once');
    assert.deepEqual(csvEpochs(csv), range(40), 'CSV: each epoch once');
    // The finished job's process exits on its own after the job (it is never reused).
    for (let i = 0; i < 100 && trainingChildren().length > 1; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(trainingChildren().length <= 1, 'the killed children were replaced by one spare, not leaked');
  });

  test('a job that kills its training process every time fails with WORKER_CRASHED after bounded attempts; the worker carries on', async () => {
    await ensureWorker();
    const { jobId, runId } = await submit(spec({ fit: { epochs: 5, batchSize: 16, seed: 1 }, tags: { crash: '1' } }));
    const failed = await waitForJob(stack, jobId, 60000);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'WORKER_CRASHED');
    assert.equal(failed.attempts, 3, 'TRAINING_ATTEMPTS attempts, no more');
    assert.deepEqual(failed.interruptions.map((i: any) => [i.attempt, i.reason]), [[1, 'worker_lost'], [2, 'worker_lost']]);
    // The parent records the failure in run.json (the child died without writing it).
    let run: any = null;
    for (let i = 0; i < 100 && run?.status !== 'failed'; i++) {
      run = (await runOf(runId)).run;
      if (run.status !== 'failed') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(run.status, 'failed');
    assert.equal(run.error.code, 'WORKER_CRASHED');
    assert.match(run.error.detail, /died on every attempt/);

    // The worker survived its children: the next job trains normally.
    const { jobId: next } = await submit(spec({ fit: { epochs: 2, batchSize: 16, seed: 1 } }));
    const ok = await waitForJob(stack, next, 30000);
    assert.equal(ok.status, 'succeeded');
  });
});
