import { close, read, writeSync } from 'node:fs';
import { promisify } from 'node:util';

const readAt = promisify(read);
const closeFd = promisify(close);

/** Values the write buffer holds: 1 MiB of float32. */
const WRITE_BUFFER_FLOATS = 1 << 18;

/**
 * A local file of fixed-width rows of float32 values (native byte order: the file never leaves the
 * process). Written once, front to back, by {@link RowFile.push} — synchronously, so a parser's
 * per-row callback can append without awaiting — then read by row ranges. Create one with
 * `ScratchFiles.createRowFile`, which also closes it.
 */
export class RowFile {
  private buffer = new Float32Array(WRITE_BUFFER_FLOATS);
  private used = 0;
  /** Bytes already written to the file. */
  private written = 0;
  private closed = false;

  /**
   * @param fd - an empty file open for reading and writing; the RowFile closes it.
   * @param rowFloats - values per row.
   * @param path - where the file was created (for messages; it is unlinked).
   */
  constructor(private readonly fd: number, readonly rowFloats: number, readonly path: string) {
    if (!Number.isInteger(rowFloats) || rowFloats < 1) throw new RangeError(`rowFloats must be a positive integer, got ${rowFloats}`);
  }

  /** Bytes per row. */
  get rowBytes(): number {
    return this.rowFloats * 4;
  }

  /** Complete rows written so far (including those still in the write buffer). */
  get rows(): number {
    return Math.floor((this.written / 4 + this.used) / this.rowFloats);
  }

  /** Size of the file once {@link flush} has run. */
  get bytes(): number {
    return this.written + this.used * 4;
  }

  /** Appends one value; a row is complete after `rowFloats` of them. */
  push(value: number): void {
    this.buffer[this.used++] = value;
    if (this.used === this.buffer.length) this.flush();
  }

  /** Writes what the buffer holds. Call once after the last {@link push}, before reading. */
  flush(): void {
    if (this.closed) throw new Error(`row file ${this.path} is closed`);
    const bytes = new Uint8Array(this.buffer.buffer, 0, this.used * 4);
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.written + done);
    this.written += bytes.length;
    this.used = 0;
  }

  /** Drops the write buffer once writing is over (1 MiB a file). */
  endWrites(): void {
    this.flush();
    this.buffer = new Float32Array(0);
  }

  /** Reads rows `[start, start + count)` into the front of `into` (which needs `count × rowFloats` values). */
  async read(start: number, count: number, into: Float32Array): Promise<void> {
    if (this.used !== 0) throw new Error(`row file ${this.path}: flush before reading`);
    const length = count * this.rowBytes;
    if (start < 0 || count < 0 || (start + count) * this.rowBytes > this.written) {
      throw new RangeError(`rows ${start}..${start + count} are outside row file ${this.path} of ${this.rows} rows`);
    }
    if (into.length < count * this.rowFloats) throw new RangeError(`the buffer holds ${into.length} values; ${count} rows need ${count * this.rowFloats}`);
    const bytes = new Uint8Array(into.buffer, into.byteOffset, length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await readAt(this.fd, bytes, done, length - done, start * this.rowBytes + done);
      if (bytesRead === 0) throw new Error(`row file ${this.path} ended ${length - done} bytes early`);
      done += bytesRead;
    }
  }

  /** Closes the file; its blocks are freed (it is already unlinked). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.buffer = new Float32Array(0);
    await closeFd(this.fd);
  }
}
