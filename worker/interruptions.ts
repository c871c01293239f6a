import type { Redis } from 'ioredis';
import type { SchemaInterruption } from '../core/api.gen';
import { kilnKeys } from '../core/queue-contract';

/** How long a job's interruption history is kept (as long as BullMQ keeps finished jobs). */
const KEEP_SECONDS = 30 * 24 * 3600;

/**
 * Appends to a job's interruption history (shown in the job view and run.json). Both the parent
 * (a crashed child, a fault, a stall) and the sandboxed child (a shutdown hand-back) record here;
 * a repeat for the same attempt and reason is dropped.
 */
export async function recordInterruption(redis: Redis, prefix: string, jobId: string, entry: SchemaInterruption): Promise<void> {
  const key = kilnKeys.interruptions(prefix, jobId);
  const existing = await readInterruptions(redis, prefix, jobId);
  if (existing.some((e) => e.attempt === entry.attempt && e.reason === entry.reason)) return;
  await redis.multi().rpush(key, JSON.stringify(entry)).expire(key, KEEP_SECONDS).exec();
}

/** A job's interruption history, oldest first. */
export async function readInterruptions(redis: Redis, prefix: string, jobId: string): Promise<SchemaInterruption[]> {
  const raw = await redis.lrange(kilnKeys.interruptions(prefix, jobId), 0, -1);
  return raw.map((r) => JSON.parse(r) as SchemaInterruption);
}
