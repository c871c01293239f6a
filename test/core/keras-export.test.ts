import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { SchemaModelSpec } from '../../core/api.gen';
import { isKilnError } from '../../core/errors';
import { LAYER_EXPORTS, toKerasExport, toSnakeCase, type TfjsModelJson } from '../../core/keras-export';
import { buildModel } from '../../worker/tfjs/build-model';
import { serializeModel } from '../../worker/tfjs/tfjs-model-handle';
import { assertSameValues, tfjsWeights } from '../support/keras-files';

/** Every layer Kiln builds, in two Sequential models (images, then sequences). */
const IMAGE_LAYERS = [
  { type: 'conv2d', filters: 2, kernelSize: 3, activation: 'relu' },
  { type: 'depthwiseConv2d', kernelSize: 2, depthMultiplier: 2 },
  { type: 'separableConv2d', filters: 3, kernelSize: 2, padding: 'same' },
  { type: 'conv2dTranspose', filters: 2, kernelSize: 2 },
  { type: 'batchNormalization', center: false },
  { type: 'maxPooling2d' },
  { type: 'zeroPadding2d', padding: 1 }, { type: 'cropping2d', cropping: 1 }, { type: 'upSampling2d' },
  { type: 'averagePooling2d' },
  { type: 'prelu' }, { type: 'leakyRelu', alpha: 0.2 }, { type: 'elu' }, { type: 'relu', maxValue: 6 }, { type: 'softmax' },
  { type: 'globalAveragePooling2d' },
  { type: 'dense', units: 6, activation: 'swish', kernelInitializer: 'heNormal', kernelRegularizer: { l2: 0.01 }, kernelConstraint: 'maxNorm' },
  { type: 'layerNormalization' }, { type: 'dropout', rate: 0.1 }, { type: 'gaussianNoise', stddev: 0.1 }, { type: 'gaussianDropout', rate: 0.1 }, { type: 'alphaDropout', rate: 0.1 },
  { type: 'activation', activation: 'tanh' }, { type: 'rescaling', scale: 2 },
  { type: 'reshape', targetShape: [3, 2] }, { type: 'permute', dims: [2, 1] }, { type: 'flatten' }, { type: 'repeatVector', n: 3 },
  { type: 'conv1d', filters: 2, kernelSize: 2 }, { type: 'maxPooling1d', poolSize: 1 }, { type: 'averagePooling1d', poolSize: 1 }, { type: 'spatialDropout1d', rate: 0.1 },
  { type: 'masking' },
  { type: 'lstm', units: 3, returnSequences: true }, { type: 'gru', units: 3, returnSequences: true }, { type: 'simpleRnn', units: 3, returnSequences: true },
  { type: 'bidirectional', layer: { type: 'lstm', units: 2, returnSequences: true } },
  { type: 'timeDistributed', layer: { type: 'dense', units: 2 } },
  { type: 'globalMaxPooling1d' },
];

describe('toKerasExport', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('to_snake_case matches Keras naming.py on the doc\'s examples', () => {
    const expected: Record<string, string> = {
      Conv2D: 'conv2d', BatchNormalization: 'batch_normalization', DepthwiseConv2D: 'depthwise_conv2d', Conv2DTranspose: 'conv2d_transpose',
      MaxPooling2D: 'max_pooling2d', InputLayer: 'input_layer', PReLU: 'p_re_lu', ReLU: 're_lu', SimpleRNN: 'simple_rnn', LSTM: 'lstm',
      GlobalAveragePooling1D: 'global_average_pooling1d', SpatialDropout1D: 'spatial_dropout1d', ELU: 'elu',
    };
    for (const [cls, snake] of Object.entries(expected)) assert.equal(toSnakeCase(cls), snake, cls);
  });

  test('covers every layer class model-spec.ts can build', () => {
    const source = readFileSync(join(__dirname, '../../core/model-spec.ts'), 'utf8');
    const classes = [...source.matchAll(/\{ className: '([A-Za-z0-9]+)'/g)].map((m) => m[1]);
    assert.ok(classes.length > 40, `found ${classes.length} layer classes`);
    assert.deepEqual(classes.filter((c) => !(c in LAYER_EXPORTS)), []);
  });

  test('every layer type: Keras paths by class and count, shapes and values as tfjs has them', async () => {
    const model = buildModel({ inputShape: [8, 8, 1], layers: IMAGE_LAYERS } as unknown as SchemaModelSpec, { seed: 2 });
    const embed = buildModel({ inputShape: [4], layers: [{ type: 'embedding', inputDim: 10, outputDim: 3 }, { type: 'globalAveragePooling1d' }, { type: 'dense', units: 1 }] } as unknown as SchemaModelSpec);
    try {
      for (const m of [model, embed]) {
        const saved = await serializeModel(m);
        const exp = toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'keras');
        const weights = tfjsWeights(m);
        const exported = exp.kerasVars.flatMap((g) => g.variables.map((v, i) => ({ path: `${g.path}/vars/${i}`, v })));
        assert.equal(exported.length, m.weights.length);
        for (const { path, v } of exported) {
          const w = weights.get(v.tfjsName)!;
          assert.deepEqual(v.shape, w.shape, path);
          assertSameValues(v.values, w.values, path);
        }
        const legacy = exp.legacyLayers.flatMap((l) => l.weightNames);
        assert.equal(legacy.length, m.weights.length);
      }
      const saved = await serializeModel(model);
      const exp = toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'h5');
      const paths = Object.fromEntries(exp.kerasVars.map((g) => [g.path, g.variables.map((v) => v.tfjsName)]));
      // keras-format.md §2: class-named components with counters, sub-objects by attribute name.
      assert.deepEqual(paths['layers/conv2d'], ['conv2d/kernel', 'conv2d/bias']);
      assert.deepEqual(paths['layers/depthwise_conv2d'], ['depthwise_conv2d/depthwise_kernel', 'depthwise_conv2d/bias']);
      assert.deepEqual(paths['layers/separable_conv2d'], ['separable_conv2d/depthwise_kernel', 'separable_conv2d/pointwise_kernel', 'separable_conv2d/bias']);
      assert.deepEqual(paths['layers/conv2d_transpose'], ['conv2_dtranspose/kernel', 'conv2_dtranspose/bias']);
      // center=False: no beta, the rest shift down.
      assert.deepEqual(paths['layers/batch_normalization'], ['batch_normalization/gamma', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance']);
      assert.deepEqual(paths['layers/p_re_lu'], ['pre_lu/alpha']);
      assert.deepEqual(paths['layers/lstm'], []);
      assert.deepEqual(paths['layers/lstm/cell'], ['lstm/kernel', 'lstm/recurrent_kernel', 'lstm/bias']);
      assert.deepEqual(paths['layers/gru/cell'], ['gru/kernel', 'gru/recurrent_kernel', 'gru/bias']);
      assert.deepEqual(paths['layers/simple_rnn/cell'], ['simple_rnn/kernel', 'simple_rnn/recurrent_kernel', 'simple_rnn/bias']);
      assert.deepEqual(paths['layers/bidirectional/backward_layer/cell'], ['bidirectional/backward_lstm_1/kernel', 'bidirectional/backward_lstm_1/recurrent_kernel', 'bidirectional/backward_lstm_1/bias']);
      assert.deepEqual(paths['layers/bidirectional/forward_layer/cell'], ['bidirectional/forward_lstm_1/kernel', 'bidirectional/forward_lstm_1/recurrent_kernel', 'bidirectional/forward_lstm_1/bias']);
      assert.deepEqual(paths['layers/time_distributed/layer'], ['time_distributed/kernel', 'time_distributed/bias']);
      assert.deepEqual(paths['layers/dense'], ['dense/kernel', 'dense/bias']);
      for (const p of ['layers/max_pooling2d', 'layers/flatten', 'layers/re_lu', 'layers/leaky_re_lu', 'layers/dropout', 'layers/spatial_dropout1d', 'layers/global_max_pooling1d']) {
        assert.deepEqual(paths[p], [], p);
      }
      assert.equal(paths['layers/input_layer'], undefined, 'a Sequential saves no InputLayer');
      // Backward before forward (dir() order), each wrapper's own empty vars first.
      const order = exp.kerasVars.map((g) => g.path).filter((p) => p.startsWith('layers/bidirectional'));
      assert.deepEqual(order, ['layers/bidirectional', 'layers/bidirectional/backward_layer', 'layers/bidirectional/backward_layer/cell', 'layers/bidirectional/forward_layer', 'layers/bidirectional/forward_layer/cell']);
      // Legacy order within Bidirectional: forward weights, then backward (trainable_weights order).
      const bi = exp.legacyLayers.find((l) => l.name === 'bidirectional')!;
      assert.deepEqual(bi.weightNames.map((n) => n.split('/')[1]), ['forward_lstm_1', 'forward_lstm_1', 'forward_lstm_1', 'backward_lstm_1', 'backward_lstm_1', 'backward_lstm_1']);
    } finally {
      model.dispose();
      embed.dispose();
    }
  });

  test('every Keras fixture (Keras 2 and 3 documents, with and without an InputLayer) exports to both formats', async () => {
    const dir = join(__dirname, '../fixtures/keras');
    const docs: Array<[string, unknown]> = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8'))]);
    // Keras 2 style: the input shape on the first layer, no InputLayer.
    docs.push(['batch_input_shape on Dense', { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } }] } }]);
    for (const [file, doc] of docs) {
      const model = buildModel({ keras: doc } as unknown as SchemaModelSpec);
      try {
        const saved = await serializeModel(model);
        for (const format of ['keras', 'h5'] as const) {
          const exp = toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, format);
          assert.equal(exp.kerasVars.reduce((n, g) => n + g.variables.length, 0), model.weights.length, `${file} ${format}`);
          assert.equal(exp.legacyLayers.reduce((n, l) => n + l.variables.length, 0), model.weights.length, `${file} ${format}`);
          const layers = (exp.kerasConfig as any).config.layers;
          assert.equal(layers[0].class_name, 'InputLayer', `${file}: Keras 3 documents start with the InputLayer`);
        }
      } finally {
        model.dispose();
      }
    }
  });

  test('config.json speaks Keras 3: renamed options, named initializers, activations, wrappers', async () => {
    const model = buildModel({ inputShape: [5, 3], layers: [
      { type: 'bidirectional', layer: { type: 'lstm', units: 2, returnSequences: true } },
      { type: 'leakyRelu', alpha: 0.2 },
      { type: 'flatten' },
      { type: 'dense', units: 2, activation: 'swish', kernelInitializer: 'heNormal' },
    ] } as unknown as SchemaModelSpec);
    try {
      const saved = await serializeModel(model);
      const keras = toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'keras').kerasConfig as any;
      const layers = keras.config.layers;
      const bi = layers[1].config;
      assert.equal(bi.layer.config.name, 'forward_lstm');
      assert.equal(bi.backward_layer.config.name, 'backward_lstm');
      assert.equal(bi.backward_layer.config.go_backwards, true);
      assert.equal(bi.layer.config.unit_forget_bias, false, 'tfjs null → false, what tfjs trained with');
      assert.equal('implementation' in bi.layer.config, false);
      assert.deepEqual(bi.layer.config.kernel_initializer, { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null });
      assert.equal(bi.layer.config.recurrent_initializer.class_name, 'OrthogonalInitializer');
      assert.equal(layers[2].config.negative_slope, 0.2);
      assert.equal('alpha' in layers[2].config, false);
      assert.equal(layers[4].config.activation, 'silu');
      assert.equal(layers[4].config.kernel_initializer.class_name, 'HeNormal');
      assert.deepEqual(layers[4].build_config, { input_shape: [null, 20] });
      const legacy = toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'h5').legacyConfig as any;
      assert.equal(legacy.config.layers[2].config.alpha, 0.2, 'Keras 2 spells it alpha');
      assert.equal(legacy.config.layers[4].config.activation, 'swish');
      assert.equal(legacy.config.layers[1].config.layer.class_name, 'LSTM');
      assert.equal(legacy.config.layers[1].config.backward_layer, undefined);
    } finally {
      model.dispose();
    }
  });

  test('a layer the format cannot hold is MODEL_NOT_EXPORTABLE naming it; a truncated weights file is INTERNAL', async () => {
    const model = buildModel({ inputShape: [3], layers: [{ type: 'dense', units: 2 }, { type: 'thresholdedRelu', name: 'gate' }] } as unknown as SchemaModelSpec);
    try {
      const saved = await serializeModel(model);
      assert.throws(() => toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'keras'),
        (e) => isKilnError(e) && e.code === 'MODEL_NOT_EXPORTABLE' && e.status === 409 && /layer 'gate' \(ThresholdedReLU\)/.test(e.message));
      assert.equal(toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'h5').legacyLayers.length, 2);
      assert.throws(() => toKerasExport(saved.modelJson as TfjsModelJson, saved.weights.subarray(4), 'h5'), (e) => isKilnError(e) && e.code === 'INTERNAL');
    } finally {
      model.dispose();
    }
    const up = buildModel({ inputShape: [2, 2, 1], layers: [{ type: 'upSampling2d', interpolation: 'bilinear', name: 'grow' }] } as unknown as SchemaModelSpec);
    try {
      const saved = await serializeModel(up);
      for (const format of ['keras', 'h5'] as const) {
        assert.throws(() => toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, format),
          (e) => isKilnError(e) && e.code === 'MODEL_NOT_EXPORTABLE' && /layer 'grow' \(UpSampling2D\).*half-pixel centers/.test(e.message), format);
      }
    } finally {
      up.dispose();
    }
    const hard = buildModel({ inputShape: [4, 2], layers: [{ type: 'lstm', units: 2, recurrentActivation: 'hard_sigmoid', name: 'memory' }] } as unknown as SchemaModelSpec);
    try {
      const saved = await serializeModel(hard);
      assert.throws(() => toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'keras'),
        (e) => isKilnError(e) && e.code === 'MODEL_NOT_EXPORTABLE' && /layer 'memory' \(LSTM\) uses recurrent_activation 'hard_sigmoid', which Keras 3 computes differently/.test(e.message));
      const legacy = toKerasExport(saved.modelJson as TfjsModelJson, saved.weights, 'h5').legacyConfig as any;
      assert.equal(legacy.config.layers[1].config.recurrent_activation, 'hard_sigmoid');
    } finally {
      hard.dispose();
    }
  });
});
