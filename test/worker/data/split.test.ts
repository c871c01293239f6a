import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stratifiedHoldOut } from '../../../worker/data/split';

describe('split', () => {
  test('stratifiedHoldOut: largest remainders make the total exact and never take a whole small class', () => {
    // 7 rows of class 0, 2 of class 1, 1 of class 2; hold out 3: shares 2.1, 0.6, 0.3 → 2, 1, 0.
    const strata = [0, 0, 1, 0, 0, 2, 0, 1, 0, 0];
    const held = stratifiedHoldOut(strata, 3, 7);
    const by = [0, 1, 2].map((c) => strata.filter((s, r) => s === c && held[r]).length);
    assert.deepEqual(by, [2, 1, 0]);
    for (let seed = 0; seed < 50; seed++) {
      const h = stratifiedHoldOut(strata, 5, seed);
      assert.equal(h.reduce((a, b) => a + b, 0), 5);
      // shares 3.5, 1, 0.5 → 3 + 1 + 0 = 4, one more to the larger remainder tie: class 0 (larger).
      assert.deepEqual([0, 1, 2].map((c) => strata.filter((s, r) => s === c && h[r]).length), [4, 1, 0], `seed ${seed}`);
    }
  });
});
