/**
 * What the workers and the API agree on about operator metrics. Workers count what they do in
 * Redis (one hash of counters and histogram buckets under the Kiln prefix, plus a heartbeat per
 * worker process); the API's `GET /metrics` reads them and renders the Prometheus text. Counting in
 * Redis gives one cluster-wide view however many workers run, survives worker restarts, and needs
 * no scrape target per worker (sandboxed children have no port of their own).
 */

/** Upper bounds (seconds) of the epoch-duration histogram buckets. */
export const EPOCH_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

/** Upper bounds (seconds) of the upload-latency histogram buckets (one artifact-store write each). */
export const UPLOAD_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** How a training job ended, as the job counter labels it. */
export type JobOutcome = 'succeeded' | 'cancelled' | 'failed';
export const JOB_OUTCOMES: readonly JobOutcome[] = ['succeeded', 'cancelled', 'failed'];

/** A webhook attempt's outcome as the delivery log records it (core/webhook-contract AttemptOutcome). */
export const WEBHOOK_ATTEMPT_OUTCOMES = ['delivered', 'retrying', 'failed', 'disabled', 'skipped'] as const;

/** Seconds a worker's heartbeat counts it as alive; it renews every third of that. */
export const WORKER_HEARTBEAT_TTL_SECONDS = 45;

export const metricsKeys = {
  /** Hash of counters; fields from {@link metricFields}. */
  counters: (prefix: string) => `${prefix}:kiln:metrics`,
  /** Sorted set of live worker processes: member = worker id, score = heartbeat expiry (ms). */
  workers: (prefix: string) => `${prefix}:kiln:metrics:workers`,
  /** Hash worker id → the tfjs backend its training children selected (or the configured one until then). */
  backends: (prefix: string) => `${prefix}:kiln:metrics:backends`,
};

/** Histogram names kept in the counters hash. */
export type HistogramName = 'epoch' | 'upload';

export const metricFields = {
  job: (outcome: JobOutcome) => `jobs:${outcome}`,
  webhookAttempt: (outcome: string) => `webhook:attempts:${outcome}`,
  uploadFailures: 'upload:failures',
  count: (h: HistogramName) => `${h}:count`,
  sum: (h: HistogramName) => `${h}:sum`,
  /** Non-cumulative count of bucket `i` (`i = bounds.length` is the +Inf overflow). */
  bucket: (h: HistogramName, i: number) => `${h}:bucket:${i}`,
};

/** Index of the first bucket whose upper bound holds `value` (`bounds.length` when none does). */
export function bucketIndex(bounds: readonly number[], value: number): number {
  const i = bounds.findIndex((b) => value <= b);
  return i === -1 ? bounds.length : i;
}

/** A histogram as read back: cumulative counts per upper bound (Prometheus `le`), then +Inf. */
export interface HistogramSnapshot {
  bounds: readonly number[];
  /** Cumulative counts, one per bound, then the +Inf count (= `count`). */
  cumulative: number[];
  count: number;
  sum: number;
}

/** Rebuilds a histogram from the counters hash. */
export function readHistogram(fields: Record<string, string>, h: HistogramName, bounds: readonly number[]): HistogramSnapshot {
  const cumulative: number[] = [];
  let acc = 0;
  for (let i = 0; i <= bounds.length; i++) {
    acc += Number(fields[metricFields.bucket(h, i)] ?? 0);
    cumulative.push(acc);
  }
  return { bounds, cumulative, count: Number(fields[metricFields.count(h)] ?? 0), sum: Number(fields[metricFields.sum(h)] ?? 0) };
}
