import type { LabelEncoding } from './label-encoding';
import { writeClassTarget } from './label-encoding';
import type { RowFile } from './row-file';
import { seededRandom, shuffledIndices, shuffleInPlace } from './seeded-random';

/** Bytes of rows one read fetches: a block of the row file. */
const BLOCK_BYTES = 256 * 1024;
/** Blocks whose rows are shuffled together: an epoch's shuffle window (4 MiB of rows by default). */
const WINDOW_BLOCKS = 16;
/** Bytes a sequential copy reads at a time. */
const COPY_BYTES = 1 << 20;

/** One batch of encoded rows, row-major, ready to become tensors. */
export interface RowBatch {
  /** `count × features` values (standardised when the split is). */
  x: Float32Array;
  /** `count × label width` targets. */
  y: Float32Array;
  count: number;
}

/** How a stored row (features, then the label value) becomes a sample. */
export interface RowEncoding {
  /** Feature values per row; the row's next value is its label. */
  features: number;
  /** How a class label becomes a target; null for regression (the stored value is the target). */
  classes: {
    encoding: LabelEncoding;
    /** Stored (provisional) class id → class index in the final class order. */
    remap: Int32Array;
    /** Target values per row: number of classes for one-hot, else 1. */
    width: number;
  } | null;
  /** Training rows' mean and standard deviation per feature, applied as `(x − mean) / std`. */
  standardization: { mean: number[]; std: number[] } | null;
}

/** Block and window sizes; the defaults depend on the row width only, never on configuration. */
export interface SplitLayout {
  /** Rows per block. @defaultValue as many as fit in 256 KiB (at least 1) */
  blockRows?: number;
  /** Blocks per shuffle window. @defaultValue 16 */
  windowBlocks?: number;
}

/**
 * One side (training or validation) of a dataset whose rows live in a {@link RowFile} rather than
 * in memory: the rows of the file not marked in `skip`, read block by block and encoded
 * (standardised, labels one-hot / index / sign) as batches are assembled.
 *
 * Epoch order with a seed: the file's blocks are visited in a seeded permutation, taken
 * `windowBlocks` at a time; the rows of one window are shuffled together, and batches are cut from
 * the resulting stream (a batch may span two windows). Both permutations are pure functions of
 * `(seed, epoch)` and the file's row count and width, so a resumed run (any worker, any
 * `KILN_DATASET_MEMORY_BYTES`) replays the same batches. This is the tf.data `shuffle(buffer)`
 * idea made reproducible; it differs from the in-memory path's full permutation
 * (`shuffledIndices`): rows only mix with rows of the same window. Without a seed, rows come in
 * file order, as on the in-memory path.
 */
export class SpilledSplit {
  readonly blockRows: number;
  readonly windowBlocks: number;

  /**
   * @param file - the rows, `features + 1` values each.
   * @param skip - rows of the file that belong to the other side (1 = skip), or null for all rows.
   * @param count - rows of this side: the file's rows minus the skipped ones.
   */
  constructor(
    readonly file: RowFile,
    readonly skip: Uint8Array | null,
    readonly count: number,
    readonly encoding: RowEncoding,
    layout: SplitLayout = {},
  ) {
    if (file.rowFloats !== encoding.features + 1) {
      throw new RangeError(`row file ${file.path} has ${file.rowFloats} values a row; ${encoding.features} features need ${encoding.features + 1}`);
    }
    this.blockRows = layout.blockRows ?? Math.max(1, Math.floor(BLOCK_BYTES / file.rowBytes));
    this.windowBlocks = layout.windowBlocks ?? WINDOW_BLOCKS;
  }

  /** The same rows, standardised with `stats`. */
  standardized(stats: { mean: number[]; std: number[] }): SpilledSplit {
    return new SpilledSplit(this.file, this.skip, this.count, { ...this.encoding, standardization: stats }, this);
  }

  /**
   * This side's rows as batches of `batchSize` (the last one may be smaller), in epoch `epoch`'s
   * order for `seed`, or in file order when `seed` is null. Each batch has new arrays.
   */
  async *batches(batchSize: number, seed: number | null, epoch: number): AsyncGenerator<RowBatch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    const { features, classes, standardization } = this.encoding;
    const width = classes ? classes.width : 1;
    const stride = this.file.rowFloats;
    const mean = standardization?.mean ?? null;
    const std = standardization?.std ?? null;
    let left = this.count;
    let size = Math.min(batchSize, left);
    let x = new Float32Array(size * features);
    let y = new Float32Array(size * width);
    let n = 0;
    for await (const { rows, picks } of this.windows(seed, epoch)) {
      for (let p = 0; p < picks.length; p++) {
        const at = picks[p] * stride;
        const xo = n * features;
        if (mean && std) {
          for (let j = 0; j < features; j++) x[xo + j] = (rows[at + j] - mean[j]) / std[j];
        } else {
          x.set(rows.subarray(at, at + features), xo);
        }
        const label = rows[at + features];
        if (classes) writeClassTarget(y, n * width, classes.encoding, classes.remap[label]);
        else y[n] = label;
        if (++n === size) {
          yield { x, y, count: n };
          left -= n;
          size = Math.min(batchSize, left);
          x = new Float32Array(size * features);
          y = new Float32Array(size * width);
          n = 0;
        }
      }
    }
    if (left !== 0) throw new Error(`row file ${this.file.path}: expected ${this.count} rows, read ${this.count - left}`);
  }

  /**
   * Mean and population standard deviation of each feature over this side's rows, accumulated in
   * float64 in file order (two passes), so they equal the in-memory path's figures exactly; a
   * constant feature gets std 1.
   */
  async featureStats(): Promise<{ mean: number[]; std: number[] }> {
    const width = this.encoding.features;
    const stride = this.file.rowFloats;
    const mean = new Float64Array(width);
    const sq = new Float64Array(width);
    for await (const { rows, picks } of this.windows(null, 0)) {
      for (let p = 0; p < picks.length; p++) {
        const at = picks[p] * stride;
        for (let j = 0; j < width; j++) mean[j] += rows[at + j];
      }
    }
    for (let j = 0; j < width; j++) mean[j] /= this.count;
    for await (const { rows, picks } of this.windows(null, 0)) {
      for (let p = 0; p < picks.length; p++) {
        const at = picks[p] * stride;
        for (let j = 0; j < width; j++) {
          const d = rows[at + j] - mean[j];
          sq[j] += d * d;
        }
      }
    }
    return { mean: Array.from(mean), std: Array.from(sq, (s) => Math.sqrt(s / this.count) || 1) };
  }

  /**
   * The file rows of this side in the order epoch `epoch` visits them (file order without a seed).
   * For tests and checks: it holds one index per row.
   */
  visitOrder(seed: number | null, epoch: number): Uint32Array {
    const plan = this.plan(seed, epoch);
    const out = new Uint32Array(this.count);
    let n = 0;
    for (let w = 0; w < plan.windows; w++) {
      const { blocks, starts, picks } = this.window(plan, w);
      for (let p = 0; p < picks.length; p++) {
        // Buffer row → file row: find the block it was read into.
        const local = picks[p];
        let b = 0;
        while (starts[b + 1] <= local) b++;
        out[n++] = blocks[b] * this.blockRows + (local - starts[b]);
      }
    }
    return out;
  }

  /** Reads the windows of an epoch one after another; `rows` is reused from window to window. */
  private async *windows(seed: number | null, epoch: number): AsyncGenerator<{ rows: Float32Array; picks: Uint32Array }> {
    const plan = this.plan(seed, epoch);
    const rows = new Float32Array(Math.min(this.windowBlocks * this.blockRows, this.file.rows) * this.file.rowFloats);
    for (let w = 0; w < plan.windows; w++) {
      const { blocks, starts, picks } = this.window(plan, w);
      for (let i = 0; i < blocks.length; i++) {
        const count = starts[i + 1] - starts[i];
        await this.file.read(blocks[i] * this.blockRows, count, rows.subarray(starts[i] * this.file.rowFloats));
      }
      yield { rows, picks };
    }
  }

  private plan(seed: number | null, epoch: number): EpochPlan {
    const blocks = Math.ceil(this.file.rows / this.blockRows);
    return {
      blocks,
      windows: Math.ceil(blocks / this.windowBlocks),
      blockOrder: seed === null ? null : shuffledIndices(blocks, seed, epoch),
      // Odd streams above 1 are unused elsewhere (1 = the split, even = in-memory epoch orders).
      random: seed === null ? null : seededRandom(seed, 2 * (epoch + 1) + 1),
    };
  }

  /**
   * Window `w` of an epoch: the blocks it reads (in order), where each lands in the window's buffer
   * (`starts`, in rows, with one extra end entry), and the buffer rows of this side in visiting
   * order. Windows must be taken in order: they share the epoch's random stream.
   */
  private window(plan: EpochPlan, w: number): { blocks: number[]; starts: number[]; picks: Uint32Array } {
    const blocks: number[] = [];
    for (let i = w * this.windowBlocks; i < Math.min((w + 1) * this.windowBlocks, plan.blocks); i++) {
      blocks.push(plan.blockOrder ? plan.blockOrder[i] : i);
    }
    const starts = [0];
    let kept = 0;
    for (const b of blocks) {
      const first = b * this.blockRows;
      const end = Math.min(first + this.blockRows, this.file.rows);
      starts.push(starts[starts.length - 1] + end - first);
      if (this.skip) for (let r = first; r < end; r++) kept += this.skip[r] ? 0 : 1;
      else kept += end - first;
    }
    const picks = new Uint32Array(kept);
    let n = 0;
    blocks.forEach((b, i) => {
      const first = b * this.blockRows;
      for (let k = 0; k < starts[i + 1] - starts[i]; k++) if (!this.skip || !this.skip[first + k]) picks[n++] = starts[i] + k;
    });
    if (plan.random) shuffleInPlace(picks, plan.random);
    return { blocks, starts, picks };
  }
}

interface EpochPlan {
  blocks: number;
  windows: number;
  /** Block visiting order, or null for file order. */
  blockOrder: Uint32Array | null;
  /** The epoch's in-window shuffle stream, or null for file order. */
  random: (() => number) | null;
}

/**
 * Appends the rows of `from` marked 1 in `select` to `to`, in file order, reading `from` front to
 * back; returns how many were copied.
 */
export async function copySelectedRows(from: RowFile, to: RowFile, select: Uint8Array): Promise<number> {
  const stride = from.rowFloats;
  const chunkRows = Math.max(1, Math.floor(COPY_BYTES / from.rowBytes));
  const buffer = new Float32Array(Math.min(chunkRows, from.rows) * stride);
  let copied = 0;
  for (let start = 0; start < from.rows; start += chunkRows) {
    const count = Math.min(chunkRows, from.rows - start);
    await from.read(start, count, buffer);
    for (let k = 0; k < count; k++) {
      if (!select[start + k]) continue;
      for (let v = k * stride; v < (k + 1) * stride; v++) to.push(buffer[v]);
      copied++;
    }
  }
  to.endWrites();
  return copied;
}
