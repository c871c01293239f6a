/**
 * Compile settings by their Keras names, resolved to what the tfjs worker needs. Pure: the API runs
 * it at submission, the worker when it compiles.
 *
 * Follows Keras 3 `keras/src/optimizers/*.py` defaults. Deliberate differences:
 * - `"optimizer": "adam"` is Keras's string shorthand (`keras/src/optimizers/__init__.py` `get`):
 *   every setting at its default. Keras also takes class names (`"Adam"`) and matches them without
 *   regard to case; Kiln takes the lowercase names and the class names as Keras spells them
 *   (`RMSprop`), which the contract can list.
 * - `momentum` is its own optimizer name (tfjs `MomentumOptimizer`); `sgd` with `momentum > 0` uses
 *   the same optimizer. tfjs accumulates gradients and scales by the learning rate at each step, Keras
 *   accumulates already-scaled steps; they agree while the learning rate is constant.
 * - precision, recall, f1 and auc are not tfjs metrics here: the worker computes them on the
 *   validation data at epoch end, so they exist only as `val_*` and need validation data.
 */
import type { SchemaCompileSpec, SchemaOptimizerName, SchemaOptimizerSpec } from './api.gen';
import type { FieldProblem } from './errors';

/** Kiln's own optimizer names: the lowercase ones of the contract's `OptimizerName`. */
export type OptimizerName = Extract<SchemaOptimizerName, Lowercase<SchemaOptimizerName>>;
export type KerasLoss = SchemaCompileSpec['loss'];
export type KerasMetric = NonNullable<SchemaCompileSpec['metrics']>[number];

/** An optimizer with every setting filled in from the Keras defaults. */
export interface ResolvedOptimizer {
  /** tfjs optimizer kind. `sgd` with momentum resolves to `momentum`. */
  kind: 'sgd' | 'momentum' | 'adam' | 'adamax' | 'rmsprop' | 'adagrad' | 'adadelta';
  learningRate: number;
  /** `momentum` and `rmsprop` only. */
  momentum?: number;
  /** `adam` and `adamax` only. */
  beta1?: number;
  beta2?: number;
  /** Every kind but `sgd`, `momentum` and `adagrad` (tfjs Adagrad has no epsilon). */
  epsilon?: number;
  /** `rmsprop` and `adadelta` only. */
  rho?: number;
  /** `adagrad` only: Keras `initial_accumulator_value`. */
  initialAccumulatorValue?: number;
}

type OptionName = 'momentum' | 'beta1' | 'beta2' | 'epsilon' | 'rho';

interface OptimizerInfo {
  learningRate: number;
  /** Options this optimizer takes, with the Keras default of each. */
  options: Partial<Record<OptionName, number>>;
}

/** Keras 3 defaults (`keras/src/optimizers/<name>.py`). */
const OPTIMIZERS: { readonly [N in OptimizerName]: OptimizerInfo } = {
  sgd: { learningRate: 0.01, options: { momentum: 0 } },
  momentum: { learningRate: 0.01, options: { momentum: 0.9 } },
  adam: { learningRate: 0.001, options: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } },
  adamax: { learningRate: 0.001, options: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } },
  rmsprop: { learningRate: 0.001, options: { rho: 0.9, momentum: 0, epsilon: 1e-7 } },
  adagrad: { learningRate: 0.001, options: {} },
  adadelta: { learningRate: 0.001, options: { rho: 0.95, epsilon: 1e-7 } },
};

/** The Keras class names the contract accepts, each to Kiln's name for it. */
const KERAS_CLASS_NAMES: { readonly [N in Exclude<SchemaOptimizerName, OptimizerName>]: OptimizerName } = {
  SGD: 'sgd',
  Adam: 'adam',
  Adamax: 'adamax',
  RMSprop: 'rmsprop',
  Adagrad: 'adagrad',
  Adadelta: 'adadelta',
};

/** A job's optimizer as an object under Kiln's name: the string shorthand and class names resolved. */
export function optimizerSpec(optimizer: SchemaCompileSpec['optimizer']): SchemaOptimizerSpec & { name: OptimizerName } {
  const spec = typeof optimizer === 'string' ? { name: optimizer } : optimizer;
  const name = Object.prototype.hasOwnProperty.call(KERAS_CLASS_NAMES, spec.name)
    ? KERAS_CLASS_NAMES[spec.name as keyof typeof KERAS_CLASS_NAMES]
    : (spec.name as OptimizerName);
  return { ...spec, name };
}

/** Keras Adagrad's `initial_accumulator_value` default. */
const ADAGRAD_INITIAL_ACCUMULATOR = 0.1;

const OPTION_NAMES: readonly OptionName[] = ['momentum', 'beta1', 'beta2', 'epsilon', 'rho'];

/**
 * How a job's labels become training targets (worker/data/label-encoding.ts encodes them):
 * - `one-hot`: `[numClasses]` per row, 1 at the class index;
 * - `index`: the class index as a number;
 * - `binary`: exactly two classes, 0 for the first and 1 for the second;
 * - `sign`: exactly two classes, -1 for the first and +1 for the second;
 * - `numeric`: the label's own numeric value (regression: no classes).
 */
export type LabelEncoding = 'one-hot' | 'index' | 'binary' | 'sign' | 'numeric';

interface LossInfo {
  /** tfjs-layers loss identifier; `huber` has none there and is built by the worker from tfjs-core. */
  tfjs: string;
  /** How the labels become targets. */
  labels: LabelEncoding;
}

/** Every loss a job can name (the contract's `compile.loss`): the one loss table. */
export const LOSSES: { readonly [L in KerasLoss]: LossInfo } = {
  categorical_crossentropy: { tfjs: 'categoricalCrossentropy', labels: 'one-hot' },
  sparse_categorical_crossentropy: { tfjs: 'sparseCategoricalCrossentropy', labels: 'index' },
  binary_crossentropy: { tfjs: 'binaryCrossentropy', labels: 'binary' },
  mean_squared_error: { tfjs: 'meanSquaredError', labels: 'numeric' },
  mse: { tfjs: 'meanSquaredError', labels: 'numeric' },
  mean_absolute_error: { tfjs: 'meanAbsoluteError', labels: 'numeric' },
  mae: { tfjs: 'meanAbsoluteError', labels: 'numeric' },
  huber: { tfjs: 'huber', labels: 'numeric' },
  hinge: { tfjs: 'hinge', labels: 'sign' },
};

/** The label encoding of a loss, or undefined for a name that is not one of {@link LOSSES}. */
export function lossLabelEncoding(loss: string): LabelEncoding | undefined {
  return Object.prototype.hasOwnProperty.call(LOSSES, loss) ? LOSSES[loss as KerasLoss].labels : undefined;
}

/** Whether labels are class names (everything but regression). */
export function isClassification(encoding: LabelEncoding): boolean {
  return encoding !== 'numeric';
}

/** Classes an encoding requires at most (two for binary and hinge). */
export function maxClassesFor(encoding: LabelEncoding): number {
  return encoding === 'binary' || encoding === 'sign' ? 2 : Number.POSITIVE_INFINITY;
}

/** Metrics the worker computes itself on validation data (never in tfjs `compile`). */
const WORKER_METRICS: ReadonlySet<KerasMetric> = new Set<KerasMetric>(['precision', 'recall', 'f1', 'auc']);

/** tfjs names some metrics differently in its logs; everything else keeps its name. */
const TFJS_LOG_NAMES: Readonly<Record<string, string>> = { acc: 'accuracy' };

/**
 * Fills in a job's optimizer from the Keras defaults. Options the optimizer does not take are left
 * out (checkCompileSpec reports them).
 */
export function resolveOptimizer(given: SchemaCompileSpec['optimizer']): ResolvedOptimizer {
  const optimizer = optimizerSpec(given);
  const info = OPTIMIZERS[optimizer.name];
  const out: ResolvedOptimizer = { kind: optimizer.name, learningRate: optimizer.learningRate ?? info.learningRate };
  for (const name of OPTION_NAMES) {
    const dflt = info.options[name];
    if (dflt !== undefined) out[name] = optimizer[name] ?? dflt;
  }
  if (out.kind === 'sgd') {
    if ((out.momentum ?? 0) > 0) out.kind = 'momentum';
    else delete out.momentum;
  }
  if (out.kind === 'adagrad') out.initialAccumulatorValue = ADAGRAD_INITIAL_ACCUMULATOR;
  return out;
}

/** The tfjs-layers loss identifier for a Keras loss name (`huber` is special, see compileModel). */
export function tfjsLossName(loss: KerasLoss): string {
  return LOSSES[loss].tfjs;
}

/** The metric identifiers to hand to tfjs `compile` (precision/recall/f1/auc are left out). */
export function tfjsMetricNames(metrics: readonly KerasMetric[] | undefined): string[] {
  return (metrics ?? []).filter((m) => !WORKER_METRICS.has(m));
}

/** The metrics the worker computes on validation data at epoch end. */
export function workerMetricNames(metrics: readonly KerasMetric[] | undefined): KerasMetric[] {
  return (metrics ?? []).filter((m) => WORKER_METRICS.has(m));
}

/**
 * Maps a tfjs log key to its Keras name: `acc` → `accuracy`, `val_acc` → `val_accuracy`; others
 * (`loss`, `mse`, `val_mae`, ...) are unchanged.
 */
export function kerasLogName(tfjsName: string): string {
  const val = tfjsName.startsWith('val_');
  const base = val ? tfjsName.slice(4) : tfjsName;
  const mapped = TFJS_LOG_NAMES[base] ?? base;
  return val ? `val_${mapped}` : mapped;
}

/** What a compile spec logs, and what is wrong with it. */
export interface CompileLogKeys {
  /**
   * The Keras names a job logs at each epoch end, in order: `loss`, the tfjs metrics, then (with
   * validation data) `val_loss`, the tfjs metrics' `val_` names and the worker's validation metrics.
   */
  keys: string[];
  /** Everything checkCompileSpec finds, with pointers under `/compile`. */
  problems: FieldProblem[];
}

/**
 * The Keras log keys of a job and the compile spec's problems. A validation-only metric asked for
 * without validation data is a problem and is left out of `keys`.
 */
export function logKeysForCompile(compile: SchemaCompileSpec, hasValidation: boolean): CompileLogKeys {
  const tfjs = tfjsMetricNames(compile.metrics);
  const keys = ['loss', ...tfjs];
  if (hasValidation) {
    keys.push('val_loss', ...tfjs.map((m) => `val_${m}`));
    keys.push(...workerMetricNames(compile.metrics).map((m) => `val_${m}`));
  }
  return { keys, problems: checkCompileSpec(compile, { hasValidation }) };
}

/**
 * Semantic checks the schema cannot express: options the optimizer does not take, and validation-only
 * metrics without validation data. Each problem names its field and the fix.
 *
 * @param opts.pointerBase - JSON pointer of the compile object in the request
 * @defaultValue opts.pointerBase `/compile`
 */
export function checkCompileSpec(
  compile: SchemaCompileSpec,
  opts: { hasValidation: boolean; pointerBase?: string },
): FieldProblem[] {
  const base = opts.pointerBase ?? '/compile';
  const problems: FieldProblem[] = [];
  const optimizer = optimizerSpec(compile.optimizer);
  const name = optimizer.name;
  const info = OPTIMIZERS[name];
  for (const option of OPTION_NAMES) {
    if (optimizer[option] === undefined || info.options[option] !== undefined) continue;
    const takers = (Object.keys(OPTIMIZERS) as OptimizerName[]).filter((n) => OPTIMIZERS[n].options[option] !== undefined);
    problems.push({
      pointer: `${base}/optimizer/${option}`,
      detail: `optimizer '${name}' takes no '${option}'` +
        (name === 'adagrad' && option === 'epsilon' ? ' (tfjs Adagrad has no epsilon)' : '') +
        `; remove it, or choose an optimizer that takes it: ${takers.join(', ')}`,
    });
  }
  (compile.metrics ?? []).forEach((metric, i) => {
    if (WORKER_METRICS.has(metric) && !opts.hasValidation) {
      problems.push({
        pointer: `${base}/metrics/${i}`,
        detail: `metric '${metric}' is computed on validation data only (logged as 'val_${metric}'); ` +
          'add validation data (data.validationSplit or a validation uri) or remove the metric',
      });
    }
  });
  return problems;
}
