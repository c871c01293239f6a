import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { parseFailure } from '../../core/errors';
import { createTrainingWorker } from '../../worker/training-queue';
import type { ProcessLimits } from '../../worker/training-processes';
import { alive } from '../support/process-tree';
import { REDIS_URL, uniquePrefix } from '../support/redis';

const fixture = (name: string) => join(__dirname, '../fixtures/processors', name);

const LIMITS: ProcessLimits = { memoryBytes: 2 ** 31, stallTimeoutMs: 60000, cancelGraceMs: 60000, sampleMs: 100 };

/**
 * A training worker on its own queue and prefix running `processor` (a fixture), with a queue to
 * add jobs and QueueEvents to wait on them. `cancelled` is the parent's view of cancellations.
 */
async function withWorker(processor: string, limits: Partial<ProcessLimits>, body: (w: {
  queue: Queue;
  events: QueueEvents;
  worker: ReturnType<typeof createTrainingWorker>;
  cancelled: Set<string>;
}) => Promise<void>): Promise<void> {
  const { prefix, cleanup } = uniquePrefix('procs');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('procs', { connection, prefix });
  const events = new QueueEvents('procs', { connection: { url: REDIS_URL } as never, prefix });
  await events.waitUntilReady();
  const cancelled = new Set<string>();
  const worker = createTrainingWorker({
    connection,
    prefix,
    queueName: 'procs',
    processorFile: fixture(processor),
    concurrency: 1,
    lockDurationMs: 30000,
    limits: { ...LIMITS, ...limits },
    watchCancel: async (jobId) => ({ get requested() { return cancelled.has(jobId); }, close: async () => undefined }),
  }, { onCompleted: () => undefined, onFailed: () => undefined, onError: () => undefined });
  try {
    await body({ queue, events, worker, cancelled });
  } finally {
    await worker.close();
    await events.close();
    await queue.close();
    connection.disconnect();
    await cleanup();
  }
}

/** Waits for a job to fail for good; returns its failed reason and attempts made. */
async function failure(queue: Queue, events: QueueEvents, job: Job): Promise<{ code: string; detail: string; attemptsMade: number }> {
  await assert.rejects(job.waitUntilFinished(events, 60000));
  const done = (await queue.getJob(job.id!))!;
  return { ...parseFailure(done.failedReason), attemptsMade: done.attemptsMade };
}

describe('training processes: a job can only hurt itself', () => {
  test('a rejection a job leaves behind cannot fail the next job: each job has a process of its own', async () => {
    await withWorker('late-rejection.js', {}, async ({ queue, events }) => {
      // The first job's rejection fires while the second one works.
      const first = await queue.add('a', { leaveRejection: 300 }, { attempts: 3 });
      const second = await queue.add('b', { workMs: 1500 }, { attempts: 3 });
      const a = await first.waitUntilFinished(events, 30000);
      const b = await second.waitUntilFinished(events, 30000);
      assert.equal(b.status, 'succeeded');
      assert.equal((await queue.getJob(second.id!))!.attemptsMade, 1, 'the second job succeeded on its first attempt');
      assert.notEqual(a.pid, b.pid, 'the jobs ran in different processes');
    });
  });

  test('a job stuck in a synchronous loop is killed by the watchdog and fails once as TRAINING_STALLED', async () => {
    await withWorker('spin.js', { stallTimeoutMs: 1500 }, async ({ queue, events, worker }) => {
      const job = await queue.add('stuck', {}, { attempts: 3 });
      const { code, detail, attemptsMade } = await failure(queue, events, job);
      assert.equal(code, 'TRAINING_STALLED');
      assert.match(detail, /KILN_STALL_TIMEOUT_SECONDS/);
      assert.equal(attemptsMade, 1, 'not retried');
      // Only the warm spare (waiting for the next job) is left.
      assert.ok(worker.processPids().length <= 1);
    });
  });

  test('a cancelled job stuck in a synchronous loop is killed after the grace period and ends cancelled', async () => {
    await withWorker('spin.js', { cancelGraceMs: 500 }, async ({ queue, events, cancelled }) => {
      const job = await queue.add('stuck', { jobId: 'job_stuck' }, { attempts: 3, jobId: 'job_stuck' });
      // Cancel once it is stuck (its one progress report has arrived).
      await new Promise<void>((resolve) => events.on('progress', ({ jobId }) => jobId === job.id && resolve()));
      cancelled.add('job_stuck');
      const result = await job.waitUntilFinished(events, 30000);
      assert.equal(result.status, 'cancelled');
      assert.equal(result.stopReason, 'cancelled');
      assert.equal(result.epoch, 0, 'the last epoch the job reported');
    });
  });

  test('a job that outgrows the V8 heap fails once as RESOURCE_EXHAUSTED', async () => {
    await withWorker('heap-hog.js', { memoryBytes: 256 * 1024 * 1024 }, async ({ queue, events }) => {
      const job = await queue.add('hog', {}, { attempts: 3 });
      const { code, detail, attemptsMade } = await failure(queue, events, job);
      assert.equal(code, 'RESOURCE_EXHAUSTED', detail);
      assert.match(detail, /KILN_WORKER_MEMORY_BYTES/);
      assert.equal(attemptsMade, 1, 'not retried');
    });
  });

  test('a job whose wasm heap outgrows the memory ceiling is killed and fails once as RESOURCE_EXHAUSTED', async () => {
    await withWorker('wasm-hog.js', { memoryBytes: 256 * 1024 * 1024 }, async ({ queue, events }) => {
      const job = await queue.add('hog', {}, { attempts: 3 });
      const { code, detail, attemptsMade } = await failure(queue, events, job);
      assert.equal(code, 'RESOURCE_EXHAUSTED', detail);
      assert.match(detail, /over the worker's memory ceiling of 256 MiB/);
      assert.equal(attemptsMade, 1, 'not retried');
    });
  });

  test('a process killed from outside (an infrastructure fault) is still retried', async () => {
    await withWorker('crash-once.js', {}, async ({ queue, events }) => {
      const job = await queue.add('crash', {}, { attempts: 3 });
      const result = await job.waitUntilFinished(events, 30000);
      assert.equal(result.status, 'succeeded');
      assert.equal(result.attempt, 2, 'the second attempt succeeded');
    });
  });

  test('closing the worker ends its training processes, the spare included', async () => {
    await withWorker('late-rejection.js', {}, async ({ queue, events, worker }) => {
      const job = await queue.add('a', {}, { attempts: 1 });
      await job.waitUntilFinished(events, 30000);
      const pids = worker.processPids();
      assert.ok(pids.length >= 1, 'a spare is kept warm');
      await worker.close();
      assert.deepEqual(pids.filter(alive), []);
    });
  });
});
