import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../core/errors';
import type { ArtifactStore } from './artifact-store';
import { FileStore, type FileStoreOptions } from './file-store';
import { S3Store, type S3StoreOptions } from './s3-store';

/** Driver options for {@link createStore}; only the ones for the URI's scheme are used. */
export interface CreateStoreOptions {
  /** Options for `s3://` URIs (endpoint, path style, region, credentials, tuning). */
  s3?: S3StoreOptions;
  /** Options for `file://` URIs. */
  file?: FileStoreOptions;
}

/**
 * Opens the artifact store a URI names:
 * - `s3://bucket` or `s3://bucket/prefix`: {@link S3Store};
 * - `file:///abs/dir`: {@link FileStore}. `file://dir` and `file://./dir` are accepted as paths
 *   relative to the current directory, because that is how people write them in a `.env`.
 *
 * Configuration is passed in; nothing here reads the environment. A URI with another scheme
 * throws `KilnError('BAD_REQUEST')` naming the accepted forms. Nothing connects until first use;
 * call `ping()` to check the store is reachable.
 */
export function createStore(uri: string, opts: CreateStoreOptions = {}): ArtifactStore {
  if (uri.startsWith('s3://')) return new S3Store(uri, opts.s3);
  if (uri.startsWith('file://')) return new FileStore(filePath(uri), opts.file);
  throw new KilnError('BAD_REQUEST', `Artifact store URI ${JSON.stringify(uri)} must start with file:// (a local directory) or s3:// (a bucket).`);
}

function filePath(uri: string): string {
  const rest = uri.slice('file://'.length);
  if (rest === '') throw new KilnError('BAD_REQUEST', 'Artifact store URI file:// needs a directory, e.g. file:///var/lib/kiln or file://./data.');
  if (rest.startsWith('/') || rest.startsWith('localhost/')) {
    try {
      return fileURLToPath(uri);
    } catch (e) {
      throw new KilnError('BAD_REQUEST', `Artifact store URI ${JSON.stringify(uri)} is not a valid file URL: ${(e as Error).message}`, { cause: e });
    }
  }
  // `file://data` would make "data" a host name under the URL rules; treat it as a relative path instead.
  const path = decodeURIComponent(rest);
  return isAbsolute(path) ? path : resolve(path);
}
