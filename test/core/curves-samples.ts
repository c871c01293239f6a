import type { CurvesInput } from '../../core/curves-svg';

/*
 * Runs to draw, shared by the structural tests (test/core/curves-svg.test.ts) and the browser
 * rendering test (test/browser/curves-svg.test.ts). Each one is a situation a reviewer found a
 * defect in or that the image must survive.
 */

const best = (value: number) => ({ monitor: 'val_loss', value, mode: 'min' });

/** Six epochs; best checkpoints 0–2, a plateau cut at 3, early stop on the last epoch, best epoch 2 restored. */
export const finished: CurvesInput = {
  history: [0.9, 0.7, 0.6, 0.62, 0.64, 0.66].map((v, epoch) => ({
    epoch,
    logs: { loss: 1 - epoch * 0.1, val_loss: v, acc: 0.5 + epoch * 0.05, val_acc: 0.5 + epoch * 0.04 },
  })),
  events: [
    { type: 'checkpoint_saved', epoch: 0, path: 'a', weightsOnly: false, best: best(0.9) },
    { type: 'checkpoint_saved', epoch: 1, path: 'a', weightsOnly: false, best: best(0.7) },
    { type: 'checkpoint_saved', epoch: 2, path: 'a', weightsOnly: false, best: best(0.6) },
    { type: 'checkpoint_saved', epoch: 3, path: 'a', weightsOnly: false },
    { type: 'learning_rate_changed', epoch: 3, by: 'ReduceLROnPlateau', from: 0.01, to: 0.005 },
    { type: 'early_stopping', epoch: 5, monitors: ['val_loss'], bestEpoch: 2, bestValue: 0.6, wait: 3 },
    { type: 'weights_restored', epoch: 5, fromEpoch: 2 },
  ],
};

/**
 * The run page's scenario: three epochs, the best at epoch 0, early stop on the last one, a
 * constant rate from the spec. Drew the stop marker on the right axis, the restored band left
 * of the plot and "2lr" under the last epoch.
 */
export const stopOnLastEpoch: CurvesInput = {
  history: [
    { epoch: 0, logs: { loss: 0.75, accuracy: 0.62, val_loss: 0.6, val_accuracy: 0.55 } },
    { epoch: 1, logs: { loss: 0.52, accuracy: 0.66, val_loss: 0.47, val_accuracy: 0.66 } },
    { epoch: 2, logs: { loss: 0.43, accuracy: 0.71, val_loss: 0.369, val_accuracy: 0.833 } },
  ],
  events: [
    { type: 'checkpoint_saved', epoch: 0, path: 'b', weightsOnly: false, best: best(0.6) },
    { type: 'checkpoint_saved', epoch: 1, path: 'b', weightsOnly: false, best: best(0.47) },
    { type: 'early_stopping', epoch: 2, monitors: ['loss'], bestEpoch: 0, bestValue: 0.75, wait: 2 },
    { type: 'checkpoint_saved', epoch: 2, path: 'b', weightsOnly: false, best: best(0.369) },
    { type: 'weights_restored', epoch: 2, fromEpoch: 0 },
  ],
  initialLearningRate: 0.02,
};

/** A running job after its first epoch. */
export const oneEpoch: CurvesInput = {
  history: [{ epoch: 0, logs: { loss: 1.1, val_loss: 1.2, accuracy: 0.4, val_accuracy: 0.35 } }],
  events: [{ type: 'checkpoint_saved', epoch: 0, path: 'c', weightsOnly: false, best: best(1.2) }],
  initialLearningRate: 0.001,
};

/** A running job that has not finished an epoch. */
export const noEpochs: CurvesInput = { history: [], events: [], initialLearningRate: 0.01 };

/**
 * Non-finite values as run.json stores them (strings) and as a caller may pass them (numbers), a
 * rate event with a non-finite value, and TerminateOnNaN on the last epoch.
 */
export const nonFinite: CurvesInput = {
  history: [
    { epoch: 0, logs: { loss: 0.9, val_loss: 'NaN', mae: 0.5 } },
    { epoch: 1, logs: { loss: 0.7, val_loss: 0.8, mae: Infinity } },
    { epoch: 2, logs: { loss: 'Infinity', val_loss: 0.75, mae: 0.4 } },
    { epoch: 3, logs: { loss: 0.6, val_loss: 0.7, mae: 0.35 } },
    { epoch: 4, logs: { loss: NaN, val_loss: '-Infinity', mae: -Infinity } },
  ],
  events: [
    { type: 'learning_rate_changed', epoch: 1, by: 'ReduceLROnPlateau', from: 0.1, to: NaN },
    { type: 'learning_rate_changed', epoch: 2, by: 'ReduceLROnPlateau', from: Infinity, to: 0.05 },
    { type: 'nan_terminated', epoch: 4, batch: 3 },
  ],
  initialLearningRate: NaN,
};

/**
 * A long run with many metrics (the legend wraps), a warm-up schedule that logs the rate (which
 * must go on the right axis, not among the left-axis series) and tiny rates (exponent labels).
 */
export const longRun: CurvesInput = {
  history: Array.from({ length: 120 }, (_, epoch) => {
    const lr = epoch < 5 ? 1e-4 * (epoch + 1) : 5e-4 * 0.5 ** Math.floor((epoch - 5) / 30);
    const loss = 2.3 * Math.exp(-epoch / 25) + 0.1;
    return {
      epoch,
      logs: {
        loss, val_loss: loss * 1.1 + 0.05,
        categorical_accuracy: 1 - loss / 2.5, val_categorical_accuracy: 1 - loss / 2.4,
        precision: 0.5 + epoch / 300, val_precision: 0.48 + epoch / 320,
        recall: 0.4 + epoch / 250, val_recall: 0.38 + epoch / 260,
        auc: 0.6 + epoch / 400,
        learning_rate: lr,
      },
    };
  }),
  events: [
    ...[1, 2, 3, 4].map((epoch) => ({ type: 'learning_rate_changed', epoch, by: 'LearningRateScheduler', from: 1e-4 * epoch, to: 1e-4 * (epoch + 1) })),
    ...[35, 65, 95].map((epoch) => ({ type: 'learning_rate_changed', epoch, by: 'LearningRateScheduler', from: 5e-4 * 0.5 ** ((epoch - 35) / 30), to: 5e-4 * 0.5 ** ((epoch - 5) / 30) })),
    { type: 'checkpoint_saved', epoch: 40, path: 'd', weightsOnly: true, best: best(0.5) },
    { type: 'checkpoint_saved', epoch: 88, path: 'd', weightsOnly: true, best: best(0.4) },
    { type: 'early_stopping', epoch: 119, monitors: ['val_loss'], bestEpoch: 88, bestValue: 0.4, wait: 31 },
    { type: 'weights_restored', epoch: 119, fromEpoch: 88 },
  ],
  initialLearningRate: 1e-4,
};

/**
 * A running job four epochs into a planned 2000 (the run page's live scenario): the x axis spans
 * all 2000, so the curves sit at its left end and four-digit epoch labels run along it.
 */
export const runningLong: CurvesInput = {
  history: [1.2, 0.9, 0.8, 0.72].map((loss, epoch) => ({ epoch, logs: { loss, val_loss: loss + 0.1, accuracy: 0.3 + epoch * 0.1 } })),
  events: [
    { type: 'checkpoint_saved', epoch: 0, path: 'e', weightsOnly: false, best: best(1.3) },
    { type: 'checkpoint_saved', epoch: 3, path: 'e', weightsOnly: false, best: best(0.82) },
  ],
  initialLearningRate: 0.02,
  plannedEpochs: 2000,
  status: 'running',
  stopReason: null,
};

export const SAMPLES = { finished, stopOnLastEpoch, oneEpoch, noEpochs, nonFinite, longRun, runningLong } as const;
