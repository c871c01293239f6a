/** Values per block: 4 MiB of floats, large enough that block overhead is noise. */
const DEFAULT_BLOCK_SIZE = 1 << 20;

/**
 * An append-only list of float32 values of unknown final length, kept in fixed-size typed-array
 * blocks. Typed arrays live outside the V8 heap, and blocks are never copied while growing, so
 * loading a large CSV costs its float32 size once (plus one copy in {@link Float32Builder.toArray}),
 * never a doubling buffer or a JS array of numbers.
 */
export class Float32Builder {
  private readonly blocks: Float32Array[] = [];
  private current: Float32Array;
  private used = 0;
  private total = 0;

  /** @param blockSize - values per block. @defaultValue 1 << 20 */
  constructor(private readonly blockSize: number = DEFAULT_BLOCK_SIZE) {
    this.current = new Float32Array(blockSize);
    this.blocks.push(this.current);
  }

  /** Number of values pushed so far. */
  get length(): number {
    return this.total;
  }

  push(value: number): void {
    if (this.used === this.blockSize) {
      this.current = new Float32Array(this.blockSize);
      this.blocks.push(this.current);
      this.used = 0;
    }
    this.current[this.used++] = value;
    this.total++;
  }

  /** Value at `index` (0 ≤ index < length). */
  get(index: number): number {
    return this.blocks[Math.floor(index / this.blockSize)][index % this.blockSize];
  }

  /** All values in one exact-length array. The builder must not be used afterwards. */
  toArray(): Float32Array {
    if (this.blocks.length === 1 && this.total === this.blockSize) return this.current;
    const out = new Float32Array(this.total);
    let offset = 0;
    for (let b = 0; b < this.blocks.length; b++) {
      const take = Math.min(this.blockSize, this.total - offset);
      out.set(take === this.blockSize ? this.blocks[b] : this.blocks[b].subarray(0, take), offset);
      offset += take;
      // Drop each block as soon as it is copied, so the peak is one copy, not two.
      this.blocks[b] = EMPTY;
    }
    return out;
  }
}

const EMPTY = new Float32Array(0);
