import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, backendsReady, randn, runKernel } from './kernel-harness';

describe('UnsortedSegmentSum on wasm', () => {
  before(backendsReady);

  const ids = (values: number[], shape = [values.length]) => ({ values: Int32Array.from(values), shape });

  it('matches the cpu kernel, dropping ids outside [0, numSegments)', () => {
    const inputs = { x: randn([7, 3, 2], 1), segmentIds: ids([2, 0, 2, -1, 5, 4, 0]) };
    const attrs = { numSegments: 5 };
    const got = runKernel('wasm', 'UnsortedSegmentSum', inputs, attrs);
    assert.deepEqual(got.shape, [5, 3, 2]);
    assertClose(got, runKernel('cpu', 'UnsortedSegmentSum', inputs, attrs), 1e-6);
  });

  it('sums int32 values', () => {
    const x = { values: Int32Array.from([1, 2, 3, 4, 5, 6]), shape: [3, 2] };
    const got = runKernel('wasm', 'UnsortedSegmentSum', { x, segmentIds: ids([1, 1, 0]) }, { numSegments: 3 });
    assert.deepEqual(Array.from(got.values), [5, 6, 4, 6, 0, 0]);
  });

  it('reduces over every axis of rank-2 segment ids, as TensorFlow does', () => {
    const x = { values: Float32Array.from([1, 10, 100, 1000, 2, 20]), shape: [2, 3] };
    const got = runKernel('wasm', 'UnsortedSegmentSum', { x, segmentIds: ids([0, 1, 0, 1, 1, 0], [2, 3]) }, { numSegments: 2 });
    assert.deepEqual(got.shape, [2]);
    assert.deepEqual(Array.from(got.values), [1 + 100 + 20, 10 + 1000 + 2]);
  });

  it('gives an embedding lookup the same gradient through tf.grad as the cpu backend', async () => {
    const table = randn([6, 4], 2);
    const gradOn = async (backend: string): Promise<Float32Array> => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const loss = (t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor1d([3, 1, 3, 0, 5], 'int32'))));
        return tf.grad(loss)(tf.tensor2d(table.values, [6, 4])).dataSync() as Float32Array;
      });
    };
    const cpu = await gradOn('cpu');
    const wasm = await gradOn('wasm');
    assertClose({ values: wasm, shape: [6, 4] }, { values: cpu, shape: [6, 4] }, 1e-6);
  });
});
