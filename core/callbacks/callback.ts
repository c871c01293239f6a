import type { JsonValue } from './callback-state';
import type { CallbackEvent } from './events';
import type { Logs, ModelHandle } from './model-handle';
import { SILENT_LOG, type TrainingLog } from './training-log';

/**
 * Base of every callback (Keras `keras/src/callbacks/callback.py`, tfjs hook names): no-op async
 * hooks, the model set by the owning {@link CallbackList}, and an event sink.
 *
 * `role` decides what an error means: a `decider` (EarlyStopping, ModelCheckpoint, ...) fails the
 * job; an `observer` (CSVLogger, alerts) is isolated, counted and reported once.
 */
export class Callback {
  /** Keras class name; used for `stoppedBy` and error reports. */
  readonly name: string = 'Callback';
  readonly role: 'decider' | 'observer' = 'decider';
  private modelHandle: ModelHandle | null = null;
  private emitter: (event: CallbackEvent) => void = () => {};
  private trainingLog: TrainingLog = SILENT_LOG;

  setModel(model: ModelHandle): void {
    this.modelHandle = model;
  }

  setEmitter(emit: (event: CallbackEvent) => void): void {
    this.emitter = emit;
  }

  /** Where Keras's printed messages and warnings go (set by the owning {@link CallbackList}). */
  setLog(log: TrainingLog): void {
    this.trainingLog = log;
  }

  /** The training log this callback writes to. */
  protected get log(): TrainingLog {
    return this.trainingLog;
  }

  /** The model being trained. Throws if the callback was never attached to one. */
  get model(): ModelHandle {
    if (!this.modelHandle) throw new Error(`${this.name} is not attached to a model`);
    return this.modelHandle;
  }

  protected emit(event: CallbackEvent): void {
    this.emitter(event);
  }

  /**
   * Everything the callback has learned during training, as plain JSON, for BackupAndRestore
   * (`null` for a stateless callback). Taken at an epoch end, after `onEpochEnd`.
   */
  state(): JsonValue {
    return null;
  }

  /**
   * Continues from a {@link state} of the same callback (same spec). Called after `onTrainBegin`
   * when a run resumes, so it overrides the fresh state `onTrainBegin` set up.
   * @throws TypeError when `state` is not one this callback wrote.
   */
  restore(_state: JsonValue): void {}

  async onTrainBegin(_logs?: Logs): Promise<void> {}
  async onTrainEnd(_logs?: Logs): Promise<void> {}
  async onEpochBegin(_epoch: number, _logs?: Logs): Promise<void> {}
  async onEpochEnd(_epoch: number, _logs?: Logs): Promise<void> {}
  async onBatchBegin(_batch: number, _logs?: Logs): Promise<void> {}
  async onBatchEnd(_batch: number, _logs?: Logs): Promise<void> {}
}
