import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { TRAINING_ATTEMPTS, TRAINING_QUEUE, type TrainingJobData, type TrainingProgress, type TrainingResult } from '../../core/queue-contract';
import { WriteBatcher } from './write-batcher';

/** What the API needs to know of one queued, running or finished job. */
export interface JobSnapshot {
  data: TrainingJobData;
  state: 'queued' | 'running' | 'completed' | 'failed';
  progress: TrainingProgress | null;
  result: TrainingResult | null;
  failedReason: string | null;
  createdAt: number;
  processedOn: number | null;
  finishedOn: number | null;
  attemptsMade: number;
}

/** The API side of the training queue: the only API module that imports BullMQ. */
export class TrainingQueue {
  private readonly queue: Queue<TrainingJobData, TrainingResult>;
  private readonly writes: WriteBatcher;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(TRAINING_QUEUE, { connection, prefix });
    this.writes = WriteBatcher.of(connection);
  }

  async add(data: TrainingJobData): Promise<void> {
    // Concurrent submissions' adds share one socket write (BullMQ sends the add in this same turn).
    this.writes.hold();
    await this.queue.add('train', data, {
      jobId: data.jobId,
      attempts: TRAINING_ATTEMPTS,
      backoff: { type: 'exponential', delay: 5000 },
      // BullMQ's model: jobs without a priority are served first, in order; prioritized ones after
      // them, lowest number first.
      ...(data.spec.priority !== undefined ? { priority: data.spec.priority } : {}),
      // Finished jobs stay readable for 30 days; the run manifest in the store stays for good.
      removeOnComplete: { age: 30 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
  }

  async get(jobId: string): Promise<JobSnapshot | null> {
    let job = await this.queue.getJob(jobId);
    if (!job) return null;
    const state = await job.getState();
    // The job can finish between the two reads; its hash then predates the state (no finishedOn,
    // attemptsMade and failedReason not yet written), so read it again.
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) job = (await this.queue.getJob(jobId)) ?? job;
    return snapshot(job, state);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

function snapshot(job: Job<TrainingJobData, TrainingResult>, rawState: string): JobSnapshot | null {
  if (!job.data || typeof job.data !== 'object' || !job.data.jobId) return null;
  const state: JobSnapshot['state'] = rawState === 'active' ? 'running'
    : rawState === 'completed' ? 'completed'
      : rawState === 'failed' ? 'failed'
        : 'queued';
  const progress = job.progress && typeof job.progress === 'object' ? (job.progress as unknown as TrainingProgress) : null;
  return {
    data: job.data,
    state,
    progress,
    result: state === 'completed' ? (job.returnvalue ?? null) : null,
    failedReason: job.failedReason || null,
    createdAt: job.timestamp,
    processedOn: job.processedOn ?? null,
    finishedOn: job.finishedOn ?? null,
    attemptsMade: job.attemptsMade,
  };
}
