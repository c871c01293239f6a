import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertClose, backendsReady, randn, runKernel, wasmDataIds } from './kernel-harness';

// [a shape, b shape, transposeA, transposeB]: the shapes a Dense layer's gradients produce, plus
// small and batched products that must keep the original kernel.
const CASES: Array<[number[], number[], boolean, boolean]> = [
  [[96, 200], [96, 130], true, false],
  [[96, 130], [200, 130], false, true],
  [[130, 96], [200, 130], true, true],
  [[1, 96, 200], [1, 96, 70], true, false],
  [[96, 200], [200, 130], false, false],
  [[5, 7], [5, 3], true, false],
  [[2, 40, 50], [2, 60, 50], false, true],
];

describe('BatchMatMul on wasm', () => {
  before(backendsReady);

  for (const [i, [aShape, bShape, transposeA, transposeB]] of CASES.entries()) {
    it(`matches the cpu kernel: [${aShape}]${transposeA ? 'ᵀ' : ''} · [${bShape}]${transposeB ? 'ᵀ' : ''}`, () => {
      const inputs = { a: randn(aShape, 41 + i), b: randn(bShape, 141 + i) };
      const attrs = { transposeA, transposeB };
      const live = wasmDataIds();
      const got = runKernel('wasm', 'BatchMatMul', inputs, attrs);
      assert.equal(wasmDataIds(), live, 'intermediates released');
      assertClose(got, runKernel('cpu', 'BatchMatMul', inputs, attrs), 1e-4);
    });
  }
});
