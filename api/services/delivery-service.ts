import type { Redis } from 'ioredis';
import { KilnError } from '../../core/errors';
import {
  DELIVERY_ID_PATTERN,
  endpointKey,
  webhookKeys,
  type DeliveryAttemptRecord,
  type DeliveryList,
  type DeliverySummary,
  type DeliveryView,
} from '../../core/webhook-contract';
import { withRedis } from './job-service';
import type { WebhookQueue } from './webhook-queue';

/** How the service learns that a job is the tenant's: it throws NOT_FOUND otherwise (JobService.getJob). */
export interface JobOwnership {
  getJob(tenant: string, jobId: string): Promise<unknown>;
}

/**
 * A job's webhook deliveries as the API shows them (each with every attempt the log still holds)
 * and manual redelivery. Scoped by tenant through the job: another tenant's job is a 404.
 */
export class DeliveryService {
  constructor(
    private readonly redis: Redis,
    private readonly queue: WebhookQueue,
    private readonly prefix: string,
    private readonly jobs: JobOwnership,
  ) {}

  /** Deliveries oldest first, attempts oldest first. */
  async listDeliveries(tenant: string, jobId: string): Promise<DeliveryList> {
    await this.jobs.getJob(tenant, jobId);
    const [summaries, lines] = await withRedis('read deliveries', () => Promise.all([
      this.redis.hgetall(webhookKeys.deliveries(this.prefix, jobId)),
      this.redis.lrange(webhookKeys.attempts(this.prefix, jobId), 0, -1),
    ]));
    const byDelivery = new Map<string, DeliveryAttemptRecord[]>();
    for (const raw of lines.reverse()) {
      const r = JSON.parse(raw) as DeliveryAttemptRecord;
      const list = byDelivery.get(r.deliveryId) ?? [];
      list.push(r);
      byDelivery.set(r.deliveryId, list);
    }
    const items = Object.values(summaries)
      .map((raw) => JSON.parse(raw) as DeliverySummary)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.deliveryId.localeCompare(b.deliveryId))
      .map((s) => view(jobId, s, byDelivery.get(s.deliveryId) ?? []));
    return { items };
  }

  /**
   * Sends a delivery again now (see WebhookQueue.redeliver). An endpoint disabled by a 410 is
   * enabled again: asking for a redelivery says the receiver is back.
   */
  async retryDelivery(tenant: string, jobId: string, deliveryId: string): Promise<DeliveryView> {
    await this.jobs.getJob(tenant, jobId);
    const sKey = webhookKeys.deliveries(this.prefix, jobId);
    const raw = DELIVERY_ID_PATTERN.test(deliveryId) ? await withRedis('read delivery', () => this.redis.hget(sKey, deliveryId)) : null;
    if (!raw) throw new KilnError('NOT_FOUND', `job ${jobId} has no delivery ${deliveryId}; list them with GET /v1/jobs/${jobId}/deliveries`);
    const summary = JSON.parse(raw) as DeliverySummary;
    await withRedis('enable endpoint', () => this.redis.srem(webhookKeys.disabled(this.prefix), endpointKey(summary.url)));
    // Pending before the job is requeued: a fast worker's "delivered" must not be overwritten.
    const pending: DeliverySummary = { ...summary, state: 'pending' };
    await withRedis('update delivery', () => this.redis.hset(sKey, deliveryId, JSON.stringify(pending)));
    const result = await withRedis('redeliver', () => this.queue.redeliver(deliveryId));
    if (result === 'missing') {
      await withRedis('update delivery', () => this.redis.hset(sKey, deliveryId, raw));
      throw new KilnError('NOT_FOUND', `delivery ${deliveryId} is too old to send again (finished deliveries are kept 30 days)`);
    }
    const lines = await withRedis('read deliveries', () => this.redis.lrange(webhookKeys.attempts(this.prefix, jobId), 0, -1));
    const attempts = lines.reverse().map((l) => JSON.parse(l) as DeliveryAttemptRecord).filter((r) => r.deliveryId === deliveryId);
    return view(jobId, pending, attempts);
  }
}

function view(jobId: string, s: DeliverySummary, attempts: DeliveryAttemptRecord[]): DeliveryView {
  return {
    ...s,
    attemptLog: attempts.map(({ deliveryId: _id, ...rest }) => rest),
    links: { retry: `/v1/jobs/${jobId}/deliveries/${s.deliveryId}/retry` },
  };
}
