import { KilnError } from '../core/errors';

/** One stored object as a listing or `head` reports it. */
export interface ObjectInfo {
  /** The key relative to the store's root (never includes the store's own prefix). */
  key: string;
  /** Size in bytes. */
  size: number;
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
  getStream(key: string): Promise<{ stream: NodeJS.ReadableStream; size: number } | null>;
  /** Size of an object without reading it; `null` when it does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Every object whose key starts with `prefix` (plain string prefix, as S3 defines it, so `a/b`
   * matches `a/b/c` and `a/bc`; use a trailing `/` for "folder"), sorted by key, all pages read.
   * `''` lists the whole store.
   */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Checks the store is reachable and usable; throws `KilnError('STORE_UNAVAILABLE')` when not. */
  ping(): Promise<void>;
  /** Releases sockets or handles the driver keeps open. The store must not be used afterwards. */
  close?(): Promise<void>;
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
