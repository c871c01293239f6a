import { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { retakeLock } from './job-lock';
import { kilnKeys, TRAINING_ATTEMPTS, TRAINING_QUEUE, type TrainingJobData, type TrainingResult } from '../core/queue-contract';

export interface TrainingWorkerOptions {
  connection: Redis;
  prefix: string;
  /** Compiled JS file BullMQ runs in a sandboxed child process. */
  processorFile: string;
  concurrency: number;
  lockDurationMs: number;
  queueName?: string;
}

export type FinishedJob = Pick<Job<TrainingJobData, TrainingResult>, 'id' | 'data' | 'attemptsMade' | 'attemptsStarted' | 'opts' | 'returnvalue' | 'failedReason'>;

export interface TrainingWorkerEvents {
  onCompleted(job: FinishedJob, result: TrainingResult): void;
  /** `final` is false when BullMQ will try the job again. */
  onFailed(job: FinishedJob, error: Error, final: boolean): void;
  onError(error: Error): void;
  /** The stalled checker found a job whose worker was lost (its lock expired) and queued it again. */
  onStalled?(jobId: string, attempt: number | null): void;
  /**
   * Redis came back after `downMs` without a connection while this worker trained `jobId`;
   * `kept` tells whether the job's lock was taken back (it trains on, no attempt spent).
   */
  onRedisReturned?(jobId: string, attempt: number, downMs: number, kept: boolean): void;
}


/**
 * Stalls a job may have before it fails (BullMQ `maxStalledCount`): a job whose worker keeps dying
 * (parent killed, node lost) runs at most TRAINING_ATTEMPTS times, like one whose child crashes.
 */
export const TRAINING_MAX_STALLED = TRAINING_ATTEMPTS - 1;

/** The worker side of the training queue: the only worker module that imports BullMQ. */
export function createTrainingWorker(opts: TrainingWorkerOptions, events: TrainingWorkerEvents) {
  const worker = new Worker<TrainingJobData, TrainingResult>(opts.queueName ?? TRAINING_QUEUE, opts.processorFile, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    maxStalledCount: TRAINING_MAX_STALLED,
    // One child process per concurrent job, reused across jobs.
    useWorkerThreads: false,
  });
  // Jobs this worker runs now, with their attempt's lock token (for hand-back requests).
  const active = new Map<string, string>();
  const attempts = new Map<string, number>();
  worker.on('active', (job) => {
    if (job.id && job.token) active.set(job.id, job.token);
    if (job.id) attempts.set(job.id, job.attemptsStarted || job.attemptsMade + 1);
  });
  // After a Redis outage: each running job's lock back at once. ioredis sends what queued up on a
  // connection while it was down before anything asked for on 'ready', so the retake has a
  // connection of its own, with nothing queued on it, that reconnects every 100 ms: it reaches
  // Redis ahead of the stalled checks and completions waiting on the workers' own connections,
  // whose backoff has grown to 2 s by then. (A completion also takes its lock back itself first,
  // see processor.ts.)
  const lockConnection = opts.connection.duplicate({ maxRetriesPerRequest: null, retryStrategy: () => 100 });
  lockConnection.on('error', () => undefined);
  let downSince: number | null = null;
  lockConnection.on('close', () => {
    downSince ??= Date.now();
  });
  lockConnection.on('ready', () => {
    if (downSince === null) return;
    const downMs = Date.now() - downSince;
    downSince = null;
    const base = `${opts.prefix}:${opts.queueName ?? TRAINING_QUEUE}:`;
    for (const [jobId, token] of active) {
      void retakeLock(lockConnection, base, jobId, token, opts.lockDurationMs)
        .then((kept) => events.onRedisReturned?.(jobId, attempts.get(jobId) ?? 0, downMs, kept))
        .catch((err: Error) => events.onError(err));
    }
  });
  worker.on('completed', (job, result) => {
    if (job.id) active.delete(job.id);
    if (job.id) attempts.delete(job.id);
    events.onCompleted(job, result);
  });
  worker.on('stalled', (jobId) => {
    void Job.fromId(worker as never, jobId)
      .then((job) => events.onStalled?.(jobId, job?.attemptsStarted ?? null))
      .catch(() => events.onStalled?.(jobId, null));
  });
  worker.on('failed', (job, error) => {
    if (job?.id) active.delete(job.id);
    if (job?.id) attempts.delete(job.id);
    if (!job) return;
    const final = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    events.onFailed(job, error, final);
  });
  worker.on('error', (error) => events.onError(error));
  return {
    async close(force = false): Promise<void> {
      await worker.close(force);
      lockConnection.disconnect();
    },
    /**
     * Asks every job running here to back up at its next epoch end and hand itself back to the
     * queue (the processor moves it to waiting); returns how many were asked.
     */
    async requestHandBack(): Promise<number> {
      const jobs = [...active];
      for (const [jobId, token] of jobs) {
        await opts.connection.set(kilnKeys.handBack(opts.prefix, jobId), token, 'EX', 3600);
        await opts.connection.publish(kilnKeys.handBackChannel(opts.prefix), jobId);
      }
      return jobs.length;
    },
    isRunning: () => worker.isRunning(),
  };
}
