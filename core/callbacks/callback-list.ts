import { Callback } from './callback';
import { stateObject, type JsonValue } from './callback-state';
import type { CallbackEvent, StoppingCallback } from './events';
import type { Logs, ModelHandle } from './model-handle';
import { SILENT_LOG, type TrainingLog } from './training-log';

/**
 * Keras `keras/src/callbacks/callback_list.py`: runs its callbacks' hooks in order, awaiting each,
 * with one shared logs object per hook call so that what one callback adds (`learning_rate`) is
 * seen by the later ones and by the caller after the call.
 *
 * Errors: a decider's error propagates (the job fails); an observer's error is caught, counted in
 * {@link observerFailures} and reported once per callback as a `callback_failed` event.
 */
export class CallbackList extends Callback {
  override readonly name = 'CallbackList';
  readonly callbacks: readonly Callback[];
  /** The callback that stopped training, if one did. */
  stoppedBy: StoppingCallback | null = null;
  /** The epoch at whose end (or during which) training was stopped by {@link stoppedBy}. */
  stoppedEpoch: number | null = null;
  /** Failures of observer callbacks by callback name. */
  readonly observerFailures = new Map<string, number>();
  private readonly sink: (event: CallbackEvent) => void;
  private epoch: number | null = null;

  constructor(callbacks: Callback[], opts: { model: ModelHandle; emit: (event: CallbackEvent) => void; log?: TrainingLog }) {
    super();
    this.callbacks = callbacks;
    this.sink = opts.emit;
    this.setLog(opts.log ?? SILENT_LOG);
    this.setModel(opts.model);
  }

  override setModel(model: ModelHandle): void {
    super.setModel(model);
    for (const cb of this.callbacks ?? []) {
      cb.setModel(model);
      cb.setEmitter((e) => this.sink(e));
      cb.setLog(this.log);
    }
  }

  override setLog(log: TrainingLog): void {
    super.setLog(log);
    for (const cb of this.callbacks ?? []) cb.setLog(log);
  }

  /** The first callback of a class, e.g. `list.find(EarlyStopping)`. */
  find<T extends Callback>(ctor: abstract new (...args: never[]) => T): T | undefined {
    return this.callbacks.find((c): c is T => c instanceof ctor);
  }

  /**
   * Every callback's state by position and name (`"3:EarlyStopping"`: two callbacks may share a
   * class), plus which callback stopped training.
   */
  override state(): JsonValue {
    const callbacks: { [key: string]: JsonValue } = {};
    this.callbacks.forEach((cb, i) => {
      callbacks[`${i}:${cb.name}`] = cb.state();
    });
    const failures: { [key: string]: JsonValue } = {};
    for (const [k, v] of this.observerFailures) failures[k] = v;
    return { callbacks, stoppedBy: this.stoppedBy, stoppedEpoch: this.stoppedEpoch, observerFailures: failures };
  }

  /**
   * Restores a {@link state} of a list built from the same spec; throws TypeError when the
   * callbacks differ (the backup then belongs to another spec and must not be used).
   */
  override restore(state: JsonValue): void {
    const s = stateObject(state, this.name);
    const saved = stateObject(s.callbacks, this.name);
    const names = this.callbacks.map((cb, i) => `${i}:${cb.name}`);
    if (Object.keys(saved).length !== names.length || names.some((n) => !(n in saved))) {
      throw new TypeError(`the backed-up callbacks (${Object.keys(saved).join(', ')}) are not this job's (${names.join(', ')})`);
    }
    this.callbacks.forEach((cb, i) => cb.restore(saved[names[i]] as JsonValue));
    this.stoppedBy = s.stoppedBy === 'EarlyStopping' || s.stoppedBy === 'TerminateOnNaN' ? s.stoppedBy : null;
    this.stoppedEpoch = typeof s.stoppedEpoch === 'number' ? s.stoppedEpoch : null;
    this.observerFailures.clear();
    for (const [k, v] of Object.entries(stateObject(s.observerFailures ?? {}, this.name))) if (typeof v === 'number') this.observerFailures.set(k, v);
  }

  override async onTrainBegin(logs?: Logs): Promise<void> {
    this.stoppedBy = null;
    this.stoppedEpoch = null;
    this.epoch = null;
    await this.each((cb) => cb.onTrainBegin(logs));
  }

  override async onTrainEnd(logs?: Logs): Promise<void> {
    await this.each((cb) => cb.onTrainEnd(logs));
  }

  override async onEpochBegin(epoch: number, logs?: Logs): Promise<void> {
    this.epoch = epoch;
    await this.each((cb) => cb.onEpochBegin(epoch, logs));
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.epoch = epoch;
    await this.each((cb) => cb.onEpochEnd(epoch, logs));
  }

  override async onBatchBegin(batch: number, logs?: Logs): Promise<void> {
    await this.each((cb) => cb.onBatchBegin(batch, logs));
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    await this.each((cb) => cb.onBatchEnd(batch, logs));
  }

  private async each(hook: (cb: Callback) => Promise<void>): Promise<void> {
    const model = this.model;
    for (const cb of this.callbacks) {
      const before = model.stopTraining;
      try {
        await hook(cb);
      } catch (err) {
        if (cb.role !== 'observer') throw err;
        const n = (this.observerFailures.get(cb.name) ?? 0) + 1;
        this.observerFailures.set(cb.name, n);
        if (n === 1) {
          this.sink({
            type: 'callback_failed',
            callback: cb.name,
            epoch: this.epoch,
            message: err instanceof Error ? err.message : String(err),
          });
        }
      }
      if (!before && model.stopTraining && this.stoppedBy === null && (cb.name === 'EarlyStopping' || cb.name === 'TerminateOnNaN')) {
        this.stoppedBy = cb.name;
        this.stoppedEpoch = this.epoch;
      }
    }
  }
}
