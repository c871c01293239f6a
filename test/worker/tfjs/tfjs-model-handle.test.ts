import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel } from '../../../worker/tfjs/build-model';
import { compileModel } from '../../../worker/tfjs/compile-model';
import { TfjsModelHandle } from '../../../worker/tfjs/tfjs-model-handle';

before(async () => {
  await tf.setBackend('cpu');
});

const spec = { inputShape: [3], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] } as any;

for (const name of ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad', 'adamax', 'adadelta'] as const) {
  test(`setLearningRate reaches the ${name} optimizer: at rate 0 an epoch changes no weight, at 0.1 it does`, async () => {
    const model = buildModel(spec, { seed: 1 });
    compileModel(model, { optimizer: { name, learningRate: 0.05 }, loss: 'categorical_crossentropy' });
    const handle = new TfjsModelHandle(model, async () => undefined);
    const x = tf.randomNormal([16, 3], 0, 1, 'float32', 7);
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1], 'int32'), 2);
    const weights = () => model.getWeights().map((w) => Array.from(w.dataSync()));
    // Warm the optimizer's slots at the original rate first, as a real run would.
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    handle.setLearningRate(0);
    assert.equal(handle.getLearningRate(), 0);
    const before = weights();
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    assert.deepEqual(weights(), before, 'nothing moved at rate 0');
    handle.setLearningRate(0.1);
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    assert.notDeepEqual(weights(), before, 'weights moved at rate 0.1');
    tf.dispose([x, y]);
    model.dispose();
  });
}

test('snapshots are copies: restoring puts back the snapshot values, and disposing frees them', async () => {
  const model = buildModel(spec, { seed: 2 });
  compileModel(model, { optimizer: { name: 'sgd', learningRate: 0.5 }, loss: 'categorical_crossentropy' });
  const handle = new TfjsModelHandle(model, async () => undefined);
  const snap = handle.snapshotWeights();
  const saved = model.getWeights().map((w) => Array.from(w.dataSync()));
  const x = tf.ones([4, 3]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2);
  await model.fit(x, y, { epochs: 2, verbose: 0 });
  assert.notDeepEqual(model.getWeights().map((w) => Array.from(w.dataSync())), saved);
  handle.restoreWeights(snap);
  assert.deepEqual(model.getWeights().map((w) => Array.from(w.dataSync())), saved);
  const n = tf.memory().numTensors;
  snap.dispose();
  assert.equal(tf.memory().numTensors, n - saved.length);
  tf.dispose([x, y]);
  model.dispose();
});
