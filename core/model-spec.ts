/**
 * Turns a job's model (a Keras `model.to_json()` document, Keras 2 or 3, or a plain layer list) into
 * the Keras-2-style topology tfjs-layers deserialises, and finds what would stop it from building,
 * without tfjs. The API runs it at submission; the worker builds what it returns.
 *
 * Formats followed: Keras 3 `keras/src/saving/serialization_lib.py` (`module`/`registered_name`/
 * `build_config` wrappers, `__keras_tensor__` in `{args, kwargs}` inbound nodes, dtype policies),
 * `keras/src/models/sequential.py` and `functional.py` `get_config`; Keras 2 `to_json()` (nested-list
 * inbound nodes, `batch_input_shape`). Deliberate differences from Keras:
 * - Dropout `seed` is dropped: tfjs reuses a fixed seed for every batch, which would freeze the mask.
 * - Bidirectional `backward_layer` is dropped: tfjs derives the backward layer from the forward one.
 * - Layer lists get Keras defaults where tfjs's differ (glorot_uniform kernels, sigmoid recurrent
 *   activation), except GRU `reset_after`, which tfjs only supports as false.
 */
import type { SchemaModelSpec } from './api.gen';
import { editDistance } from './edit-distance';
import { pointerToken, type FieldProblem } from './errors';
import { checkLayerGraph } from './model-graph';

/** A sample shape without the batch dimension; `null` where the model leaves a dimension open. */
export type SampleShape = Array<number | null>;

/** A Keras-2-style layer entry as tfjs-layers reads it. */
export interface TopologyLayer {
  class_name: string;
  config: Record<string, unknown>;
  /** Functional models only. */
  name?: string;
  /** Functional models only: per call, the `[layer, node, tensor, kwargs]` inputs. */
  inbound_nodes?: Array<Array<[string, number, number, Record<string, unknown>]>>;
}

/** The normalised model, in the form `tf.models.modelFromJSON` accepts. */
export interface KerasTopology {
  class_name: 'Sequential' | 'Functional';
  config: {
    name: string;
    layers: TopologyLayer[];
    input_layers?: Array<[string, number, number]>;
    output_layers?: Array<[string, number, number]>;
  };
  keras_version: string;
  backend: string;
}

/** Result of checkModelSpec. `topology` is null when there are problems. */
export interface ModelSpecCheck {
  problems: FieldProblem[];
  topology: KerasTopology | null;
  /** One sample's input shape, when known. */
  inputShape: SampleShape | null;
  /** One sample's output shape, when it can be computed (the API checks the label width with it). */
  outputShape: SampleShape | null;
  /** Each topology layer with the sample shapes it takes and makes, as far as known (for the cost estimate). */
  layerShapes: LayerShapes[];
}

/** A topology layer with its input and output sample shapes (null where unknown). */
export interface LayerShapes {
  layer: TopologyLayer;
  /** JSON pointer of the layer in the request. */
  pointer: string;
  inputs: SampleShape[] | null;
  output: SampleShape | null;
}

type Kind = 'dense' | 'conv' | 'pool' | 'global-pool' | 'identity' | 'reshape' | 'rnn' | 'merge' | 'wrapper' | 'input' | 'other';

interface LayerInfo {
  className: string;
  kind: Kind;
  /** Keras config keys (snake_case) tfjs understands. */
  keys: readonly string[];
  /** Keras keys tfjs lacks, accepted (and dropped) only at these values or null. `'*'` = any value. */
  inert?: Readonly<Record<string, readonly unknown[] | '*'>>;
  /** Keras keys tfjs spells differently. */
  renamed?: Readonly<Record<string, string>>;
  /** Keys a layer list must give. */
  required?: readonly string[];
  /** Layer lists: Keras defaults that tfjs does not share. */
  kerasDefaults?: Readonly<Record<string, unknown>>;
}

/**
 * Remembers a pure string function's answers: every POST converts the same few layer types and
 * option names. Bounded (entries and their length), since the inputs come from requests.
 */
function memo(fn: (s: string) => string, max = 2000): (s: string) => string {
  const seen = new Map<string, string>();
  return (s) => {
    let out = seen.get(s);
    if (out === undefined) {
      out = fn(s);
      if (seen.size < max && s.length <= 64) seen.set(s, out);
    }
    return out;
  };
}

/** `MaxPooling2D`, `max_pooling2d` and `maxPooling2d` all squash to `maxpooling2d`. */
const squash = memo((s) => s.toLowerCase().replace(/_/g, ''));

const toSnake = memo((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase());

const BASE_KEYS = ['name', 'trainable', 'dtype', 'batch_input_shape'] as const;
const WEIGHTED = ['activation', 'use_bias', 'kernel_initializer', 'bias_initializer', 'kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint'];
const CONV = ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', ...WEIGHTED];
const LORA = { lora_rank: [null], lora_alpha: '*', quantization_config: [null] } as const;
const GLOROT = { class_name: 'GlorotUniform', config: { seed: null } };
const RNN_COMMON = ['units', 'activation', 'use_bias', 'kernel_initializer', 'recurrent_initializer', 'bias_initializer', 'kernel_regularizer', 'recurrent_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'recurrent_constraint', 'bias_constraint', 'dropout', 'recurrent_dropout', 'return_sequences', 'return_state', 'go_backwards', 'stateful', 'unroll'];
const RNN_INERT = { seed: '*', zero_output_for_mask: '*', time_major: [false], use_cudnn: '*', reset_after: [false] } as const;
const POOL = ['pool_size', 'strides', 'padding'];

/**
 * Keras layers with a tfjs-layers 4.22 equivalent. Option lists come from each tfjs layer's
 * `getConfig()`; `inert` lists Keras options tfjs lacks but that are harmless at their default.
 */
const LAYERS: readonly LayerInfo[] = [
  { className: 'InputLayer', kind: 'input', keys: ['batch_input_shape', 'sparse'], inert: { ragged: [false], optional: [false], input_tensor: [null] }, renamed: { batch_shape: 'batch_input_shape' } },
  { className: 'Dense', kind: 'dense', keys: ['units', ...WEIGHTED], inert: LORA, required: ['units'], kerasDefaults: { kernel_initializer: GLOROT } },
  { className: 'Conv1D', kind: 'conv', keys: CONV.filter((k) => k !== 'data_format'), inert: { groups: [1], data_format: ['channels_last'], ...LORA }, required: ['filters', 'kernel_size'], kerasDefaults: { kernel_initializer: GLOROT } },
  { className: 'Conv2D', kind: 'conv', keys: CONV, inert: { groups: [1], ...LORA }, required: ['filters', 'kernel_size'], kerasDefaults: { kernel_initializer: GLOROT } },
  { className: 'Conv2DTranspose', kind: 'conv', keys: CONV.filter((k) => k !== 'dilation_rate'), inert: { groups: [1], dilation_rate: [1, [1, 1]], output_padding: [null], ...LORA }, required: ['filters', 'kernel_size'], kerasDefaults: { kernel_initializer: GLOROT } },
  { className: 'DepthwiseConv2D', kind: 'conv', keys: ['kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'depth_multiplier', 'depthwise_initializer', 'depthwise_regularizer', 'depthwise_constraint', ...WEIGHTED.filter((k) => !k.startsWith('kernel_'))], inert: { groups: [1], ...LORA }, required: ['kernel_size'], kerasDefaults: { depthwise_initializer: GLOROT } },
  { className: 'SeparableConv2D', kind: 'conv', keys: ['filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'depth_multiplier', 'depthwise_initializer', 'pointwise_initializer', 'depthwise_regularizer', 'pointwise_regularizer', 'depthwise_constraint', 'pointwise_constraint', ...WEIGHTED.filter((k) => !k.startsWith('kernel_'))], inert: { groups: [1] }, required: ['filters', 'kernel_size'] },
  { className: 'MaxPooling1D', kind: 'pool', keys: POOL, inert: { data_format: ['channels_last'] } },
  { className: 'MaxPooling2D', kind: 'pool', keys: [...POOL, 'data_format'] },
  { className: 'AveragePooling1D', kind: 'pool', keys: POOL, inert: { data_format: ['channels_last'] } },
  { className: 'AveragePooling2D', kind: 'pool', keys: [...POOL, 'data_format'] },
  { className: 'GlobalAveragePooling1D', kind: 'global-pool', keys: [], inert: { data_format: ['channels_last'], keepdims: [false] } },
  { className: 'GlobalAveragePooling2D', kind: 'global-pool', keys: ['data_format'], inert: { keepdims: [false] } },
  { className: 'GlobalMaxPooling1D', kind: 'global-pool', keys: [], inert: { data_format: ['channels_last'], keepdims: [false] } },
  { className: 'GlobalMaxPooling2D', kind: 'global-pool', keys: ['data_format'], inert: { keepdims: [false] } },
  { className: 'Flatten', kind: 'reshape', keys: ['data_format'] },
  { className: 'Reshape', kind: 'reshape', keys: ['target_shape'], required: ['target_shape'] },
  { className: 'Permute', kind: 'reshape', keys: ['dims'], required: ['dims'] },
  { className: 'RepeatVector', kind: 'reshape', keys: ['n'], required: ['n'] },
  { className: 'Dropout', kind: 'identity', keys: ['rate', 'noise_shape'], inert: { seed: '*' }, required: ['rate'] },
  { className: 'SpatialDropout1D', kind: 'identity', keys: ['rate'], inert: { seed: '*', noise_shape: [null] }, required: ['rate'] },
  { className: 'GaussianNoise', kind: 'identity', keys: ['stddev'], inert: { seed: '*' }, required: ['stddev'] },
  { className: 'GaussianDropout', kind: 'identity', keys: ['rate'], inert: { seed: '*' }, required: ['rate'] },
  { className: 'AlphaDropout', kind: 'identity', keys: ['rate', 'noise_shape'], inert: { seed: '*' }, required: ['rate'] },
  {
    className: 'BatchNormalization', kind: 'identity',
    keys: ['axis', 'momentum', 'epsilon', 'center', 'scale', 'beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer', 'beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint'],
    inert: { renorm: [false], renorm_clipping: [null], renorm_momentum: '*', fused: '*', virtual_batch_size: [null], adjustment: [null], synchronized: [false] },
  },
  {
    className: 'LayerNormalization', kind: 'identity',
    keys: ['axis', 'epsilon', 'center', 'scale', 'beta_initializer', 'gamma_initializer', 'beta_regularizer', 'gamma_regularizer'],
    inert: { rms_scaling: [false], beta_constraint: [null], gamma_constraint: [null] },
  },
  { className: 'Activation', kind: 'identity', keys: ['activation'], required: ['activation'] },
  { className: 'ReLU', kind: 'identity', keys: ['max_value'], inert: { negative_slope: [0], threshold: [0] } },
  { className: 'LeakyReLU', kind: 'identity', keys: ['alpha'], renamed: { negative_slope: 'alpha' } },
  { className: 'PReLU', kind: 'identity', keys: ['alpha_initializer', 'alpha_regularizer', 'alpha_constraint', 'shared_axes'] },
  { className: 'ELU', kind: 'identity', keys: ['alpha'] },
  { className: 'ThresholdedReLU', kind: 'identity', keys: ['theta'] },
  { className: 'Softmax', kind: 'identity', keys: ['axis'] },
  { className: 'Rescaling', kind: 'identity', keys: ['scale', 'offset'], required: ['scale'] },
  { className: 'Masking', kind: 'identity', keys: ['mask_value'] },
  { className: 'ZeroPadding2D', kind: 'other', keys: ['padding', 'data_format'] },
  { className: 'Cropping2D', kind: 'other', keys: ['cropping', 'data_format'] },
  { className: 'UpSampling2D', kind: 'other', keys: ['size', 'data_format', 'interpolation'] },
  {
    className: 'Embedding', kind: 'other',
    keys: ['input_dim', 'output_dim', 'embeddings_initializer', 'embeddings_regularizer', 'activity_regularizer', 'embeddings_constraint', 'mask_zero', 'input_length'],
    inert: { sparse: [false], ...LORA }, required: ['input_dim', 'output_dim'],
  },
  { className: 'LSTM', kind: 'rnn', keys: [...RNN_COMMON, 'recurrent_activation', 'unit_forget_bias', 'implementation'], inert: RNN_INERT, required: ['units'], kerasDefaults: { kernel_initializer: GLOROT, recurrent_activation: 'sigmoid' } },
  { className: 'GRU', kind: 'rnn', keys: [...RNN_COMMON, 'recurrent_activation', 'implementation'], inert: RNN_INERT, required: ['units'], kerasDefaults: { kernel_initializer: GLOROT, recurrent_activation: 'sigmoid' } },
  { className: 'SimpleRNN', kind: 'rnn', keys: RNN_COMMON, inert: RNN_INERT, required: ['units'], kerasDefaults: { kernel_initializer: GLOROT } },
  { className: 'Bidirectional', kind: 'wrapper', keys: ['layer', 'merge_mode'], inert: { backward_layer: '*' }, required: ['layer'] },
  { className: 'TimeDistributed', kind: 'wrapper', keys: ['layer'], required: ['layer'] },
  { className: 'Add', kind: 'merge', keys: [] },
  { className: 'Multiply', kind: 'merge', keys: [] },
  { className: 'Average', kind: 'merge', keys: [] },
  { className: 'Maximum', kind: 'merge', keys: [] },
  { className: 'Minimum', kind: 'merge', keys: [] },
  { className: 'Concatenate', kind: 'merge', keys: ['axis'] },
  { className: 'Dot', kind: 'merge', keys: ['axes', 'normalize'], required: ['axes'] },
];

const BY_KEY = new Map(LAYERS.map((l) => [squash(l.className), l]));

/** Advice for Keras layers that have no tfjs counterpart but a usual substitute. */
const SUBSTITUTES: Readonly<Record<string, string>> = {
  Lambda: 'Lambda layers hold Python code and cannot run in tfjs; rebuild the computation from built-in layers',
  Normalization: 'standardise features in the dataset instead (data.standardize), or use Rescaling',
  UnitNormalization: 'use LayerNormalization',
  GroupNormalization: 'use LayerNormalization or BatchNormalization',
  Conv1DTranspose: 'use UpSampling2D + Conv2D on a reshaped input, or Conv2DTranspose',
  Conv3D: 'reshape to 2-D and use Conv2D',
  ZeroPadding1D: 'reshape to 2-D and use ZeroPadding2D',
  Cropping1D: 'reshape to 2-D and use Cropping2D',
  UpSampling1D: 'use RepeatVector or reshape to 2-D and use UpSampling2D',
  Subtract: 'use Add on a Rescaling(scale=-1) of the second input',
  MultiHeadAttention: 'tfjs-layers 4.22 ships no usable MultiHeadAttention; use an LSTM or GRU',
};

/** Keras initializer class names → tfjs class names. */
const INITIALIZERS: Readonly<Record<string, string>> = {
  glorotuniform: 'GlorotUniform', glorotnormal: 'GlorotNormal', heuniform: 'HeUniform', henormal: 'HeNormal',
  lecununiform: 'LeCunUniform', lecunnormal: 'LeCunNormal', zeros: 'Zeros', zero: 'Zeros', ones: 'Ones', one: 'Ones',
  orthogonal: 'Orthogonal', orthogonalinitializer: 'Orthogonal', identity: 'Identity', identityinitializer: 'Identity',
  randomnormal: 'RandomNormal', normal: 'RandomNormal', randomuniform: 'RandomUniform', uniform: 'RandomUniform',
  truncatednormal: 'TruncatedNormal', variancescaling: 'VarianceScaling', constant: 'Constant',
};

/** Initializers that draw random numbers and so take a seed. */
export const RANDOM_INITIALIZERS: ReadonlySet<string> = new Set(['GlorotUniform', 'GlorotNormal', 'HeUniform', 'HeNormal', 'LeCunUniform', 'LeCunNormal', 'Orthogonal', 'RandomNormal', 'RandomUniform', 'TruncatedNormal', 'VarianceScaling']);

const CONSTRAINTS: Readonly<Record<string, string>> = { maxnorm: 'MaxNorm', nonneg: 'NonNeg', unitnorm: 'UnitNorm', minmaxnorm: 'MinMaxNorm' };

/** Keras activation names → the names tfjs registers (before its snake→camel conversion). */
const ACTIVATIONS: Readonly<Record<string, string>> = {
  relu: 'relu', relu6: 'relu6', elu: 'elu', selu: 'selu', sigmoid: 'sigmoid', hardsigmoid: 'hard_sigmoid', linear: 'linear',
  softmax: 'softmax', softplus: 'softplus', softsign: 'softsign', tanh: 'tanh', swish: 'swish', silu: 'swish', gelu: 'gelu',
  mish: 'mish', logsoftmax: 'log_softmax',
};

const SHAPE_KEYS = new Set(['kernel_size', 'strides', 'pool_size', 'dilation_rate', 'size', 'padding', 'cropping', 'target_shape', 'dims', 'batch_input_shape', 'noise_shape', 'shared_axes', 'axis', 'axes']);

/**
 * Checks a job's model and normalises it to a Keras-2-style topology.
 *
 * Reports, each with the JSON pointer of the field and the fix: documents that are not Keras model
 * JSON, layers without a tfjs equivalent (with close supported ones), options tfjs lacks, unknown
 * layer-list options (typos), a missing input shape and shape mismatches it can compute.
 *
 * @param pointerBase - JSON pointer of the model object in the request
 * @defaultValue pointerBase `/model`
 */
export function checkModelSpec(model: SchemaModelSpec, pointerBase = '/model'): ModelSpecCheck {
  const ctx = new Ctx();
  let topology: KerasTopology | null;
  if (isObject(model) && 'keras' in model) {
    topology = fromKeras((model as { keras: unknown }).keras, `${pointerBase}/keras`, ctx);
  } else if (isObject(model) && 'layers' in model) {
    topology = fromLayerList(model as { layers: unknown; inputShape?: unknown }, pointerBase, ctx);
  } else {
    ctx.problem(pointerBase, 'give either {"keras": <model.to_json() document>} or {"layers": [...], "inputShape": [...]}');
    topology = null;
  }
  const shapes = topology ? inferShapes(topology, ctx) : { input: null, output: null };
  const ok = ctx.problems.length === 0;
  const layerShapes = ok && topology
    ? topology.config.layers.map((layer) => ({ layer, pointer: ctx.layerPointers.get(layer) ?? pointerBase, ...(ctx.layerShapes.get(layer) ?? { inputs: null, output: null }) }))
    : [];
  return { problems: ctx.problems, topology: ok ? topology : null, inputShape: shapes.input, outputShape: shapes.output, layerShapes };
}

class Ctx {
  readonly problems: FieldProblem[] = [];
  /** Pointer of each topology layer, for shape problems. */
  readonly layerPointers = new Map<TopologyLayer, string>();
  /** Human label of each topology layer ("Dense 'dense_1' (layer 2)"). */
  readonly layerLabels = new Map<TopologyLayer, string>();
  /** Input and output sample shapes of each topology layer, as inferred. */
  readonly layerShapes = new Map<TopologyLayer, { inputs: SampleShape[] | null; output: SampleShape | null }>();

  problem(pointer: string, detail: string): void {
    this.problems.push({ pointer, detail });
  }
}

// ---------------------------------------------------------------------------------------------
// Keras documents

function fromKeras(doc: unknown, base: string, ctx: Ctx): KerasTopology | null {
  let root = doc;
  let rootPtr = base;
  // Accept the wrappers Keras and tfjs put around the same topology.
  if (isObject(root) && isObject(root.model_config)) {
    root = root.model_config;
    rootPtr = `${rootPtr}/model_config`;
  } else if (isObject(root) && isObject(root.modelTopology)) {
    root = root.modelTopology;
    rootPtr = `${rootPtr}/modelTopology`;
    if (isObject(root) && isObject(root.model_config)) {
      root = root.model_config;
      rootPtr = `${rootPtr}/model_config`;
    }
  }
  if (!isObject(root) || typeof root.class_name !== 'string' || root.config === undefined) {
    ctx.problem(base, 'not a Keras model document: expected the JSON of Keras `model.to_json()`, an object with "class_name" (Sequential or Functional) and "config"');
    return null;
  }
  const cls = root.class_name;
  const config = root.config;
  if (cls === 'Sequential') {
    const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
    const layersPtr = Array.isArray(config) ? `${rootPtr}/config` : `${rootPtr}/config/layers`;
    if (!Array.isArray(layers) || layers.length === 0) {
      ctx.problem(layersPtr, 'a Sequential model needs a non-empty "layers" list');
      return null;
    }
    if (tooManyLayers(layers.length, layersPtr, ctx)) return null;
    const out: TopologyLayer[] = [];
    layers.forEach((raw, i) => {
      const layer = kerasLayer(raw, `${layersPtr}/${i}`, i, ctx, false);
      if (layer) out.push(layer);
    });
    if (ctx.problems.length > 0) return null;
    // Keras 3 writes a Sequential built without keras.Input with only `build_input_shape`.
    if (out[0].class_name !== 'InputLayer' && out[0].config.batch_input_shape === undefined) {
      const built = isObject(config) ? shapeList(config.build_input_shape) : null;
      if (!built) {
        ctx.problem(`${layersPtr}/0`, 'the model has no input shape: add `keras.Input(shape=...)` as the first layer (or build the model) before `to_json()`');
        return null;
      }
      out.unshift(inputLayer('input_layer', built));
    }
    return { class_name: 'Sequential', config: { name: nameOf(config, 'sequential'), layers: out }, keras_version: '2.15.0', backend: 'tensorflow' };
  }
  if (cls === 'Functional' || cls === 'Model') {
    if (!isObject(config) || !Array.isArray(config.layers)) {
      ctx.problem(`${rootPtr}/config`, 'a Functional model config needs "layers", "input_layers" and "output_layers"');
      return null;
    }
    const layersPtr = `${rootPtr}/config/layers`;
    if (tooManyLayers(config.layers.length, layersPtr, ctx)) return null;
    const out: TopologyLayer[] = [];
    config.layers.forEach((raw, i) => {
      const layer = kerasLayer(raw, `${layersPtr}/${i}`, i, ctx, true);
      if (layer) out.push(layer);
    });
    const inputs = tensorRefs(config.input_layers);
    const outputs = tensorRefs(config.output_layers);
    if (!inputs) ctx.problem(`${rootPtr}/config/input_layers`, 'expected the model inputs as [layer_name, node_index, tensor_index] entries');
    if (!outputs) ctx.problem(`${rootPtr}/config/output_layers`, 'expected the model outputs as [layer_name, node_index, tensor_index] entries');
    if (ctx.problems.length > 0 || !inputs || !outputs) return null;
    if (inputs.length !== 1) ctx.problem(`${rootPtr}/config/input_layers`, `Kiln feeds one input tensor but the model has ${inputs.length}; build the model with a single keras.Input`);
    if (outputs.length !== 1) ctx.problem(`${rootPtr}/config/output_layers`, `Kiln trains against one label tensor but the model has ${outputs.length} outputs; keep a single output`);
    const graph = out.map((layer) => ({
      name: layer.name as string,
      isInput: layer.class_name === 'InputLayer',
      inboundNodes: layer.inbound_nodes ?? [],
      pointer: ctx.layerPointers.get(layer) ?? layersPtr,
    }));
    ctx.problems.push(...checkLayerGraph(graph, inputs, outputs, { inputs: `${rootPtr}/config/input_layers`, outputs: `${rootPtr}/config/output_layers` }));
    if (ctx.problems.length > 0) return null;
    return {
      class_name: 'Functional',
      config: { name: nameOf(config, 'model'), layers: out, input_layers: inputs, output_layers: outputs },
      keras_version: '2.15.0',
      backend: 'tensorflow',
    };
  }
  ctx.problem(`${rootPtr}/class_name`, `class_name '${cls}' is not a Keras model; expected Sequential or Functional (the JSON of model.to_json())`);
  return null;
}

/**
 * Most layers a Keras document may have. Large published models stay well below (ResNet152 has
 * about 570 layers); a document of 10,000 layers only costs the API to check and the worker to
 * build. Layer lists have their own, smaller cap in the contract (`maxItems`).
 */
export const MAX_MODEL_LAYERS = 1000;

function tooManyLayers(count: number, ptr: string, ctx: Ctx): boolean {
  if (count <= MAX_MODEL_LAYERS) return false;
  ctx.problem(ptr, `the model has ${count} layers; Kiln accepts at most ${MAX_MODEL_LAYERS}`);
  return true;
}

function kerasLayer(raw: unknown, ptr: string, index: number, ctx: Ctx, functional: boolean): TopologyLayer | null {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) {
    ctx.problem(ptr, 'expected a Keras layer: an object with "class_name" and "config"');
    return null;
  }
  const rawName = typeof raw.name === 'string' ? raw.name : typeof raw.config.name === 'string' ? raw.config.name : `layer_${index}`;
  const label = `${raw.class_name} '${rawName}' (layer ${index})`;
  const info = BY_KEY.get(squash(raw.class_name));
  if (!info || info.className !== raw.class_name) {
    ctx.problem(`${ptr}/class_name`, unsupportedLayer(raw.class_name, label));
    return null;
  }
  if (!functional && info.kind === 'merge') {
    ctx.problem(ptr, `${label} merges several inputs and needs a Functional model`);
    return null;
  }
  const config = kerasConfig(info, raw.config, `${ptr}/config`, label, ctx);
  if (!config) return null;
  config.name = rawName;
  const layer: TopologyLayer = { class_name: info.className, config };
  if (functional) {
    layer.name = rawName;
    const nodes = inboundNodes(raw.inbound_nodes);
    if (!nodes) {
      ctx.problem(`${ptr}/inbound_nodes`, `${label}: inbound_nodes is neither the Keras 2 nested-list form nor the Keras 3 {args, kwargs} form`);
      return null;
    }
    layer.inbound_nodes = nodes;
  }
  ctx.layerPointers.set(layer, ptr);
  ctx.layerLabels.set(layer, label);
  return layer;
}

/** Translates one Keras layer config; problems are reported under `ptr` with Keras's own keys. */
function kerasConfig(info: LayerInfo, raw: Record<string, unknown>, ptr: string, label: string, ctx: Ctx): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  let ok = true;
  for (const [key, value] of Object.entries(raw)) {
    const at = `${ptr}/${pointerToken(key)}`;
    const target = own(info.renamed, key) ?? key;
    if (key === 'dtype') {
      const dtype = dtypeName(value);
      if (dtype !== null && dtype !== 'float32' && !(info.kind === 'input' && dtype === 'int32')) {
        ctx.problem(at, `${label} uses dtype '${dtype}'; tfjs trains in float32 only, so use the float32 policy`);
        ok = false;
      }
      if (info.kind === 'input') out.dtype = dtype ?? 'float32';
      continue;
    }
    if (key === 'name' || key === 'trainable' || (BASE_KEYS as readonly string[]).includes(target) || info.keys.includes(target)) {
      const converted = convertValue(target, value, at, label, ctx, (nested, nestedPtr) => nestedKerasLayer(nested, nestedPtr, label, ctx));
      if (converted === INVALID) ok = false;
      else if (converted !== undefined) out[target] = converted;
      continue;
    }
    const inert = own(info.inert, key);
    if (inert !== undefined) {
      if (value === null || inert === '*' || inert.some((v) => sameValue(v, value))) continue;
      ctx.problem(at, `${label}: option '${key}' = ${JSON.stringify(value)} has no tfjs equivalent; set it to ${inert.map((v) => JSON.stringify(v)).join(' or ')} in Keras`);
      ok = false;
      continue;
    }
    // Options newer Keras versions add are harmless while unset.
    if (value === null || value === false) continue;
    ctx.problem(at, `${label}: option '${key}' = ${JSON.stringify(value)} has no tfjs equivalent; remove it (tfjs supports: ${info.keys.join(', ') || 'no options'})`);
    ok = false;
  }
  return ok ? out : null;
}

function nestedKerasLayer(raw: unknown, ptr: string, outer: string, ctx: Ctx): unknown {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) {
    ctx.problem(ptr, `${outer}: expected the wrapped layer as {"class_name", "config"}`);
    return INVALID;
  }
  const label = `${raw.class_name} inside ${outer}`;
  const info = BY_KEY.get(squash(raw.class_name));
  if (!info || info.className !== raw.class_name) {
    ctx.problem(`${ptr}/class_name`, unsupportedLayer(raw.class_name, label));
    return INVALID;
  }
  const config = kerasConfig(info, raw.config, `${ptr}/config`, label, ctx);
  return config ? { class_name: info.className, config } : INVALID;
}

// ---------------------------------------------------------------------------------------------
// Layer lists

function fromLayerList(model: { layers: unknown; inputShape?: unknown }, base: string, ctx: Ctx): KerasTopology | null {
  const inputShape = model.inputShape;
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isInteger(d) && (d as number) > 0)) {
    ctx.problem(`${base}/inputShape`, 'give the shape of one sample without the batch dimension, e.g. [4] or [8, 8, 1]');
  }
  if (!Array.isArray(model.layers) || model.layers.length === 0) {
    ctx.problem(`${base}/layers`, 'give at least one layer');
    return null;
  }
  const counts = new Map<string, number>();
  const out: TopologyLayer[] = [];
  model.layers.forEach((raw, i) => {
    const layer = listLayer(raw, `${base}/layers/${i}`, `layer ${i}`, counts, ctx);
    if (layer && layer !== INVALID) {
      const l = layer as TopologyLayer;
      ctx.layerPointers.set(l, `${base}/layers/${i}`);
      ctx.layerLabels.set(l, `${l.class_name} '${String(l.config.name)}' (layer ${i})`);
      out.push(l);
    }
  });
  if (ctx.problems.length > 0) return null;
  const first = inputLayer('input_layer', inputShape as number[]);
  return { class_name: 'Sequential', config: { name: 'sequential', layers: [first, ...out] }, keras_version: '2.15.0', backend: 'tensorflow' };
}

function listLayer(raw: unknown, ptr: string, where: string, counts: Map<string, number>, ctx: Ctx): TopologyLayer | typeof INVALID {
  if (!isObject(raw) || typeof raw.type !== 'string') {
    ctx.problem(ptr, `${where}: expected an object with "type", e.g. {"type": "dense", "units": 8}`);
    return INVALID;
  }
  const info = BY_KEY.get(squash(raw.type));
  if (!info || info.kind === 'input') {
    ctx.problem(`${ptr}/type`, unsupportedLayer(raw.type, `${where} (type '${raw.type}')`));
    return INVALID;
  }
  if (info.kind === 'merge') {
    ctx.problem(`${ptr}/type`, `${where}: ${info.className} merges several inputs, which a layer list cannot express; submit a Keras Functional model instead`);
    return INVALID;
  }
  const label = `${where} (${info.className})`;
  const config: Record<string, unknown> = {};
  let ok = true;
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'type') continue;
    const at = `${ptr}/${pointerToken(key)}`;
    const snake = toSnake(key);
    const target = own(info.renamed, snake) ?? snake;
    if (target === 'name' || target === 'trainable' || info.keys.includes(target)) {
      const converted = convertValue(target, value, at, label, ctx, (nested, nestedPtr) => listLayer(nested, nestedPtr, `${label}, wrapped layer`, counts, ctx));
      if (converted === INVALID) ok = false;
      else if (converted !== undefined) config[target] = converted;
      continue;
    }
    const inert = own(info.inert, snake);
    if (inert !== undefined) {
      if (value === null || inert === '*' || inert.some((v) => sameValue(v, value))) continue;
      ctx.problem(at, `${label}: option '${key}' = ${JSON.stringify(value)} has no tfjs equivalent; remove it`);
      ok = false;
      continue;
    }
    const known = [...info.keys].map(toCamel);
    const guess = closest(key, known, 1);
    ctx.problem(at, `${label}: unknown option '${key}'` + (guess.length ? `; did you mean '${guess[0]}'?` : '') +
      (key === 'inputShape' ? '; give the input shape once, as model.inputShape' : '') +
      ` (options: ${known.join(', ') || 'none'})`);
    ok = false;
  }
  for (const req of info.required ?? []) {
    if (config[req] === undefined) {
      ctx.problem(ptr, `${label}: missing required option '${toCamel(req)}'`);
      ok = false;
    }
  }
  if (!ok) return INVALID;
  for (const [key, value] of Object.entries(info.kerasDefaults ?? {})) {
    if (config[key] === undefined) config[key] = cloneJson(value);
  }
  if (info.className === 'GRU' && config.reset_after === undefined) config.reset_after = false;
  if (typeof config.name !== 'string') {
    const base = toSnake(info.className).replace(/(\d)_d$/, '$1d');
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    config.name = n === 0 ? base : `${base}_${n}`;
  }
  return { class_name: info.className, config };
}

// ---------------------------------------------------------------------------------------------
// Values

const INVALID = Symbol('invalid');

/**
 * Converts one option value to the form tfjs reads; `undefined` drops it, INVALID means a problem
 * was reported.
 */
function convertValue(
  key: string,
  value: unknown,
  at: string,
  label: string,
  ctx: Ctx,
  nested: (raw: unknown, ptr: string) => unknown,
): unknown {
  if (value === null) return null;
  if (key === 'layer') return nested(value, at);
  if (key.endsWith('_initializer')) return initializer(value, at, label, ctx);
  if (key.endsWith('_regularizer')) return regularizer(value, at, label, ctx);
  if (key.endsWith('_constraint')) return constraint(value, at, label, ctx);
  if (key === 'activation' || key === 'recurrent_activation') return activation(value, at, label, ctx);
  if (key === 'data_format' && typeof value === 'string') return toSnake(value);
  if (key === 'padding' && typeof value === 'string') return value.toLowerCase();
  if (SHAPE_KEYS.has(key)) return untuple(value);
  return value;
}

function initializer(value: unknown, at: string, label: string, ctx: Ctx): unknown {
  let cls: string | undefined;
  let config: Record<string, unknown> = {};
  if (typeof value === 'string') {
    cls = own(INITIALIZERS, squash(value));
  } else if (isObject(value) && typeof value.class_name === 'string') {
    cls = own(INITIALIZERS, squash(value.class_name));
    config = isObject(value.config) ? { ...value.config } : {};
  } else if (isObject(value) && typeof value.className === 'string') {
    cls = own(INITIALIZERS, squash(value.className));
    config = isObject(value.config) ? Object.fromEntries(Object.entries(value.config).map(([k, v]) => [toSnake(k), v])) : {};
  }
  if (!cls) {
    ctx.problem(at, `${label}: initializer ${JSON.stringify(value)} has no tfjs equivalent; use one of ${[...new Set(Object.values(INITIALIZERS))].join(', ')}`);
    return INVALID;
  }
  if (cls === 'VarianceScaling' && config.distribution === 'untruncated_normal') config.distribution = 'normal';
  if (RANDOM_INITIALIZERS.has(cls) && config.seed === undefined) config.seed = null;
  return { class_name: cls, config };
}

function regularizer(value: unknown, at: string, label: string, ctx: Ctx): unknown {
  let l1 = 0;
  let l2 = 0;
  const num = (v: unknown, dflt: number) => (typeof v === 'number' ? v : dflt);
  if (typeof value === 'string' && ['l1', 'l2', 'l1l2'].includes(squash(value))) {
    const s = squash(value);
    l1 = s.includes('l1') ? 0.01 : 0;
    l2 = s.includes('l2') ? 0.01 : 0;
  } else if (isObject(value) && typeof value.class_name === 'string' && ['l1', 'l2', 'l1l2'].includes(squash(value.class_name))) {
    const c = isObject(value.config) ? value.config : {};
    l1 = num(c.l1, 0);
    l2 = num(c.l2, 0);
  } else if (isObject(value) && value.class_name === undefined && Object.keys(value).every((k) => k === 'l1' || k === 'l2')) {
    l1 = num(value.l1, 0);
    l2 = num(value.l2, 0);
  } else {
    ctx.problem(at, `${label}: regularizer ${JSON.stringify(value)} has no tfjs equivalent; use L1, L2 or L1L2 (in a layer list: {"l1": 0.01, "l2": 0.01})`);
    return INVALID;
  }
  return { class_name: 'L1L2', config: { l1, l2 } };
}

function constraint(value: unknown, at: string, label: string, ctx: Ctx): unknown {
  const name = typeof value === 'string' ? value : isObject(value) && typeof value.class_name === 'string' ? value.class_name : undefined;
  const cls = name === undefined ? undefined : own(CONSTRAINTS, squash(name));
  if (!cls) {
    ctx.problem(at, `${label}: constraint ${JSON.stringify(value)} has no tfjs equivalent; use one of ${Object.values(CONSTRAINTS).join(', ')}`);
    return INVALID;
  }
  const config = isObject(value) && isObject(value.config) ? { ...value.config } : {};
  return { class_name: cls, config };
}

function activation(value: unknown, at: string, label: string, ctx: Ctx): unknown {
  // Keras 3 may write a registered function as {"class_name": "function", "config": "relu"}.
  const name = typeof value === 'string' ? value : isObject(value) && value.class_name === 'function' && typeof value.config === 'string' ? value.config : undefined;
  const tfjs = name === undefined ? undefined : own(ACTIVATIONS, squash(name));
  if (!tfjs) {
    const guess = typeof name === 'string' ? closest(name, Object.keys(ACTIVATIONS), 3) : [];
    ctx.problem(at, `${label}: activation ${JSON.stringify(value)} has no tfjs equivalent; use one of ${[...new Set(Object.values(ACTIVATIONS))].join(', ')}` +
      (guess.length ? ` (closest: ${guess.join(', ')})` : ''));
    return INVALID;
  }
  return tfjs;
}

/** Keras 2 SavedModel metadata writes tuples and shapes as {"class_name": "__tuple__", "items": [...]}. */
function untuple(value: unknown): unknown {
  if (isObject(value) && (value.class_name === '__tuple__' || value.class_name === 'TensorShape') && Array.isArray(value.items)) {
    return value.items.map(untuple);
  }
  if (Array.isArray(value)) return value.map(untuple);
  return value;
}

function dtypeName(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isObject(value) && isObject(value.config) && typeof value.config.name === 'string') return value.config.name;
  return null;
}

function inputLayer(name: string, sample: Array<number | null>): TopologyLayer {
  return { class_name: 'InputLayer', config: { batch_input_shape: [null, ...sample], dtype: 'float32', sparse: false, name } };
}

/** Reads `[name, node, tensor]` refs, single or listed (Keras 3 writes a lone input unlisted). */
function tensorRefs(value: unknown): Array<[string, number, number]> | null {
  const isRef = (v: unknown): v is [string, number, number] =>
    Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && Number.isInteger(v[1]) && Number.isInteger(v[2]);
  if (isRef(value)) return [[value[0], value[1], value[2]]];
  if (Array.isArray(value) && value.length > 0 && value.every(isRef)) return value.map((v) => [v[0], v[1], v[2]]);
  if (isObject(value)) {
    const refs = Object.values(value);
    if (refs.length > 0 && refs.every(isRef)) return refs.map((v) => [v[0], v[1], v[2]]);
  }
  return null;
}

/** Keras 2 nested lists or Keras 3 {args, kwargs} nodes → Keras 2 `[[name, node, tensor, kwargs], ...]`. */
function inboundNodes(value: unknown): TopologyLayer['inbound_nodes'] | null {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return null;
  const nodes: NonNullable<TopologyLayer['inbound_nodes']> = [];
  for (const node of value) {
    if (Array.isArray(node)) {
      const refs: Array<[string, number, number, Record<string, unknown>]> = [];
      // A Keras 2 node is a list of [name, node, tensor, kwargs?] (older files: one bare ref).
      const entries = node.length > 0 && typeof node[0] === 'string' ? [node] : node;
      for (const e of entries) {
        if (!Array.isArray(e) || typeof e[0] !== 'string') return null;
        refs.push([e[0], Number(e[1]), Number(e[2]), isObject(e[3]) ? e[3] : {}]);
      }
      nodes.push(refs);
    } else if (isObject(node) && 'args' in node) {
      const refs: Array<[string, number, number, Record<string, unknown>]> = [];
      collectKerasTensors(node.args, refs);
      if (refs.length === 0) return null;
      nodes.push(refs);
    } else {
      return null;
    }
  }
  return nodes;
}

function collectKerasTensors(value: unknown, into: Array<[string, number, number, Record<string, unknown>]>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectKerasTensors(v, into);
  } else if (isObject(value) && value.class_name === '__keras_tensor__' && isObject(value.config)) {
    const h = value.config.keras_history;
    if (Array.isArray(h) && typeof h[0] === 'string') into.push([h[0], Number(h[1]), Number(h[2]), {}]);
  } else if (isObject(value) && value.class_name === '__tuple__' && isObject(value.config)) {
    collectKerasTensors(value.config.value, into);
  }
}

// ---------------------------------------------------------------------------------------------
// Shapes

type Shape = Array<number | null>;

function inferShapes(topology: KerasTopology, ctx: Ctx): { input: SampleShape | null; output: SampleShape | null } {
  const layers = topology.config.layers;
  if (topology.class_name === 'Sequential') {
    let shape: Shape | null = null;
    let input: Shape | null = null;
    for (const layer of layers) {
      if (layer.class_name === 'InputLayer' || (shape === null && Array.isArray(layer.config.batch_input_shape))) {
        shape = (layer.config.batch_input_shape as Shape).slice(1);
        input = shape;
        if (layer.class_name === 'InputLayer') continue;
      }
      const ins: Shape[] | null = shape === null ? null : [shape];
      shape = ins === null ? null : layerOutput(layer, ins, ctx);
      ctx.layerShapes.set(layer, { inputs: ins, output: shape });
    }
    return { input, output: shape };
  }
  const outputs = new Map<string, Shape | null>();
  let input: Shape | null = null;
  for (const layer of layers) {
    const name = layer.name as string;
    if (layer.class_name === 'InputLayer') {
      const s = (layer.config.batch_input_shape as Shape | undefined)?.slice(1) ?? null;
      outputs.set(name, s);
      if (topology.config.input_layers?.[0]?.[0] === name) input = s;
      continue;
    }
    const node = layer.inbound_nodes?.[0];
    if (!node) {
      outputs.set(name, null);
      continue;
    }
    const ins = node.map((ref) => outputs.get(ref[0]) ?? null);
    const known = ins.some((s) => s === null) ? null : (ins as Shape[]);
    const out = known === null ? null : layerOutput(layer, known, ctx);
    outputs.set(name, out);
    ctx.layerShapes.set(layer, { inputs: known, output: out });
  }
  const out = topology.config.output_layers?.[0];
  return { input, output: out ? (outputs.get(out[0]) ?? null) : null };
}

/** A layer's output shape for its input shapes, or null (unknown, or a problem was reported). */
function layerOutput(layer: TopologyLayer, ins: Shape[], ctx: Ctx): Shape | null {
  const c = layer.config;
  const x = ins[0];
  const label = ctx.layerLabels.get(layer) ?? layer.class_name;
  const ptr = ctx.layerPointers.get(layer) ?? '';
  const fail = (detail: string): null => {
    ctx.problem(ptr, `${label}: ${detail}`);
    return null;
  };
  const needRank = (rank: number, what: string): boolean => {
    if (x.length === rank) return true;
    fail(`expects ${what} (${rank} dimensions per sample) but gets shape ${JSON.stringify(x)}; add a Reshape or Flatten before it`);
    return false;
  };
  const channelsFirst = c.data_format === 'channels_first';
  switch (layer.class_name) {
    case 'Dense':
      return [...x.slice(0, -1), num(c.units)];
    case 'Flatten':
      return x.length <= 1 ? x : [x.every((d) => d !== null) ? (x as number[]).reduce((a, b) => a * b, 1) : null];
    case 'Reshape': {
      const target = (c.target_shape as number[]).slice();
      const size = x.every((d) => d !== null) ? (x as number[]).reduce((a, b) => a * b, 1) : null;
      const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const free = target.indexOf(-1);
      if (size === null) return target.map((d) => (d === -1 ? null : d));
      if (free >= 0) {
        if (size % known !== 0) return fail(`cannot reshape ${size} values to ${JSON.stringify(target)}`);
        target[free] = size / known;
      } else if (known !== size) {
        return fail(`cannot reshape ${JSON.stringify(x)} (${size} values) to ${JSON.stringify(target)} (${known} values); make the products equal`);
      }
      return target;
    }
    case 'Permute':
      return (c.dims as number[]).map((d) => x[d - 1] ?? null);
    case 'RepeatVector':
      return needRank(1, 'a vector') ? [num(c.n), x[0]] : null;
    case 'Conv1D': {
      if (!needRank(2, 'a sequence [steps, channels]')) return null;
      const [len] = spatial(x.slice(0, 1), c, 1, label, ptr, ctx) ?? [undefined];
      return len === undefined ? null : [len, num(c.filters)];
    }
    case 'Conv2D':
    case 'SeparableConv2D':
    case 'DepthwiseConv2D':
    case 'Conv2DTranspose': {
      if (!needRank(3, 'an image [height, width, channels]')) return null;
      const hw = channelsFirst ? x.slice(1) : x.slice(0, 2);
      const ch = channelsFirst ? x[0] : x[2];
      const dims = layer.class_name === 'Conv2DTranspose' ? transposeDims(hw, c) : spatial(hw, c, 2, label, ptr, ctx);
      if (!dims) return null;
      const filters = layer.class_name === 'DepthwiseConv2D' ? (ch === null ? null : ch * (num(c.depth_multiplier) ?? 1)) : num(c.filters);
      return channelsFirst ? [filters, ...dims] : [...dims, filters];
    }
    case 'MaxPooling1D':
    case 'AveragePooling1D': {
      if (!needRank(2, 'a sequence [steps, channels]')) return null;
      const dims = pooled(x.slice(0, 1), c, 1, label, ptr, ctx);
      return dims ? [...dims, x[1]] : null;
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      if (!needRank(3, 'an image [height, width, channels]')) return null;
      const dims = pooled(channelsFirst ? x.slice(1) : x.slice(0, 2), c, 2, label, ptr, ctx);
      if (!dims) return null;
      return channelsFirst ? [x[0], ...dims] : [...dims, x[2]];
    }
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D':
      return needRank(2, 'a sequence [steps, channels]') ? [x[1]] : null;
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return needRank(3, 'an image [height, width, channels]') ? [channelsFirst ? x[0] : x[2]] : null;
    case 'ZeroPadding2D':
    case 'Cropping2D': {
      if (!needRank(3, 'an image [height, width, channels]')) return null;
      const p = pairs(layer.class_name === 'ZeroPadding2D' ? (c.padding ?? 1) : (c.cropping ?? 0));
      if (!p) return null;
      const sign = layer.class_name === 'ZeroPadding2D' ? 1 : -1;
      const hw = channelsFirst ? x.slice(1) : x.slice(0, 2);
      const dims = hw.map((d, i) => (d === null ? null : d + sign * (p[i][0] + p[i][1])));
      if (dims.some((d) => d !== null && d <= 0)) return fail(`cropping ${JSON.stringify(c.cropping)} leaves nothing of ${JSON.stringify(hw)}`);
      return channelsFirst ? [x[0], ...dims] : [...dims, x[2]];
    }
    case 'UpSampling2D': {
      if (!needRank(3, 'an image [height, width, channels]')) return null;
      const size = tupleOf(c.size ?? 2, 2);
      const hw = channelsFirst ? x.slice(1) : x.slice(0, 2);
      const dims = hw.map((d, i) => (d === null ? null : d * size[i]));
      return channelsFirst ? [x[0], ...dims] : [...dims, x[2]];
    }
    case 'Embedding':
      return [...x, num(c.output_dim)];
    case 'LSTM':
    case 'GRU':
    case 'SimpleRNN':
      if (!needRank(2, 'a sequence [steps, features]')) return null;
      return c.return_sequences === true ? [x[0], num(c.units)] : [num(c.units)];
    case 'Bidirectional': {
      const inner = c.layer as { class_name: string; config: Record<string, unknown> };
      const innerOut = layerOutput({ class_name: inner.class_name, config: inner.config }, ins, ctx);
      if (!innerOut) return null;
      const last = innerOut[innerOut.length - 1];
      const mode = c.merge_mode ?? 'concat';
      return [...innerOut.slice(0, -1), mode === 'concat' && last !== null ? last * 2 : last];
    }
    case 'TimeDistributed': {
      const inner = c.layer as { class_name: string; config: Record<string, unknown> };
      if (x.length < 2) return fail(`expects a sequence but gets shape ${JSON.stringify(x)}`);
      const innerOut = layerOutput({ class_name: inner.class_name, config: inner.config }, [x.slice(1)], ctx);
      return innerOut ? [x[0], ...innerOut] : null;
    }
    case 'Add':
    case 'Multiply':
    case 'Average':
    case 'Maximum':
    case 'Minimum': {
      for (const s of ins.slice(1)) {
        if (!compatible(s, x)) return fail(`inputs must have equal shapes but are ${ins.map((i) => JSON.stringify(i)).join(' and ')}`);
      }
      return x;
    }
    case 'Concatenate': {
      const rank = x.length;
      const axisRaw = typeof c.axis === 'number' ? c.axis : -1;
      // Keras counts the batch axis: axis 1 is the first sample axis.
      const axis = axisRaw < 0 ? rank + axisRaw : axisRaw - 1;
      if (axis < 0 || axis >= rank) return fail(`axis ${axisRaw} is outside inputs of rank ${rank + 1}`);
      let total: number | null = 0;
      for (const s of ins) {
        if (s.length !== rank || s.some((d, i) => i !== axis && d !== null && x[i] !== null && d !== x[i])) {
          return fail(`inputs must match except on axis ${axisRaw} but are ${ins.map((i) => JSON.stringify(i)).join(' and ')}`);
        }
        total = total === null || s[axis] === null ? null : total + (s[axis] as number);
      }
      return x.map((d, i) => (i === axis ? total : d));
    }
    default:
      if (BY_KEY.get(squash(layer.class_name))?.kind === 'identity') return x;
      return null;
  }
}

/**
 * Each layer's output sample shape (no batch dimension) by layer name, for a topology from
 * checkModelSpec or as tfjs saved it; `null` where it cannot be computed. Used by the Keras export
 * to write the shapes Keras records (`build_config`, inbound tensors).
 */
export function layerOutputShapes(topology: KerasTopology): Map<string, SampleShape | null> {
  const ctx = new Ctx();
  const out = new Map<string, SampleShape | null>();
  let prev: Shape | null = null;
  for (const layer of topology.config.layers) {
    const name = String(layer.name ?? layer.config.name);
    const declared = Array.isArray(layer.config.batch_input_shape) ? (layer.config.batch_input_shape as Shape).slice(1) : null;
    let shape: Shape | null;
    if (layer.class_name === 'InputLayer') {
      shape = declared;
    } else if (topology.class_name === 'Sequential') {
      const input: Shape | null = prev ?? declared;
      shape = input === null ? null : layerOutput(layer, [input], ctx);
    } else {
      const ins = (layer.inbound_nodes?.[0] ?? []).map((ref) => out.get(ref[0]) ?? null);
      shape = ins.length === 0 || ins.some((s) => s === null) ? null : layerOutput(layer, ins as Shape[], ctx);
    }
    out.set(name, shape);
    prev = shape;
  }
  return out;
}

function spatial(dims: Shape, c: Record<string, unknown>, n: number, label: string, ptr: string, ctx: Ctx): Shape | null {
  const k = tupleOf(c.kernel_size, n);
  const s = tupleOf(c.strides ?? 1, n);
  const d = tupleOf(c.dilation_rate ?? 1, n);
  const padding = c.padding ?? 'valid';
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const len = dims[i];
    if (len === null) {
      out.push(null);
      continue;
    }
    const eff = (k[i] - 1) * d[i] + 1;
    const o = padding === 'valid' ? Math.ceil((len - eff + 1) / s[i]) : Math.ceil(len / s[i]);
    if (o <= 0) {
      ctx.problem(ptr, `${label}: kernel ${JSON.stringify(c.kernel_size)} does not fit input size ${JSON.stringify(dims)} with padding 'valid'; use a smaller kernel or padding 'same'`);
      return null;
    }
    out.push(o);
  }
  return out;
}

function pooled(dims: Shape, c: Record<string, unknown>, n: number, label: string, ptr: string, ctx: Ctx): Shape | null {
  const pool = tupleOf(c.pool_size ?? 2, n);
  return spatial(dims, { kernel_size: pool, strides: c.strides ?? pool, padding: c.padding }, n, label, ptr, ctx);
}

function transposeDims(dims: Shape, c: Record<string, unknown>): Shape {
  const k = tupleOf(c.kernel_size, 2);
  const s = tupleOf(c.strides ?? 1, 2);
  return dims.map((d, i) => (d === null ? null : c.padding === 'same' ? d * s[i] : (d - 1) * s[i] + k[i]));
}

function tupleOf(value: unknown, n: number): number[] {
  if (Array.isArray(value)) return value.length === n ? value.map(Number) : Array(n).fill(Number(value[0]));
  return Array(n).fill(Number(value));
}

function pairs(value: unknown): Array<[number, number]> | null {
  if (typeof value === 'number') return [[value, value], [value, value]];
  if (Array.isArray(value) && value.length === 2) {
    return value.map((v) => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)])) as Array<[number, number]>;
  }
  return null;
}

function compatible(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === null || b[i] === null || d === b[i]);
}

function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function unsupportedLayer(cls: string, label: string): string {
  const hint = own(SUBSTITUTES, cls);
  const close = closest(cls, LAYERS.filter((l) => l.kind !== 'input').map((l) => l.className), 3);
  return `${label}: layer '${cls}' has no tfjs equivalent` + (hint ? `; ${hint}` : '') +
    (close.length ? `; close supported layers: ${close.join(', ')}` : '');
}

/** Up to `n` candidates nearest to `word` by edit distance (case and underscores ignored). */
function closest(word: string, candidates: readonly string[], n: number): string[] {
  const w = squash(word);
  return candidates
    .map((c) => ({ c, d: editDistance(w, squash(c)) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(w.length / 2)))
    .sort((a, b) => a.d - b.d)
    .slice(0, n)
    .map((x) => x.c);
}


/** A copy of a JSON value (the layer tables' defaults), cheaper than structuredClone. */
function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = cloneJson(v);
    return out as T;
  }
  return value;
}

function toCamel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function shapeList(value: unknown): Array<number | null> | null {
  const v = untuple(value);
  if (!Array.isArray(v) || v.length < 2) return null;
  return v.slice(1).map((d) => (typeof d === 'number' ? d : null));
}

function nameOf(config: unknown, fallback: string): string {
  return isObject(config) && typeof config.name === 'string' ? config.name : fallback;
}

/**
 * `table[key]` only when `key` is the table's own entry: a user-chosen name such as
 * `"constructor"` or `"__proto__"` must not find Object.prototype's members.
 */
function own<T>(table: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return table !== undefined && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
