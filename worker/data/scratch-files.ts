import { randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { RowFile } from './row-file';

/**
 * The local scratch files of one job (rows of a dataset larger than the worker's dataset memory).
 * Each file is created under `prefix` (e.g. `os.tmpdir()/kiln-<jobId>-`) and unlinked at once: the
 * job reads and writes it through its open handle, no other process can open it, and the kernel
 * frees its blocks when the handle is closed — by {@link ScratchFiles.release} when the job ends,
 * or by the process's exit when the training process dies (an OOM kill leaves nothing behind in
 * the temp dir, which a reused sandbox or container would otherwise accumulate). While a job runs,
 * its files show in `ls -l /proc/<pid>/fd` as `…/kiln-<jobId>-<random>.rows (deleted)`.
 *
 * The temp dir is `TMPDIR` (Node's `os.tmpdir()`): on a tmpfs the rows would be in RAM again, so
 * point `TMPDIR` at a disk where the worker has room for the datasets it trains.
 */
export class ScratchFiles {
  private readonly files = new Set<RowFile>();

  /** @param prefix - path prefix of each file; a random suffix and `.rows` are appended. */
  constructor(readonly prefix: string) {}

  /**
   * Creates an empty row file of `rowFloats` float32 values per row. Synchronous, so a parser's
   * row callback can start spilling mid-stream.
   */
  createRowFile(rowFloats: number): RowFile {
    const path = `${this.prefix}${randomBytes(6).toString('hex')}.rows`;
    const fd = openSync(path, 'wx+', 0o600);
    try {
      unlinkSync(path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const file = new RowFile(fd, rowFloats, path);
    this.files.add(file);
    return file;
  }

  /** Closes `file` now (its blocks are freed) instead of at {@link release}. */
  async close(file: RowFile): Promise<void> {
    this.files.delete(file);
    await file.close();
  }

  /** Number of files still open. */
  get open(): number {
    return this.files.size;
  }

  /** Closes every file still open; safe to call more than once. */
  async release(): Promise<void> {
    const files = [...this.files];
    this.files.clear();
    const closed = await Promise.allSettled(files.map((f) => f.close()));
    const failed = closed.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw new Error('could not close a scratch file', { cause: failed.reason });
  }
}
