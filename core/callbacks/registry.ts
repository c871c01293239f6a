import type { SchemaCallbacksSpec, SchemaJobWarning } from '../api.gen';
import { pointer } from '../errors';
import { Alerts } from './alerts';
import type { Callback } from './callback';
import { CSVLogger } from './csv-logger';
import { EarlyStopping } from './early-stopping';
import type { CallbackEvent } from './events';
import { LearningRateScheduler } from './learning-rate-scheduler';
import type { ModelHandle } from './model-handle';
import { ModelCheckpoint } from './model-checkpoint';
import { unknownModeWarning } from './monitor-callback';
import { ReduceLROnPlateau } from './reduce-lr-on-plateau';
import { RemoteMonitor, type RemoteMonitorSender } from './remote-monitor';
import { TerminateOnNaN } from './terminate-on-nan';

/** A key of the contract's `CallbacksSpec` (`earlyStopping`, `csvLogger`, ...). */
export type CallbackKey = keyof SchemaCallbacksSpec;

/** The spec of one callback key. */
export type CallbackSpecOf<K extends CallbackKey> = NonNullable<SchemaCallbacksSpec[K]>;

/**
 * The ordered form of a job's callbacks: a list of single-key entries, run in list order as Keras
 * runs `callbacks=[...]` (`[{ "csvLogger": {} }, { "reduceLROnPlateau": { ... } }]`).
 */
export type CallbacksList = SchemaCallbacksSpec[];

/** Either form the contract accepts: the object (Kiln's fixed order) or the ordered list. */
export type CallbacksInput = SchemaCallbacksSpec | CallbacksList;

/** What building a callback needs besides its spec. */
export interface BuildContext {
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
  /** The run's existing CSV log, when resuming or appending (see CSVLogger). @defaultValue none */
  csvExisting?: { text: string; keepEpochsBelow?: number };
  /** Sends RemoteMonitor's requests (through the outbound policy); required when one is configured. */
  remoteMonitorSender?: RemoteMonitorSender;
}

/** One callback kind: how it is built, where it runs in the object form, and what its errors mean. */
export interface CallbackEntry<K extends CallbackKey> {
  key: K;
  /** Keras's class name (Kiln's own for alerts). */
  className: string;
  /**
   * Position in the object form's fixed order (see README "Order"). Rate setters come first so
   * `learning_rate` is in the logs every later callback sees; observers come last.
   */
  order: number;
  /** `decider`: an error fails the job; `observer`: isolated, counted, reported once. */
  role: 'decider' | 'observer';
  /** Builds the core callback; null for the callbacks the worker owns (TensorBoard, BackupAndRestore). */
  build: ((spec: CallbackSpecOf<K>, ctx: BuildContext) => Callback) | null;
  /** Warnings Keras gives (or silent changes it makes) for this spec, at `ptr`. */
  warnings?: (spec: CallbackSpecOf<K>, ptr: string) => SchemaJobWarning[];
}

/** Warnings MonitorCallback's constructor gives: an unknown mode; a negative min_delta (Keras takes abs silently). */
function monitorWarnings(className: string) {
  return (spec: { mode?: string; minDelta?: number }, ptr: string): SchemaJobWarning[] => {
    const out: SchemaJobWarning[] = [];
    const modeWarning = unknownModeWarning(className, spec.mode);
    if (modeWarning) out.push({ pointer: ptr + '/mode', detail: modeWarning, source: 'keras' });
    if (spec.minDelta !== undefined && spec.minDelta < 0) {
      out.push({ pointer: ptr + '/minDelta', detail: `${className} uses the absolute value of min_delta: ${-spec.minDelta} (Keras does this without a warning).`, source: 'kiln' });
    }
    return out;
  };
}

/**
 * Every callback key of the contract, exhaustively: adding a key to `CallbacksSpec` does not
 * compile until it has an entry here. Adding a callback = the contract, one file in this folder
 * and one entry (see README "Adding a callback").
 */
export const CALLBACK_REGISTRY: { readonly [K in CallbackKey]: CallbackEntry<K> } = {
  terminateOnNaN: {
    key: 'terminateOnNaN', className: 'TerminateOnNaN', order: 1, role: 'decider',
    build: (s) => new TerminateOnNaN({ raiseError: s.raiseError }),
  },
  learningRateScheduler: {
    key: 'learningRateScheduler', className: 'LearningRateScheduler', order: 2, role: 'decider',
    build: (s, ctx) => new LearningRateScheduler({ schedule: s.schedule, warmup: s.warmup, initialLearningRate: ctx.initialLearningRate, verbose: s.verbose }),
  },
  reduceLROnPlateau: {
    key: 'reduceLROnPlateau', className: 'ReduceLROnPlateau', order: 3, role: 'decider',
    build: (s, ctx) => new ReduceLROnPlateau({
      monitor: s.monitor, factor: s.factor, patience: s.patience, mode: s.mode, minDelta: s.minDelta,
      cooldown: s.cooldown, minLr: s.minLr, compiledMetrics: ctx.compiledMetrics, verbose: s.verbose,
    }),
    warnings: monitorWarnings('ReduceLROnPlateau'),
  },
  earlyStopping: {
    key: 'earlyStopping', className: 'EarlyStopping', order: 4, role: 'decider',
    build: (s, ctx) => new EarlyStopping({
      monitor: s.monitor, minDelta: s.minDelta, patience: s.patience, mode: s.mode, baseline: s.baseline,
      restoreBestWeights: s.restoreBestWeights, startFromEpoch: s.startFromEpoch, stopWhen: s.stopWhen,
      compiledMetrics: ctx.compiledMetrics, verbose: s.verbose,
    }),
    warnings: monitorWarnings('EarlyStopping'),
  },
  modelCheckpoint: {
    key: 'modelCheckpoint', className: 'ModelCheckpoint', order: 5, role: 'decider',
    build: (s, ctx) => new ModelCheckpoint({
      filepath: s.filepath, monitor: s.monitor, mode: s.mode, saveBestOnly: s.saveBestOnly, saveWeightsOnly: s.saveWeightsOnly,
      saveFreq: s.saveFreq, initialValueThreshold: s.initialValueThreshold, compiledMetrics: ctx.compiledMetrics, verbose: s.verbose,
    }),
    warnings: monitorWarnings('ModelCheckpoint'),
  },
  csvLogger: {
    key: 'csvLogger', className: 'CSVLogger', order: 6, role: 'observer',
    build: (s, ctx) => new CSVLogger({ separator: s.separator, append: s.append, sink: ctx.csvSink, existing: ctx.csvExisting }),
  },
  alerts: {
    key: 'alerts', className: 'Alerts', order: 7, role: 'observer',
    build: (s) => new Alerts(s),
  },
  remoteMonitor: {
    key: 'remoteMonitor', className: 'RemoteMonitor', order: 8, role: 'observer',
    build: (s, ctx) => {
      if (!ctx.remoteMonitorSender) throw new Error('remoteMonitor is configured but buildCallbacks got no remoteMonitorSender');
      return new RemoteMonitor({ root: s.root, path: s.path, field: s.field, headers: s.headers, sendAsJson: s.sendAsJson, sender: ctx.remoteMonitorSender });
    },
  },
  tensorBoard: { key: 'tensorBoard', className: 'TensorBoard', order: 9, role: 'observer', build: null },
  backupAndRestore: { key: 'backupAndRestore', className: 'BackupAndRestore', order: 10, role: 'decider', build: null },
};

/** One configured callback, with the JSON pointer of its spec. */
export type CallbackEntrySpec = { [K in CallbackKey]: { key: K; spec: CallbackSpecOf<K>; pointer: string } }[CallbackKey];

/** Whether `callbacks` is the ordered (list) form. */
export function isCallbacksList(callbacks: CallbacksInput | undefined): callbacks is CallbacksList {
  return Array.isArray(callbacks);
}

/**
 * The configured callbacks in the order they run: the list form in list order, the object form
 * in the registry's fixed order. Entries with an empty `alerts` list are left out. Assumes the
 * shape was validated (each list entry has exactly one known key).
 */
export function callbackEntries(callbacks: CallbacksInput | undefined, base = '/callbacks'): CallbackEntrySpec[] {
  if (callbacks === undefined) return [];
  const out: CallbackEntrySpec[] = [];
  const push = (key: CallbackKey, spec: unknown, ptr: string): void => {
    if (spec === undefined || (key === 'alerts' && Array.isArray(spec) && spec.length === 0)) return;
    out.push({ key, spec, pointer: ptr } as CallbackEntrySpec);
  };
  if (isCallbacksList(callbacks)) {
    callbacks.forEach((entry, i) => {
      for (const [key, spec] of Object.entries(entry)) push(key as CallbackKey, spec, base + pointer(i) + pointer(key));
    });
    return out;
  }
  const keys = (Object.keys(callbacks) as CallbackKey[]).filter((k) => Object.hasOwn(CALLBACK_REGISTRY, k));
  keys.sort((a, b) => CALLBACK_REGISTRY[a].order - CALLBACK_REGISTRY[b].order);
  for (const key of keys) push(key, callbacks[key], base + pointer(key));
  return out;
}

/**
 * The spec of the first `key` callback in either form, for code that needs one callback's settings
 * (the CSV file name, TensorBoard's frequencies, BackupAndRestore).
 */
export function callbackSpec<K extends CallbackKey>(callbacks: CallbacksInput | undefined, key: K): CallbackSpecOf<K> | undefined {
  if (callbacks === undefined) return undefined;
  if (!isCallbacksList(callbacks)) return callbacks[key] as CallbackSpecOf<K> | undefined;
  for (const entry of callbacks) if (entry[key] !== undefined) return entry[key] as CallbackSpecOf<K>;
  return undefined;
}

/**
 * Everything Kiln accepts while following Keras that Keras warns about (or silently changes), with
 * Keras's own text where it has one: for the job's `warnings` and the head of its training log.
 */
export function callbackWarnings(callbacks: CallbacksInput | undefined, base = '/callbacks'): SchemaJobWarning[] {
  const out: SchemaJobWarning[] = [];
  for (const e of callbackEntries(callbacks, base)) {
    const entry = CALLBACK_REGISTRY[e.key] as CallbackEntry<CallbackKey>;
    if (entry.warnings) out.push(...entry.warnings(e.spec as never, e.pointer));
  }
  return out;
}
