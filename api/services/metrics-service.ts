import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KilnError } from '../../core/errors';
import {
  EPOCH_SECONDS_BUCKETS,
  JOB_OUTCOMES,
  metricFields,
  metricsKeys,
  readHistogram,
  UPLOAD_SECONDS_BUCKETS,
  WEBHOOK_ATTEMPT_OUTCOMES,
  type HistogramSnapshot,
} from '../../core/metrics-contract';
import type { AdminQueues, QueueStateStats } from './admin-queue';

/** Everything one scrape reports, read from Redis. */
export interface MetricsSnapshot {
  queues: QueueStateStats[];
  counters: Record<string, string>;
  /** Live worker processes by backend. */
  backends: Record<string, number>;
}

/**
 * `GET /metrics`: Prometheus text built on each scrape in a registry of its own (never
 * prom-client's global one) from what the queues hold and what the workers counted in Redis
 * (core/metrics-contract.ts). The API process keeps no counts itself, so every API replica
 * answers the same numbers.
 */
export class MetricsService {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly queues: AdminQueues) {}

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  async render(): Promise<string> {
    return renderMetrics(await this.snapshot());
  }

  async snapshot(now = Date.now()): Promise<MetricsSnapshot> {
    try {
      const workersKey = metricsKeys.workers(this.prefix);
      const backendsKey = metricsKeys.backends(this.prefix);
      // Forget workers whose heartbeat lapsed (killed without a clean stop).
      const dead = await this.redis.zrangebyscore(workersKey, '-inf', now);
      if (dead.length) await this.redis.multi().zrem(workersKey, ...dead).hdel(backendsKey, ...dead).exec();
      const [queues, counters, live, backendOf] = await Promise.all([
        this.queues.stats(now),
        this.redis.hgetall(metricsKeys.counters(this.prefix)),
        this.redis.zrange(workersKey, 0, -1),
        this.redis.hgetall(backendsKey),
      ]);
      const backends: Record<string, number> = {};
      for (const id of live) {
        const b = backendOf[id] ?? 'unknown';
        backends[b] = (backends[b] ?? 0) + 1;
      }
      return { queues, counters, backends };
    } catch (err) {
      throw new KilnError('QUEUE_UNAVAILABLE', `metrics could not be read from Redis: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * A histogram whose buckets were counted elsewhere (the workers, in Redis): prom-client's
 * Histogram only observes values one by one, so this one reports a stored snapshot instead.
 */
class StoredHistogram extends Histogram {
  constructor(private readonly metricName: string, private readonly metricHelp: string, registry: Registry, private readonly snap: HistogramSnapshot) {
    super({ name: metricName, help: metricHelp, buckets: [...snap.bounds], registers: [registry] });
  }

  async getForPromString() {
    const bucket = `${this.metricName}_bucket`;
    const values = [
      ...this.snap.bounds.map((le, i) => ({ metricName: bucket, labels: { le }, value: this.snap.cumulative[i] })),
      { metricName: bucket, labels: { le: '+Inf' }, value: this.snap.count },
      { metricName: `${this.metricName}_sum`, labels: {}, value: this.snap.sum },
      { metricName: `${this.metricName}_count`, labels: {}, value: this.snap.count },
    ];
    return { name: this.metricName, help: this.metricHelp, type: 'histogram', values, aggregator: 'sum' };
  }

  override async get() {
    return (await this.getForPromString()) as any;
  }
}

/** Renders a snapshot as Prometheus text exposition format 0.0.4. Pure. */
export async function renderMetrics(snap: MetricsSnapshot): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const n = (field: string) => Number(snap.counters[field] ?? 0);

  const depth = new Gauge({ name: 'kiln_queue_jobs', help: 'Jobs in each BullMQ queue state.', labelNames: ['queue', 'state'], registers });
  const age = new Gauge({
    name: 'kiln_queue_oldest_job_age_seconds',
    help: 'Seconds since the oldest job in the state was created (prioritized and delayed: the job next in line); 0 when empty.',
    labelNames: ['queue', 'state'],
    registers,
  });
  for (const q of snap.queues) {
    depth.set({ queue: q.queue, state: q.state }, q.count);
    age.set({ queue: q.queue, state: q.state }, Math.round(q.oldestAgeSeconds * 1000) / 1000);
  }

  const jobs = new Counter({ name: 'kiln_jobs_total', help: 'Training jobs that ended, by outcome (a job failing after its last attempt counts once).', labelNames: ['outcome'], registers });
  for (const outcome of JOB_OUTCOMES) jobs.inc({ outcome }, n(metricFields.job(outcome)));

  new StoredHistogram('kiln_epoch_duration_seconds', 'Wall time of one training epoch (training, validation and callbacks), as the sandboxed trainer measured it.', registry,
    readHistogram(snap.counters, 'epoch', EPOCH_SECONDS_BUCKETS));
  new StoredHistogram('kiln_upload_duration_seconds', 'Latency of one successful artifact-store write by a trainer (checkpoints, logs, manifests, backups).', registry,
    readHistogram(snap.counters, 'upload', UPLOAD_SECONDS_BUCKETS));
  new Counter({ name: 'kiln_upload_failures_total', help: 'Artifact-store writes by trainers that failed (each failed try; the uploader retries unavailable stores).', registers })
    .inc(n(metricFields.uploadFailures));

  const attempts = new Counter({ name: 'kiln_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome (delivered, retrying, failed, disabled, skipped).', labelNames: ['outcome'], registers });
  for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) attempts.inc({ outcome }, n(metricFields.webhookAttempt(outcome)));
  new Counter({ name: 'kiln_webhook_failures_total', help: 'Webhook attempts that did not deliver (retrying, failed or disabled).', registers })
    .inc(n(metricFields.webhookAttempt('retrying')) + n(metricFields.webhookAttempt('failed')) + n(metricFields.webhookAttempt('disabled')));

  const backend = new Gauge({
    name: 'kiln_worker_backend',
    help: 'Live worker processes by the tfjs backend their trainers selected (the configured KILN_BACKEND, e.g. auto, until a first job runs).',
    labelNames: ['backend'],
    registers,
  });
  for (const [b, count] of Object.entries(snap.backends)) backend.set({ backend: b }, count);

  return registry.metrics();
}
