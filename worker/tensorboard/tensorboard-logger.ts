/**
 * Kiln's TensorBoard callback core: turns training hooks into tfevents records, following Keras 3's
 * `keras/src/callbacks/tensorboard.py`:
 *
 * - `train/` holds training metrics as `epoch_<name>` at step = epoch, plus `epoch_learning_rate`;
 *   `validation/` holds the `val_*` metrics with the prefix stripped (`val_loss` → `epoch_loss`).
 * - With `updateFreq: N`, every N-th batch writes `batch_<name>` to `train/` at step = the global
 *   batch number (1-based, counted over the whole run).
 * - Every `histogramFreq` epochs (epochs 0, N, 2N, …, as Keras's `epoch % histogram_freq == 0`) each
 *   weight is written as a histogram tagged `<weight name>/histogram` in `train/`.
 * - Event files are opened lazily, so a run without validation metrics has no `validation/` file.
 *
 * Where it deliberately differs from Keras 3:
 * - Records use TF1 encodings (`simple_value`, `HistogramProto` with TensorFlow's default
 *   exponential buckets) rather than tf.summary's tensor summaries with 30 equal-width buckets;
 *   TensorBoard converts them on load (see event-file.ts).
 * - Histogram tags use the full weight name the caller supplies (e.g. `dense_Dense1/kernel`), not
 *   Keras 3's `weight.name` (`kernel`), which repeats across layers and merges their histograms.
 *   `:` becomes `_` as in Keras; a repeated name gets a `_<n>` suffix.
 * - Not written: the model graph, weight images, steps per second, profiler traces, embeddings and
 *   `evaluation_<name>_vs_iterations` (Kiln has no separate evaluate phase).
 * - tfjs's per-batch bookkeeping keys `batch` and `size` are not metrics and are not written.
 * - Resumable: `state()`/`restore()` carry the last epoch and batch step written and the files
 *   opened so far. A resumed run opens new files whose names sort after the old ones (TensorBoard
 *   reads a directory's files in name order) and skips any step already written, so a replayed
 *   epoch never appears twice. Keras restarts its batch counter at every `fit`.
 *
 * Pure: no I/O and no tfjs. Bytes go to `sink`, weights come from `getWeights`.
 */
import type { Logs } from '../../core/callbacks/model-handle';
import { KilnError } from '../../core/errors';
import { EventFileWriter } from './event-file';

/** One weight tensor's values, flattened. */
export interface WeightValues {
  /** The weight's full name, unique within the model (tfjs `LayerVariable.name`, e.g. `dense_Dense1/kernel`). */
  name: string;
  values: ArrayLike<number>;
}

/** Options for {@link TensorBoardLogger}. */
export interface TensorBoardLoggerOptions {
  /**
   * Write weight histograms every this many epochs; 0 turns them off.
   * @defaultValue 0
   */
  histogramFreq?: number;
  /**
   * `'epoch'` writes metrics once per epoch; a number N also writes `batch_*` scalars every N
   * batches.
   * @defaultValue 'epoch'
   */
  updateFreq?: 'epoch' | number;
  /**
   * Receives bytes to append to an event file, named by its path relative to the TensorBoard log
   * directory (`train/events.out.tfevents.<ts>.<host>`). Calls for one path arrive in order and must
   * be appended in that order; the first call for a path starts the file. Errors thrown here
   * propagate out of the hook that caused them.
   */
  sink: (relativePath: string, bytes: Buffer) => void;
  /**
   * Once an event file holds at least this many bytes, the next record starts a new file (whose
   * name sorts after it; TensorBoard reads a directory's files in name order as one stream). A store
   * object cannot be appended to, so a file is uploaded whole each time it grows: rotating keeps
   * that cost bounded instead of growing with the run. Records of one hook call stay in one file.
   * @defaultValue no rotation
   */
  maxFileBytes?: number;
  /**
   * Host name put in event file names.
   * @defaultValue 'kiln'
   */
  hostname?: string;
  /**
   * Clock in milliseconds since the epoch, for wall times and file names.
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/** One event file the logger has opened. */
export interface TensorBoardFileRecord {
  /** Path relative to the log directory, e.g. `train/events.out.tfevents.1700000000.kiln`. */
  path: string;
  /** `train` or `validation`. */
  dir: string;
  /** The timestamp in the file name, in whole seconds. */
  timestamp: number;
}

/** What a resumed run needs to continue a run's TensorBoard logs; plain JSON. */
export interface TensorBoardLoggerState {
  version: 1;
  /** The last epoch whose records were written, or null before the first. */
  lastEpoch: number | null;
  /** The last global batch step whose `batch_*` records were written, or null. */
  lastBatchStep: number | null;
  /** Every event file opened so far, oldest first. */
  files: TensorBoardFileRecord[];
}

type Dir = 'train' | 'validation';

interface OpenFile {
  path: string;
  writer: EventFileWriter;
  /** Bytes handed to the sink for this file so far. */
  bytes: number;
}

/** tfjs puts these bookkeeping entries into batch logs next to the metrics. */
const BATCH_BOOKKEEPING_KEYS = new Set(['batch', 'size']);

function emptyState(): TensorBoardLoggerState {
  return { version: 1, lastEpoch: null, lastBatchStep: null, files: [] };
}

function copyState(s: TensorBoardLoggerState): TensorBoardLoggerState {
  return { version: 1, lastEpoch: s.lastEpoch, lastBatchStep: s.lastBatchStep, files: s.files.map((f) => ({ ...f })) };
}

function isStepOrNull(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

function checkState(value: unknown): TensorBoardLoggerState {
  const s = value as Partial<TensorBoardLoggerState> | null;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    s.version === 1 &&
    isStepOrNull(s.lastEpoch) &&
    isStepOrNull(s.lastBatchStep) &&
    Array.isArray(s.files) &&
    s.files.every(
      (f) =>
        typeof f === 'object' &&
        f !== null &&
        typeof f.path === 'string' &&
        (f.dir === 'train' || f.dir === 'validation') &&
        typeof f.timestamp === 'number' &&
        Number.isSafeInteger(f.timestamp),
    );
  if (!ok) throw new TypeError('TensorBoard logger state is not one that TensorBoardLogger.state() produced');
  return copyState(s as TensorBoardLoggerState);
}

/**
 * Writes a run's TensorBoard event files through hooks called by the training loop. Create one per
 * run; call `restore()` before `onTrainBegin()` when resuming.
 */
export class TensorBoardLogger {
  private readonly histogramFreq: number;
  private readonly updateFreq: 'epoch' | number;
  private readonly sink: (relativePath: string, bytes: Buffer) => void;
  private readonly hostname: string;
  private readonly now: () => number;
  private readonly getWeights: () => WeightValues[];
  private readonly maxFileBytes: number;

  /** What `onTrainBegin` starts from: empty, or what `restore` was given. */
  private baseline: TensorBoardLoggerState = emptyState();
  private current: TensorBoardLoggerState = emptyState();
  private readonly open = new Map<Dir, OpenFile>();

  /**
   * @param getWeights - reads the model's weights for histograms; only called on histogram epochs.
   * @throws KilnError `JOB_SPEC_INVALID` when `histogramFreq` or `updateFreq` is out of range.
   */
  constructor(options: TensorBoardLoggerOptions, getWeights: () => WeightValues[] = () => []) {
    const histogramFreq = options.histogramFreq ?? 0;
    if (!Number.isSafeInteger(histogramFreq) || histogramFreq < 0) {
      throw new KilnError(
        'JOB_SPEC_INVALID',
        `TensorBoard histogramFreq must be a whole number of epochs, 0 to turn histograms off; got ${String(histogramFreq)}`,
      );
    }
    const updateFreq = options.updateFreq ?? 'epoch';
    if (updateFreq !== 'epoch' && (!Number.isSafeInteger(updateFreq) || updateFreq < 1)) {
      throw new KilnError(
        'JOB_SPEC_INVALID',
        `TensorBoard updateFreq must be 'epoch' or a positive whole number of batches; got ${JSON.stringify(updateFreq)}`,
      );
    }
    this.histogramFreq = histogramFreq;
    this.updateFreq = updateFreq;
    this.sink = options.sink;
    this.hostname = options.hostname ?? 'kiln';
    this.now = options.now ?? Date.now;
    this.getWeights = getWeights;
    const maxFileBytes = options.maxFileBytes ?? Number.POSITIVE_INFINITY;
    if (!(maxFileBytes > 0)) throw new RangeError(`maxFileBytes must be positive, got ${String(maxFileBytes)}`);
    this.maxFileBytes = maxFileBytes;
  }

  /** Paths of the files still being written (one per directory at most); the others are complete. */
  openPaths(): string[] {
    return [...this.open.values()].map((f) => f.path);
  }

  /**
   * A JSON-serialisable snapshot for `restore`. Persist it once the bytes the sink has received so
   * far are durable (say, after each upload): a state newer than the uploaded bytes would skip steps
   * that never reached the store, and an older one lets a resumed run write some steps twice.
   */
  state(): TensorBoardLoggerState {
    return copyState(this.current);
  }

  /**
   * Continues from a state saved by `state()`. Call before `onTrainBegin`; later files are new files
   * that sort after the saved ones, and steps up to the saved ones are not written again.
   *
   * @throws TypeError when `state` is not a logger state.
   */
  restore(state: TensorBoardLoggerState): void {
    this.baseline = checkState(state);
    this.current = copyState(this.baseline);
    this.open.clear();
  }

  /** Resets step bookkeeping to the restored state (or to nothing) and starts new files lazily. */
  onTrainBegin(): void {
    const files = this.current.files;
    this.current = copyState(this.baseline);
    // Files opened earlier in this process stay on the list, so a second fit never reuses a name.
    for (const f of files) if (!this.current.files.some((g) => g.path === f.path)) this.current.files.push({ ...f });
    this.open.clear();
  }

  /**
   * Writes `batch_<metric>` scalars when `updateFreq` is a number and `globalStep` is a multiple of
   * it.
   *
   * @param globalStep - 1-based number of this batch counted over the whole run (not the epoch).
   */
  onBatchEnd(globalStep: number, logs: Logs): void {
    if (this.updateFreq === 'epoch' || globalStep % this.updateFreq !== 0) return;
    if (this.current.lastBatchStep !== null && globalStep <= this.current.lastBatchStep) return;
    const metrics = Object.entries(logs).filter(
      (e): e is [string, number] => !BATCH_BOOKKEEPING_KEYS.has(e[0]) && typeof e[1] === 'number',
    );
    if (metrics.length > 0) {
      const wallTime = this.now() / 1000;
      const file = this.writerFor('train', wallTime);
      const chunks = metrics.map(([name, value]) => file.writer.scalar(`batch_${name}`, globalStep, value, wallTime));
      this.write('train', file, Buffer.concat(chunks));
    }
    this.current.lastBatchStep = globalStep;
  }

  /**
   * Writes the epoch's metrics and learning rate, and weight histograms on histogram epochs.
   *
   * @param epoch - 0-based epoch, used as the TensorBoard step as Keras does.
   * @param learningRate - the optimizer's learning rate, written as `epoch_learning_rate`.
   */
  onEpochEnd(epoch: number, logs: Logs, learningRate?: number): void {
    if (this.current.lastEpoch !== null && epoch <= this.current.lastEpoch) return;
    const wallTime = this.now() / 1000;
    const out = new Map<Dir, Buffer[]>();
    const emit = (dir: Dir, record: (writer: EventFileWriter) => Buffer): void => {
      const file = this.writerFor(dir, wallTime);
      const chunks = out.get(dir) ?? [];
      chunks.push(record(file.writer));
      out.set(dir, chunks);
    };

    // As Keras's `if not logs: return`: no metrics means no scalars, not even the learning rate.
    const entries = Object.entries(logs).filter((e): e is [string, number] => typeof e[1] === 'number');
    if (entries.length > 0) {
      const train = entries.filter(([name]) => !name.startsWith('val_'));
      const validation = entries.filter(([name]) => name.startsWith('val_'));
      if (learningRate !== undefined) {
        const i = train.findIndex(([name]) => name === 'learning_rate');
        if (i >= 0) train.splice(i, 1);
        train.push(['learning_rate', learningRate]);
      }
      for (const [name, value] of train) emit('train', (w) => w.scalar(`epoch_${name}`, epoch, value, wallTime));
      for (const [name, value] of validation) {
        emit('validation', (w) => w.scalar(`epoch_${name.slice('val_'.length)}`, epoch, value, wallTime));
      }
    }

    if (this.histogramFreq > 0 && epoch % this.histogramFreq === 0) {
      const seen = new Map<string, number>();
      for (const weight of this.getWeights()) {
        let tag = weight.name.replace(/:/g, '_');
        const n = seen.get(tag);
        seen.set(tag, (n ?? 0) + 1);
        if (n !== undefined) tag = `${tag}_${n}`;
        emit('train', (w) => w.histogram(`${tag}/histogram`, epoch, weight.values, wallTime));
      }
    }

    for (const dir of ['train', 'validation'] as const) {
      const chunks = out.get(dir);
      if (chunks) this.write(dir, this.open.get(dir)!, Buffer.concat(chunks));
    }
    this.current.lastEpoch = epoch;
  }

  /** Hands bytes to the sink; a file that has reached `maxFileBytes` is complete after them. */
  private write(dir: Dir, file: OpenFile, bytes: Buffer): void {
    this.sink(file.path, bytes);
    file.bytes += bytes.length;
    if (file.bytes >= this.maxFileBytes) this.open.delete(dir);
  }

  private writerFor(dir: Dir, wallTime: number): OpenFile {
    const existing = this.open.get(dir);
    if (existing) return existing;
    let timestamp = Math.floor(wallTime);
    for (const f of this.current.files) if (f.dir === dir && f.timestamp >= timestamp) timestamp = f.timestamp + 1;
    const path = `${dir}/${EventFileWriter.fileName(this.hostname, timestamp)}`;
    const file: OpenFile = { path, writer: new EventFileWriter({ now: this.now }), bytes: 0 };
    this.current.files.push({ path, dir, timestamp });
    this.open.set(dir, file);
    return file;
  }
}
