import type { Redis } from 'ioredis';
import {
  DELIVERY_LOG_CAP,
  DELIVERY_LOG_TTL_SECONDS,
  endpointKey,
  stateAfter,
  webhookKeys,
  type DeliveryAttemptRecord,
  type DeliverySummary,
  type WebhookDeliveryData,
} from '../../core/webhook-contract';
import { metricFields, metricsKeys } from '../../core/metrics-contract';

export interface DeliveryLogOptions {
  /**
   * Attempt lines kept per job.
   * @defaultValue DELIVERY_LOG_CAP (500)
   */
  cap?: number;
  /**
   * Seconds a job's log lives after its last write.
   * @defaultValue DELIVERY_LOG_TTL_SECONDS (30 days)
   */
  ttlSeconds?: number;
}

/**
 * The worker's side of the delivery log: one summary per delivery (a hash field, so it survives
 * the trimming of old attempt lines) and a capped list of attempts per training job, plus the set
 * of endpoints disabled by a 410. The API reads the same keys (api/services/delivery-service.ts).
 */
export class DeliveryLog {
  private readonly cap: number;
  private readonly ttl: number;

  constructor(private readonly redis: Redis, private readonly prefix: string, opts: DeliveryLogOptions = {}) {
    this.cap = opts.cap ?? DELIVERY_LOG_CAP;
    this.ttl = opts.ttlSeconds ?? DELIVERY_LOG_TTL_SECONDS;
  }

  /** Records a newly queued delivery; a repeat of the same delivery id changes nothing. */
  async queued(data: WebhookDeliveryData, at = new Date()): Promise<void> {
    const summary: DeliverySummary = {
      deliveryId: data.deliveryId,
      eventType: data.event.type,
      url: data.url,
      createdAt: at.toISOString(),
      state: 'pending',
      attempts: 0,
      lastAttemptAt: null,
    };
    const key = webhookKeys.deliveries(this.prefix, data.jobId);
    await this.redis.multi().hsetnx(key, data.deliveryId, JSON.stringify(summary)).expire(key, this.ttl).exec();
  }

  /**
   * Appends one attempt and updates the delivery's summary; returns the attempt's number. Only one
   * worker holds a delivery at a time (BullMQ's lock), so the read-modify-write of its summary
   * does not race with another attempt.
   */
  async attempt(data: WebhookDeliveryData, line: Omit<DeliveryAttemptRecord, 'deliveryId' | 'attempt'>): Promise<number> {
    const sKey = webhookKeys.deliveries(this.prefix, data.jobId);
    const aKey = webhookKeys.attempts(this.prefix, data.jobId);
    const raw = await this.redis.hget(sKey, data.deliveryId);
    const prior: DeliverySummary = raw ? JSON.parse(raw) : {
      deliveryId: data.deliveryId, eventType: data.event.type, url: data.url, createdAt: line.at, state: 'pending', attempts: 0, lastAttemptAt: null,
    };
    const attempt = prior.attempts + 1;
    const summary: DeliverySummary = { ...prior, attempts: attempt, lastAttemptAt: line.at, state: stateAfter(line.outcome) };
    const record: DeliveryAttemptRecord = { deliveryId: data.deliveryId, attempt, ...line };
    await this.redis.multi()
      .hset(sKey, data.deliveryId, JSON.stringify(summary))
      .lpush(aKey, JSON.stringify(record))
      .ltrim(aKey, 0, this.cap - 1)
      .expire(sKey, this.ttl)
      .expire(aKey, this.ttl)
      // Operator metrics (GET /metrics): every attempt, by outcome.
      .hincrby(metricsKeys.counters(this.prefix), metricFields.webhookAttempt(line.outcome), 1)
      .exec();
    return attempt;
  }

  async isDisabled(url: string): Promise<boolean> {
    return (await this.redis.sismember(webhookKeys.disabled(this.prefix), endpointKey(url))) === 1;
  }

  /** Marks an endpoint gone (it answered 410); every later delivery to it is skipped. */
  async disable(url: string): Promise<void> {
    await this.redis.sadd(webhookKeys.disabled(this.prefix), endpointKey(url));
  }
}
