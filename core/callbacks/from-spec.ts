import type { SchemaCallbacksSpec } from '../api.gen';
import { Alerts } from './alerts';
import type { Callback } from './callback';
import { CallbackList } from './callback-list';
import { CSVLogger } from './csv-logger';
import { EarlyStopping } from './early-stopping';
import type { CallbackEvent } from './events';
import { LearningRateScheduler } from './learning-rate-scheduler';
import type { ModelHandle } from './model-handle';
import { ModelCheckpoint } from './model-checkpoint';
import { ReduceLROnPlateau } from './reduce-lr-on-plateau';
import { TerminateOnNaN } from './terminate-on-nan';

/** What {@link buildCallbacks} needs besides the spec. */
export interface BuildCallbacksOptions {
  model: ModelHandle;
  /** Names of the compiled metrics as logged (`accuracy`, `f1`, ...), for `auto` modes. */
  compiledMetrics: string[];
  /** The compiled learning rate (the schedules' `lr0`). */
  initialLearningRate: number;
  /** `fit.epochs`. */
  epochs: number;
  /** Receives the whole CSV text after each epoch (only called when csvLogger is configured). */
  csvSink: (fullText: string) => void | Promise<void>;
  /** Receives every callback event, synchronously, in order. */
  emit: (e: CallbackEvent) => void;
  /**
   * The run's existing CSV log, when resuming (`keepEpochsBelow` = the first epoch the resumed
   * fit runs) or when appending. @defaultValue none
   */
  csvExisting?: { text: string; keepEpochsBelow?: number };
}

/**
 * Builds the callbacks of a job spec, in the fixed order Kiln runs them (see README.md):
 * TerminateOnNaN, LearningRateScheduler, ReduceLROnPlateau, EarlyStopping, ModelCheckpoint,
 * CSVLogger, Alerts. The rate setters come first so that `learning_rate` is in the logs every later
 * callback sees, including the CSV row of the same epoch; the observers come last so they see the
 * epoch's final logs. The spec is assumed to have passed {@link checkCallbacks}.
 */
export function buildCallbacks(spec: SchemaCallbacksSpec | undefined, opts: BuildCallbacksOptions): CallbackList {
  const s = spec ?? {};
  const compiledMetrics = opts.compiledMetrics;
  const list: Callback[] = [];
  if (s.terminateOnNaN) list.push(new TerminateOnNaN());
  if (s.learningRateScheduler) {
    list.push(new LearningRateScheduler({
      schedule: s.learningRateScheduler.schedule,
      warmup: s.learningRateScheduler.warmup,
      initialLearningRate: opts.initialLearningRate,
    }));
  }
  if (s.reduceLROnPlateau) {
    const r = s.reduceLROnPlateau;
    list.push(new ReduceLROnPlateau({
      monitor: r.monitor, factor: r.factor, patience: r.patience, mode: r.mode,
      minDelta: r.minDelta, cooldown: r.cooldown, minLr: r.minLr, compiledMetrics,
    }));
  }
  if (s.earlyStopping) {
    const e = s.earlyStopping;
    list.push(new EarlyStopping({
      monitor: e.monitor, minDelta: e.minDelta, patience: e.patience, mode: e.mode, baseline: e.baseline,
      restoreBestWeights: e.restoreBestWeights, startFromEpoch: e.startFromEpoch, stopWhen: e.stopWhen, compiledMetrics,
    }));
  }
  if (s.modelCheckpoint) {
    const m = s.modelCheckpoint;
    list.push(new ModelCheckpoint({
      filepath: m.filepath, monitor: m.monitor, mode: m.mode, saveBestOnly: m.saveBestOnly,
      saveWeightsOnly: m.saveWeightsOnly, saveFreq: m.saveFreq, initialValueThreshold: m.initialValueThreshold, compiledMetrics,
    }));
  }
  if (s.csvLogger) {
    list.push(new CSVLogger({
      separator: s.csvLogger.separator,
      append: s.csvLogger.append,
      sink: opts.csvSink,
      existing: opts.csvExisting,
    }));
  }
  if (s.alerts && s.alerts.length > 0) list.push(new Alerts(s.alerts));
  return new CallbackList(list, { model: opts.model, emit: opts.emit });
}
