import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SPLIT_STREAM, seededRandom, shuffledIndices } from '../../../worker/data/seeded-random';

const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('shuffledIndices', () => {
  test('is a permutation that depends only on (count, seed, epoch)', () => {
    const a = shuffledIndices(50, 7, 3);
    assert.deepEqual(a, shuffledIndices(50, 7, 3));
    assert.notDeepEqual(a, shuffledIndices(50, 7, 4));
    assert.notDeepEqual(a, shuffledIndices(50, 8, 3));
    assert.deepEqual([...a].sort((x, y) => x - y), iota(50));
  });

  test('handles empty and single-row data', () => {
    assert.deepEqual(Array.from(shuffledIndices(0, 1, 0)), []);
    assert.deepEqual(Array.from(shuffledIndices(1, 1, 0)), [0]);
  });

  test('rejects a negative or fractional count or epoch', () => {
    assert.throws(() => shuffledIndices(-1, 0, 0), RangeError);
    assert.throws(() => shuffledIndices(2.5, 0, 0), RangeError);
    assert.throws(() => shuffledIndices(3, 0, -1), RangeError);
  });

  test('every position is roughly uniform over many epochs', () => {
    // 4000 shuffles of 5 rows: each row lands first about 800 times (a bad shuffle is far off).
    const first = new Array<number>(5).fill(0);
    for (let e = 0; e < 4000; e++) first[shuffledIndices(5, 11, e)[0]]++;
    for (const n of first) assert.ok(n > 700 && n < 900, `first-position counts ${first}`);
  });
});

describe('seededRandom', () => {
  test('is reproducible, in [0, 1), and the split stream differs from the epoch streams', () => {
    const a = seededRandom(1, SPLIT_STREAM);
    const b = seededRandom(1, SPLIT_STREAM);
    const c = seededRandom(1, 2);
    const xs = iota(100).map(() => a());
    assert.deepEqual(xs, iota(100).map(() => b()));
    assert.notDeepEqual(xs, iota(100).map(() => c()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });
});
