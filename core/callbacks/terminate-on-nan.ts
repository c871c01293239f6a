import { Callback } from './callback';
import type { Logs } from './model-handle';

/**
 * Keras `keras/src/callbacks/terminate_on_nan.py` (default `raise_error=False`): a NaN or infinite
 * batch `loss` sets `stopTraining`. As in Keras's fit loop, the batch loop breaks but the epoch
 * still ends normally, so `onEpochEnd` runs (the CSV gets the `nan` row) and then `onTrainEnd`.
 */
export class TerminateOnNaN extends Callback {
  override readonly name = 'TerminateOnNaN';
  private epoch = 0;

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    const loss = logs.loss;
    if (loss === undefined) return;
    if (Number.isNaN(loss) || !Number.isFinite(loss)) {
      this.model.stopTraining = true;
      this.emit({ type: 'nan_terminated', epoch: this.epoch, batch, loss });
    }
  }
}
