import { KilnError } from '../core/errors';

/** One stored object as a listing or `head` reports it. */
export interface ObjectInfo {
  /** The key relative to the store's root (never includes the store's own prefix). */
  key: string;
  /** Size in bytes. */
  size: number;
}

/** One object of a {@link ArtifactStore.listPage} answer. */
export interface ListedObject extends ObjectInfo {
  /** When the object was last written, where the store records it (S3 `LastModified`, a file's mtime); else `null`. */
  lastModified: Date | null;
}

/** Options for {@link ArtifactStore.listPage}. */
export interface ListPageOptions {
  /** Only keys that sort strictly after this key (by UTF-8 bytes): pass the previous page's `next`. */
  startAfter?: string;
  /**
   * Most objects in one page, 1 to {@link MAX_LIST_PAGE}.
   * @defaultValue 1000
   */
  limit?: number;
}

/** One page of a listing. */
export interface ObjectPage {
  /** Sorted by key. */
  objects: ListedObject[];
  /** The `startAfter` of the next page, or `null` when this page is the last. */
  next: string | null;
}

/** Largest page {@link ArtifactStore.listPage} returns (S3's own ListObjectsV2 cap). */
export const MAX_LIST_PAGE = 1000;

/**
 * A byte range to read, as HTTP `Range` counts: `start` to `end` inclusive (`end` left out or past
 * the object's end means "to the end"), or the last `suffix` bytes.
 */
export type ByteRange = { start: number; end?: number } | { suffix: number };

/** Options for {@link ArtifactStore.getStream}. */
export interface GetStreamOptions {
  /**
   * Stream only these bytes. A range that starts at or after the object's end (or any range of an
   * empty object) rejects with `KilnError('RANGE_NOT_SATISFIABLE')`.
   */
  range?: ByteRange;
}

/** An object opened by {@link ArtifactStore.getStream}. */
export interface OpenedObject {
  stream: NodeJS.ReadableStream;
  /** The whole object's size in bytes, even when only a range streams. */
  size: number;
  /**
   * The bytes that stream (inclusive) when a range was asked for. Absent means the whole object
   * streams: no range was asked for, or the server ignored it (HTTP allows that).
   */
  range?: { start: number; end: number };
}

/** Options for {@link ArtifactStore.put}. */
export interface PutOptions {
  /**
   * MIME type recorded with the object (S3 serves it back as `Content-Type`; the file store does
   * not keep it).
   * @defaultValue `application/octet-stream` on S3
   */
  contentType?: string;
}

/** A body `put` accepts; strings are stored as UTF-8. */
export type ObjectBody = Buffer | string | Uint8Array;

/**
 * The artifact store both the API and the worker use: a flat namespace of immutable-by-convention
 * objects under `/`-separated keys.
 *
 * Keys are relative (`tenant/runs/r1/best.json`): no leading `/`, no empty, `.` or `..` segments,
 * no backslashes or control characters, at most 1024 UTF-8 bytes, and no segment starting with
 * `.kiln-` (reserved for the drivers' own bookkeeping). Every method rejects a bad key with
 * `KilnError('BAD_REQUEST')` before touching the store.
 *
 * Infrastructure failures (unreachable endpoint, 5xx, disk full) reject with
 * `KilnError('STORE_UNAVAILABLE')`, which callers may retry; a missing object is `null`, not an error.
 */
export interface ArtifactStore {
  /** Where the store points: `s3://bucket/prefix` or `file:///abs/dir`. */
  readonly uri: string;
  /** Stores an object, replacing any object under the same key. Readers see the old or the new object, never a mix. */
  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<void>;
  /** Reads a whole object into memory; `null` when it does not exist. */
  get(key: string): Promise<Buffer | null>;
  /**
   * Opens an object for streaming; `null` when it does not exist. The caller must consume or
   * destroy the stream, or the underlying file handle / connection stays open.
   */
  getStream(key: string, opts?: GetStreamOptions): Promise<OpenedObject | null>;
  /** Size of an object without reading it; `null` when it does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Every object whose key starts with `prefix` (plain string prefix, as S3 defines it, so `a/b`
   * matches `a/b/c` and `a/bc`; use a trailing `/` for "folder"), sorted by key, all pages read.
   * `''` lists the whole store.
   */
  list(prefix: string): Promise<ObjectInfo[]>;
  /**
   * One page of what {@link list} returns, with each object's last-modified time: at most `limit`
   * objects whose key starts with `prefix` and sorts after `startAfter`. Read the next page with
   * `startAfter: page.next` until `next` is `null`. The S3 driver asks S3 for exactly one page; the
   * file driver walks the folder and stats only the objects it returns.
   */
  listPage(prefix: string, opts?: ListPageOptions): Promise<ObjectPage>;
  /**
   * Removes an object; removing one that does not exist is not an error. Optional: stores without
   * it simply keep what would have been deleted (old BackupAndRestore versions).
   */
  delete?(key: string): Promise<void>;
  /** Checks the store is reachable and usable; throws `KilnError('STORE_UNAVAILABLE')` when not. */
  ping(): Promise<void>;
  /** Releases sockets or handles the driver keeps open. The store must not be used afterwards. */
  close?(): Promise<void>;
  /**
   * This store opened once more on a worker thread of its own, for writes whose CPU work (request
   * signing, hashing, HTTP) should not run on the caller's thread — the training loop's uploads.
   * Optional: a store without it is written from the caller's thread. The same thread on every
   * call; started on first use, it keeps the process alive only while a write is in flight, and
   * `close()` ends it.
   */
  writeThread?(): WriteThread;
}

/** How a write is retried after `STORE_UNAVAILABLE` answers: exponential backoff with full jitter. */
export interface RetryPolicy {
  /** Retries after the first try; the write fails for good after `retries + 1` tries. */
  retries: number;
  /** Ceiling of the first backoff in milliseconds; it doubles each retry. */
  baseDelayMs: number;
  /** Longest single backoff in milliseconds. */
  maxDelayMs: number;
  /**
   * Keep retrying past `retries` until this many milliseconds have passed since the first failed
   * try: how long an outage of the store is waited out before the write fails for good.
   * @defaultValue 0 (only `retries` counts)
   */
  toleranceMs?: number;
}

/** What a {@link WriteThread} tells its caller about one write while it runs. Neither may throw. */
export interface WriteObserver {
  /** Before each retry (`retry` counts from 1). */
  onRetry?(retry: number, delayMs: number, error: KilnError): void;
  /** After each try: how long it took, and whether the store took the object. */
  onTry?(ms: number, ok: boolean): void;
}

/**
 * Writes to a store from another thread (see {@link ArtifactStore.writeThread}), and the listing
 * that deleting a folder of objects needs.
 */
export interface WriteThread {
  /**
   * Stores `body` under `key`, retrying `STORE_UNAVAILABLE` answers as `retry` says, and settles
   * as {@link ArtifactStore.put} would after the last try. The caller hands `body` over: when it
   * spans its whole ArrayBuffer, that memory moves to the other thread without a copy and `body`
   * is left empty (length 0); otherwise its bytes are copied.
   */
  put(key: string, body: Buffer, opts: PutOptions | undefined, retry: RetryPolicy, observer?: WriteObserver): Promise<void>;
  /** {@link ArtifactStore.delete} on the other thread, one try; only for stores that have `delete`. */
  delete(key: string): Promise<void>;
  /** {@link ArtifactStore.list} on the other thread, one try. */
  list(prefix: string): Promise<ObjectInfo[]>;
}

/** Longest key S3 accepts, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
const RESERVED_SEGMENT_PREFIX = '.kiln-';
// C0 controls and DEL: they break logs, URLs and some file systems, and no layout needs them.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Why `key` is not a valid object key, or `null` when it is. */
function keyProblem(key: string, allowTrailingSlash: boolean): string | null {
  if (typeof key !== 'string') return 'must be a string';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith('/')) return 'must be relative (no leading "/")';
  if (key.includes('\\')) return 'must use "/" as separator, not "\\"';
  if (CONTROL_CHARS.test(key)) return 'must not contain control characters';
  const segments = key.split('/');
  if (allowTrailingSlash && segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return 'must not contain empty segments ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `must not contain a "${segment}" segment`;
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) return `must not have a segment starting with "${RESERVED_SEGMENT_PREFIX}" (reserved)`;
  }
  return null;
}

/**
 * Throws `KilnError('BAD_REQUEST')` unless `key` is a valid object key (see {@link ArtifactStore}).
 * The drivers call it on every operation; call it earlier to fail before queueing work.
 */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key, false);
  if (problem !== null) throw new KilnError('BAD_REQUEST', `Artifact key ${JSON.stringify(key)} ${problem}.`);
}

/**
 * Throws `KilnError('BAD_REQUEST')` unless `prefix` is a valid listing prefix: `''`, or a key
 * that may end with `/`.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const problem = keyProblem(prefix, true);
  if (problem !== null) throw new KilnError('BAD_REQUEST', `Artifact prefix ${JSON.stringify(prefix)} ${problem}.`);
}

/**
 * Checks {@link ListPageOptions} and fills in the default limit; throws `KilnError('BAD_REQUEST')`
 * for a limit outside 1 to {@link MAX_LIST_PAGE} or a `startAfter` that is not a valid key.
 */
export function listPageOptions(opts: ListPageOptions): { startAfter: string | undefined; limit: number } {
  const limit = opts.limit ?? MAX_LIST_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_PAGE) {
    throw new KilnError('BAD_REQUEST', `List page limit must be an integer from 1 to ${MAX_LIST_PAGE}, got ${limit}.`);
  }
  if (opts.startAfter !== undefined) assertValidKey(opts.startAfter);
  return { startAfter: opts.startAfter, limit };
}

/**
 * The inclusive bytes `range` selects of an object of `size` bytes, or `null` when it selects none
 * (starts at or past the end, an empty suffix, an empty object). Throws `KilnError('BAD_REQUEST')`
 * for negative or fractional numbers or an end before the start.
 */
export function resolveByteRange(range: ByteRange, size: number): { start: number; end: number } | null {
  const bad = (n: number | undefined) => n !== undefined && (!Number.isSafeInteger(n) || n < 0);
  if ('suffix' in range) {
    if (bad(range.suffix)) throw new KilnError('BAD_REQUEST', `Byte range suffix must be a non-negative integer, got ${range.suffix}.`);
    return range.suffix === 0 || size === 0 ? null : { start: Math.max(0, size - range.suffix), end: size - 1 };
  }
  if (bad(range.start) || bad(range.end) || (range.end !== undefined && range.end < range.start)) {
    throw new KilnError('BAD_REQUEST', `Byte range ${range.start}-${range.end ?? ''} must be non-negative integers with the end not before the start.`);
  }
  if (range.start >= size) return null;
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

/** Whether `key` is a valid object key (see {@link ArtifactStore}). */
export function isValidKey(key: string): boolean {
  return keyProblem(key, false) === null;
}

/** Converts any accepted body to a Buffer without copying bytes that already sit in one. */
export function toBuffer(body: ObjectBody): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** Orders keys the way S3 lists them: by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
