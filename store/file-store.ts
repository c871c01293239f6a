import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KilnError } from '../core/errors';
import {
  assertValidKey, assertValidPrefix, compareKeys, listPageOptions, resolveByteRange, toBuffer,
  type ArtifactStore, type GetStreamOptions, type ListedObject, type ListPageOptions, type ObjectBody, type ObjectInfo,
  type ObjectPage, type OpenedObject, type PutOptions,
} from './artifact-store';

/** Options for {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Flush each object to disk before it becomes visible, so a machine crash cannot leave a
   * visible but empty or truncated object. Turn off only for throwaway data.
   * @defaultValue true
   */
  fsync?: boolean;
}

/**
 * Half-written objects live here until renamed into place. It sits inside the root so the rename
 * stays on one file system (and so stays atomic); the `.kiln-` prefix is reserved, so no key can
 * name it and listings skip it.
 */
const TEMP_DIR = '.kiln-tmp';

/** Error codes that mean "the disk is unwell right now" (full, failing, remounted read-only), worth waiting out, rather than a bug or a permission problem. */
const TRANSIENT_FS_CODES = new Set(['EROFS', 'ENOSPC', 'EDQUOT', 'EIO', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'ESTALE', 'ETIMEDOUT']);

/** Error codes that mean the path itself is not one the file system can hold (a user error). */
const PATH_FS_CODES = new Set(['ENAMETOOLONG', 'EILSEQ']);

/** Longest file name (path segment) the common file systems accept (ext4, XFS, APFS, NTFS: 255). */
const MAX_SEGMENT_BYTES = 255;

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/**
 * The artifact store on a local directory (`file:///abs/dir`): the embedded default for the demo
 * and for single-machine deployments.
 *
 * Writes go to a temporary file that is renamed over the target, so a reader sees the previous
 * object or the new one, never a partial one. Directories are created as needed. Unlike S3, one
 * key cannot be both an object and a "folder" of others (`a/b` and `a/b/c`); the run layout never
 * needs that, and such a put fails with `KilnError('INTERNAL')`.
 */
export class FileStore implements ArtifactStore {
  /** Absolute root directory. */
  readonly root: string;
  readonly uri: string;
  private readonly fsync: boolean;

  constructor(root: string, opts: FileStoreOptions = {}) {
    this.root = resolve(root);
    this.uri = pathToFileURL(this.root).href;
    this.fsync = opts.fsync ?? true;
  }

  async put(key: string, body: ObjectBody, _opts?: PutOptions): Promise<void> {
    const target = this.pathOf(key);
    const bytes = toBuffer(body);
    const tempDir = join(this.root, TEMP_DIR);
    const temp = join(tempDir, `${randomBytes(8).toString('hex')}.part`);
    try {
      await mkdir(tempDir, { recursive: true });
      await mkdir(dirname(target), { recursive: true });
      let handle: FileHandle | undefined;
      try {
        handle = await open(temp, 'wx');
        await handle.writeFile(bytes);
        if (this.fsync) await handle.sync();
      } finally {
        await handle?.close();
      }
      await rename(temp, target);
    } catch (e) {
      await rm(temp, { force: true });
      throw this.wrap(e, `store ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await rm(path, { force: true });
    } catch (e) {
      throw this.wrap(e, `delete ${key}`);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    const handle = await this.openExisting(key);
    if (handle === null) return null;
    try {
      return await handle.readFile();
    } catch (e) {
      throw this.wrap(e, `read ${key}`);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string, opts: GetStreamOptions = {}): Promise<OpenedObject | null> {
    // Opening first and sizing the open handle keeps size and bytes from the same version of the
    // object even if a writer renames a new one into place meanwhile.
    const handle = await this.openExisting(key);
    if (handle === null) return null;
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (e) {
      await handle.close();
      throw this.wrap(e, `read ${key}`);
    }
    if (opts.range === undefined) return { stream: handle.createReadStream(), size };
    let range;
    try {
      range = resolveByteRange(opts.range, size);
    } catch (e) {
      await handle.close();
      throw e;
    }
    if (range === null) {
      await handle.close();
      throw new KilnError('RANGE_NOT_SATISFIABLE', `${key} has ${size} bytes; the range asked for selects none of them.`);
    }
    return { stream: handle.createReadStream({ start: range.start, end: range.end }), size, range };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const path = this.pathOf(key);
    try {
      const st = await stat(path);
      return st.isFile() ? { key, size: st.size } : null;
    } catch (e) {
      if (isMissing(e)) return null;
      throw this.wrap(e, `stat ${key}`);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    assertValidPrefix(prefix);
    const out: ObjectInfo[] = [];
    for (const key of await this.keysUnder(prefix)) {
      const listed = await this.statListed(key, prefix);
      if (listed !== null) out.push({ key, size: listed.size });
    }
    return out;
  }

  async listPage(prefix: string, opts: ListPageOptions = {}): Promise<ObjectPage> {
    assertValidPrefix(prefix);
    const { startAfter, limit } = listPageOptions(opts);
    let keys = await this.keysUnder(prefix);
    if (startAfter !== undefined) keys = keys.filter((key) => compareKeys(key, startAfter) > 0);
    const objects: ListedObject[] = [];
    // Stat only this page's objects; one removed meanwhile is skipped and the next one takes its place.
    let i = 0;
    for (; i < keys.length && objects.length < limit; i++) {
      const listed = await this.statListed(keys[i], prefix);
      if (listed !== null) objects.push(listed);
    }
    return { objects, next: i < keys.length && objects.length > 0 ? objects[objects.length - 1].key : null };
  }

  async ping(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.R_OK | constants.W_OK);
    } catch (e) {
      throw new KilnError('STORE_UNAVAILABLE', `File store ${this.uri} is not a writable directory: ${(e as Error).message}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /** Keys of the files whose key starts with `prefix`, sorted, without stat'ing them. */
  private async keysUnder(prefix: string): Promise<string[]> {
    // Walk only the deepest directory the prefix names fully; the rest of the prefix filters names.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    const out: string[] = [];
    await this.walk(dirKey, prefix, out);
    return out.sort(compareKeys);
  }

  /** Size and mtime of a listed key; `null` when it was removed since the walk saw it. */
  private async statListed(key: string, prefix: string): Promise<ListedObject | null> {
    try {
      const st = await stat(join(this.root, ...key.split('/')));
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : null;
    } catch (e) {
      if (isMissing(e)) return null;
      throw this.wrap(e, `list ${prefix}`);
    }
  }

  private async walk(dirKey: string, prefix: string, out: string[]): Promise<void> {
    const dir = dirKey === '' ? this.root : join(this.root, ...dirKey.split('/'));
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isMissing(e)) return;
      throw this.wrap(e, `list ${prefix}`);
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.kiln-')) continue;
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend when the folder can hold matches: it is under the prefix, or the prefix goes on inside it.
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await this.walk(key, prefix, out);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        out.push(key);
      }
    }
  }

  private async openExisting(key: string): Promise<FileHandle | null> {
    const path = this.pathOf(key);
    try {
      const handle = await open(path, 'r');
      const st = await handle.stat().catch(async (e: unknown) => {
        await handle.close();
        throw e;
      });
      if (!st.isFile()) {
        await handle.close();
        return null;
      }
      return handle;
    } catch (e) {
      if (isMissing(e) || errnoCode(e) === 'EISDIR') return null;
      throw this.wrap(e, `open ${key}`);
    }
  }

  /** Validates `key` and maps it to a path that is certainly inside the root. */
  private pathOf(key: string): string {
    assertValidKey(key);
    const long = key.split('/').find((segment) => Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES);
    if (long !== undefined) {
      throw new KilnError('BAD_REQUEST', `Artifact key ${JSON.stringify(key)} has a segment of ${Buffer.byteLength(long, 'utf8')} bytes; the file store keeps each segment to ${MAX_SEGMENT_BYTES} bytes (a file name).`);
    }
    const path = join(this.root, ...key.split('/'));
    // Validation already rules out "..", this guards against a future change to it.
    if (!path.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new KilnError('BAD_REQUEST', `Artifact key ${JSON.stringify(key)} escapes the store root.`);
    }
    return path;
  }

  private wrap(e: unknown, what: string): KilnError {
    if (e instanceof KilnError) return e;
    const code = errnoCode(e);
    const message = e instanceof Error ? e.message : String(e);
    if (code !== undefined && TRANSIENT_FS_CODES.has(code)) {
      return new KilnError('STORE_UNAVAILABLE', `File store ${this.uri} could not ${what}: ${message}`, { cause: e });
    }
    if (code !== undefined && PATH_FS_CODES.has(code)) {
      // The key names a path this file system cannot hold: the caller chose it, no retry helps.
      return new KilnError('BAD_REQUEST', `File store ${this.uri} could not ${what}: the file system refuses the path (${message}); keep each path segment under ${MAX_SEGMENT_BYTES} bytes.`, { cause: e });
    }
    if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
      return new KilnError('INTERNAL', `File store ${this.uri} could not ${what}: a key and a folder of keys collide (${message})`, { cause: e });
    }
    return new KilnError('INTERNAL', `File store ${this.uri} could not ${what}: ${message}`, { cause: e });
  }
}

/** ENOENT: no such path; ENOTDIR: a parent segment is a file, so the key cannot exist either. */
function isMissing(e: unknown): boolean {
  const code = errnoCode(e);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
