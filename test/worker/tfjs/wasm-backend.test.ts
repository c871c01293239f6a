import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initWasmBackend } from '../../../worker/tfjs/wasm-backend';

describe('initWasmBackend', () => {
  it('activates wasm, survives a second call, and trains a small CNN with model.fit', async () => {
    await initWasmBackend();
    await initWasmBackend();
    assert.equal(tf.getBackend(), 'wasm');

    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([32, 8, 8, 1], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 3), 'int32'), 3);
    const before = (model.layers[0].getWeights()[0].dataSync() as Float32Array).slice();
    const history = await model.fit(x, tf.cast(y, 'float32'), { epochs: 3, batchSize: 8, verbose: 0 });
    const after = model.layers[0].getWeights()[0].dataSync() as Float32Array;

    const losses = history.history.loss as number[];
    assert.equal(losses.length, 3);
    assert.ok(losses.every(Number.isFinite), `finite losses ${losses}`);
    assert.ok(after.some((v, i) => v !== before[i]), 'the conv kernel trained');
  });
});
