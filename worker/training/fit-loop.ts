import type { CallbackList } from '../../core/callbacks/callback-list';
import type { Logs, ModelHandle } from '../../core/callbacks/model-handle';
import { kerasLogName } from '../../core/compile-spec';
import type { TrainingSession } from '../tfjs/training-session';
import { extraValidationMetrics } from './extra-metrics';

/** Why training stopped before its epochs were done, other than a callback's decision. */
export type Interruption = 'cancelled' | 'max_runtime';

/** What {@link fitLoop} needs besides the session, the model and the callbacks. */
export interface FitLoopOptions {
  /** `fit.epochs`: the loop ends before this epoch (0-based). */
  epochs: number;
  /** The first epoch to run (Keras `initial_epoch`: after a resumed run's backup, else 0). */
  initialEpoch(): number;
  batchSize: number;
  /** Seed of each epoch's shuffle (a pure function of seed and epoch), or null for stored order. */
  shuffleSeed: number | null;
  /** Validation metrics tfjs lacks that the job compiled (`precision`, `recall`, `f1`, `auc`). */
  extraMetrics: string[];
  /** `compile.loss`, for those metrics. */
  loss: string;
  /** Whether training must stop now (checked before every epoch and after every batch). */
  interruption(): Interruption | null;
  /** Runs after every epoch's callbacks; a throw ends training there (the hand-back does). */
  afterEpoch(epoch: number): Promise<void>;
  /** The logs `onTrainEnd` gets: the last epoch's, also when a resumed run runs none. */
  lastLogs(): Logs;
}

/**
 * The epochs, as Keras's `fit` runs them: `onTrainBegin`, then per epoch `onEpochBegin`, the
 * batches (with their hooks), the validation pass and `onEpochEnd` with the epoch's logs (Keras
 * names), until the epochs are done or `stopTraining` is set; then `onTrainEnd`. Every side effect
 * is a callback's. A cancel or time limit stops training too, but an epoch it cuts short gets no
 * `onEpochEnd` (no decisions on half an epoch).
 */
export async function fitLoop(session: TrainingSession, model: ModelHandle, callbacks: CallbackList, opts: FitLoopOptions): Promise<Interruption | null> {
  let interrupted: Interruption | null = null;
  const checkInterrupt = () => {
    if (interrupted) return;
    interrupted = opts.interruption();
    if (interrupted) model.stopTraining = true;
  };
  await callbacks.onTrainBegin({});
  for (let epoch = opts.initialEpoch(); epoch < opts.epochs && !model.stopTraining; epoch++) {
    checkInterrupt();
    if (interrupted) break;
    await callbacks.onEpochBegin(epoch, {});
    const trainLogs = await session.trainEpoch(epoch, opts.batchSize, opts.shuffleSeed, {
      onBatchBegin: async (batch) => callbacks.onBatchBegin(batch, {}),
      onBatchEnd: async (batch, logs) => {
        await callbacks.onBatchEnd(batch, kerasLogs(logs));
        checkInterrupt();
        // Let the cancel channel and progress I/O run between batches.
        await new Promise((r) => setImmediate(r));
      },
    });
    if (interrupted) break;
    const logs: Logs = kerasLogs({ ...trainLogs, ...(await session.evaluateValidation(opts.batchSize)) });
    if (opts.extraMetrics.length > 0) {
      const predicted = await session.predictValidation(opts.batchSize);
      if (predicted) Object.assign(logs, extraValidationMetrics(opts.extraMetrics, predicted, opts.loss));
    }
    await callbacks.onEpochEnd(epoch, logs);
    await opts.afterEpoch(epoch);
  }
  await callbacks.onTrainEnd(opts.lastLogs());
  return interrupted;
}

/** tfjs's log names (`acc`, `val_acc`) as Keras users write them (`accuracy`, `val_accuracy`). */
function kerasLogs(logs: Record<string, number>): Logs {
  const out: Logs = {};
  for (const [k, v] of Object.entries(logs)) out[kerasLogName(k)] = v;
  return out;
}
