/**
 * Converts a Kiln checkpoint (the tfjs-layers `model.json` and its weights bytes) into what Keras
 * needs to load the same model: the Keras 3 `config.json` document and the variables in the order
 * and under the paths of `model.weights.h5`, plus the Keras 2 `model_config` and per-layer weight
 * lists of the legacy full-model HDF5. Pure data conversion: no tfjs, no I/O. The HDF5 and zip
 * writing is in api/services/keras-archive.ts.
 *
 * Formats followed (see /work/shared/formats/keras-format.md and this folder's README):
 * - `keras/src/saving/saving_lib.py`: `_walk_saveable` / `_save_state` (layers of a Sequential
 *   without its InputLayer, of a Functional with them; path component = `to_snake_case(class)` with
 *   a counter per container; sub-objects by attribute name, in `dir()` order), `H5IOStore` (one `vars`
 *   group per object, datasets `"0"`, `"1"`, ... in `save_own_variables` order).
 * - `keras/src/ops/function.py` `map_graph`: the order of a Functional model's layers.
 * - `keras/src/saving/serialization_lib.py`: `{module, class_name, config, registered_name}`
 *   wrappers, `__keras_tensor__` inbound nodes, `build_config`.
 * - `keras/src/legacy/saving/legacy_h5_format.py`: `model_config` (Keras 2 form), `layer_names`,
 *   `weight_names`, weights matched by order (trainable, then non-trainable).
 *
 * Deliberate differences from what Keras itself writes: no `compile_config` / optimizer state (the
 * export is for inference and fine-tuning from scratch optimizer state); initializers are the ones
 * tfjs recorded (tfjs writes GlorotUniform as the equivalent VarianceScaling; the named classes are
 * restored where the parameters match one).
 */
import { KilnError } from './errors';
import { layerOutputShapes, type KerasTopology, type SampleShape, type TopologyLayer } from './model-spec';

/** A tfjs-layers `model.json`, as Kiln's checkpoints store it. */
export interface TfjsModelJson {
  modelTopology?: unknown;
  weightsManifest?: Array<{ paths?: string[]; weights?: Array<{ name: string; shape: number[]; dtype?: string }> }>;
}

/** One variable: its tfjs name, its Keras shape and its values. */
export interface ExportVariable {
  /** The tfjs weight name it comes from (`dense/kernel`). */
  tfjsName: string;
  shape: number[];
  values: Float32Array;
}

/** One `vars` group of `model.weights.h5`: `<path>/vars/0`, `/1`, ... */
export interface KerasVarsGroup {
  /** `layers/dense_1`, `layers/lstm/cell`; `''` for the model itself. */
  path: string;
  /** The `name` attribute Keras writes on the group (the object's name). */
  name: string;
  variables: ExportVariable[];
}

/** One layer of the legacy HDF5's `/model_weights`. */
export interface LegacyLayerWeights {
  /** `layer.name`: the group name and the entry in `layer_names`. */
  name: string;
  /** `weight_names` (Keras 2 spelling, `dense/kernel:0`), in the order Keras assigns them. */
  weightNames: string[];
  variables: ExportVariable[];
}

/** Everything the two Keras formats need. */
export interface KerasExport {
  modelName: string;
  /** The `.keras` archive's `config.json` document (Keras 3 `serialize_keras_object(model)`). */
  kerasConfig: Record<string, unknown>;
  /** `model.weights.h5`'s groups, in the order Keras's saver creates them. */
  kerasVars: KerasVarsGroup[];
  /** The legacy HDF5's `model_config` attribute (`{class_name, config}`, Keras 2 form). */
  legacyConfig: Record<string, unknown>;
  /** The legacy HDF5's layers, in `model.layers` order. */
  legacyLayers: LegacyLayerWeights[];
}

/** The two export formats. */
export type KerasFormat = 'keras' | 'h5';

type Json = Record<string, unknown>;

interface LayerExport {
  /** tfjs weight names (last path segment) in Keras's variable order; `undefined` = no weights. */
  vars?: readonly string[];
  /** The attribute holding the variables in Keras 3 (`cell` for recurrent layers). */
  sub?: 'cell';
  /** A wrapper whose `layer` config is another layer. */
  wrapper?: 'bidirectional' | 'time_distributed';
  /** Keys tfjs writes that Keras does not take. */
  drop?: readonly string[];
  /** Formats that cannot hold the layer, with the reason. */
  unsupported?: Partial<Record<KerasFormat, string>>;
  /** A reason the layer with this config would compute something else in Keras (both formats). */
  differs?: (config: Json) => string | null;
}

const CONV = ['kernel', 'bias'] as const;
const RNN: LayerExport = { vars: ['kernel', 'recurrent_kernel', 'bias'], sub: 'cell', drop: ['implementation'] };
const NONE: LayerExport = {};

/**
 * Every layer class Kiln can build (core/model-spec.ts's table) and how it exports. Weight lists are
 * Keras's `save_own_variables` order: trainable variables, then non-trainable, each in creation order
 * (`layers/layer.py`), which is also tfjs's per-layer order.
 */
export const LAYER_EXPORTS: Readonly<Record<string, LayerExport>> = {
  InputLayer: NONE,
  Dense: { vars: CONV },
  Conv1D: { vars: CONV },
  Conv2D: { vars: CONV },
  Conv2DTranspose: { vars: CONV },
  DepthwiseConv2D: { vars: ['depthwise_kernel', 'bias'] },
  SeparableConv2D: { vars: ['depthwise_kernel', 'pointwise_kernel', 'bias'] },
  MaxPooling1D: NONE,
  MaxPooling2D: NONE,
  AveragePooling1D: NONE,
  AveragePooling2D: NONE,
  GlobalAveragePooling1D: NONE,
  GlobalAveragePooling2D: NONE,
  GlobalMaxPooling1D: NONE,
  GlobalMaxPooling2D: NONE,
  Flatten: NONE,
  Reshape: NONE,
  Permute: NONE,
  RepeatVector: NONE,
  Dropout: NONE,
  SpatialDropout1D: { drop: ['noise_shape'] },
  GaussianNoise: NONE,
  GaussianDropout: NONE,
  AlphaDropout: NONE,
  BatchNormalization: { vars: ['gamma', 'beta', 'moving_mean', 'moving_variance'] },
  LayerNormalization: { vars: ['gamma', 'beta'] },
  Activation: NONE,
  ReLU: NONE,
  LeakyReLU: NONE,
  PReLU: { vars: ['alpha'] },
  ELU: NONE,
  ThresholdedReLU: { unsupported: { keras: 'Keras 3 has no ThresholdedReLU layer (removed in 3.0); use ?format=h5 for Keras 2, or retrain with ReLU(threshold=...)' } },
  Softmax: NONE,
  Rescaling: NONE,
  Masking: NONE,
  ZeroPadding2D: NONE,
  Cropping2D: NONE,
  // tfjs resizes bilinearly without half-pixel centers (resizeBilinear's default); Keras resizes
  // with tf.image.resize, which uses them. Nearest-neighbour upsampling by whole factors agrees.
  UpSampling2D: { differs: (c) => (c.interpolation === 'bilinear' ? "interpolation 'bilinear' is computed without half-pixel centers in tfjs and with them in Keras; retrain with interpolation 'nearest'" : null) },
  Embedding: { vars: ['embeddings'], drop: ['input_length'] },
  LSTM: RNN,
  GRU: RNN,
  SimpleRNN: RNN,
  Bidirectional: { wrapper: 'bidirectional' },
  TimeDistributed: { wrapper: 'time_distributed' },
  Add: NONE,
  Multiply: NONE,
  Average: NONE,
  Maximum: NONE,
  Minimum: NONE,
  Concatenate: NONE,
  Dot: NONE,
};

/** Keras `to_snake_case` (`keras/src/utils/naming.py`): `Conv2D` → `conv2d`, `PReLU` → `p_re_lu`. */
export function toSnakeCase(name: string): string {
  const s = name.replace(/(.)([A-Z][a-z]+)/g, '$1_$2');
  return s.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * tfjs activation names → Keras 3 / Keras 2 names; `null` where the format's function computes
 * something else. tfjs's hard_sigmoid is Keras 2's `clip(0.2x + 0.5, 0, 1)`; Keras 3 redefined it
 * as `relu6(x + 3) / 6` (`keras/src/activations/activations.py`), so a Keras 3 file would predict
 * differently.
 */
const ACTIVATIONS: Readonly<Record<string, { keras: string | null; h5: string }>> = {
  ...Object.fromEntries(['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'tanh', 'softmax', 'softplus', 'softsign', 'gelu', 'mish', 'log_softmax']
    .map((a) => [a, { keras: a, h5: a }])),
  swish: { keras: 'silu', h5: 'swish' },
  hard_sigmoid: { keras: null, h5: 'hard_sigmoid' },
};

/** VarianceScaling parameter sets that are a named Keras initializer. */
const NAMED_VARIANCE_SCALING: ReadonlyArray<[number, string, string, string]> = [
  [1, 'fan_avg', 'uniform', 'GlorotUniform'], [1, 'fan_avg', 'normal', 'GlorotNormal'],
  [2, 'fan_in', 'uniform', 'HeUniform'], [2, 'fan_in', 'normal', 'HeNormal'],
  [1, 'fan_in', 'uniform', 'LecunUniform'], [1, 'fan_in', 'normal', 'LecunNormal'],
];

/** tfjs initializer class → Keras 3 class and the config keys it takes. */
const INITIALIZERS: Readonly<Record<string, { keras: string; h5: string; keys: readonly string[] }>> = {
  Zeros: { keras: 'Zeros', h5: 'Zeros', keys: [] },
  Ones: { keras: 'Ones', h5: 'Ones', keys: [] },
  Constant: { keras: 'Constant', h5: 'Constant', keys: ['value'] },
  RandomNormal: { keras: 'RandomNormal', h5: 'RandomNormal', keys: ['mean', 'stddev', 'seed'] },
  RandomUniform: { keras: 'RandomUniform', h5: 'RandomUniform', keys: ['minval', 'maxval', 'seed'] },
  TruncatedNormal: { keras: 'TruncatedNormal', h5: 'TruncatedNormal', keys: ['mean', 'stddev', 'seed'] },
  Orthogonal: { keras: 'OrthogonalInitializer', h5: 'Orthogonal', keys: ['gain', 'seed'] },
  Identity: { keras: 'Identity', h5: 'Identity', keys: ['gain'] },
  VarianceScaling: { keras: 'VarianceScaling', h5: 'VarianceScaling', keys: ['scale', 'mode', 'distribution', 'seed'] },
  GlorotUniform: { keras: 'GlorotUniform', h5: 'GlorotUniform', keys: ['seed'] },
  GlorotNormal: { keras: 'GlorotNormal', h5: 'GlorotNormal', keys: ['seed'] },
  HeUniform: { keras: 'HeUniform', h5: 'HeUniform', keys: ['seed'] },
  HeNormal: { keras: 'HeNormal', h5: 'HeNormal', keys: ['seed'] },
  LeCunUniform: { keras: 'LecunUniform', h5: 'LecunUniform', keys: ['seed'] },
  LeCunNormal: { keras: 'LecunNormal', h5: 'LecunNormal', keys: ['seed'] },
};

const CONSTRAINTS = new Set(['MaxNorm', 'NonNeg', 'UnitNorm', 'MinMaxNorm']);
const KERAS_VERSION = '3.16.0';
const LEGACY_KERAS_VERSION = '2.15.0';

/**
 * Converts a checkpoint for export. Throws KilnError MODEL_NOT_EXPORTABLE naming the first layer
 * (or option) the format cannot hold; INTERNAL when the checkpoint itself is inconsistent (weights
 * missing or of the wrong size).
 *
 * @param format - which format the caller is about to write (a layer may be exportable to one only)
 */
export function toKerasExport(modelJson: TfjsModelJson, weightBytes: Uint8Array, format: KerasFormat): KerasExport {
  const topology = readTopology(modelJson.modelTopology);
  const weights = decodeWeights(modelJson, weightBytes);
  const layers = topology.config.layers;
  for (const layer of layers) checkExportable(layer, format, layerName(layer));

  const functional = topology.class_name === 'Functional';
  // Keras 3 gives every Sequential an InputLayer; tfjs may keep the shape on the first layer instead.
  const ordered = functional ? kerasLayerOrder(topology) : withInputLayer(layers);
  const shapes = layerOutputShapes({ ...topology, config: { ...topology.config, layers: ordered } });
  const modelName = topology.config.name;

  const byLayer = groupWeights(weights, ordered);
  const kerasVars: KerasVarsGroup[] = [{ path: '', name: modelName, variables: [] }];
  const counters = new Map<string, number>();
  // The saver and the legacy layer_names walk model.layers, which a Sequential's InputLayer is not part of.
  const saved = functional ? ordered : ordered.filter((l) => l.class_name !== 'InputLayer');
  const legacyLayers: LegacyLayerWeights[] = [];
  for (const layer of saved) {
    const name = layerName(layer);
    const path = `layers/${uniqueComponent(toSnakeCase(layer.class_name), counters)}`;
    const own = byLayer.get(name) ?? [];
    const groups = layerVarsGroups(layer, path, own);
    kerasVars.push(...groups);
    // Legacy files list a layer's weights as Keras's `layer.weights` does: a Bidirectional's forward
    // layer before its backward one (tracked in that order), unlike the saver's dir() walk.
    const variables = [...groups].sort((a, b) => Number(a.path.includes('/backward_layer')) - Number(b.path.includes('/backward_layer'))).flatMap((g) => g.variables);
    legacyLayers.push({ name, weightNames: variables.map((v) => `${v.tfjsName}:0`), variables });
  }
  const kerasLayers = ordered.map((layer, i) => {
    const out: Json = {
      module: 'keras.layers',
      class_name: layer.class_name,
      config: layerConfig(layer, 'keras'),
      registered_name: null,
    };
    if (layer.class_name !== 'InputLayer') {
      const build = buildShape(layer, functional ? null : ordered[i - 1], shapes);
      if (build !== undefined) out.build_config = { input_shape: build };
    }
    if (functional) {
      out.name = layerName(layer);
      out.inbound_nodes = (layer.inbound_nodes ?? []).map((node) => kerasNode(node, shapes));
    }
    return out;
  });
  const first = shapes.get(layerName(ordered[0]));
  const batchInput = first === undefined || first === null ? null : [null, ...first];
  const kerasConfig: Json = functional
    ? {
      module: 'keras.src.models.functional',
      class_name: 'Functional',
      config: {
        name: modelName,
        trainable: true,
        layers: kerasLayers,
        input_layers: unlistLone(topology.config.input_layers ?? []),
        output_layers: unlistLone(topology.config.output_layers ?? []),
      },
      registered_name: 'Functional',
      build_config: { input_shape: null },
    }
    : {
      module: 'keras',
      class_name: 'Sequential',
      config: { name: modelName, trainable: true, dtype: DTYPE, layers: kerasLayers, build_input_shape: batchInput },
      registered_name: null,
      build_config: { input_shape: batchInput },
    };

  const legacyConfig: Json = {
    class_name: topology.class_name,
    config: {
      name: modelName,
      layers: ordered.map((layer) => {
        const out: Json = { class_name: layer.class_name, config: layerConfig(layer, 'h5') };
        if (functional) {
          out.name = layerName(layer);
          out.inbound_nodes = (layer.inbound_nodes ?? []).map((node) => node.map((r) => [r[0], r[1], r[2], r[3] ?? {}]));
        }
        return out;
      }),
      ...(functional ? { input_layers: topology.config.input_layers, output_layers: topology.config.output_layers } : {}),
    },
  };
  return { modelName, kerasConfig, kerasVars, legacyConfig, legacyLayers };
}

/** Keras's version strings written into the files' metadata. */
export const EXPORT_KERAS_VERSION = { keras: KERAS_VERSION, legacy: LEGACY_KERAS_VERSION } as const;

// ---------------------------------------------------------------------------------------------
// Topology and weights

function readTopology(raw: unknown): KerasTopology {
  let t = raw;
  if (isObject(t) && isObject(t.model_config)) t = t.model_config;
  if (!isObject(t) || (t.class_name !== 'Sequential' && t.class_name !== 'Functional' && t.class_name !== 'Model') || !isObject(t.config) || !Array.isArray(t.config.layers)) {
    throw new KilnError('INTERNAL', 'the checkpoint\'s model.json has no Sequential or Functional modelTopology');
  }
  const config = t.config as KerasTopology['config'];
  return {
    class_name: t.class_name === 'Sequential' ? 'Sequential' : 'Functional',
    config: { ...config, name: typeof config.name === 'string' ? config.name : 'model' },
    keras_version: String(t.keras_version ?? ''),
    backend: String(t.backend ?? ''),
  };
}

interface NamedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

function decodeWeights(modelJson: TfjsModelJson, bytes: Uint8Array): NamedWeight[] {
  const specs = (modelJson.weightsManifest ?? []).flatMap((g) => g.weights ?? []);
  const out: NamedWeight[] = [];
  let offset = 0;
  for (const spec of specs) {
    if ((spec.dtype ?? 'float32') !== 'float32') {
      throw new KilnError('MODEL_NOT_EXPORTABLE', `weight ${spec.name} is ${spec.dtype}; only float32 weights export to Keras`);
    }
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const size = count * 4;
    if (offset + size > bytes.byteLength) {
      throw new KilnError('INTERNAL', `the checkpoint's weights end at byte ${bytes.byteLength}, before weight ${spec.name} (${offset}+${size})`);
    }
    // Copy: the slice may not be 4-byte aligned, and the values must outlive the buffer.
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + size));
    out.push({ name: spec.name, shape: spec.shape.slice(), values });
    offset += size;
  }
  if (offset !== bytes.byteLength) {
    throw new KilnError('INTERNAL', `the checkpoint's weights file has ${bytes.byteLength} bytes but model.json describes ${offset}`);
  }
  return out;
}

/** tfjs weights by the layer they belong to (the first segment of the weight name). */
function groupWeights(weights: NamedWeight[], layers: TopologyLayer[]): Map<string, NamedWeight[]> {
  const names = new Set(layers.map(layerName));
  const out = new Map<string, NamedWeight[]>();
  for (const w of weights) {
    const owner = w.name.slice(0, w.name.indexOf('/'));
    if (!names.has(owner)) throw new KilnError('INTERNAL', `the checkpoint has weight ${w.name}, which belongs to no layer of the model`);
    const list = out.get(owner) ?? [];
    list.push(w);
    out.set(owner, list);
  }
  return out;
}

function checkExportable(layer: TopologyLayer, format: KerasFormat, name: string): void {
  const info = LAYER_EXPORTS[layer.class_name];
  if (!info) {
    throw new KilnError('MODEL_NOT_EXPORTABLE', `layer '${name}' (${layer.class_name}) has no Keras export; the layers that export are listed in the README's Keras export table`);
  }
  const reason = info.unsupported?.[format] ?? info.differs?.(layer.config);
  if (reason) throw new KilnError('MODEL_NOT_EXPORTABLE', `layer '${name}' (${layer.class_name}) cannot be exported as .${format}: ${reason}`);
  if (info.wrapper) {
    const inner = layer.config.layer;
    if (!isObject(inner) || typeof inner.class_name !== 'string' || !isObject(inner.config)) {
      throw new KilnError('INTERNAL', `layer '${name}' (${layer.class_name}) has no wrapped layer in the checkpoint`);
    }
    checkExportable({ class_name: inner.class_name, config: inner.config }, format, `${name}/${String(inner.config.name ?? inner.class_name)}`);
  }
  for (const key of ['activation', 'recurrent_activation'] as const) {
    const a = layer.config[key];
    if (typeof a !== 'string') continue;
    if (!ACTIVATIONS[a]) throw new KilnError('MODEL_NOT_EXPORTABLE', `layer '${name}' (${layer.class_name}) uses activation '${a}', which Keras does not have`);
    if (ACTIVATIONS[a][format] === null) {
      throw new KilnError('MODEL_NOT_EXPORTABLE',
        `layer '${name}' (${layer.class_name}) uses ${key} '${a}', which Keras 3 computes differently (relu6(x + 3) / 6, not tfjs's and Keras 2's clip(0.2x + 0.5, 0, 1)); use ?format=h5 for Keras 2`);
    }
  }
}

/**
 * A Functional model's layers in Keras 3's `map_graph` order: by decreasing depth from the output,
 * ties by the order the depth-first walk from the outputs first reaches them.
 */
function kerasLayerOrder(topology: KerasTopology): TopologyLayer[] {
  const layers = topology.config.layers;
  const byName = new Map(layers.map((l) => [layerName(l), l]));
  const parents = (l: TopologyLayer) => (l.inbound_nodes?.[0] ?? []).map((r) => r[0]);
  const finished = new Set<string>();
  const inProgress = new Set<string>();
  const decreasing: string[] = [];
  const index = new Map<string, number>();
  const visit = (name: string) => {
    if (finished.has(name)) return;
    if (inProgress.has(name)) throw new KilnError('INTERNAL', `the checkpoint's model has a cycle through layer '${name}'`);
    if (!index.has(name)) index.set(name, index.size);
    inProgress.add(name);
    const layer = byName.get(name);
    if (!layer) throw new KilnError('INTERNAL', `the checkpoint's model refers to a missing layer '${name}'`);
    for (const p of parents(layer)) visit(p);
    finished.add(name);
    inProgress.delete(name);
    decreasing.push(name);
  };
  for (const ref of topology.config.output_layers ?? []) visit(ref[0]);
  const depth = new Map<string, number>();
  const nodeDepth = new Map<string, number>();
  for (const name of [...decreasing].reverse()) {
    const d = Math.max(nodeDepth.get(name) ?? 0, depth.get(name) ?? 0);
    depth.set(name, d);
    nodeDepth.set(name, d);
    for (const p of parents(byName.get(name)!)) nodeDepth.set(p, Math.max(d + 1, nodeDepth.get(p) ?? 0));
  }
  for (const ref of topology.config.input_layers ?? []) {
    if (!depth.has(ref[0])) {
      depth.set(ref[0], 0);
      index.set(ref[0], -1);
    }
  }
  const names = [...depth.keys()].sort((a, b) => depth.get(b)! - depth.get(a)! || index.get(a)! - index.get(b)!);
  return names.map((n) => byName.get(n)!);
}

function withInputLayer(layers: TopologyLayer[]): TopologyLayer[] {
  if (layers.length === 0 || layers[0].class_name === 'InputLayer') return layers;
  const shape = layers[0].config.batch_input_shape;
  if (!Array.isArray(shape)) return layers;
  const input: TopologyLayer = { class_name: 'InputLayer', config: { batch_input_shape: shape, dtype: 'float32', sparse: false, name: 'input_layer' } };
  return [input, ...layers];
}

function uniqueComponent(base: string, counters: Map<string, number>): string {
  const n = counters.get(base) ?? 0;
  counters.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

/** The `vars` groups of one layer and its sub-objects, in the order Keras's saver reaches them. */
function layerVarsGroups(layer: TopologyLayer, path: string, weights: NamedWeight[]): KerasVarsGroup[] {
  const name = layerName(layer);
  const info = LAYER_EXPORTS[layer.class_name];
  const remaining = new Set(weights);
  const take = (cls: string, config: Json, filter: (w: NamedWeight) => boolean, label: string): ExportVariable[] => {
    const spec = LAYER_EXPORTS[cls]?.vars ?? [];
    const out: ExportVariable[] = [];
    for (const v of spec) {
      if (!expected(v, config)) continue;
      const found = [...remaining].find((w) => filter(w) && baseName(w.name) === v);
      if (!found) throw new KilnError('INTERNAL', `the checkpoint has no weight '${v}' for layer '${label}'`);
      remaining.delete(found);
      out.push({ tfjsName: found.name, shape: found.shape, values: found.values });
    }
    return out;
  };
  const groups: KerasVarsGroup[] = [{ path, name, variables: [] }];
  if (info.wrapper === 'bidirectional') {
    const inner = layer.config.layer as { class_name: string; config: Json };
    const innerName = String(inner.config.name ?? toSnakeCase(inner.class_name));
    // `dir()` order: backward_layer before forward_layer.
    for (const [attr, prefix] of [['backward_layer', 'backward_'], ['forward_layer', 'forward_']] as const) {
      const subName = `${prefix}${innerName}`;
      const vars = take(inner.class_name, inner.config, (w) => w.name.split('/')[1]?.startsWith(prefix) ?? false, `${name}/${subName}`);
      groups.push({ path: `${path}/${attr}`, name: subName, variables: [] });
      if (LAYER_EXPORTS[inner.class_name]?.sub === 'cell') groups.push({ path: `${path}/${attr}/cell`, name: cellName(inner.class_name), variables: vars });
      else groups[groups.length - 1].variables = vars;
    }
  } else if (info.wrapper === 'time_distributed') {
    const inner = layer.config.layer as { class_name: string; config: Json };
    const vars = take(inner.class_name, inner.config, () => true, name);
    const innerName = String(inner.config.name ?? toSnakeCase(inner.class_name));
    if (LAYER_EXPORTS[inner.class_name]?.sub === 'cell') {
      groups.push({ path: `${path}/layer`, name: innerName, variables: [] }, { path: `${path}/layer/cell`, name: cellName(inner.class_name), variables: vars });
    } else {
      groups.push({ path: `${path}/layer`, name: innerName, variables: vars });
    }
  } else if (info.sub === 'cell') {
    groups.push({ path: `${path}/cell`, name: cellName(layer.class_name), variables: take(layer.class_name, layer.config, () => true, name) });
  } else {
    groups[0].variables = take(layer.class_name, layer.config, () => true, name);
  }
  if (remaining.size > 0) {
    throw new KilnError('INTERNAL', `the checkpoint has weights Keras's ${layer.class_name} does not: ${[...remaining].map((w) => w.name).join(', ')}`);
  }
  return groups;
}

function cellName(cls: string): string {
  return `${toSnakeCase(cls)}_cell`;
}

/** Whether a layer with this config has the variable (bias only with use_bias, gamma with scale, ...). */
function expected(variable: string, config: Json): boolean {
  if (variable === 'bias') return config.use_bias !== false;
  if (variable === 'gamma') return config.scale !== false;
  if (variable === 'beta') return config.center !== false;
  return true;
}

/** `dense/kernel` → `kernel`; tfjs may suffix a repeated name (`kernel_1`). */
function baseName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return /_\d+$/.test(last) && !/^(recurrent_kernel|depthwise_kernel|pointwise_kernel|moving_mean|moving_variance)$/.test(last)
    ? last.replace(/_\d+$/, '')
    : last;
}

function layerName(layer: TopologyLayer): string {
  return String(layer.name ?? layer.config.name);
}

// ---------------------------------------------------------------------------------------------
// Configs

/**
 * The dtype as Keras 3.0-3.3 wrote it: a plain string. Keras 3.4+ writes a DTypePolicy object but
 * still reads the string, and 3.0-3.3 cannot read the object, so the string loads everywhere.
 */
const DTYPE = 'float32';

/** A layer's config in Keras 3 (`keras`) or Keras 2 (`h5`) form. */
function layerConfig(layer: TopologyLayer, format: KerasFormat): Json {
  const cls = layer.class_name;
  const src = layer.config;
  const info = LAYER_EXPORTS[cls] ?? NONE;
  if (cls === 'InputLayer') {
    const shape = src.batch_input_shape ?? src.batch_shape;
    return format === 'keras'
      ? { batch_shape: shape, dtype: 'float32', sparse: false, name: layerName(layer) }
      : { batch_input_shape: shape, dtype: 'float32', sparse: false, ragged: false, name: layerName(layer) };
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(src)) {
    if (key === 'batch_input_shape' || key === 'input_dtype' || info.drop?.includes(key)) continue;
    if (key === 'dtype') continue;
    out[key] = convertValue(cls, key, value, format);
  }
  out.name = layerName(layer);
  out.trainable = src.trainable !== false;
  out.dtype = DTYPE;
  if (cls === 'LSTM' && out.unit_forget_bias === null) out.unit_forget_bias = false;
  if (cls === 'Embedding' && out.mask_zero === null) out.mask_zero = false;
  if (cls === 'LeakyReLU' && format === 'keras' && 'alpha' in out) {
    out.negative_slope = out.alpha;
    delete out.alpha;
  }
  if (info.wrapper) {
    const inner = src.layer as { class_name: string; config: Json };
    const innerLayer: TopologyLayer = { class_name: inner.class_name, config: inner.config };
    if (format === 'h5') {
      out.layer = { class_name: inner.class_name, config: layerConfig(innerLayer, 'h5') };
    } else if (info.wrapper === 'bidirectional') {
      const innerName = String(inner.config.name ?? toSnakeCase(inner.class_name));
      const forward: Json = { ...layerConfig(innerLayer, 'keras'), name: `forward_${innerName}` };
      const backward = { ...forward, name: `backward_${innerName}`, go_backwards: !(forward.go_backwards === true) };
      out.layer = { module: 'keras.layers', class_name: inner.class_name, config: forward, registered_name: null };
      out.backward_layer = { module: 'keras.layers', class_name: inner.class_name, config: backward, registered_name: null };
    } else {
      out.layer = { module: 'keras.layers', class_name: inner.class_name, config: layerConfig(innerLayer, 'keras'), registered_name: null };
    }
  }
  return out;
}

function convertValue(cls: string, key: string, value: unknown, format: KerasFormat): unknown {
  if (value === null || value === undefined) return null;
  if (key === 'layer') return value; // replaced by the wrapper branch
  if (key === 'activation' || key === 'recurrent_activation') {
    const a = ACTIVATIONS[String(value)];
    return a ? a[format] : value;
  }
  if (key.endsWith('_initializer')) return initializer(value, cls, key, format);
  if (key.endsWith('_regularizer')) return wrapped('keras.regularizers', 'L1L2', pick(value, ['l1', 'l2']), format);
  if (key.endsWith('_constraint')) {
    const c = value as { class_name?: string; config?: Json };
    if (!c.class_name || !CONSTRAINTS.has(c.class_name)) {
      throw new KilnError('MODEL_NOT_EXPORTABLE', `${cls} option '${key}' is constraint ${JSON.stringify(value)}, which has no Keras export`);
    }
    return wrapped('keras.constraints', c.class_name, { ...(c.config ?? {}) }, format);
  }
  return value;
}

function initializer(value: unknown, cls: string, key: string, format: KerasFormat): Json {
  const v = value as { class_name?: string; config?: Json };
  const config = v.config ?? {};
  let name = v.class_name ?? '';
  if (name === 'VarianceScaling') {
    const named = NAMED_VARIANCE_SCALING.find(([s, m, d]) => config.scale === s && config.mode === m && config.distribution === d);
    if (named) name = named[3];
  }
  const info = INITIALIZERS[name];
  if (!info) throw new KilnError('MODEL_NOT_EXPORTABLE', `${cls} option '${key}' is initializer '${name}', which has no Keras export`);
  const out = pick(config, info.keys);
  // tfjs's 'normal' VarianceScaling draws from a truncated normal, which Keras calls 'truncated_normal'.
  if (out.distribution === 'normal') out.distribution = 'truncated_normal';
  if (info.keys.includes('seed') && out.seed === undefined) out.seed = null;
  return wrapped('keras.initializers', info[format], out, format);
}

function wrapped(module: string, className: string, config: Json, format: KerasFormat): Json {
  return format === 'keras' ? { module, class_name: className, config, registered_name: null } : { class_name: className, config };
}

function pick(value: unknown, keys: readonly string[]): Json {
  const src = isObject(value) ? (isObject(value.config) ? value.config : value) : {};
  const out: Json = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out;
}

/**
 * `build_config.input_shape`: the batch shape(s) the layer was built with, when known. A Sequential
 * layer's input is the previous layer's output; a Functional layer's, its inbound tensors.
 */
function buildShape(layer: TopologyLayer, previous: TopologyLayer | null | undefined, shapes: Map<string, SampleShape | null>): unknown {
  const ins = previous === null
    ? (layer.inbound_nodes?.[0] ?? []).map((r) => shapes.get(r[0]) ?? null)
    : [previous === undefined ? null : (shapes.get(layerName(previous)) ?? null)];
  if (ins.length === 0 || ins.some((s) => s === null)) return undefined;
  return ins.length === 1 ? [null, ...ins[0]!] : ins.map((s) => [null, ...s!]);
}

/** A Keras 2 inbound node as Keras 3 writes it: `{args, kwargs}` with `__keras_tensor__` inputs. */
function kerasNode(node: NonNullable<TopologyLayer['inbound_nodes']>[number], shapes: Map<string, SampleShape | null>): unknown {
  const tensors = node.map((ref) => ({ ref, shape: shapes.get(ref[0]) ?? null }));
  // Keras 3 also reads the Keras 2 list form (functional.py deserialize_node's legacy case): use it
  // where an input's shape is unknown rather than write a wrong one.
  if (tensors.some((t) => t.shape === null)) return node.map((r) => [r[0], r[1], r[2], r[3] ?? {}]);
  const kt = tensors.map(({ ref, shape }) => ({
    class_name: '__keras_tensor__',
    config: { shape: [null, ...shape!], dtype: 'float32', keras_history: [ref[0], ref[1], ref[2]] },
  }));
  return { args: kt.length === 1 ? kt : [kt], kwargs: {} };
}

function unlistLone(refs: Array<[string, number, number]>): unknown {
  return refs.length === 1 ? refs[0] : refs;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
