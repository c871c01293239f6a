/**
 * Small seeded randomness for data handling (validation split, per-epoch order). Our own PRNG rather
 * than tfjs's, so the split and the batch order are the same on every backend and do not depend on
 * how many random numbers weight initialisation consumed.
 */

import { mulberry32 } from '../../core/random';

/** Finaliser of MurmurHash3: spreads every input bit over the output, so nearby seeds diverge. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Stream of the validation split. Epoch `e` uses stream `2 * (e + 1)`: odd and even never meet, so
 * the split and the epoch orders of one seed are independent sequences.
 */
export const SPLIT_STREAM = 1;

/**
 * Returns a generator of uniform floats in [0, 1) (mulberry32) for `seed` and `stream`.
 * Different streams of one seed give unrelated sequences.
 */
export function seededRandom(seed: number, stream: number): () => number {
  return mulberry32(mix32((seed >>> 0) ^ mix32(stream >>> 0) ^ 0x9e3779b9));
}

/** Fisher–Yates shuffle of `values` in place using `random`. */
export function shuffleInPlace(values: Uint32Array, random: () => number): Uint32Array {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
  return values;
}

/**
 * The row order for one epoch: a permutation of `0..count-1` that depends only on
 * `(count, seed, epoch)`, so a resumed run replays the same batches. The worker calls this once
 * per epoch when `fit.shuffle` is on.
 */
export function shuffledIndices(count: number, seed: number, epoch: number): Uint32Array {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return shuffleInPlace(order, seededRandom(seed, 2 * (epoch + 1)));
}
