import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { WEBHOOK_QUEUE, type WebhookDeliveryData } from '../../core/webhook-contract';

/** What asking for a redelivery did. */
export type RedeliverResult = 'requeued' | 'promoted' | 'already_pending' | 'missing';

/** The API side of the `webhooks` queue (manual retries): the only other API module importing BullMQ. */
export class WebhookQueue {
  private readonly queue: Queue<WebhookDeliveryData>;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue<WebhookDeliveryData>(WEBHOOK_QUEUE, { connection, prefix });
  }

  /**
   * Sends a delivery again, now: a finished one (delivered or given up) goes back to the queue
   * with a fresh retry schedule and the same message id (receivers may de-duplicate it); one
   * waiting for its next retry is moved forward; one queued or in flight is left alone.
   * `missing` when the queue no longer holds it (finished more than 30 days ago).
   */
  async redeliver(deliveryId: string): Promise<RedeliverResult> {
    const job = await this.queue.getJob(deliveryId);
    if (!job) return 'missing';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
      return 'requeued';
    }
    if (state === 'delayed') {
      await job.promote();
      return 'promoted';
    }
    return state === 'unknown' ? 'missing' : 'already_pending';
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
