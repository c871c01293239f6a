import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, backendsReady, dilateFilter, randn, runKernel, undilateFilter } from './kernel-harness';

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

describe('DepthwiseConv2dNativeBackpropFilter on wasm', () => {
  before(backendsReady);

  for (const [i, c] of CASES.entries()) {
    it(`matches the cpu kernel: ${c.name}`, () => {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, true);
      const inputs = { x: randn(c.x, 61 + i), dy: randn(info.outShape, 161 + i) };
      const attrs = { strides: c.strides, dilations: 1, pad: c.pad, filterShape: c.filter };
      assertClose(runKernel('wasm', 'DepthwiseConv2dNativeBackpropFilter', inputs, attrs),
        runKernel('cpu', 'DepthwiseConv2dNativeBackpropFilter', inputs, attrs), 1e-4, c.name);
    });
  }

  for (const pad of ['valid', 'same'] as const) {
    it(`applies dilations like the zero-spread filter (${pad})`, () => {
      const filter: [number, number, number, number] = [3, 2, 2, 2];
      const [rh, rw] = [2, 3];
      const effective = dilateFilter(randn(filter, 1), rh, rw).shape as [number, number, number, number];
      const info = tf.backend_util.computeConv2DInfo([2, 12, 11, 2], filter, 1, [rh, rw], pad, undefined, true);
      const inputs = { x: randn([2, 12, 11, 2], 71), dy: randn(info.outShape, 72) };
      const got = runKernel('wasm', 'DepthwiseConv2dNativeBackpropFilter', inputs,
        { strides: 1, dilations: [rh, rw], pad, filterShape: filter });
      const reference = runKernel('cpu', 'DepthwiseConv2dNativeBackpropFilter', inputs,
        { strides: 1, dilations: 1, pad, filterShape: effective });
      assertClose(got, undilateFilter(reference, rh, rw), 1e-4, 'dilated');
    });
  }
});
