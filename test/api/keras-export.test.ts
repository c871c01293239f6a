import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SchemaModelSpec } from '../../core/api.gen';
import type { ArtifactStore } from '../../store/artifact-store';
import { createStore } from '../../store/create-store';
import { bestPointerKey, checkpointKeys, runManifestKey } from '../../store/run-layout';
import { buildModel } from '../../worker/tfjs/build-model';
import { serializeModel } from '../../worker/tfjs/tfjs-model-handle';
import { startApi, auth } from '../support/api-app';
import { assertSameValues, layerWeightNames, readH5, tfjsWeights, trainBriefly, unzipAll, type H5Tree } from '../support/keras-files';

/**
 * GET /v1/runs/{runId}/model.keras: checkpoints built and trained with tfjs, stored in a real file
 * store, exported through the real API, then read back with independent readers (Info-ZIP, the HDF5
 * library through h5wasm) and checked against the layout of /work/shared/formats/keras-format.md.
 * Python Keras cannot be installed here, so nothing below claims Keras itself loaded the files.
 */

/** One model of the acceptance: how it is built, and the `model.weights.h5` layout Keras expects. */
interface Case {
  name: string;
  spec: SchemaModelSpec;
  inputShape: number[];
  outputs: number;
  /** `layers/<path>` → the tfjs weight names that must be its `vars/0`, `/1`, ... */
  layout: Array<[string, string[]]>;
  /** The legacy `/model_weights` `layer_names`, in model.layers order. */
  layerNames: string[];
}

const KERAS3_DENSE = (name: string, units: number, activation = 'linear') => ({
  module: 'keras.layers', class_name: 'Dense', registered_name: null,
  config: { name, units, activation, use_bias: true, trainable: true, dtype: 'float32', kernel_initializer: { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null } },
});
const tensor = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [layer, 0, 0] } });

const CASES: Case[] = [
  {
    name: 'MLP',
    spec: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] } as unknown as SchemaModelSpec,
    inputShape: [4],
    outputs: 3,
    layout: [['dense', ['dense/kernel', 'dense/bias']], ['dense_1', ['dense_1/kernel', 'dense_1/bias']]],
    layerNames: ['dense', 'dense_1'],
  },
  {
    name: 'CNN',
    spec: {
      inputShape: [8, 8, 1],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'batchNormalization' },
        { type: 'maxPooling2d', poolSize: 2 },
        { type: 'conv2d', filters: 2, kernelSize: 2, useBias: false },
        { type: 'flatten' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    } as unknown as SchemaModelSpec,
    inputShape: [8, 8, 1],
    outputs: 3,
    layout: [
      ['conv2d', ['conv2d/kernel', 'conv2d/bias']],
      ['batch_normalization', ['batch_normalization/gamma', 'batch_normalization/beta', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance']],
      ['max_pooling2d', []],
      ['conv2d_1', ['conv2d_1/kernel']],
      ['flatten', []],
      ['dense', ['dense/kernel', 'dense/bias']],
    ],
    layerNames: ['conv2d', 'batch_normalization', 'max_pooling2d', 'conv2d_1', 'flatten', 'dense'],
  },
  {
    name: 'Functional with BatchNormalization and Concatenate',
    // Layer names differ from class names: Keras's weight paths use the class, never the name.
    spec: {
      keras: {
        module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
        config: {
          name: 'two_paths',
          layers: [
            { module: 'keras.layers', class_name: 'InputLayer', registered_name: null, name: 'features', config: { batch_shape: [null, 4], dtype: 'float32', name: 'features' }, inbound_nodes: [] },
            { ...KERAS3_DENSE('hidden', 6, 'relu'), name: 'hidden', inbound_nodes: [{ args: [tensor('features')], kwargs: {} }] },
            { module: 'keras.layers', class_name: 'BatchNormalization', registered_name: null, name: 'norm', config: { name: 'norm', axis: -1, momentum: 0.9, epsilon: 0.001 }, inbound_nodes: [{ args: [tensor('hidden')], kwargs: {} }] },
            { ...KERAS3_DENSE('skip', 5), name: 'skip', inbound_nodes: [{ args: [tensor('features')], kwargs: {} }] },
            { module: 'keras.layers', class_name: 'Concatenate', registered_name: null, name: 'joined', config: { name: 'joined', axis: -1 }, inbound_nodes: [{ args: [[tensor('norm'), tensor('skip')]], kwargs: {} }] },
            { ...KERAS3_DENSE('species', 3, 'softmax'), name: 'species', inbound_nodes: [{ args: [tensor('joined')], kwargs: {} }] },
          ],
          input_layers: ['features', 0, 0],
          output_layers: ['species', 0, 0],
        },
      },
    } as unknown as unknown as SchemaModelSpec,
    inputShape: [4],
    outputs: 3,
    // keras-format.md §2, from keras3_functional.json: input_layer, dense, batch_normalization, dense_1, concatenate, dense_2.
    layout: [
      ['input_layer', []],
      ['dense', ['hidden/kernel', 'hidden/bias']],
      ['batch_normalization', ['norm/gamma', 'norm/beta', 'norm/moving_mean', 'norm/moving_variance']],
      ['dense_1', ['skip/kernel', 'skip/bias']],
      ['concatenate', []],
      ['dense_2', ['species/kernel', 'species/bias']],
    ],
    layerNames: ['features', 'hidden', 'norm', 'skip', 'joined', 'species'],
  },
];

describe('GET /v1/runs/{runId}/model.keras', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  let store: ArtifactStore;
  const models = new Map<string, { runId: string; model: LayersModel }>();

  /** Stores a run as the worker leaves it: run.json, and optionally a best and a final checkpoint. */
  async function storeRun(runId: string, model: LayersModel | null, opts: { status: string; tenant?: string }): Promise<void> {
    const tenant = opts.tenant ?? 'acme';
    const now = new Date().toISOString();
    const run = { runId, jobId: runId.replace(/^run_/, 'job_'), status: opts.status, stopReason: null, backend: 'cpu', history: [], best: null, artifacts: [], createdAt: now, updatedAt: now };
    await store.put(runManifestKey(tenant, runId), Buffer.from(JSON.stringify(run)));
    if (!model) return;
    const saved = await serializeModel(model, { classes: ['a', 'b', 'c'] });
    for (const [path, version] of [['best', 'a001-000001'], ['final', 'a001-000001']] as const) {
      const keys = checkpointKeys(tenant, runId, path, version);
      await store.put(keys.modelJson, Buffer.from(JSON.stringify(saved.modelJson)));
      await store.put(keys.weightsBin, saved.weights);
    }
    const best = checkpointKeys(tenant, runId, 'best', 'a001-000001');
    await store.put(bestPointerKey(tenant, runId), Buffer.from(JSON.stringify({ epoch: 1, path: 'best', key: best.prefix.slice(0, -1), monitor: 'val_loss', value: 0.5, savedAt: now })));
  }

  const get = (url: string, tenant: 'acme' | 'globex' = 'acme') => api.app.inject({ method: 'GET', url, headers: auth(tenant) });

  before(async () => {
    await tf.setBackend('cpu');
    api = await startApi('keras-export');
    store = createStore({ uri: 'file://' + api.storeDir, file: { fsync: false } });
    let n = 0;
    for (const c of CASES) {
      const model = buildModel(c.spec, { seed: 3 });
      await trainBriefly(model, c.inputShape, c.outputs);
      const runId = `run_kerasexport${String(n++).padStart(4, "0")}`;
      await storeRun(runId, model, { status: 'succeeded' });
      models.set(c.name, { runId, model });
    }
  });

  after(async () => {
    for (const { model } of models.values()) model.dispose();
    await api?.close();
  });

  for (const c of CASES) {
    describe(c.name, () => {
      test('.keras: a stored zip of metadata.json, config.json and model.weights.h5 in Keras\'s layout, values equal to the tfjs weights', async () => {
        const { runId, model } = models.get(c.name)!;
        const res = await get(`/v1/runs/${runId}/model.keras`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers['content-type'], 'application/zip');
        assert.equal(Number(res.headers['content-length']), res.rawPayload.length);
        assert.match(String(res.headers['content-disposition']), new RegExp(`filename="${runId}.keras"`));

        const zip = unzipAll(res.rawPayload);
        assert.deepEqual(zip.names, ['metadata.json', 'config.json', 'model.weights.h5']);
        assert.deepEqual(zip.methods, ['stor', 'stor', 'stor'], 'Keras writes STORED members');
        const metadata = JSON.parse(zip.files.get('metadata.json')!.toString('utf8'));
        assert.match(metadata.keras_version, /^3\.\d+\.\d+$/);
        assert.match(metadata.date_saved, /^\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d$/);

        const config = JSON.parse(zip.files.get('config.json')!.toString('utf8'));
        assertKeras3Document(config, model, c);

        const tree = await readH5(zip.files.get('model.weights.h5')!);
        assertKerasWeightsLayout(tree, model, c);
      });

      test('?format=h5: the legacy full-model HDF5, weights by layer_names and weight_names in Keras\'s order', async () => {
        const { runId, model } = models.get(c.name)!;
        const res = await get(`/v1/runs/${runId}/model.keras?format=h5`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers['content-type'], 'application/x-hdf5');
        assert.equal(Number(res.headers['content-length']), res.rawPayload.length);
        assert.match(String(res.headers['content-disposition']), new RegExp(`filename="${runId}.h5"`));
        const tree = await readH5(res.rawPayload);
        assertLegacyLayout(tree, model, c);
      });
    });
  }

  test('?checkpoint=final and an explicit checkpoint folder export those checkpoints', async () => {
    const { runId, model } = models.get('MLP')!;
    for (const checkpoint of ['final', 'checkpoints/final/a001-000001', 'checkpoints/best/a001-000001/model.json']) {
      const res = await get(`/v1/runs/${runId}/model.keras?checkpoint=${encodeURIComponent(checkpoint)}`);
      assert.equal(res.statusCode, 200, `${checkpoint}: ${res.body}`);
      const tree = await readH5(unzipAll(res.rawPayload).files.get('model.weights.h5')!);
      assertSameValues(tree.datasets.get('/layers/dense/vars/0')!.values, tfjsWeights(model).get('dense/kernel')!.values, checkpoint);
    }
  });

  test('an unknown run, another tenant\'s run and a missing checkpoint folder are 404 problem documents', async () => {
    const { runId } = models.get('MLP')!;
    for (const [url, tenant] of [
      ['/v1/runs/run_0000000000nope/model.keras', 'acme'],
      [`/v1/runs/${runId}/model.keras`, 'globex'],
      [`/v1/runs/${runId}/model.keras?format=h5`, 'globex'],
      [`/v1/runs/${runId}/model.keras?checkpoint=checkpoints/best/a009-000001`, 'acme'],
    ] as const) {
      const res = await get(url, tenant);
      assert.equal(res.statusCode, 404, `${tenant} ${url}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json().code, 'NOT_FOUND');
    }
  });

  test('a run that failed before its first checkpoint, or has none yet, is a 404 saying so', async () => {
    await storeRun('run_kerasfailed0000', null, { status: 'failed' });
    for (const q of ['', '?checkpoint=final', '?format=h5']) {
      const res = await get(`/v1/runs/run_kerasfailed0000/model.keras${q}`);
      assert.equal(res.statusCode, 404, res.body);
      assert.match(res.json().detail, /run run_kerasfailed0000 failed before storing a (best checkpoint|final model), so there is no model to export/);
    }
    await storeRun('run_kerasrunning0000', null, { status: 'running' });
    const running = await get('/v1/runs/run_kerasrunning0000/model.keras');
    assert.equal(running.statusCode, 404, running.body);
    assert.match(running.json().detail, /run run_kerasrunning0000 \(running\) has no best checkpoint yet/);
  });

  test('a checkpoint that is not one is a 400 naming the query field; a bad format is a 400', async () => {
    const { runId } = models.get('MLP')!;
    for (const checkpoint of ['../globex', 'logs/training_log.csv', 'checkpoints/best']) {
      const res = await get(`/v1/runs/${runId}/model.keras?checkpoint=${encodeURIComponent(checkpoint)}`);
      assert.equal(res.statusCode, 400, `${checkpoint}: ${res.body}`);
      assert.equal(res.json().errors[0].pointer, '/query/checkpoint');
    }
    const res = await get(`/v1/runs/${runId}/model.keras?format=savedmodel`);
    assert.equal(res.statusCode, 400, res.body);
  });

  test('a layer Keras 3 does not have (ThresholdedReLU) is a 409 naming it for .keras; the Keras 2 .h5 still exports', async () => {
    const model = buildModel({ inputShape: [3], layers: [{ type: 'dense', units: 2 }, { type: 'thresholdedRelu', theta: 0.5, name: 'gate' }] } as unknown as SchemaModelSpec);
    try {
      await storeRun('run_kerasthreshold00', model, { status: 'succeeded' });
      const res = await get('/v1/runs/run_kerasthreshold00/model.keras');
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'MODEL_NOT_EXPORTABLE');
      assert.match(res.json().detail, /layer 'gate' \(ThresholdedReLU\) cannot be exported as \.keras/);
      const h5 = await get('/v1/runs/run_kerasthreshold00/model.keras?format=h5');
      assert.equal(h5.statusCode, 200, h5.body);
      const tree = await readH5(h5.rawPayload);
      assert.deepEqual(decodeNames(tree.groups.get('/model_weights')!.layer_names), ['dense', 'gate']);
    } finally {
      model.dispose();
    }
  });
});

function decodeNames(value: unknown): string[] {
  return (value as Array<string | Uint8Array>).map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString('utf8')));
}

/** config.json: the Keras 3 `serialize_keras_object(model)` document (keras-format.md §1). */
function assertKeras3Document(config: any, model: LayersModel, c: Case): void {
  const functional = c.name.startsWith('Functional');
  assert.deepEqual(Object.keys(config).sort(), ['build_config', 'class_name', 'config', 'module', 'registered_name']);
  assert.equal(config.class_name, functional ? 'Functional' : 'Sequential');
  assert.equal(config.module, functional ? 'keras.src.models.functional' : 'keras');
  const layers = config.config.layers as any[];
  // A Sequential keeps its InputLayer first in config.json (Keras 3 does); a Functional lists them all.
  assert.equal(layers[0].class_name, 'InputLayer');
  assert.deepEqual(layers[0].config.batch_shape, [null, ...c.inputShape]);
  for (const layer of layers) {
    assert.equal(layer.module, 'keras.layers');
    assert.equal(layer.registered_name, null);
    assert.equal('batch_input_shape' in layer.config, false, 'Keras 3 has no batch_input_shape');
    for (const [key, value] of Object.entries(layer.config)) {
      if (key.endsWith('_initializer') && value !== null) assert.equal((value as any).module, 'keras.initializers', `${layer.config.name}.${key}`);
    }
    assert.equal(layer.config.dtype, 'float32', 'a plain dtype string, which every Keras 3 version reads');
  }
  if (functional) {
    assert.deepEqual(config.config.input_layers, ['features', 0, 0]);
    assert.deepEqual(config.config.output_layers, ['species', 0, 0]);
    assert.deepEqual(layers.map((l) => l.name), c.layerNames, 'layers in Keras map_graph order');
    const joined = layers.find((l) => l.name === 'joined');
    assert.deepEqual(joined.inbound_nodes[0].args[0].map((t: any) => t.config.keras_history), [['norm', 0, 0], ['skip', 0, 0]]);
    assert.deepEqual(joined.inbound_nodes[0].args[0].map((t: any) => t.config.shape), [[null, 6], [null, 5]]);
    assert.deepEqual(joined.build_config, { input_shape: [[null, 6], [null, 5]] });
  } else {
    assert.deepEqual(config.build_config, { input_shape: [null, ...c.inputShape] });
    assert.deepEqual(layers.slice(1).map((l) => l.config.name), c.layerNames);
  }
  // tfjs lists a Sequential's InputLayer among model.layers too.
  assert.equal(layers.length, model.layers.length);
}

/** model.weights.h5 (keras-format.md §2): exactly the expected groups, datasets, shapes and values. */
function assertKerasWeightsLayout(tree: H5Tree, model: LayersModel, c: Case): void {
  const weights = tfjsWeights(model);
  assert.deepEqual(tree.children.get('/'), ['layers', 'vars']);
  assert.deepEqual(tree.children.get('/vars'), [], 'the model itself has no variables');
  assert.deepEqual(tree.groups.get('/vars'), { name: model.name });
  assert.deepEqual([...tree.children.get('/layers')!].sort(), c.layout.map(([p]) => p).sort());
  const expectedDatasets: string[] = [];
  for (const [path, names] of c.layout) {
    const vars = `/layers/${path}/vars`;
    assert.deepEqual(tree.children.get(`/layers/${path}`), ['vars']);
    assert.deepEqual(tree.children.get(vars), names.map((_, i) => String(i)), `${vars} holds ${names.length} variables named 0..n-1`);
    names.forEach((name, i) => {
      const ds = tree.datasets.get(`${vars}/${i}`)!;
      const w = weights.get(name)!;
      assert.ok(w, `tfjs has weight ${name}`);
      assert.deepEqual(ds.shape, w.shape, `${vars}/${i} shape`);
      assert.equal(ds.dtype, '<f', `${vars}/${i} is little-endian float32`);
      assert.equal(ds.chunks, null, 'contiguous');
      assert.deepEqual(ds.filters, [], 'no compression');
      assert.deepEqual(ds.attrs, [], 'no attributes on datasets');
      assertSameValues(ds.values, w.values, `${vars}/${i}`);
      expectedDatasets.push(`${vars}/${i}`);
    });
  }
  assert.deepEqual([...tree.datasets.keys()].sort(), expectedDatasets.sort(), 'no other datasets');
  assert.equal(expectedDatasets.length, model.weights.length, 'every tfjs weight is exported once');
}

/** The legacy HDF5 (keras-format.md §3). */
function assertLegacyLayout(tree: H5Tree, model: LayersModel, c: Case): void {
  const root = tree.groups.get('/')!;
  assert.match(String(root.keras_version), /^2\.\d+\.\d+$/);
  assert.equal(root.backend, 'tensorflow');
  assert.equal(root.training_config, undefined, 'not compiled: no training_config');
  const modelConfig = JSON.parse(String(root.model_config));
  assert.equal(modelConfig.class_name, c.name.startsWith('Functional') ? 'Functional' : 'Sequential');
  assert.equal(JSON.stringify(modelConfig).includes('"module"'), false, 'Keras 2 form: no module keys');
  assert.deepEqual(modelConfig.config.layers[0].config.batch_input_shape, [null, ...c.inputShape]);

  const mw = tree.groups.get('/model_weights')!;
  assert.deepEqual(decodeNames(mw.layer_names), c.layerNames);
  assert.equal(mw.backend, 'tensorflow');
  assert.deepEqual([...tree.children.get('/model_weights')!].sort(), [...c.layerNames].sort());
  const weights = tfjsWeights(model);
  // Loading is by order: layers with weights in layer_names order, values in weight_names order.
  const loaded: string[] = [];
  for (const name of c.layerNames) {
    const group = tree.groups.get(`/model_weights/${name}`)!;
    const weightNames = group.weight_names === undefined || (group.weight_names as ArrayLike<unknown>).length === 0 ? [] : decodeNames(group.weight_names);
    const expected = layerWeightNames(model, name);
    assert.deepEqual(weightNames, expected.map((n) => `${n}:0`), `${name} weight_names`);
    for (const wn of weightNames) {
      const ds = tree.datasets.get(`/model_weights/${name}/${wn}`)!;
      assert.ok(ds, `dataset /model_weights/${name}/${wn}`);
      const w = weights.get(wn.replace(/:0$/, ''))!;
      assert.deepEqual(ds.shape, w.shape);
      assertSameValues(ds.values, w.values, wn);
      loaded.push(wn);
    }
  }
  assert.equal(loaded.length, model.weights.length);
}
