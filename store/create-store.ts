import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../core/errors';
import type { ArtifactStore } from './artifact-store';
import { FileStore, type FileStoreOptions } from './file-store';
import type { ConfigProblems } from '../core/config-parse';
import { parseS3StoreOptions, parseS3Uri, s3BucketProblem, S3Store, type S3StoreOptions } from './s3-store';

/** Driver options for {@link createStore}; only the ones for the URI's scheme are used. */
export interface CreateStoreOptions {
  /** Options for `s3://` URIs (endpoint, path style, region, credentials, tuning). */
  s3?: S3StoreOptions;
  /** Options for `file://` URIs. */
  file?: FileStoreOptions;
}

/** Which store to open: its URI and the options of its driver (what an entry point's `config.store` holds). */
export interface StoreConfig extends CreateStoreOptions {
  /** `s3://bucket[/prefix]`, or `file:///abs/dir` (`file://dir` and `file://./dir` for relative ones). */
  uri: string;
}

/**
 * Opens the artifact store a config names (a bare URI is a config without driver options):
 * - `s3://bucket` or `s3://bucket/prefix`: {@link S3Store};
 * - `file:///abs/dir`: {@link FileStore}. `file://dir` and `file://./dir` are accepted as paths
 *   relative to the current directory, because that is how people write them in a `.env`.
 *
 * Each driver reads its own part of the URI. Configuration is passed in; nothing here reads the
 * environment. A URI no driver accepts throws `KilnError('BAD_REQUEST')` naming the accepted
 * forms. Nothing connects until first use; call `ping()` to check the store is reachable.
 */
export function createStore(config: StoreConfig | string): ArtifactStore {
  const { uri, s3, file } = typeof config === 'string' ? { uri: config } as StoreConfig : config;
  if (uri.startsWith('s3://')) return new S3Store(uri, s3);
  if (uri.startsWith('file://')) return new FileStore(filePath(uri), file);
  throw new KilnError('BAD_REQUEST', `Artifact store URI ${JSON.stringify(uri)} must start with file:// (a local directory) or s3:// (a bucket).`);
}

/**
 * Why no driver accepts `uri`, or `null` when one does: the check `createStore` makes, without
 * opening anything (for the entry points' `loadConfig`).
 */
export function storeUriProblem(uri: string): string | null {
  try {
    if (uri.startsWith('s3://')) return s3BucketProblem(parseS3Uri(uri).bucket);
    else if (uri.startsWith('file://')) filePath(uri);
    else createStore(uri);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * The store an entry point's environment names: `KILN_STORE` (else `defaultUri`), checked by the
 * driver its scheme selects, and each driver's options from its own variables. Problems go to `p`.
 */
export function parseStoreConfig(env: Record<string, string | undefined>, p: ConfigProblems, defaultUri: string): StoreConfig {
  const uri = env.KILN_STORE || defaultUri;
  const problem = storeUriProblem(uri);
  if (problem !== null) p.add('KILN_STORE', `${problem} (got '${uri}')`);
  return { uri, s3: parseS3StoreOptions(env, p) };
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
