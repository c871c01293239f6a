import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, backendsReady, dilateFilter, randn, runKernel, undilateFilter, wasmDataIds } from './kernel-harness';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  x: number[];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CASES: Case[] = [
  { name: 'valid, stride 1', x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { name: 'same, stride 2, odd sizes', x: [2, 8, 9, 3], filter: [3, 2, 3, 5], strides: 2, pad: 'same' },
  { name: 'same, stride 1, even filter', x: [1, 6, 5, 2], filter: [2, 4, 2, 3], strides: 1, pad: 'same' },
  { name: 'explicit, strides [2,1]', x: [2, 9, 6, 2], filter: [3, 3, 2, 3], strides: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { name: 'numeric pad, stride 3, floor', x: [1, 10, 8, 2], filter: [4, 3, 2, 3], strides: 3, pad: 1, dimRoundingMode: 'floor' },
  { name: 'filter larger than stride gap, 1 channel', x: [3, 12, 11, 1], filter: [5, 5, 1, 2], strides: [3, 2], pad: 'valid' },
  { name: 'NCHW, same', x: [2, 3, 6, 5], filter: [3, 3, 3, 4], strides: 1, pad: 'same', dataFormat: 'NCHW' },
  { name: 'NCHW, valid, stride 2', x: [1, 2, 9, 7], filter: [3, 3, 2, 2], strides: 2, pad: 'valid', dataFormat: 'NCHW' },
  { name: 'reference CNN second layer', x: [4, 13, 13, 16], filter: [3, 3, 16, 32], strides: 1, pad: 'valid' },
  // 8 or more input channels take the position-by-position fill.
  { name: '8 channels, same, stride 2, odd sizes', x: [2, 8, 9, 8], filter: [3, 2, 8, 5], strides: 2, pad: 'same' },
  { name: '9 channels, explicit pads, strides [2,1]', x: [2, 9, 6, 9], filter: [3, 3, 9, 3], strides: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { name: '12 channels, numeric pad, stride 3, floor', x: [1, 10, 8, 12], filter: [4, 3, 12, 3], strides: 3, pad: 1, dimRoundingMode: 'floor' },
  { name: 'NCHW with 8 channels, same', x: [2, 8, 6, 5], filter: [3, 3, 8, 4], strides: 1, pad: 'same', dataFormat: 'NCHW' },
];

function dyShape(c: Case): number[] {
  const format = c.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast';
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number], c.filter, c.strides, 1, c.pad, c.dimRoundingMode, false, format);
  return info.outShape;
}

describe('Conv2DBackpropFilter on wasm', () => {
  before(backendsReady);

  for (const [i, c] of CASES.entries()) {
    it(`matches the cpu kernel: ${c.name}`, () => {
      const inputs = { x: randn(c.x, 11 + i), dy: randn(dyShape(c), 101 + i) };
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', dimRoundingMode: c.dimRoundingMode, filterShape: c.filter };
      const live = wasmDataIds();
      const got = runKernel('wasm', 'Conv2DBackpropFilter', inputs, attrs);
      assert.equal(wasmDataIds(), live, 'intermediates released');
      assertClose(got, runKernel('cpu', 'Conv2DBackpropFilter', inputs, attrs), 1e-4, c.name);
    });
  }

  for (const channels of [2, 8]) it(`applies dilations like a convolution with the zero-spread filter (${channels} channels)`, () => {
    const filter: [number, number, number, number] = [2, 3, channels, 3];
    const [rh, rw] = [2, 3];
    const effective = dilateFilter(randn(filter, 5), rh, rw).shape as [number, number, number, number];
    const x = randn([2, 11, 13, channels], 7);
    const info = tf.backend_util.computeConv2DInfo([2, 11, 13, channels], filter, 1, [rh, rw], 'same');
    const dy = randn(info.outShape, 8);
    const got = runKernel('wasm', 'Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: filter, dilations: [rh, rw] });
    const reference = runKernel('cpu', 'Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: effective });
    assertClose(got, undilateFilter(reference, rh, rw), 1e-4, 'dilated');
  });

  it('gives a Conv2D layer the same weight gradient through tf.grad as the cpu backend', async () => {
    const x = randn([3, 9, 9, 2], 21);
    const w = randn([3, 3, 2, 4], 22);
    const r = randn([3, 5, 5, 4], 23);
    const gradOn = async (backend: string): Promise<Float32Array> => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const loss = (filter: tf.Tensor) => tf.sum(tf.mul(
          tf.relu(tf.conv2d(tf.tensor4d(x.values, x.shape as never), filter as tf.Tensor4D, 2, 'same')), tf.tensor4d(r.values, r.shape as never)));
        return tf.grad(loss)(tf.tensor4d(w.values, w.shape as never)).dataSync() as Float32Array;
      });
    };
    const cpu = await gradOn('cpu');
    const wasm = await gradOn('wasm');
    assertClose({ values: wasm, shape: w.shape }, { values: cpu, shape: w.shape }, 1e-4, 'tf.grad');
  });
});
