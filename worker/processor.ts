/**
 * The sandboxed child: BullMQ runs each training job here, in a process of its own, so a long epoch
 * never blocks the parent's lock renewals. The process is reused across jobs: everything a job
 * allocates is released before it returns.
 */
import { formatFailure, isKilnError, KilnError } from '../core/errors';
import type { Backend, TrainingJobData, TrainingProgress, TrainingResult } from '../core/queue-contract';
import { createStore } from '../store/create-store';
import type { ArtifactStore } from '../store/artifact-store';
import { Redis } from 'ioredis';
import { loadConfig, type WorkerConfig } from './config';
import { createLog } from './log';
import { QueueWebhookSender } from './webhooks/delivery-queue';
import { JobNotifier } from './webhooks/job-notifier';
import { selectBackend } from './tfjs/backend';
import { tensorCount } from './tfjs/memory';
import { CancelSignal } from './training/cancel-signal';
import { HandBack, runTraining } from './training/run-training';
import { acquireTenantSlot } from './tenant-slots';
import { readInterruptions, recordInterruption, StoreOutageReporter } from './interruptions';
import { OutageTolerantStore } from '../store/outage-tolerant-store';
import { separateSecrets } from '../core/job-secrets';
import { retakeLock } from './job-lock';
import { kilnKeys, SECRET_TTL_SECONDS } from '../core/queue-contract';
import { MeteredStore } from './metered-store';
import { WorkerMetrics, workerId } from './worker-metrics';

/** The parts of BullMQ's sandboxed job this processor uses. */
interface SandboxJob {
  id?: string;
  /** `<prefix>:<queue>`: where BullMQ keeps the job's keys. */
  queueQualifiedName?: string;
  data: TrainingJobData;
  attemptsMade: number;
  attemptsStarted?: number;
  updateProgress(progress: TrainingProgress): Promise<void>;
  log(row: string): void;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
  moveToWait(token?: string): Promise<void>;
}

interface ChildState {
  config: WorkerConfig;
  store: ArtifactStore;
  backend: Backend;
  notifier: JobNotifier;
  redis: Redis;
  metrics: WorkerMetrics;
}

let state: Promise<ChildState> | null = null;

async function init(): Promise<ChildState> {
  const config = loadConfig(process.env);
  logger = createLog(config.logLevel, { role: 'trainer' });
  const store = createStore(config.store);
  const choice = await selectBackend(config.backend, { requireGpu: config.requireGpu });
  log('backend selected', { backend: choice.backend, skipped: choice.skipped });
  // Events raised during training are queued from here; the parent process delivers them.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  const notifier = new JobNotifier(new QueueWebhookSender({ connection, prefix: config.queuePrefix }), config.publicUrl, (msg, fields) => log(msg, fields as Record<string, unknown>));
  // Operator metrics (GET /metrics on the API): this child's backend under its parent's id, and
  // every store write timed.
  const metrics = new WorkerMetrics(connection, config.queuePrefix, (err) => logger('warn', 'could not record a metric', { err: err.message }));
  void metrics.backendSelected(workerId(process.ppid), choice.backend);
  const metered = new MeteredStore(store, { stored: (ms) => void metrics.uploadStored(ms), failed: () => void metrics.uploadFailed() });
  return { config, store: metered, backend: choice.backend, notifier, redis: connection, metrics };
}

let logger = createLog(process.env.LOG_LEVEL ?? 'info', { role: 'trainer' });
function log(message: string, fields: Record<string, unknown> = {}): void {
  logger('info', message, fields);
}

/** How soon a job that found its tenant at the running limit looks again. */
const TENANT_SLOT_RECHECK_MS = 5000;

// A SIGTERM reaching this process directly (a container runtime signalling the whole group) is a
// shutdown too: back up at the next epoch end and hand the job back. BullMQ's own handler then
// exits once the job has returned.
let terminating = false;
if (process.send) {
  process.on('SIGTERM', () => {
    terminating = true;
  });
  // Without the parent the job's lock is no longer renewed and another worker will resume it from
  // its last backup: training on here would only race that worker.
  process.on('disconnect', () => process.exit(1));
}

/** Test-only crash epoch for this attempt from KILN_TEST_CRASH_TAG (see worker/config.ts), or null. */
export function testCrashEpoch(tag: string | null, tags: Record<string, string> | undefined, attempt: number): number | null {
  const value = tag ? tags?.[tag] : undefined;
  const m = value === undefined ? null : /^(\d+)(?:@(\d+))?$/.exec(value);
  if (!m) return null;
  return m[2] === undefined || Number(m[2]) === attempt ? Number(m[1]) : null;
}

export default async function processTrainingJob(job: SandboxJob, token?: string): Promise<TrainingResult> {
  const { config, store, backend, notifier, redis, metrics } = await (state ??= init().catch((err) => {
    state = null;
    throw err;
  }));
  const slot = await acquireTenantSlot(redis, config.queuePrefix, config.tenantMaxRunning, job.data.tenant, job.data.jobId);
  if (!slot) {
    // The tenant already trains as many jobs as it may: back to waiting, without using an attempt.
    await job.moveToDelayed(Date.now() + TENANT_SLOT_RECHECK_MS, token);
    const wait = new Error(`tenant ${job.data.tenant} is at its running-jobs limit; waiting`);
    wait.name = 'DelayedError';
    throw wait;
  }
  const attempt = job.attemptsStarted && job.attemptsStarted > 0 ? job.attemptsStarted : job.attemptsMade + 1;
  // A job queued before secrets were kept apart: move its secret out before anything records the spec.
  const { spec, webhookSecret } = separateSecrets(job.data.spec);
  if (webhookSecret !== null) await redis.set(kilnKeys.webhookSecret(config.queuePrefix, job.data.jobId), webhookSecret, 'EX', SECRET_TTL_SECONDS, 'NX');
  const data = { ...job.data, spec };
  const cancel = await CancelSignal.watch(config.redisUrl, config.queuePrefix, job.data.jobId, token);
  const tensorsBefore = tensorCount();
  const crashAt = testCrashEpoch(config.testCrashTag, job.data.spec.tags, attempt);
  // A store outage pauses the job (shown as waiting) instead of failing the attempt, for up to the tolerance.
  let lastProgress: TrainingProgress = { epoch: null, epochs: job.data.spec.fit.epochs, metrics: {}, backend, best: null, attempt, startedAt: new Date().toISOString() };
  const outages = new StoreOutageReporter({
    redis, prefix: config.queuePrefix, jobId: job.data.jobId, attempt,
    publish: (waiting) => job.updateProgress({ ...lastProgress, events: [], ...(waiting ? { waiting } : {}) }),
    log: (msg, fields) => logger('warn', msg, fields ?? {}),
  });
  const patientStore = new OutageTolerantStore(store, { toleranceMs: config.outageToleranceSeconds * 1000, onOutage: (o) => outages.storeOutage(o) });
  try {
    const result = await runTraining(data, {
      store: patientStore,
      backend,
      attempt,
      isCancelled: () => cancel.requested,
      handBackRequested: () => terminating || cancel.handBackRequested,
      interruptions: () => readInterruptions(redis, config.queuePrefix, job.data.jobId),
      ...(crashAt === null ? {} : {
        afterEpoch: (epoch: number) => {
          // `>=`: an attempt that resumed past the epoch still dies at its first epoch end.
          if (epoch >= crashAt) process.kill(process.pid, 'SIGKILL');
        },
      }),
      maxEpochRows: config.maxEpochRows,
      datasetMemoryBytes: config.datasetMemoryBytes,
      notifier,
      reportProgress: async (p) => {
        if (p.epochMs !== undefined) void metrics.epochEnded(p.epochMs);
        // Training pauses at the epoch end while nothing it produces can be stored.
        await patientStore.whenAvailable();
        lastProgress = p;
        return job.updateProgress(p);
      },
      log: (msg, fields) => log(msg, { jobId: job.data.jobId, ...fields }),
    });
    // A Redis outage may have outlasted the job's lock while it trained: take it back (this waits
    // for Redis) before the result goes to BullMQ. Its completion, queued on the parent's
    // connection during the outage, would otherwise reach Redis before the parent retakes the
    // lock, find none and fail the attempt.
    if (token && job.id && job.queueQualifiedName) {
      const kept = await retakeLock(redis, `${job.queueQualifiedName}:`, job.id, token, config.lockDurationMs);
      if (!kept) logger('warn', 'the job was queued again while Redis was away; this attempt\'s result will not count', { jobId: job.data.jobId });
    }
    // Measured once the job's tensors are released, so a leak shows as growth from job to job. Under
    // --expose-gc (which the child inherits from its parent, as in bench/memory.ts) a full GC comes
    // first, so the figures are what the process keeps alive rather than garbage not yet collected.
    (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    return { ...result, memory: { pid: process.pid, rss, heapUsed, numTensors: tensorCount() } };
  } catch (err) {
    if (err instanceof HandBack) {
      // Back to waiting without using an attempt; the next worker resumes from the backup.
      await recordInterruption(redis, config.queuePrefix, job.data.jobId, {
        attempt, at: new Date().toISOString(), reason: 'shutdown', detail: `the worker was stopping; backed up after epoch ${err.epoch} and handed back`,
      });
      await job.moveToWait(token);
      const wait = new Error(err.message);
      wait.name = 'WaitingError';
      throw wait;
    }
    throw classify(err);
  } finally {
    await slot.release();
    await cancel.close();
    const leaked = tensorCount() - tensorsBefore;
    if (leaked !== 0) logger('warn', 'tensor count changed across a job', { jobId: job.data.jobId, leaked });
  }
}

/**
 * Errors leave the sandbox as `CODE: detail`. User and configuration errors are marked
 * unrecoverable (BullMQ matches the error name), so they fail at once; the rest are retried.
 */
export function classify(err: unknown): Error {
  const kiln: KilnError = isKilnError(err) ? err : new KilnError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
  const out = new Error(formatFailure(kiln));
  if (!kiln.retryable) out.name = 'UnrecoverableError';
  out.stack = (err as Error)?.stack ?? out.stack;
  return out;
}
