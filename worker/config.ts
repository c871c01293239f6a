import { resolve } from 'node:path';
import { ConfigProblems, parsePublicUrl, parseRedisUrl } from '../core/config-parse';
import { parseStoreConfig, type StoreConfig } from '../store/create-store';
import { parseOutboundAllow, type OutboundAllow } from '../core/outbound-policy';
import { DEFAULT_MAX_EPOCH_ROWS, DEFAULT_QUEUE_PREFIX } from '../core/queue-contract';
import type { TenantLimit } from '../core/tenant-limits';
import { DEFAULT_WORKER_MEMORY_BYTES } from '../core/model-cost';
import { DEFAULT_DELIVERY_SCHEDULE_MS, parseDeliverySchedule } from '../core/webhook-contract';

export interface WorkerConfig {
  redisUrl: string;
  queuePrefix: string;
  store: StoreConfig;
  backend: 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
  /** Exit at start-up unless TensorFlow sees a GPU (set in the GPU image). */
  requireGpu: boolean;
  concurrency: number;
  /** Milliseconds a job's lock lasts between renewals (BullMQ lockDuration). */
  lockDurationMs: number;
  shutdownGraceSeconds: number;
  healthPort: number;
  webhookTimeoutMs: number;
  /** Delays between webhook delivery attempts, in ms. */
  webhookSchedule: number[];
  /** Hosts and CIDRs that webhooks may reach although they are private or loopback. */
  outbound: OutboundAllow;
  /** Base URL of the API, for absolute links in webhooks (relative links without it). */
  publicUrl: string | null;
  logLevel: string;
  /** Jobs one tenant may train at once across all workers (KILN_TENANT_MAX_RUNNING; 0 = unlimited). */
  tenantMaxRunning: TenantLimit;
  /** Cap on fit.epochs × dataset rows per job (KILN_MAX_EPOCH_ROWS; 0 = no cap). */
  maxEpochRows: number;
  /**
   * Bytes of parsed dataset values (4 per feature or label value) a job may hold in memory
   * (KILN_DATASET_MEMORY_BYTES); a larger dataset is spilled to a scratch file in the temp dir
   * (TMPDIR) and trained from there batch by batch. @defaultValue 536870912 (512 MiB)
   */
  datasetMemoryBytes: number;
  /**
   * Test-only (KILN_TEST_CRASH_TAG): a job tagged with this name kills its own training process
   * (SIGKILL, as the OOM killer would) at the end of the epoch the tag's value names, or of the
   * first epoch it runs if it resumed past it (`"3"`: every attempt; `"3@1"`: attempt 1 only), to
   * exercise crash recovery and poison-job handling. Unset in production.
   */
  testCrashTag: string | null;
  /**
   * Memory ceiling of one training process in bytes (KILN_WORKER_MEMORY_BYTES; the API's admission
   * check uses the same variable and default). The V8 heap gets 3/4 of it (--max-old-space-size);
   * the whole process (V8 heap, wasm heap, tensor buffers, native memory) is held to all of it by
   * the parent sampling its resident set. A job past it fails once as RESOURCE_EXHAUSTED. 0: no ceiling.
   * @defaultValue 2147483648 (2 GiB)
   */
  workerMemoryBytes: number;
  /**
   * Seconds a training process may go without progress (a batch or epoch end, or the dataset and
   * model being ready) before the parent kills it and fails the job once as TRAINING_STALLED
   * (KILN_STALL_TIMEOUT_SECONDS). @defaultValue 300
   */
  stallTimeoutSeconds: number;
  /**
   * Seconds a cancelled job has to stop by itself (it normally does at its next batch) before the
   * parent kills its training process and ends it cancelled (KILN_CANCEL_GRACE_SECONDS).
   * @defaultValue 15
   */
  cancelGraceSeconds: number;
  /**
   * Test-only (KILN_TEST_STALL_TAG): a job tagged with this name spins its training thread
   * synchronously forever at the end of the epoch the tag's value names (the same `"3"` / `"3@1"`
   * syntax as KILN_TEST_CRASH_TAG), as a job with a cyclic model would. Unset in production.
   */
  testStallTag: string | null;
  /**
   * Seconds an unreachable artifact store or Redis is waited out (training paused, retried with
   * backoff, no attempt spent) before the attempt fails (KILN_OUTAGE_TOLERANCE_SECONDS).
   * @defaultValue 1800 (30 min)
   */
  outageToleranceSeconds: number;
}

/** Reads the worker's configuration; pure, called once per process entry (parent and sandbox child). */
export function loadConfig(env: Record<string, string | undefined>): WorkerConfig {
  const p = new ConfigProblems();
  const config: WorkerConfig = {
    redisUrl: parseRedisUrl(env, p),
    queuePrefix: env.KILN_QUEUE_PREFIX || DEFAULT_QUEUE_PREFIX,
    store: parseStoreConfig(env, p, 'file://' + resolve('.kiln/store')),
    backend: p.oneOf(env, 'KILN_BACKEND', 'auto', ['auto', 'node-gpu', 'node', 'wasm', 'cpu'] as const),
    requireGpu: p.bool(env, 'KILN_REQUIRE_GPU', false),
    concurrency: p.int(env, 'KILN_WORKER_CONCURRENCY', 1, 1, 64),
    lockDurationMs: p.int(env, 'KILN_LOCK_DURATION_MS', 30000, 1000, 600000),
    shutdownGraceSeconds: p.int(env, 'KILN_SHUTDOWN_GRACE_SECONDS', 60, 0, 86400),
    healthPort: p.int(env, 'KILN_WORKER_HEALTH_PORT', 8081, 0, 65535),
    webhookTimeoutMs: p.int(env, 'KILN_WEBHOOK_TIMEOUT_MS', 10000, 100, 120000),
    webhookSchedule: schedule(env.KILN_WEBHOOK_SCHEDULE, p),
    outbound: outbound(env.KILN_OUTBOUND_ALLOW, p),
    publicUrl: parsePublicUrl(env, p),
    logLevel: p.oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    tenantMaxRunning: p.tenantLimit(env, 'KILN_TENANT_MAX_RUNNING', 4),
    maxEpochRows: p.int(env, 'KILN_MAX_EPOCH_ROWS', DEFAULT_MAX_EPOCH_ROWS, 0, Number.MAX_SAFE_INTEGER),
    datasetMemoryBytes: p.int(env, 'KILN_DATASET_MEMORY_BYTES', 512 * 1024 * 1024, 1024 * 1024, Number.MAX_SAFE_INTEGER),
    testCrashTag: env.KILN_TEST_CRASH_TAG || null,
    // 0 = no ceiling, as for the API's admission check.
    workerMemoryBytes: p.int(env, 'KILN_WORKER_MEMORY_BYTES', DEFAULT_WORKER_MEMORY_BYTES, 0, Number.MAX_SAFE_INTEGER),
    stallTimeoutSeconds: p.int(env, 'KILN_STALL_TIMEOUT_SECONDS', 300, 1, 86400),
    cancelGraceSeconds: p.int(env, 'KILN_CANCEL_GRACE_SECONDS', 15, 0, 3600),
    testStallTag: env.KILN_TEST_STALL_TAG || null,
    outageToleranceSeconds: p.int(env, 'KILN_OUTAGE_TOLERANCE_SECONDS', 1800, 0, 7 * 86400),
  };
  if (config.requireGpu && config.backend !== 'auto' && config.backend !== 'node-gpu') {
    p.add('KILN_REQUIRE_GPU', `needs KILN_BACKEND=auto or node-gpu, not ${config.backend}`);
  }
  p.check('worker');
  return config;
}

function schedule(text: string | undefined, p: ConfigProblems): number[] {
  if (!text) return [...DEFAULT_DELIVERY_SCHEDULE_MS];
  const parsed = parseDeliverySchedule(text);
  if (typeof parsed === 'string') {
    p.add('KILN_WEBHOOK_SCHEDULE', parsed);
    return [...DEFAULT_DELIVERY_SCHEDULE_MS];
  }
  return parsed;
}

export function outbound(text: string | undefined, p: ConfigProblems): OutboundAllow {
  const { allow, problems } = parseOutboundAllow(text);
  for (const problem of problems) p.add('KILN_OUTBOUND_ALLOW', problem);
  return allow;
}
