import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, backendsReady, dilateFilter, randn, runKernel } from './kernel-harness';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { name: 'valid, stride 1, multiplier 1', x: [2, 7, 7, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'valid' },
  { name: 'same, stride 2, multiplier 2, odd sizes', x: [2, 8, 9, 3], filter: [3, 2, 3, 2], strides: 2, pad: 'same' },
  { name: 'explicit, strides [1,2], multiplier 3', x: [1, 9, 6, 2], filter: [2, 3, 2, 3], strides: [1, 2], pad: [[0, 0], [2, 1], [1, 0], [0, 0]] },
  { name: 'numeric pad, stride 3', x: [2, 10, 8, 4], filter: [4, 3, 4, 1], strides: 3, pad: 1 },
];

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  before(backendsReady);

  for (const [i, c] of CASES.entries()) {
    it(`matches the cpu kernel: ${c.name}`, () => {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, true);
      const inputs = { dy: randn(info.outShape, 81 + i), filter: randn(c.filter, 181 + i) };
      const attrs = { strides: c.strides, dilations: 1, pad: c.pad, inputShape: c.x };
      assertClose(runKernel('wasm', 'DepthwiseConv2dNativeBackpropInput', inputs, attrs),
        runKernel('cpu', 'DepthwiseConv2dNativeBackpropInput', inputs, attrs), 1e-4, c.name);
    });
  }

  for (const pad of ['valid', 'same'] as const) {
    it(`applies dilations like the zero-spread filter (${pad})`, () => {
      const filter = randn([3, 2, 2, 2], 91);
      const [rh, rw] = [2, 3];
      const x: [number, number, number, number] = [2, 12, 11, 2];
      const info = tf.backend_util.computeConv2DInfo(x, filter.shape as never, 1, [rh, rw], pad, undefined, true);
      const dy = randn(info.outShape, 92);
      const got = runKernel('wasm', 'DepthwiseConv2dNativeBackpropInput', { dy, filter },
        { strides: 1, dilations: [rh, rw], pad, inputShape: x });
      const reference = runKernel('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy, filter: dilateFilter(filter, rh, rw) },
        { strides: 1, dilations: 1, pad, inputShape: x });
      assertClose(got, reference, 1e-4, 'dilated');
    });
  }
});
