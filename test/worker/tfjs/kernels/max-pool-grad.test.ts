import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, backendsReady, randn, runKernel } from './kernel-harness';
import type { HostTensor } from './kernel-harness';

interface Case {
  name: string;
  x: [number, number, number, number];
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  ties?: boolean;
}

const CASES: Case[] = [
  { name: '2×2 stride 2 valid (the reference CNN)', x: [2, 26, 26, 3], filterSize: 2, strides: 2, pad: 'valid' },
  { name: 'odd input, 2×2 stride 2 valid', x: [2, 11, 9, 2], filterSize: 2, strides: 2, pad: 'valid' },
  { name: '3×3 stride 2 same', x: [1, 9, 8, 3], filterSize: 3, strides: 2, pad: 'same' },
  { name: 'overlapping 3×2 windows, stride 1 same', x: [2, 6, 7, 2], filterSize: [3, 2], strides: 1, pad: 'same' },
  { name: 'numeric pad', x: [1, 7, 7, 2], filterSize: 3, strides: 2, pad: 1 },
  { name: 'ties after relu go to the first maximum', x: [2, 8, 8, 2], filterSize: 2, strides: 2, pad: 'valid', ties: true },
];

/** Relu of coarse values, so many windows hold equal maxima (zeros and repeated integers). */
function withTies(t: HostTensor): HostTensor {
  return { values: t.values.map((v) => Math.max(0, Math.round(v * 2))), shape: t.shape };
}

describe('MaxPoolGrad on wasm', () => {
  before(backendsReady);

  for (const [i, c] of CASES.entries()) {
    it(`matches the cpu kernel: ${c.name}`, () => {
      const x = c.ties ? withTies(randn(c.x, 51 + i)) : randn(c.x, 51 + i);
      const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
      const info = tf.backend_util.computePool2DInfo(c.x, c.filterSize, c.strides, 1, c.pad);
      const output = runKernel('cpu', 'MaxPool', { x }, attrs);
      assert.deepEqual(output.shape, info.outShape);
      const inputs = { dy: randn(info.outShape, 151 + i), input: x, output };
      assertClose(runKernel('wasm', 'MaxPoolGrad', inputs, attrs), runKernel('cpu', 'MaxPoolGrad', inputs, attrs), 1e-6, c.name);
    });
  }
});
