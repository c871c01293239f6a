import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import type { Callback } from '../../../core/callbacks/callback';
import { EarlyStopping } from '../../../core/callbacks/early-stopping';
import { LearningRateScheduler } from '../../../core/callbacks/learning-rate-scheduler';
import type { Logs } from '../../../core/callbacks/model-handle';
import { ModelCheckpoint } from '../../../core/callbacks/model-checkpoint';
import { ReduceLROnPlateau } from '../../../core/callbacks/reduce-lr-on-plateau';
import { TerminateOnNaN } from '../../../core/callbacks/terminate-on-nan';
import { TextTrainingLog } from '../../../core/callbacks/training-log';
import { FakeModel } from './fake-model';

/** Runs epochs (one batch each, the batch logs = the epoch's `loss`) and returns the log text. */
async function logOf(cb: Callback, series: Logs[], lr = 0.01): Promise<string> {
  const log = new TextTrainingLog();
  const model = new FakeModel(Math.fround(lr));
  const list = new CallbackList([cb], { model, emit: () => {}, log });
  await list.onTrainBegin();
  for (const [epoch, logs] of series.entries()) {
    await list.onEpochBegin(epoch);
    await list.onBatchBegin(0);
    await list.onBatchEnd(0, { loss: logs.loss ?? 0 });
    await list.onEpochEnd(epoch, { ...logs });
    if (model.stopTraining) break;
  }
  await list.onTrainEnd();
  return log.text;
}

// reduce_lr_on_plateau.py: `new_lr = old_lr * self.factor` with old_lr the float32 variable read
// as a Python float, printed as f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
test('ReduceLROnPlateau verbose prints the float64 product of the float32 rate', async () => {
  const text = await logOf(new ReduceLROnPlateau({ patience: 0, verbose: 1 }), [{ val_loss: 1 }, { val_loss: 1 }], 0.1);
  assert.equal(text, '\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.010000000149011612.\n');
});

test('ReduceLROnPlateau factor 0 goes to minLr and prints it as a Python float', async () => {
  const text = await logOf(new ReduceLROnPlateau({ patience: 0, factor: 0, minLr: 0.0001, verbose: 1 }), [{ val_loss: 1 }, { val_loss: 1 }], 0.1);
  assert.equal(text, '\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.0001.\n');
});

test('ReduceLROnPlateau without verbose prints nothing; a missing monitor warns as Keras does', async () => {
  assert.equal(await logOf(new ReduceLROnPlateau({ patience: 0 }), [{ val_loss: 1 }, { val_loss: 1 }]), '');
  assert.equal(
    await logOf(new ReduceLROnPlateau({ patience: 0 }), [{ loss: 1 }]),
    'UserWarning: Learning rate reduction is conditioned on metric `val_loss` which is not available. Available metrics are: loss,learning_rate.\n',
  );
});

// model_checkpoint.py _should_save_model: best_str = "None" if self.best is None else
// f"{self.best:.5f}"; "improved from {best_str} to {current:.5f}, saving model to {filepath}",
// "did not improve from {best_str}", and "saving model to {filepath}" without save_best_only.
test('ModelCheckpoint verbose: improved from None, did not improve, improved', async () => {
  const text = await logOf(new ModelCheckpoint({ filepath: 'm-{epoch:02d}.keras', saveBestOnly: true, verbose: 1 }), [{ val_loss: 0.5 }, { val_loss: 0.6 }, { val_loss: 0.123456 }]);
  assert.equal(text, [
    '\nEpoch 1: val_loss improved from None to 0.50000, saving model to m-01.keras\n',
    '\nEpoch 2: val_loss did not improve from 0.50000\n',
    '\nEpoch 3: val_loss improved from 0.50000 to 0.12346, saving model to m-03.keras\n',
  ].join(''));
});

test('ModelCheckpoint verbose: a NaN best reads nan; saves without saveBestOnly', async () => {
  const nanBest = await logOf(new ModelCheckpoint({ filepath: 'b', saveBestOnly: true, verbose: 1 }), [{ val_loss: NaN }, { val_loss: 0.4 }]);
  assert.equal(nanBest, '\nEpoch 1: val_loss improved from None to nan, saving model to b\n\nEpoch 2: val_loss did not improve from nan\n');
  assert.equal(await logOf(new ModelCheckpoint({ filepath: 'e{epoch}', verbose: 1 }), [{ val_loss: 1 }]), '\nEpoch 1: saving model to e1\n');
  assert.equal(await logOf(new ModelCheckpoint({ filepath: 'e', monitor: 'val_acc', mode: 'max', saveBestOnly: true }), [{ val_loss: 1 }]), 'UserWarning: Can save best model only with val_acc available.\n');
});

// early_stopping.py on_train_end: f"Epoch {self.stopped_epoch + 1}: early stopping" and
// f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.".
test('EarlyStopping verbose: the stop and the restore', async () => {
  const text = await logOf(new EarlyStopping({ patience: 1, restoreBestWeights: true, verbose: 1 }), [{ val_loss: 0.5 }, { val_loss: 0.4 }, { val_loss: 0.6 }, { val_loss: 0.7 }]);
  // wait reaches patience 1 at epoch 2 (0-based), which stops training.
  assert.equal(text, 'Epoch 3: early stopping\nRestoring model weights from the end of the best epoch: 2.\n');
});

test('EarlyStopping warns about a missing monitor with Keras\'s text (no final period)', async () => {
  const text = await logOf(new EarlyStopping({ monitor: 'val_loss' }), [{ loss: 1 }]);
  assert.equal(text, 'UserWarning: Early stopping conditioned on metric `val_loss` which is not available. Available metrics are: loss\n');
});

// learning_rate_scheduler.py on_epoch_begin: f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}."
test('LearningRateScheduler verbose prints the schedule\'s value', async () => {
  const cb = new LearningRateScheduler({ schedule: { type: 'step', stepSize: 1, gamma: 0.5 }, initialLearningRate: 0.1, verbose: 1 });
  assert.equal(await logOf(cb, [{ loss: 1 }, { loss: 1 }]), '\nEpoch 1: LearningRateScheduler setting learning rate to 0.1.\n\nEpoch 2: LearningRateScheduler setting learning rate to 0.05.\n');
});

// terminate_on_nan.py on_batch_end: prints f"Batch {batch}: Invalid loss, terminating training"
// (whatever the verbosity); with raise_error, RuntimeError(f"NaN or Inf loss encountered at batch
// {batch}. Loss value: {loss}. Terminating training immediately.").
test('TerminateOnNaN prints Keras\'s line; raiseError throws its message as TRAINING_DIVERGED', async () => {
  assert.equal(await logOf(new TerminateOnNaN(), [{ loss: 1 }, { loss: NaN }]), 'Batch 0: Invalid loss, terminating training\n');
  await assert.rejects(logOf(new TerminateOnNaN({ raiseError: true }), [{ loss: Infinity }]), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'TRAINING_DIVERGED');
    assert.equal(e.message, 'NaN or Inf loss encountered at batch 0. Loss value: inf. Terminating training immediately.');
    return true;
  });
});
