import * as tf from '@tensorflow/tfjs-core';
// Registers every layer, initializer and model class in tfjs's serialization map.
import '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SchemaModelSpec } from '../../core/api.gen';
import { KilnError } from '../../core/errors';
import { checkModelSpec, RANDOM_INITIALIZERS, type KerasTopology, type TopologyLayer } from '../../core/model-spec';

/** Options of buildModel. */
export interface BuildModelOptions {
  /**
   * Job seed. When given, every random initializer without its own seed gets one derived from this
   * seed, the layer name and the option, so the same seed gives the same initial weights on the same
   * backend.
   * @defaultValue undefined (tfjs draws from Math.random)
   */
  seed?: number;
}

/**
 * Builds the job's model as an uncompiled tfjs LayersModel, synchronously.
 *
 * The model goes through checkModelSpec (the same checks the API ran) and then through tfjs-layers'
 * own deserialisers, the ones `tf.models.modelFromJSON` uses, looked up in tfjs's class registry.
 * Sequential models are assembled one layer at a time so that a layer tfjs rejects is named.
 *
 * @throws KilnError MODEL_INVALID naming the layer, with the checkModelSpec problems as `errors`
 */
export function buildModel(model: SchemaModelSpec, opts: BuildModelOptions = {}): LayersModel {
  registerChainedOps();
  const checked = checkModelSpec(model, '/model');
  if (!checked.topology) {
    const first = checked.problems[0];
    const detail = first ? `${first.pointer}: ${first.detail}` : 'the model could not be read';
    throw new KilnError('MODEL_INVALID', detail, { errors: checked.problems });
  }
  const topology = structuredClone(checked.topology);
  if (opts.seed !== undefined) seedInitializers(topology, opts.seed);
  // Some tfjs initializers leave temporaries behind (LSTM's unit_forget_bias, which Keras turns on
  // by default, leaks four tensors per build). Weights are variables, which a scope does not dispose.
  tf.engine().startScope();
  try {
    return topology.class_name === 'Sequential' ? buildSequential(topology) : buildFunctional(topology);
  } finally {
    tf.engine().endScope();
  }
}

function buildSequential(topology: KerasTopology): LayersModel {
  const [make, fromConfig] = registered('Sequential');
  const model = fromConfig(make, { name: topology.config.name, layers: [] }) as LayersModel & { add(layer: unknown): void };
  topology.config.layers.forEach((layer, i) => {
    try {
      model.add(deserializeLayer(layer));
    } catch (err) {
      throw modelInvalid(layer, i, err);
    }
  });
  return model;
}

function buildFunctional(topology: KerasTopology): LayersModel {
  const [make, fromConfig] = registered('Functional');
  try {
    return fromConfig(make, toTfjsConfig(topology.config) as Record<string, unknown>) as LayersModel;
  } catch (err) {
    // Find the layer tfjs rejects on its own; otherwise the fault is in how layers connect.
    topology.config.layers.forEach((layer, i) => {
      try {
        deserializeLayer({ class_name: layer.class_name, config: layer.config });
      } catch (inner) {
        throw modelInvalid(layer, i, inner);
      }
    });
    throw new KilnError('MODEL_INVALID', `tfjs could not connect the model's layers: ${message(err)}`, { cause: err });
  }
}

function deserializeLayer(layer: TopologyLayer): unknown {
  const [make, fromConfig] = registered(layer.class_name);
  return fromConfig(make, toTfjsConfig(layer.config) as Record<string, unknown>);
}

type FromConfig = (cls: unknown, config: Record<string, unknown>, customObjects?: Record<string, unknown>, fastWeightInit?: boolean) => unknown;

/** tfjs's registry entry for a class: the constructor and its `fromConfig`. */
function registered(className: string): [unknown, FromConfig] {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className] as unknown as [unknown, FromConfig] | undefined;
  if (!entry) throw new KilnError('MODEL_INVALID', `tfjs-layers has no class '${className}'`);
  return entry;
}

function modelInvalid(layer: TopologyLayer, index: number, err: unknown): KilnError {
  const name = String(layer.name ?? layer.config.name);
  return new KilnError('MODEL_INVALID', `${layer.class_name} '${name}' (layer ${index}) does not build in tfjs: ${message(err)}`, { cause: err });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : String(err);
}

/**
 * Keras (snake_case) config → the camelCase form tfjs layer constructors take. Mirrors what
 * tfjs-layers' `convertPythonicToTs` does inside `modelFromJSON`: keys and string values become
 * camelCase, except `name` values and the layer names heading inbound-node and input/output refs.
 */
function toTfjsConfig(value: unknown, key?: string): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return camel(value);
  if (Array.isArray(value)) {
    const refs = key === 'inboundNodes' || key === 'inputLayers' || key === 'outputLayers';
    return value.map((item, i) => (refs && i === 0 && typeof item === 'string' ? item : toTfjsConfig(item, key)));
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k === 'name' && typeof v === 'string') {
        out[k] = v;
      } else {
        const tk = camel(k);
        out[tk] = toTfjsConfig(v, tk);
      }
    }
    return out;
  }
  return value;
}

function camel(s: string): string {
  return s.length <= 1 || !s.includes('_') ? s : s.replace(/_+(\w|$)/g, (_, ch: string) => ch.toUpperCase());
}

/** Gives every unseeded random initializer a seed derived from the job seed, layer and option. */
function seedInitializers(topology: KerasTopology, seed: number): void {
  const visit = (config: Record<string, unknown>, path: string) => {
    for (const [key, value] of Object.entries(config)) {
      if (key.endsWith('_initializer') && isInitializer(value) && RANDOM_INITIALIZERS.has(value.class_name) && value.config.seed == null) {
        value.config.seed = deriveSeed(seed, `${path}/${key}`);
      } else if (key === 'layer' && isInitializer(value)) {
        visit(value.config, `${path}/${String(value.config.name ?? 'layer')}`);
      }
    }
  };
  for (const layer of topology.config.layers) visit(layer.config, String(layer.name ?? layer.config.name));
}

function isInitializer(v: unknown): v is { class_name: string; config: Record<string, unknown> } {
  return typeof v === 'object' && v !== null && typeof (v as { class_name?: unknown }).class_name === 'string' &&
    typeof (v as { config?: unknown }).config === 'object' && (v as { config?: unknown }).config !== null;
}

/** FNV-1a over the job seed and a path, folded to a positive 31-bit integer. */
export function deriveSeed(seed: number, path: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}:${path}`) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

let chainedOpsRegistered = false;

/**
 * tfjs-layers calls some ops as tensor methods (the Orthogonal initializer of every LSTM/GRU runs
 * `rMat.flatten().stridedSlice(...)`). The `@tensorflow/tfjs` bundle adds these methods; with
 * tfjs-core alone they are missing and only its ESM build has them, which CommonJS cannot load. So
 * add the ones whose first argument is the tensor, forwarding to the tfjs-core op.
 */
export function registerChainedOps(): void {
  if (chainedOpsRegistered) return;
  chainedOpsRegistered = true;
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  const ops = tf as unknown as Record<string, (...args: unknown[]) => tf.Tensor>;
  const define = (name: string, fn: (this: tf.Tensor, ...args: never[]) => unknown) => {
    if (!(name in proto)) Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true });
  };
  for (const name of THIS_FIRST_OPS) {
    if (typeof ops[name] === 'function') define(name, function (this: tf.Tensor, ...args: unknown[]) { return ops[name](this, ...args); });
  }
  define('flatten', function (this: tf.Tensor) { return tf.reshape(this, [this.size]); });
  define('asScalar', function (this: tf.Tensor) { return tf.reshape(this, []); });
  define('as1D', function (this: tf.Tensor) { return tf.reshape(this, [this.size]); });
  for (const [name, rank] of [['as2D', 2], ['as3D', 3], ['as4D', 4], ['as5D', 5]] as const) {
    define(name, function (this: tf.Tensor, ...shape: number[]) { return tf.reshape(this, shape.slice(0, rank)); });
  }
  define('asType', function (this: tf.Tensor, dtype: tf.DataType) { return tf.cast(this, dtype); });
  define('toFloat', function (this: tf.Tensor) { return tf.cast(this, 'float32'); });
  define('toInt', function (this: tf.Tensor) { return tf.cast(this, 'int32'); });
  define('toBool', function (this: tf.Tensor) { return tf.cast(this, 'bool'); });
  define('reshapeAs', function (this: tf.Tensor, other: tf.Tensor) { return tf.reshape(this, other.shape); });
  define('concat', function (this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) { return tf.concat([this, ...(Array.isArray(x) ? x : [x])], axis); });
  define('stack', function (this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) { return tf.stack([this, ...(Array.isArray(x) ? x : [x])], axis); });
  define('where', function (this: tf.Tensor, condition: tf.Tensor, b: tf.Tensor) { return tf.where(condition, this, b); });
}

/** tfjs-core ops whose chained form passes the tensor as the first argument. */
const THIS_FIRST_OPS = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'avgPool',
  'batchNorm', 'batchToSpaceND', 'broadcastTo', 'ceil', 'clipByValue', 'conv1d', 'conv2d', 'conv2dTranspose', 'cos', 'cosh',
  'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d', 'dilation2d', 'div', 'divNoNan', 'dot', 'elu', 'equal', 'erf',
  'euclideanNorm', 'exp', 'expandDims', 'expm1', 'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'isFinite',
  'isInf', 'isNaN', 'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p', 'logSigmoid',
  'logSoftmax', 'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maxPool', 'maximum',
  'mean', 'min', 'minimum', 'mirrorPad', 'mod', 'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad', 'pool', 'pow',
  'prelu', 'prod', 'reciprocal', 'relu', 'relu6', 'reshape', 'reverse', 'round', 'rsqrt', 'selu', 'separableConv2d',
  'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax', 'softplus', 'spaceToBatchND', 'split', 'sqrt', 'square',
  'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub', 'sum', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique',
  'unsortedSegmentSum', 'unstack', 'zerosLike',
];
