import { createReadStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveDatasetKey } from '../../core/dataset-uri';
import { KilnError, isKilnError } from '../../core/errors';
import type { DatasetReader } from './dataset-reader';
import { READERS } from './readers';

/** A data file to read: where its bytes come from, and which reader parses them. */
export interface TableSource {
  /** How messages name the file, e.g. `data.uri 'datasets/a.csv'`. */
  name: string;
  reader: DatasetReader;
  open(): Promise<AsyncIterable<string | Uint8Array>>;
}

/** How {@link storeSource} reaches the job's store. */
export interface StoreAccess {
  /** The job's tenant; store objects are read from its area only. */
  tenant: string;
  /** Root URI of the configured store, for full-URI datasets. */
  storeUri: string;
  /** Opens a store object by key; resolves null when there is no such object. */
  readObject: (key: string) => Promise<NodeJS.ReadableStream | null>;
}

/**
 * A file in the artifact store named by the job (`field` is its spec field, e.g. `data.uri`). A URI
 * outside the tenant's area, or an object that is not there, is a DATASET_INVALID error naming the
 * field's JSON pointer.
 */
export function storeSource(uri: string, field: string, reader: DatasetReader, store: StoreAccess): TableSource {
  const pointer = '/' + field.split('.').join('/');
  let key: string;
  try {
    key = resolveDatasetKey(uri, store.tenant, store.storeUri);
  } catch (err) {
    if (!isKilnError(err)) throw err;
    throw new KilnError('DATASET_INVALID', `${field}: ${err.message}`, { errors: [{ pointer, detail: err.message }], cause: err });
  }
  const name = `${field} '${uri}'`;
  return {
    name,
    reader,
    async open() {
      const stream = await store.readObject(key);
      if (stream === null) {
        throw new KilnError(
          'DATASET_INVALID',
          `${name}: there is no object '${key}' in the store; upload the ${reader.fileNoun} there first or correct ${field}.`,
          { errors: [{ pointer, detail: `no object '${key}' in the store` }] },
        );
      }
      return stream as AsyncIterable<string | Uint8Array>;
    },
  };
}

/** A built-in dataset: `<dir>/<builtin>.csv` (builtin/ beside this module by default). */
export function builtinSource(builtin: string, dir: string | undefined): TableSource {
  return {
    name: `built-in dataset '${builtin}'`,
    reader: READERS.csv,
    async open() {
      return createReadStream(join(dir ?? defaultBuiltinDir(), `${builtin}.csv`));
    },
  };
}

/**
 * tsc does not copy the CSVs into dist/, so compiled code falls back to the source tree
 * (dist/worker/data → worker/data/builtin) unless the build copies them beside it.
 */
function defaultBuiltinDir(): string {
  const beside = join(__dirname, 'builtin');
  return existsSync(beside) ? beside : resolve(__dirname, '..', '..', '..', 'worker', 'data', 'builtin');
}
