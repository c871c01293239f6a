import { int, stateObject, type JsonValue } from './callback-state';
import type { Logs } from './model-handle';
import { MonitorCallback } from './monitor-callback';
import { formatTemplate, formatValue, parseTemplate, type PyValue, type TemplatePart } from './python-format';

/** ModelCheckpoint options (Keras arguments in camelCase). */
export interface ModelCheckpointOptions {
  /** Python `str.format` template: `{epoch}` (1-based), `{batch}` (1-based), any logged metric. */
  filepath: string;
  /** @defaultValue `'val_loss'` */
  monitor?: string;
  /** `auto`, `min` or `max` (anything else: a warning and `auto`, as in Keras). @defaultValue `'auto'` */
  mode?: string;
  /** @defaultValue `false` */
  saveBestOnly?: boolean;
  /** @defaultValue `false` */
  saveWeightsOnly?: boolean;
  /** `'epoch'` or a number of batches. @defaultValue `'epoch'` */
  saveFreq?: 'epoch' | number;
  /** Initial best value for saveBestOnly. @defaultValue `null` */
  initialValueThreshold?: number | null;
  /** Compiled metric names, for `auto` mode. @defaultValue `[]` */
  compiledMetrics?: readonly string[];
  /** > 0 prints Keras's "saving model" / "did not improve" messages to the training log. @defaultValue `0` */
  verbose?: number;
}

/**
 * Keras `keras/src/callbacks/model_checkpoint.py`: formats the filepath with
 * `epoch=epoch + 1` (and `batch=batch + 1` for batch saves) plus the logs, and saves
 * unconditionally or, with saveBestOnly, when the monitor improves on the best so far (strictly;
 * a missing monitor saves, as Keras does after its warning). `saveFreq: N` counts batches across
 * epochs exactly like Keras's `_should_save_on_batch`.
 */
export class ModelCheckpoint extends MonitorCallback {
  override readonly name = 'ModelCheckpoint';
  readonly filepath: string;
  readonly saveBestOnly: boolean;
  readonly saveWeightsOnly: boolean;
  readonly saveFreq: 'epoch' | number;
  private readonly template: TemplatePart[];
  private batchesSinceLastSave = 0;
  private lastBatchSeen = 0;
  private currentEpoch = 0;

  constructor(opts: ModelCheckpointOptions) {
    super({ monitor: opts.monitor, mode: opts.mode, baseline: opts.initialValueThreshold ?? null, compiledMetrics: opts.compiledMetrics, verbose: opts.verbose });
    this.filepath = opts.filepath;
    this.template = parseTemplate(opts.filepath);
    this.saveBestOnly = opts.saveBestOnly ?? false;
    this.saveWeightsOnly = opts.saveWeightsOnly ?? false;
    this.saveFreq = opts.saveFreq ?? 'epoch';
  }

  override async onTrainBegin(): Promise<void> {
    // Keras sets the direction lazily at the first epoch end; batch saves can come first, and the
    // direction is only needed when saving the best.
    if (this.monitorOp === null && this.saveBestOnly) this.setMonitorOp();
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.currentEpoch = epoch;
  }

  /** The best value so far and the batch counter of `saveFreq: N`. */
  override state(): JsonValue {
    return { ...this.monitorState(), batchesSinceLastSave: this.batchesSinceLastSave, lastBatchSeen: this.lastBatchSeen };
  }

  override restore(state: JsonValue): void {
    const s = stateObject(state, this.name);
    this.restoreMonitor(s);
    this.batchesSinceLastSave = int(s.batchesSinceLastSave, 'ModelCheckpoint.batchesSinceLastSave');
    this.lastBatchSeen = int(s.lastBatchSeen, 'ModelCheckpoint.lastBatchSeen');
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    if (this.shouldSaveOnBatch(batch)) await this.saveModel(this.currentEpoch, batch, logs);
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    if (this.monitorOp === null && this.saveBestOnly) this.setMonitorOp();
    if (this.saveFreq === 'epoch') await this.saveModel(epoch, undefined, logs);
  }

  private shouldSaveOnBatch(batch: number): boolean {
    if (this.saveFreq === 'epoch') return false;
    const add = batch <= this.lastBatchSeen ? batch + 1 : batch - this.lastBatchSeen;
    this.batchesSinceLastSave += add;
    this.lastBatchSeen = batch;
    if (this.batchesSinceLastSave >= this.saveFreq) {
      this.batchesSinceLastSave = 0;
      return true;
    }
    return false;
  }

  /** The formatted path for an epoch (and batch); throws PyFormatError like Keras's KeyError. */
  filePath(epoch: number, batch: number | undefined, logs: Logs): string {
    const values: Record<string, PyValue> = {};
    for (const [k, v] of Object.entries(logs)) values[k] = { kind: 'float', value: v };
    values.epoch = { kind: 'int', value: epoch + 1 };
    if (batch !== undefined && !('batch' in logs)) values.batch = { kind: 'int', value: batch + 1 };
    return formatTemplate(this.template, values);
  }

  private async saveModel(epoch: number, batch: number | undefined, logs: Logs): Promise<void> {
    const path = this.filePath(epoch, batch, logs);
    let best: { monitor: string; value: number; mode: 'min' | 'max' } | undefined;
    // Keras `_should_save_model`, message for message.
    if (this.saveBestOnly) {
      const current = logs[this.monitor];
      if (current === undefined) {
        this.log.warn(`Can save best model only with ${this.monitor} available.`);
      } else {
        const bestStr = this.best === null ? 'None' : fixed5(this.best);
        if (!this.isImprovement(current, this.best)) {
          if (this.verbose > 0) this.log.print(`\nEpoch ${epoch + 1}: ${this.monitor} did not improve from ${bestStr}`);
          return;
        }
        if (this.verbose > 0) this.log.print(`\nEpoch ${epoch + 1}: ${this.monitor} improved from ${bestStr} to ${fixed5(current)}, saving model to ${path}`);
        this.best = current;
        best = { monitor: this.monitor, value: current, mode: this.monitorOp ?? 'min' };
      }
    } else if (this.verbose > 0) {
      this.log.print(`\nEpoch ${epoch + 1}: saving model to ${path}`);
    }
    await this.model.save({
      path,
      weightsOnly: this.saveWeightsOnly,
      epoch,
      ...(batch === undefined ? {} : { batch }),
      logs: { ...logs },
      ...(best ? { best } : {}),
    });
    this.emit({
      type: 'checkpoint_saved',
      epoch,
      ...(batch === undefined ? {} : { batch }),
      path,
      weightsOnly: this.saveWeightsOnly,
      ...(best ? { best } : {}),
    });
  }
}

/** Python `f"{x:.5f}"` of a float. */
function fixed5(x: number): string {
  return formatValue({ kind: 'float', value: x }, '.5f');
}
