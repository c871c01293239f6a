import { Callback } from '../../core/callbacks/callback';
import type { Logs } from '../../core/callbacks/model-handle';
import type { SchemaTensorBoardSpec } from '../../core/api.gen';
import { int, stateObject, type JsonValue } from '../../core/callbacks/callback-state';
import type { ArtifactStore } from '../../store/artifact-store';
import { tensorboardPrefix, type RunLayout } from '../../store/run-layout';
import { TensorBoardLogger, type TensorBoardLoggerState, type WeightValues } from '../tensorboard/tensorboard-logger';

/**
 * Event files are started anew past this size (see `TensorBoardLoggerOptions.maxFileBytes`), so
 * the bytes re-uploaded each epoch stay bounded however long the run.
 */
export const TENSORBOARD_FILE_BYTES = 1024 * 1024;

/**
 * Keras's TensorBoard callback for Kiln: feeds the run's logs to the event-file writer and hands
 * each event file's bytes to `upload` at every epoch end. Store objects cannot be appended to, so
 * each upload carries the file's whole content so far; files are rotated at `maxFileBytes`
 * ({@link TENSORBOARD_FILE_BYTES}), so what an epoch uploads is at most about that much per
 * directory, and a completed file, uploaded one last time, is kept only as its size. An observer: a
 * failure is counted and reported, never fatal.
 */
export class TensorBoard extends Callback {
  override readonly name = 'TensorBoard';
  override readonly role = 'observer' as const;
  private readonly logger: TensorBoardLogger;
  /** The bytes of the files still being written. */
  private readonly files = new Map<string, Buffer[]>();
  /** Sizes of this attempt's completed files (their bytes are uploaded and dropped). */
  private readonly completed: { [path: string]: number } = {};
  private readonly dirty = new Set<string>();
  /**
   * Event files of earlier attempts, with their sizes at the backup this run resumed from: a resume
   * starts new files, and the older ones must stay known to every later backup.
   */
  private earlierFiles: { [path: string]: number } = {};
  private globalStep = 0;

  constructor(
    spec: SchemaTensorBoardSpec,
    getWeights: () => WeightValues[],
    private readonly upload: (relativePath: string, content: Buffer) => Promise<void>,
    maxFileBytes: number = TENSORBOARD_FILE_BYTES,
  ) {
    super();
    this.logger = new TensorBoardLogger({
      histogramFreq: spec.histogramFreq ?? 0,
      updateFreq: spec.updateFreq ?? 'epoch',
      maxFileBytes,
      sink: (path, bytes) => {
        const parts = this.files.get(path) ?? [];
        parts.push(bytes);
        this.files.set(path, parts);
        this.dirty.add(path);
      },
    }, getWeights);
  }

  override async onTrainBegin(): Promise<void> {
    this.globalStep = 0;
    this.logger.onTrainBegin();
  }

  /**
   * The logger's steps and files, the global batch step, and each event file's size when the state
   * was taken: a resumed run cuts the stored files back to these sizes ({@link rewindTensorBoardFiles})
   * so epochs logged after the backup are not in the logs twice.
   */
  override state(): JsonValue {
    const sizes: { [path: string]: number } = { ...this.earlierFiles, ...this.completed };
    for (const [path, parts] of this.files) sizes[path] = parts.reduce((n, b) => n + b.length, 0);
    return { globalStep: this.globalStep, logger: this.logger.state() as unknown as JsonValue, sizes };
  }

  override restore(state: JsonValue): void {
    const s = stateObject(state, this.name);
    this.logger.restore(s.logger as unknown as TensorBoardLoggerState);
    this.logger.onTrainBegin();
    this.globalStep = int(s.globalStep, 'TensorBoard.globalStep');
    this.earlierFiles = {};
    for (const [path, size] of Object.entries(stateObject(s.sizes, this.name))) {
      if (typeof size === 'number') this.earlierFiles[path] = size;
    }
    this.files.clear();
    this.dirty.clear();
    for (const path of Object.keys(this.completed)) delete this.completed[path];
  }

  override async onBatchEnd(_batch: number, logs?: Logs): Promise<void> {
    this.globalStep += 1;
    this.logger.onBatchEnd(this.globalStep, logs ?? {});
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    const l = logs ?? {};
    this.logger.onEpochEnd(epoch, l, l.learning_rate ?? this.model.getLearningRate());
    const open = new Set(this.logger.openPaths());
    for (const path of [...this.dirty]) {
      this.dirty.delete(path);
      const content = Buffer.concat(this.files.get(path) ?? []);
      await this.upload(path, content);
      if (!open.has(path)) {
        // Complete: this was its last upload; keep only its size for backups.
        this.completed[path] = content.length;
        this.files.delete(path);
      }
    }
  }
}

/**
 * Cuts a run's stored event files back to the sizes a backed-up {@link TensorBoard} state recorded
 * (event files only grow, so the first bytes are those of the backup's time). Files the state does
 * not know are left alone.
 */
export async function rewindTensorBoardFiles(
  state: JsonValue,
  read: (relativePath: string) => Promise<Buffer | null>,
  write: (relativePath: string, content: Buffer) => Promise<void>,
  known: (relativePath: string, size: number) => void = () => undefined,
): Promise<void> {
  const sizes = stateObject(stateObject(state, 'TensorBoard').sizes, 'TensorBoard');
  for (const [path, size] of Object.entries(sizes)) {
    if (typeof size === 'number') known(path, size);
    const bytes = await read(path);
    if (bytes && typeof size === 'number' && bytes.length > size) await write(path, bytes.subarray(0, size));
  }
}

/** The TensorBoard callback's entry in a backed-up `CallbackList.state()`, if the job has one. */
export function tensorBoardState(callbackStates: JsonValue): JsonValue | undefined {
  return Object.entries((callbackStates as { callbacks?: Record<string, JsonValue> }).callbacks ?? {}).find(([k]) => k.endsWith(':TensorBoard'))?.[1];
}

/**
 * Makes the run's stored TensorBoard files match a backup's TensorBoard state: files the backup
 * knows are cut back to their size then, and every other file (written by an attempt after the
 * backup, or by an attempt that made none) is deleted. With no state, all are deleted: the
 * attempt starts from epoch 0 and writes them anew. Runs before the attempt writes any event
 * file, or epochs would show twice after a resume.
 */
export async function reconcileTensorBoardFiles(store: ArtifactStore, layout: RunLayout, state: JsonValue | null, log: (message: string, fields?: Record<string, unknown>) => void): Promise<void> {
  const prefix = tensorboardPrefix(layout.tenant, layout.runId);
  const keep = new Map<string, number>();
  if (state) {
    await rewindTensorBoardFiles(state, async (path) => store.get(layout.tensorboard(path)), async (path, content) => {
      await store.put(layout.tensorboard(path), content, { contentType: 'application/octet-stream' });
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
