import { KilnError } from '../errors';
import { Callback } from './callback';
import type { Logs } from './model-handle';
import { pyFloatRepr } from './python-format';

/** TerminateOnNaN options. */
export interface TerminateOnNaNOptions {
  /**
   * Keras `raise_error`: fail training at once (a `TRAINING_DIVERGED` error, Keras's
   * RuntimeError) instead of stopping gracefully. @defaultValue `false`
   */
  raiseError?: boolean;
}

/**
 * Keras `keras/src/callbacks/terminate_on_nan.py`, checked at every batch end. A NaN or infinite
 * batch `loss`:
 * - by default prints Keras's `Batch {batch}: Invalid loss, terminating training` (Keras prints it
 *   whatever the verbosity) and sets `stopTraining`. As in Keras's fit loop, the batch loop breaks
 *   but the epoch still ends normally, so `onEpochEnd` runs (the CSV gets the `nan` row) and then
 *   `onTrainEnd`;
 * - with `raiseError`, throws Keras's message (`NaN or Inf loss encountered at batch ...`) as a
 *   `TRAINING_DIVERGED` error: no epoch end, no train end, the job fails.
 */
export class TerminateOnNaN extends Callback {
  override readonly name = 'TerminateOnNaN';
  readonly raiseError: boolean;
  private epoch = 0;

  constructor(opts: TerminateOnNaNOptions = {}) {
    super();
    this.raiseError = opts.raiseError ?? false;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    const loss = logs.loss;
    if (loss === undefined) return;
    if (Number.isNaN(loss) || !Number.isFinite(loss)) {
      if (this.raiseError) {
        throw new KilnError('TRAINING_DIVERGED', `NaN or Inf loss encountered at batch ${batch}. Loss value: ${pyFloatRepr(loss)}. Terminating training immediately.`);
      }
      this.log.print(`Batch ${batch}: Invalid loss, terminating training`);
      this.model.stopTraining = true;
      this.emit({ type: 'nan_terminated', epoch: this.epoch, batch, loss });
    }
  }
}
