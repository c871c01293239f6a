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
import { runTraining } from './training/run-training';
import { acquireTenantSlot } from './tenant-slots';

/** The parts of BullMQ's sandboxed job this processor uses. */
interface SandboxJob {
  id?: string;
  data: TrainingJobData;
  attemptsMade: number;
  attemptsStarted?: number;
  updateProgress(progress: TrainingProgress): Promise<void>;
  log(row: string): void;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
}

interface ChildState {
  config: WorkerConfig;
  store: ArtifactStore;
  backend: Backend;
  notifier: JobNotifier;
  redis: Redis;
}

let state: Promise<ChildState> | null = null;

async function init(): Promise<ChildState> {
  const config = loadConfig(process.env);
  logger = createLog(config.logLevel, { role: 'trainer' });
  const store = createStore(config.store.uri, { s3: config.store.s3 });
  const choice = await selectBackend(config.backend, { requireGpu: config.requireGpu });
  log('backend selected', { backend: choice.backend, skipped: choice.skipped });
  // Events raised during training are queued from here; the parent process delivers them.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  const notifier = new JobNotifier(new QueueWebhookSender({ connection, prefix: config.queuePrefix }), config.publicUrl, (msg, fields) => log(msg, fields as Record<string, unknown>));
  return { config, store, backend: choice.backend, notifier, redis: connection };
}

let logger = createLog(process.env.LOG_LEVEL ?? 'info', { role: 'trainer' });
function log(message: string, fields: Record<string, unknown> = {}): void {
  logger('info', message, fields);
}

/** How soon a job that found its tenant at the running limit looks again. */
const TENANT_SLOT_RECHECK_MS = 5000;

export default async function processTrainingJob(job: SandboxJob, token?: string): Promise<TrainingResult> {
  const { config, store, backend, notifier, redis } = await (state ??= init().catch((err) => {
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
  const cancel = await CancelSignal.watch(config.redisUrl, config.queuePrefix, job.data.jobId);
  const tensorsBefore = tensorCount();
  try {
    return await runTraining(job.data, {
      store,
      backend,
      attempt,
      isCancelled: () => cancel.requested,
      maxEpochRows: config.maxEpochRows,
      notifier,
      reportProgress: (p) => job.updateProgress(p),
      log: (msg, fields) => log(msg, { jobId: job.data.jobId, ...fields }),
    });
  } catch (err) {
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
