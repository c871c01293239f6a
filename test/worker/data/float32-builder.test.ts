import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Float32Builder } from '../../../worker/data/float32-builder';

test('Float32Builder keeps values across blocks, in order, at float32 precision', () => {
  for (const n of [0, 1, 3, 4, 5, 9]) {
    const b = new Float32Builder(4);
    for (let i = 0; i < n; i++) b.push(i + 0.1);
    assert.equal(b.length, n);
    if (n > 0) assert.equal(b.get(n - 1), Math.fround(n - 1 + 0.1));
    const out = b.toArray();
    assert.equal(out.length, n);
    assert.deepEqual(Array.from(out), Array.from({ length: n }, (_, i) => Math.fround(i + 0.1)));
  }
});
