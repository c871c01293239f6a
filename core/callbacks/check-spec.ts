import { pointer, type FieldProblem } from '../errors';
import { AlertExpression, AlertExpressionError } from './alert-expression';
import { effectiveMode, inferMode } from './monitor-callback';
import { callbackEntries, type CallbackKey, type CallbacksInput, type CallbackSpecOf } from './registry';
import { checkSpec, parseTemplate, PyFormatError, type TemplatePart } from './python-format';

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

type Check = (value: unknown, ptr: string, out: FieldProblem[]) => void;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(opts: { min?: number; exclusiveMin?: number; max?: number; exclusiveMax?: number; int?: boolean; nullable?: boolean }): Check {
  return (v, ptr, out) => {
    if (v === null && opts.nullable) return;
    const kind = opts.int ? 'an integer' : 'a number';
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v))) {
      out.push({ pointer: ptr, detail: `must be ${kind}${opts.nullable ? ' or null' : ''}` });
      return;
    }
    if (opts.min !== undefined && v < opts.min) out.push({ pointer: ptr, detail: `must be >= ${opts.min}` });
    if (opts.exclusiveMin !== undefined && v <= opts.exclusiveMin) out.push({ pointer: ptr, detail: `must be > ${opts.exclusiveMin}` });
    if (opts.max !== undefined && v > opts.max) out.push({ pointer: ptr, detail: `must be <= ${opts.max}` });
    if (opts.exclusiveMax !== undefined && v >= opts.exclusiveMax) out.push({ pointer: ptr, detail: `must be < ${opts.exclusiveMax}` });
  };
}

const bool: Check = (v, ptr, out) => {
  if (typeof v !== 'boolean') out.push({ pointer: ptr, detail: 'must be true or false' });
};

function oneOf(values: readonly unknown[]): Check {
  return (v, ptr, out) => {
    if (!values.includes(v)) out.push({ pointer: ptr, detail: `must be one of: ${values.map((x) => JSON.stringify(x)).join(', ')}` });
  };
}

function str(opts: { min?: number; max?: number; pattern?: RegExp; what?: string }): Check {
  return (v, ptr, out) => {
    if (typeof v !== 'string') {
      out.push({ pointer: ptr, detail: 'must be a string' });
      return;
    }
    if (opts.min !== undefined && v.length < opts.min) out.push({ pointer: ptr, detail: `must have at least ${opts.min} character(s)` });
    if (opts.max !== undefined && v.length > opts.max) out.push({ pointer: ptr, detail: `must have at most ${opts.max} characters` });
    if (opts.pattern && !opts.pattern.test(v)) out.push({ pointer: ptr, detail: `must be ${opts.what ?? `a string matching ${opts.pattern}`}` });
  };
}

const MONITOR = str({ pattern: /^[A-Za-z_][A-Za-z0-9_]{0,63}$/, what: 'a metric name such as val_loss' });
// Keras warns on any other mode and falls back to auto (callbackWarnings reports it).
const MODE = str({ min: 1, max: 32 });
const VERBOSE = num({ min: 0, max: 2, int: true });
const FINITE = num({});

function object(fields: Record<string, Check>, required: string[] = []): Check {
  return (v, ptr, out) => {
    if (!isObj(v)) {
      out.push({ pointer: ptr, detail: 'must be an object' });
      return;
    }
    for (const r of required) if (!(r in v)) out.push({ pointer: ptr + pointer(r), detail: `is required` });
    for (const [k, val] of Object.entries(v)) {
      const check = fields[k];
      if (!check) {
        out.push({ pointer: ptr + pointer(k), detail: `unknown field '${k}'; remove it or use one of: ${Object.keys(fields).join(', ')}` });
        continue;
      }
      check(val, ptr + pointer(k), out);
    }
  };
}

const EARLY_STOPPING = object({
  monitor: (v, ptr, out) => {
    if (Array.isArray(v)) {
      if (v.length < 1 || v.length > 8) out.push({ pointer: ptr, detail: 'must list 1 to 8 metrics' });
      if (new Set(v).size !== v.length) out.push({ pointer: ptr, detail: 'must not repeat a metric' });
      v.forEach((m, i) => MONITOR(m, ptr + pointer(i), out));
    } else MONITOR(v, ptr, out);
  },
  minDelta: FINITE,
  patience: num({ min: 0, int: true }),
  verbose: VERBOSE,
  mode: MODE,
  baseline: num({ nullable: true }),
  restoreBestWeights: bool,
  startFromEpoch: num({ min: 0, int: true }),
  stopWhen: oneOf(['all', 'any']),
});

const MODEL_CHECKPOINT = object({
  filepath: str({ min: 1, max: 512 }),
  monitor: MONITOR,
  verbose: VERBOSE,
  mode: MODE,
  saveBestOnly: bool,
  saveWeightsOnly: bool,
  saveFreq: (v, ptr, out) => {
    if (v === 'epoch') return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) out.push({ pointer: ptr, detail: "must be 'epoch' or a number of batches >= 1" });
  },
  initialValueThreshold: num({ nullable: true }),
}, ['filepath']);

const REDUCE_LR = object({
  monitor: MONITOR,
  factor: num({ exclusiveMax: 1 }),
  patience: num({ min: 0, int: true }),
  verbose: VERBOSE,
  mode: MODE,
  minDelta: FINITE,
  cooldown: num({ min: 0, int: true }),
  minLr: num({ min: 0 }),
});

const CSV_LOGGER = object({
  filename: str({ pattern: /^[A-Za-z0-9._-]{1,128}$/, what: 'a file name of 1 to 128 letters, digits, dots, dashes or underscores' }),
  separator: str({ min: 1, max: 1 }),
  append: bool,
});

const SCHEDULES: Record<string, { check: Check }> = {
  step: { check: object({ type: oneOf(['step']), stepSize: num({ min: 1, int: true }), gamma: num({ exclusiveMin: 0 }) }, ['stepSize']) },
  exponential: { check: object({ type: oneOf(['exponential']), decayRate: num({ exclusiveMin: 0 }), decayEpochs: num({ min: 1, int: true }), staircase: bool }, ['decayRate']) },
  cosine: { check: object({ type: oneOf(['cosine']), decayEpochs: num({ min: 1, int: true }), alpha: num({ min: 0, max: 1 }) }, ['decayEpochs']) },
  piecewise: {
    check: (v, ptr, out) => {
      object({
        type: oneOf(['piecewise']),
        boundaries: (b, p, o) => {
          if (!Array.isArray(b) || b.length < 1) return void o.push({ pointer: p, detail: 'must be a non-empty array of epochs' });
          b.forEach((x, i) => num({ min: 1, int: true })(x, p + pointer(i), o));
          for (let i = 1; i < b.length; i++) {
            if (typeof b[i] === 'number' && typeof b[i - 1] === 'number' && b[i] <= b[i - 1]) o.push({ pointer: p + pointer(i), detail: 'boundaries must increase strictly' });
          }
        },
        values: (vals, p, o) => {
          if (!Array.isArray(vals) || vals.length < 2) return void o.push({ pointer: p, detail: 'must be an array of at least 2 learning rates' });
          vals.forEach((x, i) => num({ exclusiveMin: 0 })(x, p + pointer(i), o));
        },
      }, ['boundaries', 'values'])(v, ptr, out);
      if (isObj(v) && Array.isArray(v.boundaries) && Array.isArray(v.values) && v.values.length !== v.boundaries.length + 1) {
        out.push({ pointer: ptr + '/values', detail: `must have one more entry than boundaries (${v.boundaries.length + 1}, got ${v.values.length})` });
      }
    },
  },
};

const LR_SCHEDULER = object({
  verbose: VERBOSE,
  schedule: (v, ptr, out) => {
    if (!isObj(v)) return void out.push({ pointer: ptr, detail: 'must be an object' });
    const s = typeof v.type === 'string' ? SCHEDULES[v.type] : undefined;
    if (!s) return void out.push({ pointer: ptr + '/type', detail: `must be one of: ${Object.keys(SCHEDULES).join(', ')}` });
    s.check(v, ptr, out);
  },
  warmup: object({ epochs: num({ min: 1, int: true }), startLr: num({ min: 0 }) }, ['epochs']),
}, ['schedule']);

const ALERT = object({
  name: str({ max: 128 }),
  when: str({ min: 1, max: 512 }),
  fire: oneOf(['once', 'always']),
  format: oneOf(['json', 'slack']),
  url: str({ max: 2048, pattern: /^https?:\/\/\S+$/, what: 'an http(s) URL' }),
}, ['when']);

const CALLBACK_FIELDS: Record<string, Check> = {
  earlyStopping: EARLY_STOPPING,
  modelCheckpoint: MODEL_CHECKPOINT,
  reduceLROnPlateau: REDUCE_LR,
  csvLogger: CSV_LOGGER,
  terminateOnNaN: object({ raiseError: bool }),
  learningRateScheduler: LR_SCHEDULER,
  tensorBoard: object({
    histogramFreq: num({ min: 0, int: true }),
    updateFreq: (v, ptr, out) => {
      if (v !== 'epoch') num({ min: 1, int: true })(v, ptr, out);
    },
  }),
  alerts: (v, ptr, out) => {
    if (!Array.isArray(v)) return void out.push({ pointer: ptr, detail: 'must be an array of alert rules' });
    if (v.length > 20) out.push({ pointer: ptr, detail: 'must have at most 20 rules' });
    v.forEach((r, i) => ALERT(r, ptr + pointer(i), out));
  },
  remoteMonitor: object({
    root: str({ min: 1, max: 2048 }),
    path: str({ max: 1024 }),
    field: str({ min: 1, max: 128 }),
    headers: (v, ptr, out) => {
      if (!isObj(v)) return void out.push({ pointer: ptr, detail: 'must be an object of header names to strings' });
      if (Object.keys(v).length > 20) out.push({ pointer: ptr, detail: 'must have at most 20 headers' });
      for (const [k, h] of Object.entries(v)) str({ max: 1024 })(h, ptr + pointer(k), out);
    },
    sendAsJson: bool,
  }),
  backupAndRestore: object({
    enabled: bool,
    saveFreq: (v, ptr, out) => {
      if (v !== 'epoch') num({ min: 1, int: true })(v, ptr, out);
    },
    saveEverySeconds: num({ min: 1, int: true }),
    deleteCheckpoint: bool,
  }),
};

/** The list form: single-key entries, each key at most once. */
const MAX_CALLBACK_ENTRIES = 32;

const CALLBACKS_OBJECT = object(CALLBACK_FIELDS);

const CALLBACKS: Check = (v, ptr, out) => {
  if (!Array.isArray(v)) return CALLBACKS_OBJECT(v, ptr, out);
  if (v.length > MAX_CALLBACK_ENTRIES) out.push({ pointer: ptr, detail: `must list at most ${MAX_CALLBACK_ENTRIES} callbacks` });
  const seen = new Map<string, number>();
  v.forEach((entry, i) => {
    const p = ptr + pointer(i);
    if (!isObj(entry) || Object.keys(entry).length !== 1) {
      out.push({ pointer: p, detail: `must be an object with exactly one callback, e.g. { "earlyStopping": { "patience": 3 } }; keys: ${Object.keys(CALLBACK_FIELDS).join(', ')}` });
      return;
    }
    const key = Object.keys(entry)[0];
    const first = seen.get(key);
    if (first !== undefined) out.push({ pointer: p + pointer(key), detail: `${key} is already configured at ${ptr}/${first}; Kiln runs each callback at most once` });
    seen.set(key, i);
    CALLBACKS_OBJECT(entry, p, out);
  });
};

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
 * anything runs: the shape of every field (so the CLI gets the API's answers offline), and
 * everything Keras would only discover at some epoch end: monitors that are not logged, `auto`
 * modes whose direction cannot be inferred, filepath templates that would not format, alert
 * conditions that do not parse or name unlogged metrics. Returns the problems (empty when fine),
 * each naming the field and the fix. What Kiln accepts with a Keras warning is
 * {@link callbackWarnings}'s.
 */
export function checkCallbacks(spec: CallbacksInput | undefined, ctx: CallbackCheckContext, pointerBase = '/callbacks'): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (spec === undefined) return out;
  CALLBACKS(spec, pointerBase, out);
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
