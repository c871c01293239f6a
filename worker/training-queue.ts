import { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
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
  worker.on('active', (job) => {
    if (job.id && job.token) active.set(job.id, job.token);
  });
  worker.on('completed', (job, result) => {
    if (job.id) active.delete(job.id);
    events.onCompleted(job, result);
  });
  worker.on('stalled', (jobId) => {
    void Job.fromId(worker as never, jobId)
      .then((job) => events.onStalled?.(jobId, job?.attemptsStarted ?? null))
      .catch(() => events.onStalled?.(jobId, null));
  });
  worker.on('failed', (job, error) => {
    if (job?.id) active.delete(job.id);
    if (!job) return;
    const final = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    events.onFailed(job, error, final);
  });
  worker.on('error', (error) => events.onError(error));
  return {
    async close(force = false): Promise<void> {
      await worker.close(force);
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
