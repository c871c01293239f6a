import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from '../../../../worker/tfjs/kernels/register-wasm-kernels';
import { backendsReady } from './kernel-harness';

describe('registerWasmTrainingKernels', () => {
  before(backendsReady);

  it('leaves the wasm backend with every training kernel it lacked', () => {
    const wasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    for (const name of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum']) {
      assert.ok(wasm.has(name), `${name} registered`);
    }
  });

  it('registers nothing on a repeat call', () => {
    assert.deepEqual(registerWasmTrainingKernels(), []);
    assert.deepEqual(registerWasmTrainingKernels(), []);
  });
});
