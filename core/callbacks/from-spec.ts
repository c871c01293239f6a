import type { Callback } from './callback';
import { CallbackList } from './callback-list';
import { CALLBACK_REGISTRY, callbackEntries, callbackWarnings, type BuildContext, type CallbackEntry, type CallbackKey, type CallbacksInput } from './registry';
import { SILENT_LOG, type TrainingLog } from './training-log';

/** What {@link buildCallbacks} needs besides the spec. */
export interface BuildCallbacksOptions extends BuildContext {
  /**
   * Where the callbacks print Keras's messages and warnings. Keras's construction-time warnings of
   * the spec (an unknown mode) are written first. @defaultValue a silent log
   */
  log?: TrainingLog;
}

/**
 * Builds the core callbacks of a job spec from {@link CALLBACK_REGISTRY}: in list order for the
 * ordered form, in the registry's fixed order for the object form (README "Order"). Callbacks the
 * worker owns (TensorBoard, BackupAndRestore) are not built here. The spec is assumed to have
 * passed {@link checkCallbacks}.
 */
export function buildCallbacks(spec: CallbacksInput | undefined, opts: BuildCallbacksOptions): CallbackList {
  const log = opts.log ?? SILENT_LOG;
  for (const w of callbackWarnings(spec)) if (w.source === 'keras') log.warn(w.detail);
  const list: Callback[] = [];
  for (const e of callbackEntries(spec)) {
    const entry = CALLBACK_REGISTRY[e.key] as CallbackEntry<CallbackKey>;
    if (entry.build) list.push(entry.build(e.spec as never, opts));
  }
  return new CallbackList(list, { model: opts.model, emit: opts.emit, log });
}
