import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { backendsReady, randn, runKernel } from './kernel-harness';

describe('GatherV2 on wasm', () => {
  before(backendsReady);

  const ids = (values: number[], shape = [values.length]) => ({ values: Int32Array.from(values), shape });

  it('copies rows along axis 0 exactly as the cpu kernel', () => {
    const inputs = { x: randn([9, 4, 3], 1), indices: ids([8, 0, 3, 3, 5, 1], [2, 3]) };
    const got = runKernel('wasm', 'GatherV2', inputs, { axis: 0, batchDims: 0 });
    const want = runKernel('cpu', 'GatherV2', inputs, { axis: 0, batchDims: 0 });
    assert.deepEqual(got.shape, [2, 3, 4, 3]);
    assert.deepEqual(got, want);
  });

  it('gathers int32 rows', () => {
    const x = { values: Int32Array.from({ length: 12 }, (_, i) => i * 7 - 20), shape: [6, 2] };
    const got = runKernel('wasm', 'GatherV2', { x, indices: ids([5, 2]) }, { axis: 0, batchDims: 0 });
    assert.deepEqual(Array.from(got.values), [50, 57, 8, 15]);
  });

  it('keeps other axes on the original kernel', () => {
    const inputs = { x: randn([3, 5, 2], 2), indices: ids([4, 0, 2]) };
    const got = runKernel('wasm', 'GatherV2', inputs, { axis: 1, batchDims: 0 });
    assert.deepEqual(got, runKernel('cpu', 'GatherV2', inputs, { axis: 1, batchDims: 0 }));
  });

  it('rejects an index out of range', () => {
    assert.throws(
      () => runKernel('wasm', 'GatherV2', { x: randn([4, 2], 3), indices: ids([1, 4]) }, { axis: 0, batchDims: 0 }),
      /index value 4 is not in \[0, 3\]/);
  });
});
