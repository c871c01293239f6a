/**
 * What the API and the worker agree on about the training queue: its name, the job payload, the
 * progress the worker reports, the result it returns, and the Redis keys both sides use besides
 * BullMQ's own. Neither side imports the other; both import this.
 */
import type { SchemaJobSpec, SchemaMetricLogs, SchemaBestCheckpoint, SchemaStopReason, SchemaWaiting } from './api.gen';

export const TRAINING_QUEUE = 'training';

/** Default BullMQ key prefix; a Redis Cluster hash tag, so all of a queue's keys share one slot. */
export const DEFAULT_QUEUE_PREFIX = '{kiln}';

/** Default of KILN_MAX_EPOCH_ROWS (API and worker): epochs × dataset rows one job may ask for. */
export const DEFAULT_MAX_EPOCH_ROWS = 1_000_000_000;

/** Seconds a job's webhook secret is kept after its last use (as long as deliveries and finished jobs are kept). */
export const SECRET_TTL_SECONDS = 30 * 24 * 3600;

/** Attempts BullMQ makes before a job fails for good (infrastructure faults only; user errors fail at once). */
export const TRAINING_ATTEMPTS = 3;

/** Payload of a training job, as the API enqueues it. */
export interface TrainingJobData {
  tenant: string;
  jobId: string;
  runId: string;
  spec: SchemaJobSpec;
  /** ISO time of submission. */
  createdAt: string;
}

export type Backend = 'node-gpu' | 'node' | 'wasm' | 'cpu';

/** What the worker reports through `job.updateProgress` while a job runs. */
export interface TrainingProgress {
  /** Last completed epoch (0-based), null before the first one ends. */
  epoch: number | null;
  epochs: number;
  metrics: SchemaMetricLogs;
  backend: Backend;
  best: SchemaBestCheckpoint;
  attempt: number;
  startedAt: string;
  /** The callbacks' decisions during the last completed epoch (lr changes, early stop, checkpoints, alerts). */
  events?: Array<Record<string, unknown>>;
  /** Wall time of the last completed epoch in ms (training, validation, callbacks), for the operator metrics. */
  epochMs?: number;
  /** Set while training is paused for an outage of the store (the job view's `waiting`). */
  waiting?: SchemaWaiting;
}

/** What the processor returns when training ends without an error. */
export interface TrainingResult {
  status: 'succeeded' | 'cancelled';
  stopReason: Exclude<SchemaStopReason, null>;
  /** Last completed epoch (0-based), null when none ran. */
  epoch: number | null;
  epochs: number;
  metrics: SchemaMetricLogs;
  best: SchemaBestCheckpoint;
  backend: Backend | null;
  attempt: number;
  finishedAt: string;
  /**
   * The sandbox process after the job released its tensors: its pid, resident set and V8 heap in
   * bytes, and tfjs's live tensor count (flat from job to job when nothing leaks; bench/memory.ts).
   * Taken after a full GC when the process runs with --expose-gc, otherwise as V8 left the heap.
   */
  memory?: { pid: number; rss: number; heapUsed: number; numTensors: number };
}

/** Redis keys Kiln keeps beside BullMQ's, under the same prefix. */
export const kilnKeys = {
  /** Set when a caller cancels; the worker stops at the next batch. Value: ISO time. */
  cancel: (prefix: string, jobId: string) => `${prefix}:kiln:cancel:${jobId}`,
  /** Pub/sub channel announcing cancellations (message: jobId). */
  cancelChannel: (prefix: string) => `${prefix}:kiln:cancel`,
  /** Lexicographically sorted set of a tenant's job ids (ids sort by creation time). */
  tenantJobs: (prefix: string, tenant: string) => `${prefix}:kiln:tenant:${tenant}:jobs`,
  /** A tenant's jobs holding a training slot: sorted set of jobId → lease expiry (ms). */
  tenantRunning: (prefix: string, tenant: string) => `${prefix}:kiln:tenant:${tenant}:running`,
  /** A tenant's accepted submissions of the last minute: sorted set of jobId → time (ms). */
  tenantSubmissions: (prefix: string, tenant: string) => `${prefix}:kiln:tenant:${tenant}:submissions`,
  /**
   * Set by a stopping worker for each job it runs: value = the lock token of the attempt that
   * should back up and hand the job back (a later attempt has another token and ignores it).
   */
  handBack: (prefix: string, jobId: string) => `${prefix}:kiln:handback:${jobId}`,
  /** Pub/sub channel announcing hand-back requests (message: jobId). */
  handBackChannel: (prefix: string) => `${prefix}:kiln:handback`,
  /** A job's interruption history: list of JSON `SchemaInterruption`, oldest first. */
  interruptions: (prefix: string, jobId: string) => `${prefix}:kiln:interruptions:${jobId}`,
  /**
   * A job's webhook signing secret (core/job-secrets.ts), apart from its spec: set by the API at
   * submission, read by the webhook deliveries that sign with it. Never served.
   */
  webhookSecret: (prefix: string, jobId: string) => `${prefix}:kiln:secret:webhook:${jobId}`,
  /** Idempotency record: JSON `{ jobId, bodyHash }`. */
  idempotency: (prefix: string, tenant: string, keyHash: string) => `${prefix}:kiln:idem:${tenant}:${keyHash}`,
};

/** Serialises metric logs for the wire: non-finite numbers become the strings JSON can carry. */
export function logsToWire(logs: Record<string, number>): SchemaMetricLogs {
  const out: SchemaMetricLogs = {};
  for (const [k, v] of Object.entries(logs)) {
    out[k] = Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  }
  return out;
}
