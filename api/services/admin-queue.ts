import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { TRAINING_QUEUE } from '../../core/queue-contract';
import { WEBHOOK_QUEUE } from '../../core/webhook-contract';

/** Queue states the operator metrics report, as BullMQ names them. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** One queue state's depth and the age of the job at its head. */
export interface QueueStateStats {
  queue: string;
  state: QueueState;
  count: number;
  /**
   * Seconds since the oldest job in the state was created (0 when the state is empty). Lists
   * (waiting, active) and the finished sets are ordered by age, so this is exact for them; for
   * prioritized and delayed it is the job next in line, which is what an operator waits on.
   */
  oldestAgeSeconds: number;
}

/**
 * The operator's view of Kiln's BullMQ queues (training and webhooks): depths and head ages for
 * `GET /metrics`, and adapters for the bull-board dashboard. Only reads, except what an operator
 * does through the dashboard.
 */
export class AdminQueues {
  private readonly queues: Queue[];

  constructor(connection: Redis, prefix: string) {
    this.queues = [TRAINING_QUEUE, WEBHOOK_QUEUE].map((name) => new Queue(name, { connection, prefix }));
  }

  async stats(now = Date.now()): Promise<QueueStateStats[]> {
    const perQueue = await Promise.all(this.queues.map(async (queue) => {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      return Promise.all(QUEUE_STATES.map(async (state): Promise<QueueStateStats> => {
        const count = counts[state] ?? 0;
        let oldestAgeSeconds = 0;
        if (count > 0) {
          const [head] = await queue.getJobs([state], 0, 0, true);
          if (head?.timestamp) oldestAgeSeconds = Math.max(0, (now - head.timestamp) / 1000);
        }
        return { queue: queue.name, state, count, oldestAgeSeconds };
      }));
    }));
    return perQueue.flat();
  }

  /** bull-board adapters for the queues, in a stable order (training first). */
  boardAdapters(): BullMQAdapter[] {
    return this.queues.map((q) => new BullMQAdapter(q));
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
  }
}
