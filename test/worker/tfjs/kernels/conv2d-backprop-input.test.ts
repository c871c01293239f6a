import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, backendsReady, randn, runKernel, wasmDataIds } from './kernel-harness';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
}

// Stride-1 cases take the XNNPACK convolution route; the others check the fallback still answers.
const CASES: Case[] = [
  { name: 'valid, stride 1', x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { name: 'same, stride 1, odd sizes', x: [2, 8, 9, 3], filter: [3, 2, 3, 5], strides: 1, pad: 'same' },
  { name: 'same, stride 1, even filter', x: [1, 6, 5, 2], filter: [4, 2, 2, 3], strides: 1, pad: 'same' },
  { name: 'explicit asymmetric, stride 1', x: [2, 9, 6, 2], filter: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { name: 'padding wider than the filter (fallback)', x: [1, 5, 5, 2], filter: [2, 2, 2, 2], strides: 1, pad: [[0, 0], [3, 0], [0, 0], [0, 0]] },
  { name: 'same, stride 2 (fallback)', x: [2, 8, 9, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { name: 'NCHW, same, stride 1', x: [2, 3, 6, 5], filter: [3, 3, 3, 4], strides: 1, pad: 'same', dataFormat: 'NCHW' },
  { name: 'reference CNN second layer', x: [4, 13, 13, 16], filter: [3, 3, 16, 32], strides: 1, pad: 'valid' },
];

describe('Conv2DBackpropInput on wasm', () => {
  before(backendsReady);

  for (const [i, c] of CASES.entries()) {
    it(`matches the cpu kernel: ${c.name}`, () => {
      const format = c.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast';
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, false, format);
      const inputs = { dy: randn(info.outShape, 31 + i), filter: randn(c.filter, 131 + i) };
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', inputShape: c.x };
      const live = wasmDataIds();
      const got = runKernel('wasm', 'Conv2DBackpropInput', inputs, attrs);
      assert.equal(wasmDataIds(), live, 'intermediates released');
      assertClose(got, runKernel('cpu', 'Conv2DBackpropInput', inputs, attrs), 1e-4, c.name);
    });
  }
});
