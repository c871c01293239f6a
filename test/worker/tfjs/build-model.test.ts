import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import type { SchemaCompileSpec, SchemaModelSpec } from '../../../core/api.gen';
import { kerasLogName, logKeysForCompile } from '../../../core/compile-spec';
import { isKilnError } from '../../../core/errors';
import { checkModelSpec } from '../../../core/model-spec';
import { buildModel, deriveSeed } from '../../../worker/tfjs/build-model';
import { compileModel } from '../../../worker/tfjs/compile-model';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'keras');
const keras = (name: string) => ({ keras: JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) }) as unknown as SchemaModelSpec;
const list = (inputShape: number[], layers: unknown[]) => ({ inputShape, layers }) as unknown as SchemaModelSpec;
const COMPILE: SchemaCompileSpec = { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] };

before(async () => {
  await tf.setBackend('cpu');
});

/** Trains `epochs` epochs on tiny random data; returns the Keras-named epoch logs. */
async function train(model: tfl.LayersModel, sample: number[], classes: number, opts: { epochs?: number; validationSplit?: number } = {}) {
  const n = 12;
  const x = tf.randomUniform([n, ...sample], 0, 1, 'float32', 7);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes));
  const logs: Array<Record<string, number>> = [];
  await model.fit(x, y, {
    epochs: opts.epochs ?? 2, batchSize: 4, verbose: 0, validationSplit: opts.validationSplit,
    callbacks: { onEpochEnd: async (_e, l) => { logs.push(Object.fromEntries(Object.entries(l ?? {}).map(([k, v]) => [kerasLogName(k), v as number]))); } },
  });
  tf.dispose([x, y]);
  return logs;
}

function kernelValues(model: tfl.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

describe('buildModel: Keras documents train on the cpu backend', () => {
  for (const name of ['keras2-sequential', 'keras2-functional', 'keras3-sequential-cnn', 'keras3-functional', 'keras3-sequential-lstm']) {
    it(`${name} builds and trains for 2 epochs`, async () => {
      const before = tf.memory().numTensors;
      const spec = keras(name);
      const { inputShape, outputShape } = checkModelSpec(spec);
      const model = buildModel(spec, { seed: 42 });
      compileModel(model, COMPILE);
      const logs = await train(model, inputShape as number[], outputShape![0] as number);
      assert.equal(logs.length, 2);
      for (const l of logs) assert.ok(Number.isFinite(l.loss) && Number.isFinite(l.accuracy), JSON.stringify(l));
      model.dispose();
      assert.equal(tf.memory().numTensors, before, `leaked ${tf.memory().numTensors - before} tensors`);
    });
  }
});

describe('buildModel: layer lists', () => {
  it('builds a CNN with the Keras defaults and trains it', async () => {
    const model = buildModel(list([8, 8, 1], [
      { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
      { type: 'max_pooling2d', poolSize: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 10, activation: 'softmax' },
    ]), { seed: 1 });
    assert.deepEqual(model.outputs[0].shape, [null, 10]);
    const conv = model.layers.find((l) => l.getClassName() === 'Conv2D')!;
    // tfjs serialises GlorotUniform as the VarianceScaling it is.
    assert.deepEqual((conv.getConfig().kernelInitializer as { config: object }).config, { scale: 1, mode: 'fanAvg', distribution: 'uniform', seed: deriveSeed(1, 'conv2d/kernel_initializer') });
    compileModel(model, { optimizer: { name: 'sgd', momentum: 0.9 }, loss: 'categorical_crossentropy' });
    const logs = await train(model, [8, 8, 1], 10);
    assert.ok(Number.isFinite(logs[1].loss));
    model.dispose();
  });

  it('builds recurrent wrappers', async () => {
    const model = buildModel(list([5, 3], [
      { type: 'bidirectional', layer: { type: 'gru', units: 2, returnSequences: true } },
      { type: 'simple_rnn', units: 2 },
      { type: 'dense', units: 2, activation: 'softmax' },
    ]), { seed: 3 });
    compileModel(model, { optimizer: { name: 'rmsprop' }, loss: 'categorical_crossentropy' });
    const logs = await train(model, [5, 3], 2, { epochs: 1 });
    assert.ok(Number.isFinite(logs[0].loss));
    model.dispose();
  });
});

describe('buildModel: seeds', () => {
  const spec = keras('keras3-sequential-lstm');

  it('gives identical initial weights for the same seed', () => {
    const a = buildModel(spec, { seed: 123 });
    const b = buildModel(spec, { seed: 123 });
    const c = buildModel(spec, { seed: 124 });
    const d = buildModel(spec);
    const e = buildModel(spec);
    assert.deepEqual(kernelValues(a), kernelValues(b));
    assert.notDeepEqual(kernelValues(a), kernelValues(c));
    assert.notDeepEqual(kernelValues(d), kernelValues(e), 'unseeded builds should differ');
    // Two layers with the same initializer must not share a stream.
    const [lstmKernel, , , denseKernel] = kernelValues(a);
    assert.notDeepEqual(lstmKernel.slice(0, 12), denseKernel.slice(0, 12));
    for (const m of [a, b, c, d, e]) m.dispose();
  });
});

describe('buildModel: round trips', () => {
  it('a built model round-trips through toJSON and matches modelFromJSON of the topology', async () => {
    for (const name of ['keras2-functional', 'keras3-sequential-cnn']) {
      const spec = keras(name);
      const model = buildModel(spec);
      const json = model.toJSON(null, false) as unknown as Record<string, unknown>;
      const again = await tfl.models.modelFromJSON(json as never);
      assert.deepEqual(again.toJSON(null, false), json, name);
      const viaTfjs = await tfl.models.modelFromJSON(checkModelSpec(spec).topology as never);
      assert.deepEqual(viaTfjs.toJSON(null, false), json, `${name}: sync build differs from modelFromJSON`);
      assert.equal(again.countParams(), model.countParams());
      for (const m of [model, again, viaTfjs]) m.dispose();
    }
  });
});

describe('buildModel: errors', () => {
  it('fails with MODEL_INVALID carrying the checkModelSpec problems', () => {
    assert.throws(() => buildModel(list([4], [{ type: 'dense', unit: 3 }])), (err: unknown) => {
      assert.ok(isKilnError(err));
      assert.equal(err.code, 'MODEL_INVALID');
      assert.equal(err.errors[0].pointer, '/model/layers/0/unit');
      return true;
    });
  });

  it('names the layer tfjs rejects', () => {
    assert.throws(() => buildModel(list([6, 6, 1], [{ type: 'dense', units: 2 }, { type: 'conv2d', filters: 2, kernelSize: 2, padding: 'bogus' }])), (err: unknown) => {
      assert.ok(isKilnError(err));
      assert.equal(err.code, 'MODEL_INVALID');
      assert.match(err.message, /Conv2D 'conv2d' \(layer 2\) does not build in tfjs/);
      return true;
    });
  });
});

describe('compileModel', () => {
  it('applies every optimizer option and logs what logKeysForCompile promises', async () => {
    const spec = keras('keras2-sequential');
    const model = buildModel(spec, { seed: 5 });
    const compile: SchemaCompileSpec = { optimizer: { name: 'adam', learningRate: 0.02, beta1: 0.8, beta2: 0.95, epsilon: 1e-6 }, loss: 'categorical_crossentropy', metrics: ['accuracy', 'mae', 'precision'] };
    compileModel(model, compile);
    const opt = model.optimizer as unknown as Record<string, number>;
    assert.deepEqual([opt.learningRate, opt.beta1, opt.beta2, opt.epsilon], [0.02, 0.8, 0.95, 1e-6]);
    const logs = await train(model, [4], 3, { epochs: 1, validationSplit: 0.25 });
    const promised = logKeysForCompile(compile, true).keys.filter((k) => k !== 'val_precision');
    assert.deepEqual(Object.keys(logs[0]).sort(), promised.sort());
    model.dispose();
  });

  it('trains with huber loss and each optimizer kind', async () => {
    for (const name of ['sgd', 'momentum', 'adamax', 'adagrad', 'adadelta'] as const) {
      const model = buildModel(list([4], [{ type: 'dense', units: 3 }]), { seed: 9 });
      compileModel(model, { optimizer: { name }, loss: 'huber', metrics: ['mse'] });
      const logs = await train(model, [4], 3, { epochs: 1 });
      assert.ok(Number.isFinite(logs[0].loss) && Number.isFinite(logs[0].mse), name);
      model.dispose();
    }
  });
});
