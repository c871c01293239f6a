import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { TRAINING_QUEUE, type TrainingJobData, type TrainingResult } from '../core/queue-contract';

export interface TrainingWorkerOptions {
  connection: Redis;
  prefix: string;
  /** Compiled JS file BullMQ runs in a sandboxed child process. */
  processorFile: string;
  concurrency: number;
  lockDurationMs: number;
  queueName?: string;
}

export type FinishedJob = Pick<Job<TrainingJobData, TrainingResult>, 'id' | 'data' | 'attemptsMade' | 'opts' | 'returnvalue' | 'failedReason'>;

export interface TrainingWorkerEvents {
  onCompleted(job: FinishedJob, result: TrainingResult): void;
  /** `final` is false when BullMQ will try the job again. */
  onFailed(job: FinishedJob, error: Error, final: boolean): void;
  onError(error: Error): void;
}

/** The worker side of the training queue: the only worker module that imports BullMQ. */
export function createTrainingWorker(opts: TrainingWorkerOptions, events: TrainingWorkerEvents) {
  const worker = new Worker<TrainingJobData, TrainingResult>(opts.queueName ?? TRAINING_QUEUE, opts.processorFile, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    // One child process per concurrent job, reused across jobs.
    useWorkerThreads: false,
  });
  worker.on('completed', (job, result) => events.onCompleted(job, result));
  worker.on('failed', (job, error) => {
    if (!job) return;
    const final = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    events.onFailed(job, error, final);
  });
  worker.on('error', (error) => events.onError(error));
  return {
    async close(force = false): Promise<void> {
      await worker.close(force);
    },
    isRunning: () => worker.isRunning(),
  };
}
