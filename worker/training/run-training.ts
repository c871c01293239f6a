import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SchemaBestCheckpoint, SchemaInterruption, SchemaJobSpec, SchemaRun } from '../../core/api.gen';
import type { Logs, SaveRequest } from '../../core/callbacks/model-handle';
import { buildCallbacks } from '../../core/callbacks/from-spec';
import type { Callback } from '../../core/callbacks/callback';
import { CallbackList } from '../../core/callbacks/callback-list';
import { rewindTensorBoardFiles, TensorBoard } from './tensorboard-callback';
import { EarlyStopping } from '../../core/callbacks/early-stopping';
import { CSVLogger } from '../../core/callbacks/csv-logger';
import { BackupWriter, backupSettings, readLatestBackup, type BackupState, type LoadedBackup } from './backup';
import { encodeModelWeights, encodeOptimizer, restoreModelWeights, restoreOptimizer } from '../tfjs/training-state';
import { ModelCheckpoint } from '../../core/callbacks/model-checkpoint';
import type { CallbackEvent } from '../../core/callbacks/events';
import type { JsonValue } from '../../core/callbacks/callback-state';
import { kerasLogName } from '../../core/compile-spec';
import { logsToWire, type Backend, type TrainingJobData, type TrainingProgress, type TrainingResult } from '../../core/queue-contract';
import type { ArtifactStore } from '../../store/artifact-store';
import { bestPointerKey, checkpointKeys, checkpointVersion, logKey, runManifestKey, tensorboardKey, tensorboardPrefix } from '../../store/run-layout';
import { Uploader } from '../../store/uploader';
import { buildModel } from '../tfjs/build-model';
import { compileModel } from '../tfjs/compile-model';
import { serializeModel, TfjsModelHandle, type SerializedModel } from '../tfjs/tfjs-model-handle';
import { ArrayTrainingSession, type TrainingSession } from '../tfjs/training-session';
import { FileTrainingSession } from '../tfjs/file-training-session';
import type { JobNotifier } from '../webhooks/job-notifier';
import { loadDatasetWithin } from './load-dataset';
import { checkLabelsFitOutput } from './label-encoding';
import { checkModelSpec } from '../../core/model-spec';
import { ScratchFiles } from './scratch-files';
import { extraValidationMetrics } from './extra-metrics';
import { epochRowsProblem } from '../../core/tenant-limits';
import { KilnError } from '../../core/errors';

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
   * trains from a local scratch file (see worker/training/README.md). @defaultValue no limit
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

async function trainJob(job: TrainingJobData, deps: TrainingDeps, scratch: ScratchFiles): Promise<TrainingResult> {
  const { spec, tenant, runId } = job;
  const startedAt = new Date();
  const seed = spec.fit.seed ?? seedFromId(job.jobId);
  // Several uploads in flight keep a store with latency ahead of the epochs (pointers await what they
  // name); on the store's write thread, their signing, hashing and HTTP leave this thread to train.
  const uploader = new Uploader(deps.store, { concurrency: UPLOAD_CONCURRENCY, offThread: true });
  const manifest = new RunManifest(job, deps.backend, startedAt);

  const finish = async (result: TrainingResult): Promise<TrainingResult> => {
    manifest.finish(result);
    await uploader.enqueue(runManifestKey(tenant, runId), manifest.json(), { contentType: 'application/json' });
    await uploader.flush();
    return result;
  };

  if (deps.isCancelled()) {
    return finish(result(job, deps, 'cancelled', 'cancelled', null, {}, null));
  }

  const dataset = await loadDatasetWithin(spec.data, {
    loss: spec.compile.loss,
    seed,
    tenant,
    storeUri: deps.store.uri,
    readObject: async (key: string) => (await deps.store.getStream(key))?.stream ?? null,
  }, { memoryBytes: deps.datasetMemoryBytes ?? Number.POSITIVE_INFINITY, scratch });
  if (dataset.storage === 'spilled') {
    deps.log('dataset spilled to scratch files', {
      rows: dataset.train.count + (dataset.validation?.count ?? 0),
      bytes: dataset.bytes,
      datasetMemoryBytes: deps.datasetMemoryBytes,
    });
  }
  const tooBig = epochRowsProblem(spec.fit.epochs, dataset.train.count + (dataset.validation?.count ?? 0), deps.maxEpochRows ?? 0);
  if (tooBig) throw new KilnError('LIMIT_EXCEEDED', tooBig);
  checkLabelsFitOutput(spec.compile.loss, dataset.classes, checkModelSpec(spec.model).outputShape, dataset.labelColumn);
  const backup = new BackupWriter(deps.store, uploader, tenant, runId, deps.attempt, backupSettings(spec), deps.log);
  // A job handed to a worker again continues from its last backup (BackupAndRestore).
  const restored = backup.settings.enabled ? await readLatestBackup(deps.store, tenant, runId, job.jobId) : null;
  if (restored) {
    manifest.restore(restored.state.run);
    await backup.discover();
    deps.log('resuming from backup', { version: restored.pointer.version, epoch: restored.state.epoch });
  }
  manifest.interruptions = (await deps.interruptions?.()) ?? [];
  if (spec.callbacks?.tensorBoard) {
    // Before this attempt writes any event file: the stored files must hold exactly the epochs the
    // backup covers (none without one), or epochs would show twice after the resume.
    const tbState = restored ? tensorBoardState(restored.state.callbacks) : undefined;
    await reconcileTensorBoardFiles(deps.store, tenant, runId, tbState ?? null, deps.log);
  }
  const model = buildModel(spec.model, { seed });
  let session: TrainingSession;
  try {
    compileModel(model, spec.compile);
    session = dataset.storage === 'spilled'
      ? new FileTrainingSession(model, dataset.train, dataset.validation, dataset.featureShape, dataset.labelShape)
      : new ArrayTrainingSession(model, dataset.train, dataset.validation, dataset.featureShape, dataset.labelShape);
  } catch (err) {
    // The sandbox is reused: a job that fails before training must not leave its variables behind.
    model.dispose();
    throw err;
  }
  try {
    await uploader.enqueue(runManifestKey(tenant, runId), manifest.json(), { contentType: 'application/json' });

    let best: SchemaBestCheckpoint = restored ? await resumedBest(deps.store, tenant, runId, restored) : null;
    // After a resume best.json only moves to a checkpoint strictly better than the one it names.
    const bestFloor = best;
    if (restored) manifest.best = best;
    let bestChain: Promise<void> = Promise.resolve();
    const saveCounts = new Map<string, number>(Object.entries(restored?.state.saveCounts ?? {}));
    const saveCheckpoint = async (request: SaveRequest, serialized: SerializedModel) => {
      const seq = (saveCounts.get(request.path) ?? 0) + 1;
      saveCounts.set(request.path, seq);
      const keys = checkpointKeys(tenant, runId, request.path, checkpointVersion(deps.attempt, seq));
      const key = keys.prefix.replace(/\/$/, '');
      // Awaiting enqueue bounds memory; the uploads themselves finish in the background.
      const model = await uploader.enqueue(keys.modelJson, JSON.stringify(serialized.modelJson), { contentType: 'application/json' });
      const weights = await uploader.enqueue(keys.weightsBin, serialized.weights, { contentType: 'application/octet-stream' });
      const stored = Promise.all([model.stored, weights.stored]);
      // Not every checkpoint is awaited (only best ones, by the pointer chain): a failed upload is
      // reported by flush(), and must not also surface as an unhandled rejection that kills the
      // reused sandbox process under the next tenant's job.
      stored.catch(() => undefined);
      manifest.addArtifact({ kind: 'checkpoint', key, epoch: request.epoch });
      if (!request.best) return;
      const candidate: NonNullable<SchemaBestCheckpoint> = {
        epoch: request.epoch,
        path: request.path,
        key,
        monitor: request.best.monitor,
        value: Number.isFinite(request.best.value) ? request.best.value : String(request.best.value),
        savedAt: new Date().toISOString(),
      };
      // best.json moves only after the checkpoint it names is completely stored, and in save order.
      bestChain = bestChain.then(async () => {
        await stored;
        if (!beats(candidate, bestFloor, request.best!.mode)) return;
        best = candidate;
        manifest.best = candidate;
        await (await uploader.enqueue(bestPointerKey(tenant, runId), JSON.stringify(candidate), { contentType: 'application/json' })).stored;
        void deps.notifier?.notify(job, 'checkpoint.improved', { best: candidate }, { seq: `${deps.attempt}_${seq}_${candidate.epoch}` });
      });
      // Surface a failed pointer write at flush time rather than as an unhandled rejection now.
      bestChain.catch(() => undefined);
    };

    const modelMetadata = {
      runId,
      classes: dataset.classes,
      featureColumns: dataset.featureColumns,
      labelColumn: dataset.labelColumn,
      standardization: dataset.standardization,
      featureShape: dataset.featureShape,
    };
    const handle = new TfjsModelHandle(model, saveCheckpoint, modelMetadata);
    const csvFilename = spec.callbacks?.csvLogger?.filename ?? 'training_log.csv';
    const events: CallbackEvent[] = restored ? (restored.state.run.events as unknown as CallbackEvent[]) : [];
    // The manifest shares the array, so run.json carries each epoch's callback events as it is
    // rewritten after that epoch (the events endpoint replays them to late clients).
    manifest.events = events as unknown as Array<Record<string, unknown>>;
    const emitEvent = (event: CallbackEvent) => {
      events.push(event);
      deps.log('callback event', { event });
      if (event.type === 'alert_fired' && deps.notifier) {
        const target = deps.notifier.alertTarget(job, event);
        if (target) {
          void deps.notifier.notify(job, 'alert.triggered', { epoch: event.epoch, rule: event.rule, when: event.when, values: event.values, text: event.text }, { seq: `${event.rule}_${event.epoch}`, target });
        }
      }
    };
    const userCallbacks = buildCallbacks({ ...spec.callbacks, csvLogger: spec.callbacks?.csvLogger ?? {} }, {
      model: handle,
      compiledMetrics: spec.compile.metrics ?? [],
      initialLearningRate: handle.getLearningRate(),
      epochs: spec.fit.epochs,
      csvSink: async (text: string) => {
        await uploader.enqueue(logKey(tenant, runId, csvFilename), text, { contentType: 'text/csv' });
      },
      emit: emitEvent,
    });
    const extra: Callback[] = [];
    const tensorBoardSpec = spec.callbacks?.tensorBoard;
    if (tensorBoardSpec) {
      extra.push(new TensorBoard(tensorBoardSpec, () => handle.weightValues(), async (path, content) => {
        await uploader.enqueue(tensorboardKey(tenant, runId, path), content, { contentType: 'application/octet-stream' });
      }));
    }
    const implicitBest = implicitBestCheckpoint(spec, session.hasValidation);
    if (implicitBest) extra.push(implicitBest);
    const callbacks = extra.length > 0
      ? new CallbackList([...userCallbacks.callbacks, ...extra], { model: handle, emit: emitEvent })
      : userCallbacks;

    const deadline = spec.maxRuntimeSeconds ? startedAt.getTime() + spec.maxRuntimeSeconds * 1000 : Infinity;
    let interrupted: 'cancelled' | 'max_runtime' | null = null;
    const checkInterrupt = () => {
      if (interrupted) return;
      if (deps.isCancelled()) interrupted = 'cancelled';
      else if (Date.now() >= deadline) interrupted = 'max_runtime';
      if (interrupted) handle.stopTraining = true;
    };

    const batchSize = spec.fit.batchSize ?? 32;
    const shuffle = spec.fit.shuffle ?? true;
    let lastEpoch: number | null = null;
    let lastLogs: Logs = {};
    let eventsReported = events.length;
    let lastNotifiedEpoch: number | null = null;
    let startEpoch = 0;
    void deps.notifier?.notify(job, 'job.started', { attempt: deps.attempt, backend: deps.backend, startedAt: startedAt.toISOString() }, { seq: deps.attempt });
    await callbacks.onTrainBegin({});
    if (restored) {
      const s = restored.state;
      restoreModelWeights(model, restored.weights);
      restoreOptimizer(model.optimizer, restored.optimizer);
      handle.setLearningRate(s.learningRate);
      callbacks.restore(s.callbacks);
      const es = callbacks instanceof CallbackList ? callbacks.find(EarlyStopping) : undefined;
      if (es && restored.bestWeights) es.adoptBestWeights(handle.decodeSnapshot(restored.bestWeights));
      // The stored log and manifest may hold epochs after the backup: rewrite both as of the backup.
      const csv = callbacks.find(CSVLogger);
      if (csv && csv.content.length > 0) await uploader.enqueue(logKey(tenant, runId, csvFilename), csv.content, { contentType: 'text/csv' });
      await uploader.enqueue(runManifestKey(tenant, runId), manifest.json(), { contentType: 'application/json' });
      lastEpoch = s.epoch;
      lastLogs = logsFromWire(s.lastLogs);
      lastNotifiedEpoch = s.lastNotifiedEpoch;
      startEpoch = s.epoch + 1;
      if (s.stopTraining) handle.stopTraining = true;
      await deps.reportProgress({
        events: [],
        epoch: s.epoch,
        epochs: spec.fit.epochs,
        metrics: s.lastLogs,
        backend: deps.backend,
        best,
        attempt: deps.attempt,
        startedAt: startedAt.toISOString(),
      });
    }
    const takeBackup = async (epoch: number) => {
      const es = callbacks.find(EarlyStopping);
      const snapshot = es?.bestWeightsSnapshot ?? null;
      const state: BackupState = {
        version: 1,
        jobId: job.jobId,
        runId,
        attempt: deps.attempt,
        epoch,
        savedAt: new Date().toISOString(),
        learningRate: handle.getLearningRate(),
        stopTraining: handle.stopTraining,
        callbacks: callbacks.state(),
        hasBestWeights: snapshot !== null,
        best,
        saveCounts: Object.fromEntries(saveCounts),
        lastLogs: logsToWire(lastLogs),
        lastNotifiedEpoch,
        run: manifest.growingParts(events as unknown as Array<Record<string, unknown>>),
      };
      await backup.write(epoch, state, {
        weights: encodeModelWeights(model),
        optimizer: encodeOptimizer(model.optimizer),
        bestWeights: snapshot ? handle.encodeSnapshot(snapshot) : null,
      }, bestChain);
    };
    for (let epoch = startEpoch; epoch < spec.fit.epochs && !handle.stopTraining; epoch++) {
      checkInterrupt();
      if (interrupted) break;
      await callbacks.onEpochBegin(epoch, {});
      const trainLogs = await session.trainEpoch(epoch, batchSize, shuffle ? seed : null, {
        onBatchBegin: async (batch) => callbacks.onBatchBegin(batch, {}),
        onBatchEnd: async (batch, logs) => {
          await callbacks.onBatchEnd(batch, kerasLogs(logs));
          checkInterrupt();
          // Let the cancel channel and progress I/O run between batches.
          await new Promise((r) => setImmediate(r));
        },
      });
      // A cancel or time limit mid-epoch leaves the epoch unfinished: no epoch-end decisions on it.
      if (interrupted) break;
      const logs: Logs = kerasLogs({ ...trainLogs, ...(await session.evaluateValidation(batchSize)) });
      const wanted = (spec.compile.metrics ?? []).filter((m) => EXTRA_METRICS.includes(m));
      if (wanted.length > 0) {
        const predicted = await session.predictValidation(batchSize);
        if (predicted) Object.assign(logs, extraValidationMetrics(wanted, predicted, spec.compile.loss));
      }
      await callbacks.onEpochEnd(epoch, logs);
      lastEpoch = epoch;
      lastLogs = logs;
      manifest.addEpoch(epoch, logs);
      await uploader.enqueue(runManifestKey(tenant, runId), manifest.json(), { contentType: 'application/json' });
      const epochEvents = events.slice(eventsReported) as unknown as Array<Record<string, unknown>>;
      eventsReported = events.length;
      await deps.reportProgress({
        events: epochEvents,
        epoch,
        epochs: spec.fit.epochs,
        metrics: logsToWire(logs),
        backend: deps.backend,
        best,
        attempt: deps.attempt,
        startedAt: startedAt.toISOString(),
        epochMs: session.msSinceEpochBegan(),
      });
      void deps.notifier?.notify(job, 'job.epoch', { epoch, epochs: spec.fit.epochs, metrics: logsToWire(logs) }, { seq: epoch });
      lastNotifiedEpoch = epoch;
      const handBack = backup.settings.enabled && (deps.handBackRequested?.() ?? false) && !handle.stopTraining && epoch + 1 < spec.fit.epochs;
      if (backup.due(epoch) || handBack) await takeBackup(epoch);
      await deps.afterEpoch?.(epoch);
      if (handBack) {
        await backup.settled();
        await uploader.flush();
        throw new HandBack(epoch);
      }
      if (handle.stopTraining) break;
    }
    await callbacks.onTrainEnd(lastLogs);
    await bestChain;
    if (lastEpoch !== null) {
      // The model as fit() leaves it (with EarlyStopping's restored weights, as Keras would save it
      // after fit), beside the best checkpoint.
      const final = await serializeModel(model, modelMetadata);
      const keys = checkpointKeys(tenant, runId, 'final', checkpointVersion(deps.attempt, 1));
      const finalJson = await uploader.enqueue(keys.modelJson, JSON.stringify(final.modelJson), { contentType: 'application/json' });
      const finalWeights = await uploader.enqueue(keys.weightsBin, final.weights, { contentType: 'application/octet-stream' });
      // run.json names the final model only once it is stored (uploads may finish out of order).
      await Promise.all([finalJson.stored, finalWeights.stored]);
      manifest.addArtifact({ kind: 'checkpoint', key: keys.prefix.replace(/\/$/, ''), epoch: lastEpoch });
      manifest.finalKey = keys.prefix.replace(/\/$/, '');
    }

    const stoppedBy = callbacks.stoppedBy as string | null;
    const stopReason: TrainingResult['stopReason'] = interrupted
      ?? (stoppedBy === 'EarlyStopping' ? 'early_stopping' : stoppedBy === 'TerminateOnNaN' ? 'terminate_on_nan' : 'completed');
    manifest.events = events as unknown as Array<Record<string, unknown>>;
    const done = await finish(result(job, deps, interrupted === 'cancelled' ? 'cancelled' : 'succeeded', stopReason, lastEpoch, lastLogs, best));
    await backup.finish();
    return done;
  } catch (err) {
    // Let what is already queued (the last backup and its pointer, logs) reach the store before the attempt ends.
    await backup.settled().catch(() => undefined);
    await uploader.flush().catch(() => undefined);
    throw err;
  } finally {
    session.dispose();
  }
}

/**
 * The run's best checkpoint when resuming: best.json as stored (it may already name a checkpoint
 * saved after the backup, by the interrupted attempt), else the backup's.
 */
async function resumedBest(store: ArtifactStore, tenant: string, runId: string, restored: LoadedBackup): Promise<SchemaBestCheckpoint> {
  const raw = await store.get(bestPointerKey(tenant, runId));
  return raw ? (JSON.parse(raw.toString('utf8')) as SchemaBestCheckpoint) : restored.state.best;
}

/** Whether a candidate best checkpoint is strictly better than `floor` on the same monitor. */
function beats(candidate: NonNullable<SchemaBestCheckpoint>, floor: SchemaBestCheckpoint, mode: 'min' | 'max'): boolean {
  if (!floor || floor.monitor !== candidate.monitor) return true;
  const c = typeof candidate.value === 'number' ? candidate.value : Number(candidate.value);
  const f = typeof floor.value === 'number' ? floor.value : Number(floor.value);
  if (Number.isNaN(f)) return !Number.isNaN(c);
  return mode === 'min' ? c < f : c > f;
}

function logsFromWire(logs: Record<string, number | string>): Logs {
  const out: Logs = {};
  for (const [k, v] of Object.entries(logs)) out[k] = typeof v === 'number' ? v : Number(v);
  return out;
}

/**
 * Every run keeps a best model, even when the job did not ask for one: without a best-only
 * ModelCheckpoint of its own, a job gets one on its natural monitor (`val_loss` with validation
 * data, else `loss`) saving to `checkpoints/best/`. Every run also keeps a CSV log (a CSVLogger
 * with its defaults is added when the job has none).
 */
export function implicitBestCheckpoint(spec: SchemaJobSpec, hasValidation: boolean): ModelCheckpoint | null {
  if (spec.callbacks?.modelCheckpoint?.saveBestOnly) return null;
  return new ModelCheckpoint({
    filepath: 'best',
    monitor: hasValidation ? 'val_loss' : 'loss',
    saveBestOnly: true,
    compiledMetrics: spec.compile.metrics ?? [],
  });
}

function kerasLogs(logs: Record<string, number>): Logs {
  const out: Logs = {};
  for (const [k, v] of Object.entries(logs)) out[kerasLogName(k)] = v;
  return out;
}

function seedFromId(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0);
}

function result(job: TrainingJobData, deps: TrainingDeps, status: TrainingResult['status'], stopReason: TrainingResult['stopReason'],
  epoch: number | null, logs: Logs, best: SchemaBestCheckpoint): TrainingResult {
  return {
    status,
    stopReason,
    epoch,
    epochs: job.spec.fit.epochs,
    metrics: logsToWire(logs),
    best,
    backend: deps.backend,
    attempt: deps.attempt,
    finishedAt: new Date().toISOString(),
  };
}

/** The run manifest (run.json) as it grows during training. */
class RunManifest {
  best: SchemaBestCheckpoint = null;
  events: Array<Record<string, unknown>> = [];
  /** Store key prefix of the model as training left it. */
  finalKey: string | null = null;
  interruptions: SchemaInterruption[] = [];
  private history: SchemaRun['history'] = [];
  private artifacts: SchemaRun['artifacts'] = [];
  private status: SchemaRun['status'] = 'running';
  private stopReason: SchemaRun['stopReason'] = null;

  constructor(private readonly job: TrainingJobData, private readonly backend: Backend, private readonly startedAt: Date) {}

  /** Continues the manifest of a backup (BackupAndRestore). */
  restore(parts: BackupState['run']): void {
    this.history = [...parts.history];
    this.artifacts = [...parts.artifacts];
    this.events = [...parts.events];
  }

  /** What a backup keeps of the manifest. */
  growingParts(events: Array<Record<string, unknown>>): BackupState['run'] {
    return { history: [...this.history], events: [...events], artifacts: [...this.artifacts] };
  }

  addEpoch(epoch: number, logs: Logs): void {
    this.history.push({ epoch, logs: logsToWire(logs) });
  }

  addArtifact(a: SchemaRun['artifacts'][number]): void {
    this.artifacts.push(a);
  }

  finish(r: TrainingResult): void {
    this.status = r.status;
    this.stopReason = r.stopReason;
    this.best = r.best ?? this.best;
  }

  json(): string {
    const { tenant, runId } = this.job;
    const run: SchemaRun = {
      runId,
      jobId: this.job.jobId,
      status: this.status,
      stopReason: this.stopReason,
      backend: this.backend,
      spec: this.job.spec,
      history: this.history,
      best: this.best,
      artifacts: [
        { kind: 'manifest', key: runManifestKey(tenant, runId) },
        ...(this.best ? [{ kind: 'pointer' as const, key: bestPointerKey(tenant, runId) }] : []),
        { kind: 'log', key: logKey(tenant, runId, this.job.spec.callbacks?.csvLogger?.filename ?? 'training_log.csv') },
        ...this.artifacts,
      ],
      error: null,
      createdAt: this.job.createdAt,
      updatedAt: new Date().toISOString(),
      startedAt: this.startedAt.toISOString(),
      final: this.finalKey,
      events: this.events,
      ...(this.interruptions.length > 0 ? { interruptions: this.interruptions } : {}),
    };
    return JSON.stringify(run);
  }
}

function tensorBoardState(callbackStates: JsonValue): JsonValue | undefined {
  return Object.entries((callbackStates as { callbacks?: Record<string, JsonValue> }).callbacks ?? {}).find(([k]) => k.endsWith(':TensorBoard'))?.[1];
}

/**
 * Makes the run's stored TensorBoard files match a backup's TensorBoard state: files the backup
 * knows are cut back to their size then, and every other file (written by an attempt after the
 * backup, or by an attempt that made none) is deleted. With no state, all are deleted: the
 * attempt starts from epoch 0 and writes them anew.
 */
async function reconcileTensorBoardFiles(store: ArtifactStore, tenant: string, runId: string, state: JsonValue | null, log: TrainingDeps['log']): Promise<void> {
  const prefix = tensorboardPrefix(tenant, runId);
  const keep = new Map<string, number>();
  if (state) {
    await rewindTensorBoardFiles(state, async (path) => store.get(tensorboardKey(tenant, runId, path)), async (path, content) => {
      await store.put(tensorboardKey(tenant, runId, path), content, { contentType: 'application/octet-stream' });
    }, (path, size) => keep.set(path, size));
  }
  const stale = (await store.list(prefix)).filter((o) => !keep.has(o.key.slice(prefix.length)));
  if (stale.length === 0) return;
  if (!store.delete) {
    log('cannot delete stale TensorBoard files: the store has no delete', { files: stale.length });
    return;
  }
  const remove = store.delete.bind(store);
  await Promise.all(stale.map((o) => remove(o.key)));
}
