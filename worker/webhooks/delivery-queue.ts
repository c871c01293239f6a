import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { OutboundAllow } from '../../core/outbound-policy';
import { kilnKeys, SECRET_TTL_SECONDS } from '../../core/queue-contract';
import {
  DEFAULT_DELIVERY_SCHEDULE_MS,
  DELIVERY_LOG_TTL_SECONDS,
  WEBHOOK_QUEUE,
  parseRetryAfter,
  retryDelayMs,
  webhookBody,
  type AttemptOutcome,
  type WebhookDeliveryData,
} from '../../core/webhook-contract';
import { DeliveryLog } from './delivery-log';
import { safePost } from './safe-request';
import { signWebhook } from './sign';
import type { WebhookEvent, WebhookSender, WebhookTarget } from './webhook-sender';

/** Name of the custom BullMQ backoff strategy the delivery worker registers. */
const BACKOFF_TYPE = 'kiln-webhook';

/**
 * BullMQ's `attempts` for a delivery. The worker's schedule decides when to give up (it throws
 * UnrecoverableError), so the schedule can change without touching queued jobs; this only has to
 * be larger than any schedule.
 */
const ATTEMPTS_CEILING = 1000;

export interface QueueWebhookSenderOptions {
  connection: Redis;
  /** The training queue's prefix: both queues live under it. */
  prefix: string;
  /**
   * Seconds finished deliveries stay in the queue, where a manual retry can find them.
   * @defaultValue DELIVERY_LOG_TTL_SECONDS (30 days)
   */
  keepSeconds?: number;
}

/**
 * Durable webhook delivery: `send` only enqueues on the `webhooks` queue, with the message id as
 * the BullMQ job id, so a repeated send (a worker restarted after a job ended) is a no-op and a
 * queued delivery survives any restart. `startWebhookDeliveryWorker` makes the attempts.
 */
export class QueueWebhookSender implements WebhookSender {
  private readonly queue: Queue<WebhookDeliveryData>;
  private readonly log: DeliveryLog;
  private readonly keepSeconds: number;
  private readonly connection: Redis;
  private readonly prefix: string;

  constructor(opts: QueueWebhookSenderOptions) {
    this.connection = opts.connection;
    this.prefix = opts.prefix;
    this.queue = new Queue<WebhookDeliveryData>(WEBHOOK_QUEUE, { connection: opts.connection, prefix: opts.prefix });
    this.log = new DeliveryLog(opts.connection, opts.prefix);
    this.keepSeconds = opts.keepSeconds ?? DELIVERY_LOG_TTL_SECONDS;
  }

  async send(target: WebhookTarget, messageId: string, event: WebhookEvent): Promise<void> {
    const jobId = jobIdOf(messageId, event);
    const signed = target.secret !== undefined || target.signed === true;
    if (signed) {
      // The secret stays apart from the queued delivery (which dashboards and logs may show), and
      // lives as long as deliveries that sign with it may still be attempted.
      const key = kilnKeys.webhookSecret(this.prefix, jobId);
      if (target.secret !== undefined) await this.connection.set(key, target.secret, 'EX', SECRET_TTL_SECONDS);
      else await this.connection.expire(key, SECRET_TTL_SECONDS);
    }
    const data: WebhookDeliveryData = {
      deliveryId: messageId,
      jobId,
      url: target.url,
      ...(signed ? { signed: true } : {}),
      format: target.format ?? 'json',
      event,
    };
    await this.queue.add(event.type, data, {
      jobId: messageId,
      attempts: ATTEMPTS_CEILING,
      backoff: { type: BACKOFF_TYPE },
      removeOnComplete: { age: this.keepSeconds },
      removeOnFail: { age: this.keepSeconds },
    });
    // After the add: a summary without a queued job would show "pending" for ever.
    await this.log.queued(data);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** The training job an event belongs to: its `data.jobId`, else the one inside the message id. */
function jobIdOf(messageId: string, event: WebhookEvent): string {
  if (typeof event.data.jobId === 'string' && event.data.jobId) return event.data.jobId;
  const m = /^msg_(job_[0-9A-Za-z]+)_/.exec(messageId);
  if (!m) throw new Error(`cannot tell the job of webhook message ${messageId}: pass event.data.jobId`);
  return m[1];
}

export interface WebhookDeliveryWorkerOptions {
  /** Worker-side Redis (`maxRetriesPerRequest: null`); BullMQ duplicates it for blocking reads. */
  connection: Redis;
  prefix: string;
  /** Private hosts and CIDRs deliveries may reach (`KILN_OUTBOUND_ALLOW`). */
  outbound: OutboundAllow;
  /**
   * Delays before each retry, in ms; the number of attempts is one more than its length.
   * @defaultValue DEFAULT_DELIVERY_SCHEDULE_MS (5 s … 10 h, about 3 days)
   */
  schedule?: readonly number[];
  /**
   * Limit of one attempt (DNS, connect, request, response head), in ms.
   * @defaultValue 10000
   */
  timeoutMs?: number;
  /**
   * Fraction by which each scheduled delay is randomly lengthened or shortened.
   * @defaultValue 0.2
   */
  jitter?: number;
  /**
   * Longest `Retry-After` honoured, in ms. A receiver asking for more is given up on rather than
   * retried sooner than it asked.
   * @defaultValue 86400000 (24 h)
   */
  maxRetryAfterMs?: number;
  /**
   * Deliveries in flight at once (they only wait on the network).
   * @defaultValue 8
   */
  concurrency?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;
}

export interface WebhookDeliveryWorker {
  /** Stops taking deliveries and waits for attempts in flight; queued ones stay queued. */
  close(): Promise<void>;
  isRunning(): boolean;
}

/**
 * Processes the `webhooks` queue in the worker parent (not sandboxed: it only does I/O). Each
 * attempt carries the same `webhook-id` and a fresh timestamp and signature; only a 2xx delivers.
 * A 410 disables the endpoint; a refused address fails at once; anything else is retried after
 * the scheduled delay with jitter, never sooner than a `Retry-After`, until the schedule runs out.
 * The delay is BullMQ's (a custom backoff strategy), kept in Redis, so it survives restarts.
 */
export function startWebhookDeliveryWorker(opts: WebhookDeliveryWorkerOptions): WebhookDeliveryWorker {
  const schedule = opts.schedule ?? DEFAULT_DELIVERY_SCHEDULE_MS;
  const timeoutMs = opts.timeoutMs ?? 10000;
  const jitter = opts.jitter ?? 0.2;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 24 * 3600 * 1000;
  const log = new DeliveryLog(opts.connection, opts.prefix);
  // The processor decides each retry's delay (it saw the response); the backoff strategy reads it.
  const plannedDelays = new WeakMap<Error, number>();

  const deliver = async (job: Job<WebhookDeliveryData>): Promise<{ outcome: AttemptOutcome; statusCode: number | null }> => {
    const d = job.data;
    const at = new Date();
    if (await log.isDisabled(d.url)) {
      await log.attempt(d, { at: at.toISOString(), statusCode: null, latencyMs: null, error: 'not sent: the endpoint answered 410 Gone earlier and is disabled', outcome: 'skipped', nextAttemptAt: null });
      return { outcome: 'skipped', statusCode: null };
    }
    const body = webhookBody(d.format, d.event);
    const timestamp = Math.floor(at.getTime() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'Kiln-Webhooks/1',
      'webhook-id': d.deliveryId,
      'webhook-timestamp': String(timestamp),
    };
    const secret = d.secret ?? (d.signed ? await opts.connection.get(kilnKeys.webhookSecret(opts.prefix, d.jobId)) : null);
    if (d.signed && !secret) {
      // Unsigned would look like a forgery to a receiver that checks signatures; never send it so.
      const why = "not sent: the job's webhook secret is no longer kept (it expires 30 days after its last use)";
      await log.attempt(d, { at: at.toISOString(), statusCode: null, latencyMs: null, error: why, outcome: 'failed', nextAttemptAt: null });
      throw new UnrecoverableError(why);
    }
    if (secret) headers['webhook-signature'] = signWebhook([secret], d.deliveryId, timestamp, body);
    const res = await safePost(d.url, body, { allow: opts.outbound, timeoutMs, headers });

    const statusCode = res.kind === 'response' ? res.status : null;
    const line = (outcome: AttemptOutcome, error: string | null, nextAttemptAt: string | null = null) =>
      log.attempt(d, { at: at.toISOString(), statusCode, latencyMs: res.latencyMs, error, outcome, nextAttemptAt });

    if (res.kind === 'response' && res.status >= 200 && res.status < 300) {
      await line('delivered', null);
      return { outcome: 'delivered', statusCode };
    }
    if (res.kind === 'response' && res.status === 410) {
      await log.disable(d.url);
      await line('disabled', 'HTTP 410 Gone: endpoint disabled, later deliveries to it are skipped');
      throw new UnrecoverableError(`${d.url} answered 410 Gone`);
    }
    if (res.kind === 'refused') {
      await line('failed', res.reason);
      throw new UnrecoverableError(res.reason);
    }
    const error = res.kind === 'response' ? `HTTP ${res.status}` : res.reason;
    const retryAfterMs = res.kind === 'response' ? parseRetryAfter(headerValue(res.headers['retry-after']), Date.now()) : null;
    if (retryAfterMs !== null && retryAfterMs > maxRetryAfterMs) {
      const why = `${error} with Retry-After ${Math.round(retryAfterMs / 1000)} s, beyond the ${Math.round(maxRetryAfterMs / 1000)} s Kiln waits`;
      await line('failed', why);
      throw new UnrecoverableError(why);
    }
    const delay = retryDelayMs(schedule, job.attemptsMade, { jitter, random: Math.random, retryAfterMs });
    if (delay === null) {
      const why = `${error}; gave up after ${job.attemptsMade + 1} attempts`;
      await line('failed', why);
      throw new UnrecoverableError(why);
    }
    await line('retrying', error, new Date(Date.now() + delay).toISOString());
    const err = new Error(`${error}; next attempt in ${delay} ms`);
    plannedDelays.set(err, delay);
    throw err;
  };

  const worker = new Worker<WebhookDeliveryData>(WEBHOOK_QUEUE, deliver, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency ?? 8,
    // A worker killed mid-attempt leaves the delivery stalled; retry it rather than fail it.
    maxStalledCount: 10,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => {
        const planned = err ? plannedDelays.get(err) : undefined;
        if (planned !== undefined) return planned;
        // An unplanned error (Redis hiccup while logging): fall back on the schedule.
        return retryDelayMs(schedule, attemptsMade - 1, { jitter, random: Math.random, retryAfterMs: null }) ?? -1;
      },
    },
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    opts.log?.(final ? 'warn' : 'info', final ? 'webhook not delivered' : 'webhook attempt failed', { deliveryId: job.id, jobId: job.data.jobId, error: err.message });
  });
  worker.on('completed', (job, result) => opts.log?.('info', result.outcome === 'delivered' ? 'webhook delivered' : 'webhook skipped', { deliveryId: job.id, jobId: job.data.jobId }));
  worker.on('error', (err) => opts.log?.('error', 'webhook worker error', { err: err.message }));

  return {
    close: () => worker.close(),
    isRunning: () => worker.isRunning(),
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
