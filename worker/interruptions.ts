import type { Redis } from 'ioredis';
import type { SchemaInterruption, SchemaWaiting } from '../core/api.gen';
import { kilnKeys } from '../core/queue-contract';
import type { StoreOutage } from '../store/outage-tolerant-store';

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

/** What {@link StoreOutageReporter} needs of the job it reports for. */
export interface OutageReporterOptions {
  redis: Redis;
  prefix: string;
  jobId: string;
  attempt: number;
  /** Shows the job as waiting (or, with `null`, as training again): the job's progress. */
  publish(waiting: SchemaWaiting | null): Promise<void>;
  log(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Makes a store outage visible on the job: while it lasts the job view's `waiting` says why and
 * since when, and the job's interruption history keeps one `store_unavailable` entry per attempt.
 * Never throws: reporting must not fail the job it reports on.
 */
export class StoreOutageReporter {
  constructor(private readonly opts: OutageReporterOptions) {}

  /** Takes {@link OutageTolerantStore}'s `onOutage` calls. */
  storeOutage(outage: StoreOutage | null): void {
    const { redis, prefix, jobId, attempt, log } = this.opts;
    const warn = (what: string) => (err: unknown) => log(`could not ${what}`, { jobId, err: (err as Error).message });
    if (outage === null) {
      log('artifact store available again; training goes on', { jobId });
      this.opts.publish(null).catch(warn('clear the waiting state'));
      return;
    }
    const waiting: SchemaWaiting = {
      reason: 'store_unavailable',
      since: outage.since.toISOString(),
      until: outage.until.toISOString(),
      detail: outage.error.message,
    };
    log('artifact store unavailable; training waits for it', { jobId, until: waiting.until, err: outage.error.message });
    this.opts.publish(waiting).catch(warn('show the job as waiting'));
    recordInterruption(redis, prefix, jobId, {
      attempt, at: waiting.since, reason: 'store_unavailable',
      detail: `the artifact store could not take writes (${outage.error.message}); training paused and waits for it until ${waiting.until}`,
    }).catch(warn('record an interruption'));
  }
}
