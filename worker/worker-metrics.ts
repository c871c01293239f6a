import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import {
  bucketIndex,
  EPOCH_SECONDS_BUCKETS,
  metricFields,
  metricsKeys,
  UPLOAD_SECONDS_BUCKETS,
  WORKER_HEARTBEAT_TTL_SECONDS,
  type HistogramName,
  type JobOutcome,
} from '../core/metrics-contract';

/** Identity of a worker parent process in the metrics: `<host>:<pid>` (its children use their ppid). */
export function workerId(pid = process.pid): string {
  return `${hostname()}:${pid}`;
}

/**
 * Counts what this worker process does into the shared Redis hash the API's `GET /metrics` reads
 * (core/metrics-contract.ts). Each record is one MULTI, so counts, sums and buckets never disagree.
 * Recording never throws: a metric lost while Redis is away is logged, and training goes on.
 */
export class WorkerMetrics {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    this.key = metricsKeys.counters(prefix);
  }

  jobFinished(outcome: JobOutcome): Promise<void> {
    return this.run(this.redis.multi().hincrby(this.key, metricFields.job(outcome), 1));
  }

  epochEnded(ms: number): Promise<void> {
    return this.observe('epoch', EPOCH_SECONDS_BUCKETS, ms / 1000);
  }

  uploadStored(ms: number): Promise<void> {
    return this.observe('upload', UPLOAD_SECONDS_BUCKETS, ms / 1000);
  }

  uploadFailed(): Promise<void> {
    return this.run(this.redis.multi().hincrby(this.key, metricFields.uploadFailures, 1));
  }

  /** Records the backend the training children of worker `id` selected (called from the child). */
  backendSelected(id: string, backend: string): Promise<void> {
    return this.run(this.redis.multi().hset(metricsKeys.backends(this.prefix), id, backend));
  }

  /**
   * Announces worker `id` as alive (now and every third of the heartbeat TTL) with its configured
   * backend until a child reports the one it selected; the returned function removes it.
   */
  startHeartbeat(id: string, configuredBackend: string): () => Promise<void> {
    const beat = () => this.run(this.redis.multi().zadd(metricsKeys.workers(this.prefix), Date.now() + WORKER_HEARTBEAT_TTL_SECONDS * 1000, id));
    void this.run(this.redis.multi().hset(metricsKeys.backends(this.prefix), id, configuredBackend).zadd(metricsKeys.workers(this.prefix), Date.now() + WORKER_HEARTBEAT_TTL_SECONDS * 1000, id));
    const timer = setInterval(() => void beat(), (WORKER_HEARTBEAT_TTL_SECONDS * 1000) / 3);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.run(this.redis.multi().zrem(metricsKeys.workers(this.prefix), id).hdel(metricsKeys.backends(this.prefix), id));
    };
  }

  private observe(h: HistogramName, bounds: readonly number[], seconds: number): Promise<void> {
    if (!Number.isFinite(seconds) || seconds < 0) return Promise.resolve();
    return this.run(this.redis.multi()
      .hincrby(this.key, metricFields.count(h), 1)
      .hincrbyfloat(this.key, metricFields.sum(h), seconds)
      .hincrby(this.key, metricFields.bucket(h, bucketIndex(bounds, seconds)), 1));
  }

  private async run(multi: ReturnType<Redis['multi']>): Promise<void> {
    try {
      await multi.exec();
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
