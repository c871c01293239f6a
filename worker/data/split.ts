import { KilnError } from '../../core/errors';
import { SPLIT_STREAM, seededRandom, shuffleInPlace } from './seeded-random';

/**
 * The validation split (`data.validationSplit`, with `data.stratify`), the same for in-memory and
 * spilled datasets: both draw the held-out rows with {@link randomHoldOut} or
 * {@link stratifiedHoldOut}, so a seed holds out the same rows whichever path a job takes.
 */

/** Rows of one side of the data, row-major. */
export interface Split {
  /** `count × product(featureShape)` feature values. */
  x: Float32Array;
  /** `count × product(labelShape)` targets. */
  y: Float32Array;
  count: number;
}

/** Rows each side keeps under `validationSplit` (Keras's rounding); both must be at least one. */
export function splitCounts(count: number, fraction: number, source: string): [number, number] {
  const trainCount = Math.floor(count * (1 - fraction));
  const valCount = count - trainCount;
  if (trainCount === 0 || valCount === 0) {
    throw new KilnError(
      'DATASET_INVALID',
      `${source}: data.validationSplit ${fraction} of ${count} rows leaves ${trainCount} for training and ${valCount} ` +
        'for validation; both need at least one row — add rows or change the fraction.',
    );
  }
  return [trainCount, valCount];
}

/**
 * Holds out the last `fraction` of a seeded permutation (Keras's rounding: training keeps
 * `floor(count × (1 − fraction))` rows), keeping file order within each side. With `strata` (a
 * class id per row) the same number of rows is held out, spread over the classes in proportion
 * to their sizes (see {@link stratifiedHoldOut}).
 */
export function splitRows(
  all: Split,
  xWidth: number,
  yWidth: number,
  fraction: number,
  seed: number,
  source: string,
  strata: Float32Array | null,
): [Split, Split] {
  const [trainCount, valCount] = splitCounts(all.count, fraction, source);
  const held = strata ? stratifiedHoldOut(strata, valCount, seed) : randomHoldOut(all.count, valCount, seed);

  const train: Split = { x: new Float32Array(trainCount * xWidth), y: new Float32Array(trainCount * yWidth), count: trainCount };
  const val: Split = { x: new Float32Array(valCount * xWidth), y: new Float32Array(valCount * yWidth), count: valCount };
  let t = 0;
  let v = 0;
  for (let r = 0; r < all.count; r++) {
    const side = held[r] ? val : train;
    const at = held[r] ? v++ : t++;
    side.x.set(all.x.subarray(r * xWidth, (r + 1) * xWidth), at * xWidth);
    side.y.set(all.y.subarray(r * yWidth, (r + 1) * yWidth), at * yWidth);
  }
  return [train, val];
}

/** Marks `valCount` of `count` rows as held out: the last ones of a seeded permutation. */
export function randomHoldOut(count: number, valCount: number, seed: number): Uint8Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  shuffleInPlace(order, seededRandom(seed, SPLIT_STREAM));
  const held = new Uint8Array(count);
  for (let i = count - valCount; i < count; i++) held[order[i]] = 1;
  return held;
}

/**
 * Marks `valCount` rows as held out so that each class (`strata[r]`, a small non-negative integer
 * per row) gives up its share: `n_c × valCount / count` rows rounded down, the rows left over going
 * to the classes with the largest remainders (ties to the larger class, then the lower id) — the
 * largest-remainder rule, so the shares add up to exactly `valCount`. Within a class the rows are
 * a seeded permutation's last ones, as in the plain split.
 */
export function stratifiedHoldOut(strata: ArrayLike<number>, valCount: number, seed: number): Uint8Array {
  const count = strata.length;
  let classes = 0;
  for (let r = 0; r < count; r++) classes = Math.max(classes, strata[r] + 1);
  const sizes = new Uint32Array(classes);
  for (let r = 0; r < count; r++) sizes[strata[r]]++;
  // Rows of each class, in file order, laid out class after class.
  const starts = new Uint32Array(classes + 1);
  for (let c = 0; c < classes; c++) starts[c + 1] = starts[c] + sizes[c];
  const rows = new Uint32Array(count);
  const fill = starts.slice(0, classes);
  for (let r = 0; r < count; r++) rows[fill[strata[r]]++] = r;

  // Exact integer shares (BigInt: sizes × valCount can pass 2^53 for very large files).
  const quota = new Uint32Array(classes);
  const remainder: bigint[] = [];
  let given = 0;
  for (let c = 0; c < classes; c++) {
    const product = BigInt(sizes[c]) * BigInt(valCount);
    quota[c] = Number(product / BigInt(count));
    remainder.push(product % BigInt(count));
    given += quota[c];
  }
  // The fractional parts add up to fewer than the number of classes, so one pass suffices.
  const byRemainder = Array.from({ length: classes }, (_, c) => c)
    .sort((a, b) => (remainder[b] > remainder[a] ? 1 : remainder[b] < remainder[a] ? -1 : 0) || sizes[b] - sizes[a] || a - b);
  for (let k = 0; given < valCount; k++, given++) quota[byRemainder[k]]++;

  const random = seededRandom(seed, SPLIT_STREAM);
  const held = new Uint8Array(count);
  for (let c = 0; c < classes; c++) {
    const members = shuffleInPlace(rows.subarray(starts[c], starts[c + 1]), random);
    for (let i = members.length - quota[c]; i < members.length; i++) held[members[i]] = 1;
  }
  return held;
}

