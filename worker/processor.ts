/**
 * The training process: each job runs here, in a process of its own that the worker parent forked
 * ahead of time (worker/training-processes.ts), so a long epoch never blocks the parent's lock
 * renewals and nothing one job leaves behind reaches another. The process warms up (config,
 * backend, connections) as soon as it is loaded, runs one job and exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { KilnError } from '../core/errors';
import type { Backend, TrainingJobData, TrainingProgress, TrainingResult } from '../core/queue-contract';
import { createStore } from '../store/create-store';
import type { ArtifactStore } from '../store/artifact-store';
import { Redis } from 'ioredis';
import { loadConfig, type WorkerConfig } from './config';
import { createLog, type Log } from './log';
import { QueueWebhookSender } from './webhooks/delivery-queue';
import { JobNotifier } from './webhooks/job-notifier';
import { remoteMonitorSender } from './webhooks/remote-monitor-sender';
import { selectBackend } from './tfjs/backend';
import { tensorCount } from './tfjs/memory';
import { CancelSignal } from './training/cancel-signal';
import { HandBack, runTraining } from './training/run-training';
import { readInterruptions, recordInterruption, StoreOutageReporter } from './interruptions';
import { OutageTolerantStore } from '../store/outage-tolerant-store';
import { separateSecrets } from '../core/job-secrets';
import { retakeLock } from './job-lock';
import { kilnKeys, SECRET_TTL_SECONDS } from '../core/queue-contract';
import { MeteredStore } from './metered-store';
import { WorkerMetrics, workerId } from './worker-metrics';
import { QueueErrorName, queueError, toJobFailure } from './queue-errors';
import { PROGRESS_SIGNAL } from './training-processes';

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
/** Set from the configuration once the process has loaded it (nothing logs before that). */
let logger: Log | null = null;

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
  const metrics = new WorkerMetrics(connection, config.queuePrefix, (err) => logger?.('warn', 'could not record a metric', { err: err.message }));
  void metrics.backendSelected(workerId(process.ppid), choice.backend);
  const metered = new MeteredStore(store, { stored: (ms) => void metrics.uploadStored(ms), failed: () => void metrics.uploadFailed() });
  await rehearse(choice.backend);
  return { config, store: metered, backend: choice.backend, notifier, redis: connection, metrics };
}

/** The rehearsal's job (see {@link rehearse}): the smallest that goes through dataset loading, a fit, callbacks and checkpoints. */
const REHEARSAL: TrainingJobData = {
  tenant: 'rehearsal',
  jobId: 'job_rehearsal',
  runId: 'run_rehearsal',
  createdAt: new Date(0).toISOString(),
  spec: {
    model: { inputShape: [4], layers: [dense(8, 'relu'), dense(3, 'softmax')] },
    compile: { optimizer: { name: 'adam' }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 2, batchSize: 32 },
  },
};

/** A dense layer spec (the contract types a layer as its `type` plus open Keras arguments). */
function dense(units: number, activation: string): { type: string } {
  return { type: 'dense', units, activation } as { type: string };
}

/**
 * Trains a tiny job into a throwaway store while the process waits as the spare, so that V8 has
 * compiled the training code paths before a real job arrives: on a fresh process the first epoch
 * would otherwise take over a second longer (bench/start.ts). A failed rehearsal costs only that.
 */
async function rehearse(backend: Backend): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-rehearsal-'));
  const store = createStore('file://' + dir);
  try {
    await runTraining(REHEARSAL, { store, backend, attempt: 1, isCancelled: () => false, reportProgress: async () => undefined, notifier: null, log: () => undefined });
  } catch (err) {
    logger?.('warn', 'the warm-up training failed; the first epoch will be slower', { err: (err as Error).message });
  } finally {
    await store.close?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

function warmUp(): Promise<ChildState> {
  return (state ??= init().catch((err) => {
    state = null;
    throw err;
  }));
}

function log(message: string, fields: Record<string, unknown> = {}): void {
  logger?.('info', message, fields);
}

/** How often the orphan guard looks at its parent. */
const PARENT_CHECK_MS = 500;
/** Progress signals are sent at most this often (one per batch would flood the IPC channel). */
const PROGRESS_SIGNAL_MS = 1000;

// A SIGTERM reaching this process directly (a container runtime signalling the whole group) is a
// shutdown too: back up at the next epoch end and hand the job back. BullMQ's own handler then
// exits once the job has returned.
let terminating = false;
/** Fails the running job with an error that escaped it (see the unhandledRejection handler). */
let failRunningJob: ((err: unknown) => void) | null = null;
if (process.send) {
  process.on('SIGTERM', () => {
    terminating = true;
  });
  // Without the parent the job's lock is no longer renewed and another worker will resume it from
  // its last backup: training on here would only race that worker.
  process.on('disconnect', () => process.exit(1));
  // The same when the parent dies while this thread is stuck (a synchronous loop never sees
  // 'disconnect'): a thread of its own watches the parent and kills the process once it is gone
  // (reparented). Node has no PR_SET_PDEATHSIG; this works even after a SIGKILL of the parent.
  new Thread(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => { if (process.ppid !== workerData.ppid) process.kill(process.pid, 'SIGKILL'); }, workerData.everyMs);`,
    { eval: true, workerData: { ppid: process.ppid, everyMs: PARENT_CHECK_MS } },
  ).unref();
  // A promise of the job that nobody awaited and that rejected belongs to the job running here
  // (the process runs only one): it fails that job, classified, instead of crashing the process
  // or, as when processes were reused, a later tenant's job.
  process.on('unhandledRejection', (reason) => {
    logger?.('error', 'a promise of the job rejected unobserved', { err: (reason as Error)?.message ?? String(reason) });
    if (failRunningJob) failRunningJob(reason);
    else process.exit(1);
  });
  // Warm up before the first job arrives: the parent keeps this process as its spare.
  warmUp().catch((err) => logger?.('warn', 'warm-up failed; the job will try again', { err: (err as Error).message }));
}

/** Test-only epoch for this attempt from a tag's value (KILN_TEST_CRASH_TAG, KILN_TEST_STALL_TAG; see worker/config.ts), or null. */
export function testCrashEpoch(tag: string | null, tags: Record<string, string> | undefined, attempt: number): number | null {
  const value = tag ? tags?.[tag] : undefined;
  const m = value === undefined ? null : /^(\d+)(?:@(\d+))?$/.exec(value);
  if (!m) return null;
  return m[2] === undefined || Number(m[2]) === attempt ? Number(m[1]) : null;
}

/** Tells the parent's watchdog that training moves (throttled). */
let lastSignal = 0;
function signalProgress(): void {
  const now = Date.now();
  if (now - lastSignal < PROGRESS_SIGNAL_MS) return;
  lastSignal = now;
  process.send?.({ cmd: PROGRESS_SIGNAL });
}

export default async function processTrainingJob(job: SandboxJob, token?: string): Promise<TrainingResult> {
  const { config, store, backend, notifier, redis, metrics } = await warmUp();
  const attempt = job.attemptsStarted && job.attemptsStarted > 0 ? job.attemptsStarted : job.attemptsMade + 1;
  // A job queued before secrets were kept apart: move its secret out before anything records the spec.
  const { spec, webhookSecret } = separateSecrets(job.data.spec);
  if (webhookSecret !== null) await redis.set(kilnKeys.webhookSecret(config.queuePrefix, job.data.jobId), webhookSecret, 'EX', SECRET_TTL_SECONDS, 'NX');
  const data = { ...job.data, spec };
  const cancel = await CancelSignal.watch(config.redisUrl, config.queuePrefix, job.data.jobId, token);
  const tensorsBefore = tensorCount();
  const crashAt = testCrashEpoch(config.testCrashTag, job.data.spec.tags, attempt);
  const stallAt = testCrashEpoch(config.testStallTag, job.data.spec.tags, attempt);
  const escaped = new Promise<never>((_, reject) => {
    failRunningJob = reject;
  });
  // A store outage pauses the job (shown as waiting) instead of failing the attempt, for up to the tolerance.
  let lastProgress: TrainingProgress = { epoch: null, epochs: job.data.spec.fit.epochs, metrics: {}, backend, best: null, attempt, startedAt: new Date().toISOString() };
  const outages = new StoreOutageReporter({
    redis, prefix: config.queuePrefix, jobId: job.data.jobId, attempt,
    publish: (waiting) => job.updateProgress({ ...lastProgress, events: [], ...(waiting ? { waiting } : {}) }),
    log: (msg, fields) => logger?.('warn', msg, fields ?? {}),
  });
  // Waiting out a store outage is not a stall: while one lasts the watchdog keeps getting its signal.
  let outageBeat: NodeJS.Timeout | null = null;
  const patientStore = new OutageTolerantStore(store, {
    toleranceMs: config.outageToleranceSeconds * 1000,
    onOutage: (o) => {
      outages.storeOutage(o);
      if (o && !outageBeat) outageBeat = setInterval(signalProgress, PROGRESS_SIGNAL_MS);
      if (!o && outageBeat) {
        clearInterval(outageBeat);
        outageBeat = null;
      }
    },
  });
  try {
    const result = await Promise.race([escaped, runTraining(data, {
      store: patientStore,
      backend,
      attempt,
      // Read at every batch end and epoch start: the progress signal the watchdog waits for.
      isCancelled: () => {
        signalProgress();
        return cancel.requested;
      },
      handBackRequested: () => terminating || cancel.handBackRequested,
      interruptions: () => readInterruptions(redis, config.queuePrefix, job.data.jobId),
      ...(crashAt === null && stallAt === null ? {} : {
        afterEpoch: (epoch: number) => {
          // `>=`: an attempt that resumed past the epoch still dies at its first epoch end.
          if (crashAt !== null && epoch >= crashAt) process.kill(process.pid, 'SIGKILL');
          // A training thread stuck in a synchronous loop, as a cyclic model's would be.
          if (stallAt !== null && epoch >= stallAt) for (;;);
        },
      }),
      maxEpochRows: config.maxEpochRows,
      datasetMemoryBytes: config.datasetMemoryBytes,
      notifier,
      remoteMonitor: remoteMonitorSender(config.outbound),
      reportProgress: async (p) => {
        if (p.epochMs !== undefined) void metrics.epochEnded(p.epochMs);
        // Training pauses at the epoch end while nothing it produces can be stored.
        await patientStore.whenAvailable();
        lastProgress = p;
        return job.updateProgress(p);
      },
      log: (msg, fields) => log(msg, { jobId: job.data.jobId, ...fields }),
    })]);
    // A Redis outage may have outlasted the job's lock while it trained: take it back (this waits
    // for Redis) before the result goes to BullMQ. Its completion, queued on the parent's
    // connection during the outage, would otherwise reach Redis before the parent retakes the
    // lock, find none and fail the attempt.
    if (token && job.id && job.queueQualifiedName) {
      const kept = await retakeLock(redis, `${job.queueQualifiedName}:`, job.id, token, config.lockDurationMs);
      if (!kept) logger?.('warn', 'the job was queued again while Redis was away; this attempt\'s result will not count', { jobId: job.data.jobId });
    }
    // Measured once the job's tensors are released. Under --expose-gc (which the child inherits
    // from its parent, as in bench/memory.ts) a full GC comes first, so the figures are what the
    // process keeps alive rather than garbage not yet collected.
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
      throw queueError(QueueErrorName.Waiting, err.message);
    }
    throw toJobFailure(outOfMemory(err) ?? err);
  } finally {
    if (outageBeat) clearInterval(outageBeat);
    failRunningJob = null;
    await cancel.close();
    const leaked = tensorCount() - tensorsBefore;
    if (leaked !== 0) logger?.('warn', 'tensor count changed across a job', { jobId: job.data.jobId, leaked });
  }
}

/**
 * Allocation failures outside the V8 heap (a tensor buffer, the wasm heap) surface as ordinary
 * errors; they are the job's size, not a fault to retry.
 */
function outOfMemory(err: unknown): KilnError | null {
  const message = (err as Error)?.message ?? '';
  if (!/Array buffer allocation failed|Aborted\(OOM\)|Cannot enlarge memory|WebAssembly\.Memory\(\): could not allocate|Out of memory/i.test(message)) return null;
  return new KilnError('RESOURCE_EXHAUSTED', `the job ran out of memory (${message}); use a smaller model, batchSize or dataset`, { cause: err });
}
