import type { SchemaJobSpec } from '../../core/api.gen';
import { CallbackList } from '../../core/callbacks/callback-list';
import type { CallbackEvent } from '../../core/callbacks/events';
import { buildCallbacks } from '../../core/callbacks/from-spec';
import type { RemoteMonitorSender } from '../../core/callbacks/remote-monitor';
import { ModelCheckpoint } from '../../core/callbacks/model-checkpoint';
import { DEFAULT_LOG_FILE } from '../../store/run-layout';
import type { TrainingModel } from './training-model';
import { TensorBoard } from './tensorboard';

/** The job's CSV log file name (`callbacks.csvLogger.filename`, Keras's `training_log.csv` by default). */
export function csvLogFile(spec: SchemaJobSpec): string {
  return spec.callbacks?.csvLogger?.filename ?? DEFAULT_LOG_FILE;
}

/** What {@link buildJobCallbacks} needs besides the spec. */
export interface JobCallbacksOptions {
  model: TrainingModel;
  /** Whether the data has a validation side (the implicit best checkpoint's monitor). */
  hasValidation: boolean;
  /** Stores the whole CSV log text (the CSVLogger's sink). */
  csvSink: (text: string) => Promise<void>;
  /** Stores one TensorBoard event file's whole content, by its path under `tensorboard/`. */
  tensorBoardSink: (relativePath: string, content: Buffer) => Promise<void>;
  /** Receives every callback event, synchronously, in order (the run recorder). */
  emit: (event: CallbackEvent) => void;
  /** Sends RemoteMonitor's posts; required when the spec configures one. @defaultValue none */
  remoteMonitorSender?: RemoteMonitorSender;
}

/**
 * The callbacks of the job itself, as one core CallbackList: the spec's callbacks (core/callbacks,
 * in their fixed order, with a CSVLogger even when the job has none), then TensorBoard when asked
 * for, then the implicit best checkpoint. This list's state is what a backup keeps of the
 * callbacks, so its composition is part of the backup format: a resumed attempt must build the
 * same list from the same spec.
 */
export function buildJobCallbacks(spec: SchemaJobSpec, opts: JobCallbacksOptions): CallbackList {
  const fromSpec = buildCallbacks({ ...spec.callbacks, csvLogger: spec.callbacks?.csvLogger ?? {} }, {
    model: opts.model,
    compiledMetrics: spec.compile.metrics ?? [],
    initialLearningRate: opts.model.getLearningRate(),
    epochs: spec.fit.epochs,
    csvSink: opts.csvSink,
    emit: opts.emit,
    remoteMonitorSender: opts.remoteMonitorSender,
  });
  const tensorBoard = spec.callbacks?.tensorBoard ? [new TensorBoard(spec.callbacks.tensorBoard, () => opts.model.weightValues(), opts.tensorBoardSink)] : [];
  const best = implicitBestCheckpoint(spec, opts.hasValidation);
  return new CallbackList([...fromSpec.callbacks, ...tensorBoard, ...(best ? [best] : [])], { model: opts.model, emit: opts.emit });
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
