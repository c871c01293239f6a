import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SchemaInterruption, SchemaJobSpec } from '../../core/api.gen';
import { CallbackList } from '../../core/callbacks/callback-list';
import type { StoppingCallback } from '../../core/callbacks/events';
import { KilnError } from '../../core/errors';
import type { Backend, TrainingJobData, TrainingProgress, TrainingResult } from '../../core/queue-contract';
import { checkModelSpec } from '../../core/model-spec';
import { epochRowsProblem } from '../../core/tenant-limits';
import type { ArtifactStore } from '../../store/artifact-store';
import { RunLayout } from '../../store/run-layout';
import { Uploader } from '../../store/uploader';
import { BackupAndRestore } from '../callbacks/backup-and-restore';
import { BackupWriter, backupSettings, readLatestBackup, type LoadedBackup } from '../callbacks/backup-writer';
import { CheckpointWriter, resumedBest } from '../callbacks/checkpoint-writer';
import { buildJobCallbacks, csvLogFile } from '../callbacks/job-callbacks';
import { RunRecorder } from '../callbacks/run-recorder';
import { reconcileTensorBoardFiles, tensorBoardState } from '../callbacks/tensorboard';
import { checkLabelsFitOutput } from '../data/label-encoding';
import { loadDatasetWithin, type LoadedDataset, type SpilledDataset } from '../data/load-dataset';
import { ScratchFiles } from '../data/scratch-files';
import { buildModel } from '../tfjs/build-model';
import { compileModel } from '../tfjs/compile-model';
import { FileTrainingSession } from '../tfjs/file-training-session';
import { serializeModel, TfjsModelHandle } from '../tfjs/tfjs-model-handle';
import { ArrayTrainingSession, type TrainingSession } from '../tfjs/training-session';
import type { JobNotifier } from '../webhooks/job-notifier';
import type { RemoteMonitorSender } from '../../core/callbacks/remote-monitor';
import { fitLoop, type Interruption } from './fit-loop';

export interface TrainingDeps {
  store: ArtifactStore;
  backend: Backend;
  /** 1-based attempt number of this run of the job. */
  attempt: number;
  isCancelled(): boolean;
  reportProgress(progress: TrainingProgress): Promise<void>;
  /** Webhook events from inside training (started, epoch, checkpoint, alert); null sends none. */
  notifier: JobNotifier | null;
  log(message: string, fields?: Record<string, unknown>): void;
  /** KILN_MAX_EPOCH_ROWS: cap on epochs × dataset rows; 0 or absent = none. */
  maxEpochRows?: number;
  /**
   * KILN_DATASET_MEMORY_BYTES: parsed dataset values a job may hold in memory; a larger dataset
   * trains from a local scratch file (see worker/data/README.md). @defaultValue no limit
   */
  datasetMemoryBytes?: number;
  /**
   * True once the worker is shutting down and wants the job back: training stops at the next
   * epoch end, backs up, and throws {@link HandBack}. @defaultValue never
   */
  handBackRequested?(): boolean;
  /** The job's interruption history so far, for run.json. @defaultValue none */
  interruptions?(): Promise<SchemaInterruption[]>;
  /**
   * Called after each epoch's end is recorded and backed up (test-only crash hook, see
   * worker/processor.ts). @defaultValue none
   */
  afterEpoch?(epoch: number): void | Promise<void>;
  /**
   * Sends a RemoteMonitor callback's posts (worker/webhooks/remote-monitor-sender.ts, through the
   * outbound policy). @defaultValue none: a job configuring remoteMonitor fails at start
   */
  remoteMonitor?: RemoteMonitorSender;
}

/**
 * Training stopped at an epoch end because the worker is shutting down; the backup of that epoch
 * is stored, so the caller hands the job back to the queue for another worker to resume.
 */
export class HandBack extends Error {
  constructor(readonly epoch: number | null) {
    super(`handed back after epoch ${epoch ?? 'none'} because the worker is shutting down`);
    this.name = 'HandBack';
  }
}

const EXTRA_METRICS = ['precision', 'recall', 'f1', 'auc'];
/** Store requests a run keeps in flight; at 200 ms a request one at a time is 5 objects a second. */
const UPLOAD_CONCURRENCY = 8;

/**
 * Trains one job end to end: loads the data, builds the model, runs the epochs with the job's
 * callbacks (Keras semantics, core/callbacks), stores checkpoints, the CSV log and the run manifest,
 * and reports progress. Throws KilnError for user errors (the caller fails the job without retry).
 */
export async function runTraining(job: TrainingJobData, deps: TrainingDeps): Promise<TrainingResult> {
  // A spilled dataset's scratch files are closed (and so freed: they are unlinked) however the job ends.
  const scratch = new ScratchFiles(join(tmpdir(), `kiln-${job.jobId}-`));
  try {
    return await trainJob(job, deps, scratch);
  } finally {
    await scratch.release();
  }
}

/**
 * Load → build → callbacks → loop, as Keras's `fit` is: every side effect of an epoch (run.json,
 * progress and webhooks, checkpoints and best.json, TensorBoard, backups) is a callback of the list
 * the loop drives (worker/callbacks/README.md).
 */
async function trainJob(job: TrainingJobData, deps: TrainingDeps, scratch: ScratchFiles): Promise<TrainingResult> {
  const run = startRun(job, deps);
  if (deps.isCancelled()) return run.recorder.finish(run.recorder.result('cancelled', 'cancelled'));
  const loaded = await load(job, deps, scratch, run);
  const { model, session } = build(job.spec, loaded);
  try {
    const callbacks = await attachCallbacks(job, deps, run, loaded, model, session.hasValidation);
    const interrupted = await fitLoop(session, callbacks.model, callbacks.list, {
      epochs: job.spec.fit.epochs,
      initialEpoch: () => callbacks.backup.initialEpoch,
      batchSize: job.spec.fit.batchSize ?? 32,
      shuffleSeed: (job.spec.fit.shuffle ?? true) ? loaded.seed : null,
      extraMetrics: (job.spec.compile.metrics ?? []).filter((m) => EXTRA_METRICS.includes(m)),
      loss: job.spec.compile.loss,
      interruption: interruptions(job.spec, deps, run.startedAt),
      afterEpoch: async (epoch) => {
        await deps.afterEpoch?.(epoch);
        if (callbacks.backup.handingBack) await handBack(epoch, loaded.backup, run.uploader);
      },
      lastLogs: () => run.recorder.lastLogs,
    });
    const status = interrupted === 'cancelled' ? 'cancelled' : 'succeeded';
    const done = await run.recorder.finish(run.recorder.result(status, stopReason(interrupted, callbacks.job.stoppedBy)));
    await loaded.backup.finish();
    return done;
  } catch (err) {
    // Let what is already queued (the last backup and its pointer, logs) reach the store before the attempt ends.
    await loaded.backup.settled().catch(() => undefined);
    await run.uploader.flush().catch(() => undefined);
    throw err;
  } finally {
    session.dispose();
  }
}

/** Where this attempt writes: the run's layout, its uploader and its recorder. */
interface RunOutput {
  startedAt: Date;
  layout: RunLayout;
  uploader: Uploader;
  recorder: RunRecorder;
}

function startRun(job: TrainingJobData, deps: TrainingDeps): RunOutput {
  const startedAt = new Date();
  const layout = new RunLayout({ tenant: job.tenant, runId: job.runId, attempt: deps.attempt });
  // Several uploads in flight keep a store with latency ahead of the epochs (pointers await what they
  // name); on the store's write thread, their signing, hashing and HTTP leave this thread to train.
  const uploader = new Uploader(deps.store, { concurrency: UPLOAD_CONCURRENCY, offThread: true });
  const { backend, attempt, reportProgress, notifier, log } = deps;
  const recorder = new RunRecorder({ job, layout, uploader, backend, attempt, startedAt, reportProgress, notifier, log });
  return { startedAt, layout, uploader, recorder };
}

/** The tfjs model (named without importing tfjs here). */
type Model = ReturnType<typeof buildModel>;

/** What training starts from. */
interface Loaded {
  seed: number;
  dataset: LoadedDataset | SpilledDataset;
  /** This attempt's backup writer. */
  backup: BackupWriter;
  /** The backup a resumed attempt continues from (BackupAndRestore), else null. */
  restored: LoadedBackup | null;
}

/**
 * Loads the dataset (within the worker's limits) and the backup a job handed to a worker again
 * continues from; puts the run's stored record and TensorBoard files back as of that backup.
 */
async function load(job: TrainingJobData, deps: TrainingDeps, scratch: ScratchFiles, run: RunOutput): Promise<Loaded> {
  const { spec, tenant, runId } = job;
  const seed = spec.fit.seed ?? seedFromId(job.jobId);
  const dataset = await loadDatasetWithin(spec.data, {
    loss: spec.compile.loss,
    seed,
    tenant,
    storeUri: deps.store.uri,
    readObject: async (key: string) => (await deps.store.getStream(key))?.stream ?? null,
  }, { memoryBytes: deps.datasetMemoryBytes ?? Number.POSITIVE_INFINITY, scratch });
  const rows = dataset.train.count + (dataset.validation?.count ?? 0);
  if (dataset.storage === 'spilled') deps.log('dataset spilled to scratch files', { rows, bytes: dataset.bytes, datasetMemoryBytes: deps.datasetMemoryBytes });
  const tooBig = epochRowsProblem(spec.fit.epochs, rows, deps.maxEpochRows ?? 0);
  if (tooBig) throw new KilnError('LIMIT_EXCEEDED', tooBig);
  checkLabelsFitOutput(spec.compile.loss, dataset.classes, checkModelSpec(spec.model).outputShape, dataset.labelColumn);
  const backup = new BackupWriter(deps.store, run.uploader, tenant, runId, deps.attempt, backupSettings(spec), deps.log);
  const restored = backup.settings.enabled ? await readLatestBackup(deps.store, tenant, runId, job.jobId) : null;
  if (restored) {
    await backup.discover();
    run.layout.resumeSaves(restored.state.saveCounts);
    deps.log('resuming from backup', { version: restored.pointer.version, epoch: restored.state.epoch });
  }
  run.recorder.continueFrom(restored?.state.run ?? null, (await deps.interruptions?.()) ?? []);
  if (spec.callbacks?.tensorBoard) {
    const tbState = restored ? tensorBoardState(restored.state.callbacks) : undefined;
    await reconcileTensorBoardFiles(deps.store, run.layout, tbState ?? null, deps.log);
  }
  return { seed, dataset, backup, restored };
}

/** The compiled model and the session that trains it on the dataset. */
function build(spec: SchemaJobSpec, { dataset, seed }: Loaded): { model: Model; session: TrainingSession } {
  const model = buildModel(spec.model, { seed });
  try {
    compileModel(model, spec.compile);
    const session = dataset.storage === 'spilled'
      ? new FileTrainingSession(model, dataset.train, dataset.validation, dataset.featureShape, dataset.labelShape)
      : new ArrayTrainingSession(model, dataset.train, dataset.validation, dataset.featureShape, dataset.labelShape);
    return { model, session };
  } catch (err) {
    // The sandbox is reused: a job that fails before training must not leave its variables behind.
    model.dispose();
    throw err;
  }
}

/**
 * The callback list the loop drives, in Keras's order: the job's own callbacks (the spec's,
 * TensorBoard, the implicit best checkpoint), then the worker's always-present ones (recording the
 * run, writing checkpoints), then BackupAndRestore, last, so it backs up what all the others did.
 */
async function attachCallbacks(job: TrainingJobData, deps: TrainingDeps, run: RunOutput, loaded: Loaded, model: Model, hasValidation: boolean) {
  const { layout, uploader, recorder } = run;
  const { dataset, restored } = loaded;
  const metadata = {
    runId: job.runId,
    classes: dataset.classes,
    featureColumns: dataset.featureColumns,
    labelColumn: dataset.labelColumn,
    standardization: dataset.standardization,
    featureShape: dataset.featureShape,
  };
  const checkpoints = new CheckpointWriter({
    job, layout, uploader, recorder, notifier: deps.notifier,
    serializeFinal: () => serializeModel(model, metadata),
    resumedBest: restored ? await resumedBest(deps.store, layout, restored.state.best) : undefined,
  });
  const handle = new TfjsModelHandle(model, checkpoints.save, metadata);
  const csvSink = async (text: string) => {
    await uploader.enqueue(layout.log(csvLogFile(job.spec)), text, { contentType: 'text/csv' });
  };
  const jobCallbacks = buildJobCallbacks(job.spec, {
    model: handle, hasValidation, csvSink, emit: recorder.record, remoteMonitorSender: deps.remoteMonitor,
    tensorBoardSink: async (path, content) => {
      await uploader.enqueue(layout.tensorboard(path), content, { contentType: 'application/octet-stream' });
    },
  });
  const backup = new BackupAndRestore({
    job, writer: loaded.backup, restored, model: handle, callbacks: jobCallbacks, recorder, checkpoints, csvSink,
    handBackRequested: deps.handBackRequested,
  });
  const list = new CallbackList([jobCallbacks, recorder, checkpoints, backup], { model: handle, emit: recorder.record });
  return { model: handle, job: jobCallbacks, backup, list };
}

/** Cancel and the job's time limit (`maxRuntimeSeconds`, counted from this attempt's start). */
function interruptions(spec: SchemaJobSpec, deps: TrainingDeps, startedAt: Date): () => Interruption | null {
  const deadline = spec.maxRuntimeSeconds ? startedAt.getTime() + spec.maxRuntimeSeconds * 1000 : Infinity;
  return () => (deps.isCancelled() ? 'cancelled' : Date.now() >= deadline ? 'max_runtime' : null);
}

/** The worker is shutting down: once the epoch's backup is stored, the job goes back to the queue. */
async function handBack(epoch: number, backup: BackupWriter, uploader: Uploader): Promise<never> {
  await backup.settled();
  await uploader.flush();
  throw new HandBack(epoch);
}

function stopReason(interrupted: Interruption | null, stoppedBy: StoppingCallback | null): TrainingResult['stopReason'] {
  return interrupted ?? (stoppedBy === 'EarlyStopping' ? 'early_stopping' : stoppedBy === 'TerminateOnNaN' ? 'terminate_on_nan' : 'completed');
}

function seedFromId(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0);
}
