import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createTrainingWorker } from '../../worker/training-queue';
import { REDIS_URL, uniquePrefix } from '../support/redis';

test('a job busy far longer than the lock duration runs exactly once (sandboxed processor)', async () => {
  const { prefix, cleanup } = uniquePrefix('stall');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-stall-'));
  const countFile = join(dir, 'starts.txt');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('stall', { connection, prefix });
  const events = new QueueEvents('stall', { connection: { url: REDIS_URL } as any, prefix });
  const stalled: string[] = [];
  events.on('stalled', ({ jobId }) => stalled.push(jobId));
  await events.waitUntilReady();
  const worker = createTrainingWorker({
    connection,
    prefix,
    queueName: 'stall',
    processorFile: join(__dirname, '../fixtures/processors/busy.js'),
    concurrency: 1,
    lockDurationMs: 1000,
    limits: { memoryBytes: 2 ** 31, stallTimeoutMs: 60000, cancelGraceMs: 10000 },
  }, { onCompleted: () => undefined, onFailed: () => undefined, onError: () => undefined });
  try {
    const job = await queue.add('busy', { countFile, busyMs: 5000 } as any, { attempts: 3 });
    const result = await job.waitUntilFinished(events, 30000);
    assert.equal(result.status, 'succeeded');
    const starts = readFileSync(countFile, 'utf8').trim().split('\n');
    assert.deepEqual(starts, [job.id], 'the processor started once');
    assert.deepEqual(stalled, [], 'the job was never considered stalled');
  } finally {
    await worker.close();
    await events.close();
    await queue.close();
    connection.disconnect();
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  }
});
