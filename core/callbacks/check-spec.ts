import { pointer, type FieldProblem } from '../errors';
import { AlertExpression, AlertExpressionError } from './alert-expression';
import { effectiveMode, inferMode } from './monitor-callback';
import { CALLBACK_SCHEMAS } from './callbacks-schema.gen';
import { callbackEntries, isCallbacksList, type CallbackKey, type CallbacksInput, type CallbacksList, type CallbackSpecOf } from './registry';
import { checkSchema } from './schema-check';
import { MAX_KEY_SEGMENT_BYTES } from '../key-segments';
import { checkSpec, minSegmentBytes, parseTemplate, PyFormatError, type TemplatePart } from './python-format';

/** What the job will log, for checking monitors and templates. */
export interface CallbackCheckContext {
  /** Keras names the model logs at epoch end, e.g. `['loss','accuracy','val_loss','val_accuracy']`. */
  metrics: string[];
  /** `fit.epochs`. */
  epochs: number;
  /**
   * Compiled metric names (for `auto` modes and fix hints).
   * @defaultValue the logged names without `val_`, other than `loss` and `learning_rate`
   */
  compiledMetrics?: string[];
}

/**
 * The list form's rule of meaning: each callback at most once (one CSV log, one TensorBoard
 * directory, one backup per run). The shapes are the contract's (`checkSchema`).
 */
function checkListEntries(list: CallbacksList, base: string, out: FieldProblem[]): void {
  const seen = new Map<string, number>();
  list.forEach((entry, i) => {
    for (const key of Object.keys(entry)) {
      const first = seen.get(key);
      if (first !== undefined) out.push({ pointer: base + pointer(i) + pointer(key), detail: `${key} is already configured at ${base}/${first}; Kiln runs each callback at most once` });
      seen.set(key, i);
    }
  });
}

/** The metrics a job can compile (the contract's `CompileSpec.metrics`). */
const JOB_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'auc', 'mse', 'mae'];

/** Explains why `monitor` is not logged, and how to get it logged. */
function notLoggedDetail(what: string, monitor: string, logged: Set<string>, compiled: string[]): string {
  const isVal = monitor.startsWith('val_');
  const base = isVal ? monitor.slice(4) : monitor;
  const fixes: string[] = [];
  if (isVal && !logged.has(monitor) && ![...logged].some((k) => k.startsWith('val_'))) fixes.push('add a validation split or validation data');
  if (base !== 'loss' && base !== 'learning_rate' && !compiled.includes(base)) {
    if (JOB_METRICS.includes(base)) fixes.push(`add '${base}' to compile.metrics`);
  }
  if (base === 'learning_rate') fixes.push('enable reduceLROnPlateau or learningRateScheduler, which log it');
  const fix = fixes.length > 0 ? fixes.join(' and ') : `use one of: ${[...logged].sort().join(', ')}`;
  return `${what} '${monitor}' is not logged by this job: ${fix}`;
}

/** What the checks of meaning share. */
interface MeaningEnv {
  ctx: CallbackCheckContext;
  /** Every key the epoch-end logs have (with `learning_rate` when a rate callback logs it). */
  logged: Set<string>;
  compiled: string[];
  /** The keys configured. */
  keys: Set<CallbackKey>;
  out: FieldProblem[];
}

function checkMonitor(env: MeaningEnv, monitor: string, mode: string | undefined, ptr: string, modePtr: string): void {
  if (!env.logged.has(monitor)) {
    env.out.push({ pointer: ptr, detail: notLoggedDetail('monitor', monitor, env.logged, env.compiled) });
    return;
  }
  if (effectiveMode(mode) === 'auto' && inferMode(monitor, env.compiled) === null) {
    env.out.push({ pointer: modePtr, detail: `mode 'auto' cannot tell whether '${monitor}' should be minimized or maximized; set mode to 'min' or 'max'` });
  }
}

/**
 * The checks of meaning, per callback key: everything Keras would only discover at some epoch
 * end. (The shapes are the contract's.)
 */
const MEANING: { [K in CallbackKey]?: (spec: CallbackSpecOf<K>, p: string, env: MeaningEnv) => void } = {
  earlyStopping: (es, p, env) => {
    const monitors = Array.isArray(es.monitor) ? es.monitor : [es.monitor ?? 'val_loss'];
    monitors.forEach((m, i) => checkMonitor(env, m, es.mode, p + '/monitor' + (Array.isArray(es.monitor) ? pointer(i) : ''), p + '/mode'));
    if (es.stopWhen !== undefined && !Array.isArray(es.monitor)) {
      env.out.push({ pointer: p + '/stopWhen', detail: 'only applies to several monitors; remove it or give monitor as an array' });
    }
  },
  reduceLROnPlateau: (rl, p, env) => {
    checkMonitor(env, rl.monitor ?? 'val_loss', rl.mode, p + '/monitor', p + '/mode');
    if (env.keys.has('learningRateScheduler')) {
      env.out.push({ pointer: p, detail: 'its cuts would be overwritten by learningRateScheduler at the next epoch begin; use one of the two' });
    }
  },
  modelCheckpoint: (mc, p, env) => {
    const { ctx, logged, compiled, out } = env;
    const byBatch = typeof mc.saveFreq === 'number';
    // Batch logs hold the running training metrics only: no val_*, no learning_rate.
    const available = byBatch ? new Set(ctx.metrics.filter((m) => !m.startsWith('val_'))) : logged;
    if (mc.saveBestOnly) {
      const monitor = mc.monitor ?? 'val_loss';
      if (!available.has(monitor)) {
        out.push({
          pointer: p + '/monitor',
          detail: byBatch && logged.has(monitor)
            ? `monitor '${monitor}' is not in the batch logs that saveFreq ${mc.saveFreq} saves on; monitor a training metric (${[...available].sort().join(', ')}) or use saveFreq 'epoch'`
            : notLoggedDetail('monitor', monitor, logged, compiled),
        });
      } else if (effectiveMode(mc.mode) === 'auto' && inferMode(monitor, compiled) === null) {
        out.push({ pointer: p + '/mode', detail: `mode 'auto' cannot tell whether '${monitor}' should be minimized or maximized; set mode to 'min' or 'max'` });
      }
    }
    checkTemplate(mc.filepath, byBatch, available, p + '/filepath', out);
  },
  learningRateScheduler: (ls, p, env) => {
    const sc = ls.schedule;
    if (sc.type === 'piecewise') {
      for (let i = 1; i < sc.boundaries.length; i++) {
        if (sc.boundaries[i] <= sc.boundaries[i - 1]) env.out.push({ pointer: p + '/schedule/boundaries' + pointer(i), detail: 'boundaries must increase strictly' });
      }
      if (sc.values.length !== sc.boundaries.length + 1) {
        env.out.push({ pointer: p + '/schedule/values', detail: `must have one more entry than boundaries (${sc.boundaries.length + 1}, got ${sc.values.length})` });
      }
    }
    if (ls.warmup && ls.warmup.epochs >= env.ctx.epochs) {
      env.out.push({ pointer: p + '/warmup/epochs', detail: `must be below fit.epochs (${env.ctx.epochs}), or the schedule never starts` });
    }
  },
  // remote_monitor.py `_validate_url_structure`: http(s) only, and `path` must not change the host.
  remoteMonitor: (rm, p, env) => {
    const root = rm.root ?? 'http://localhost:9000';
    let rootUrl: URL;
    let fullUrl: URL;
    try {
      rootUrl = new URL(root);
      fullUrl = new URL(root + (rm.path ?? '/publish/epoch/end/'));
    } catch {
      return void env.out.push({ pointer: p + '/root', detail: "must be an absolute http(s) URL such as 'https://monitor.example.com'" });
    }
    if (rootUrl.protocol !== 'http:' && rootUrl.protocol !== 'https:') {
      env.out.push({ pointer: p + '/root', detail: `Invalid URL scheme '${rootUrl.protocol.slice(0, -1)}'. Only 'http' and 'https' are allowed.` });
    } else if (fullUrl.hostname !== rootUrl.hostname) {
      env.out.push({ pointer: p + '/path', detail: `changes the host from '${rootUrl.hostname}' to '${fullUrl.hostname}'; a path must not contain '@', a scheme or other authority-altering characters` });
    }
  },
  alerts: (rules, p, env) => {
    rules.forEach((rule, i) => {
      const ptr = p + pointer(i) + '/when';
      let expr: AlertExpression;
      try {
        expr = AlertExpression.parse(rule.when);
      } catch (e) {
        if (e instanceof AlertExpressionError) return void env.out.push({ pointer: ptr, detail: `${e.message}; write comparisons like 'val_accuracy > 0.9' joined by 'and' / 'or'` });
        throw e;
      }
      for (const m of expr.metrics) if (!env.logged.has(m)) env.out.push({ pointer: ptr, detail: notLoggedDetail('metric', m, env.logged, env.compiled) });
    });
  },
};

/**
 * Checks a job's (or a simulation's) callbacks, in either form (object or ordered list), before
 * anything runs: the shape of every field, from the contract's own schema (callbacks-schema.gen.ts,
 * so the CLI gets the API's answers offline), and
 * everything Keras would only discover at some epoch end: monitors that are not logged, `auto`
 * modes whose direction cannot be inferred, filepath templates that would not format, alert
 * conditions that do not parse or name unlogged metrics. Returns the problems (empty when fine),
 * each naming the field and the fix. What Kiln accepts with a Keras warning is
 * {@link callbackWarnings}'s.
 */
export function checkCallbacks(spec: CallbacksInput | undefined, ctx: CallbackCheckContext, pointerBase = '/callbacks'): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (spec === undefined) return out;
  out.push(...checkSchema(CALLBACK_SCHEMAS, 'Callbacks', spec, pointerBase));
  if (out.length === 0 && isCallbacksList(spec)) checkListEntries(spec, pointerBase, out);
  if (out.length > 0) return out;

  const entries = callbackEntries(spec, pointerBase);
  const keys = new Set(entries.map((e) => e.key));
  const logged = new Set(ctx.metrics);
  if (keys.has('reduceLROnPlateau') || keys.has('learningRateScheduler')) logged.add('learning_rate');
  const compiled = ctx.compiledMetrics ?? [...new Set(ctx.metrics.map((m) => (m.startsWith('val_') ? m.slice(4) : m)))].filter((m) => m !== 'loss' && m !== 'learning_rate');
  const env: MeaningEnv = { ctx, logged, compiled, keys, out };
  for (const e of entries) {
    const check = MEANING[e.key] as ((spec: unknown, p: string, env: MeaningEnv) => void) | undefined;
    check?.(e.spec, e.pointer, env);
  }
  return out;
}

// Clients resubmit the same few filepath templates: parse each once (bounded, since they come
// from requests). Only the parts and the spec checks are kept; both are pure.
const TEMPLATE_CACHE_MAX = 1000;
const parsedTemplates = new Map<string, readonly TemplatePart[]>();
const specChecks = new Map<string, string | null>();

function parseTemplateOnce(filepath: string): readonly TemplatePart[] {
  let parts = parsedTemplates.get(filepath);
  if (parts === undefined) {
    parts = parseTemplate(filepath);
    if (parsedTemplates.size < TEMPLATE_CACHE_MAX && filepath.length <= 256) parsedTemplates.set(filepath, parts);
  }
  return parts;
}

function checkSpecOnce(spec: string, kind: 'int' | 'float', conversion: string | undefined): string | null {
  const key = `${kind}\u0000${conversion ?? ''}\u0000${spec}`;
  let err = specChecks.get(key);
  if (err === undefined) {
    err = checkSpec(spec, kind, conversion);
    if (specChecks.size < TEMPLATE_CACHE_MAX && spec.length <= 64) specChecks.set(key, err);
  }
  return err;
}

function checkTemplate(filepath: string, byBatch: boolean, available: Set<string>, ptr: string, out: FieldProblem[]): void {
  if (filepath.startsWith('/') || filepath.includes('\\') || filepath.split('/').includes('..') || filepath.endsWith('/')) {
    out.push({ pointer: ptr, detail: "must be a relative path under the run's checkpoints/: no leading '/', no '..' segment, no '\\', not ending in '/'" });
    return;
  }
  if (filepath.split('/')[0] === 'final') {
    out.push({ pointer: ptr, detail: "'final' is where Kiln keeps the model as training leaves it; choose another name, e.g. 'last' or 'epoch-{epoch:02d}'" });
    return;
  }
  let parts: readonly TemplatePart[];
  try {
    parts = parseTemplateOnce(filepath);
  } catch (e) {
    if (e instanceof PyFormatError) return void out.push({ pointer: ptr, detail: `${e.message}; write fields like {epoch:02d} or {val_loss:.4f}, and '{{' / '}}' for literal braces` });
    throw e;
  }
  // Every stored key part is at most 255 bytes; a segment that must format longer is refused here.
  const longest = Math.max(...minSegmentBytes(parts));
  if (longest > MAX_KEY_SEGMENT_BYTES) {
    out.push({ pointer: ptr, detail: `a path segment (between '/') formats to at least ${longest} bytes; stores accept at most ${MAX_KEY_SEGMENT_BYTES} per segment, so shorten it or split it with '/'` });
    return;
  }
  for (const f of parts) {
    if (typeof f === 'string') continue;
    let kind: 'int' | 'float';
    if (f.name === 'epoch') kind = 'int';
    else if (f.name === 'batch') {
      if (!byBatch) {
        out.push({ pointer: ptr, detail: "field {batch} is only filled for batch saves; remove it or set saveFreq to a number of batches" });
        continue;
      }
      kind = 'int';
    } else if (available.has(f.name)) kind = 'float';
    else {
      out.push({ pointer: ptr, detail: `field {${f.name}} is not logged${byBatch ? ' in the batch logs' : ''}; use {epoch}${byBatch ? ', {batch}' : ''} or one of: ${[...available].sort().join(', ')}` });
      continue;
    }
    const err = checkSpecOnce(f.spec, kind, f.conversion);
    if (err) out.push({ pointer: ptr, detail: `field {${f.name}:${f.spec}}: ${err} (${f.name} is ${kind === 'int' ? 'an int' : 'a float'})` });
  }
}
