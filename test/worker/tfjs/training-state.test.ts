import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel } from '../../../worker/tfjs/build-model';
import { compileModel } from '../../../worker/tfjs/compile-model';
import { initWasmBackend } from '../../../worker/tfjs/wasm-backend';
import {
  decodeBundle, decodeTensors, encodeBundle, encodeModelWeights, encodeOptimizer, encodeTensors, restoreModelWeights, restoreOptimizer,
} from '../../../worker/tfjs/training-state';

before(async () => {
  await tf.setBackend('cpu');
});

const spec = { inputShape: [4], layers: [{ type: 'dense', units: 3, activation: 'relu' }, { type: 'dense', units: 2, activation: 'softmax' }] } as any;

/** Whether `b` is the only view of an ArrayBuffer of its own size, so an uploader can move it to another thread. */
const ownsItsMemory = (b: Buffer) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;

test('bundles are one buffer of their own, even small ones, and decode to what was encoded', () => {
  const tiny = encodeBundle([], { iterations: 3 });
  assert.ok(ownsItsMemory(tiny), 'not a slice of Node\'s shared pool');
  assert.deepEqual(decodeBundle(tiny), { entries: [], scalars: { iterations: 3 } });

  const a = tf.tensor2d([[1.5, -2], [Math.PI, 1e-30]]);
  const b = tf.tensor1d([7, -8, 2 ** 30], 'int32');
  const bytes = encodeTensors([a, b]);
  assert.ok(ownsItsMemory(bytes));
  const [a2, b2] = decodeTensors(bytes);
  assert.deepEqual([a2!.dtype, a2!.shape, Array.from(a2!.dataSync())], ['float32', [2, 2], Array.from(a.dataSync())]);
  assert.deepEqual([b2!.dtype, b2!.shape, Array.from(b2!.dataSync())], ['int32', [3], [7, -8, 2 ** 30]]);
  tf.dispose([a, b, a2!, b2!]);
});

test('model weights and Adam\'s state restore bit for bit into a fresh model', async () => {
  const model = buildModel(spec, { seed: 3 });
  compileModel(model, { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy' });
  const x = tf.randomNormal([12, 4], 0, 1, 'float32', 5);
  const y = tf.oneHot(tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0], 'int32'), 2);
  await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
  const weights = encodeModelWeights(model);
  const optimizer = encodeOptimizer(model.optimizer);
  assert.ok(ownsItsMemory(weights) && ownsItsMemory(optimizer));

  const fresh = buildModel(spec, { seed: 99 });
  compileModel(fresh, { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy' });
  await fresh.fit(x, y, { epochs: 1, batchSize: 12, verbose: 0 });
  restoreModelWeights(fresh, weights);
  restoreOptimizer(fresh.optimizer, optimizer);
  const values = (m: typeof model) => m.getWeights().map((w) => Array.from(w.dataSync()));
  assert.deepEqual(values(fresh), values(model));
  // The same next step from the same state: the optimizer's moments and step count came back too.
  await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, shuffle: false });
  await fresh.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, shuffle: false });
  assert.deepEqual(values(fresh), values(model));
  tf.dispose([x, y]);
  model.dispose();
  fresh.dispose();
});

test('on the wasm backend, bundles copy straight from the heap and still round-trip', async () => {
  await initWasmBackend();
  try {
    const model = buildModel(spec, { seed: 4 });
    compileModel(model, { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy' });
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 6);
    const y = tf.oneHot(tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1], 'int32'), 2);
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const weights = encodeModelWeights(model);
    const optimizer = encodeOptimizer(model.optimizer);
    const expected = model.getWeights().map((w) => Array.from(w.dataSync()));
    // Changing the live weights afterwards must not change what was encoded.
    const zeros = model.getWeights().map((w) => tf.zerosLike(w));
    model.setWeights(zeros);
    tf.dispose(zeros);
    restoreModelWeights(model, weights);
    assert.deepEqual(model.getWeights().map((w) => Array.from(w.dataSync())), expected);
    assert.ok(decodeBundle(optimizer).entries.some((e) => e.name.startsWith('slot:') && e.values.some((v) => v !== 0)));
    tf.dispose([x, y]);
    model.dispose();
  } finally {
    await tf.setBackend('cpu');
  }
});
