import type { SchemaStoreDataSpec } from '../../core/api.gen';
import { CsvReader } from './csv-reader';
import type { DatasetReader } from './dataset-reader';
import { NdjsonReader } from './ndjson-reader';

/** A `data.format` the contract allows (openapi.yaml's `StoreDataSpec.format`). */
export type DataFormat = NonNullable<SchemaStoreDataSpec['format']>;

/**
 * The reader of each data format: the one table a new format joins. The mapped type makes a format
 * added to the contract fail to compile until it has a reader here.
 */
export const READERS: { readonly [F in DataFormat]: DatasetReader } = {
  csv: new CsvReader(),
  ndjson: new NdjsonReader(),
};

/** The reader of `format`, or null for a format without one (a job older or newer than this worker). */
export function readerFor(format: string): DatasetReader | null {
  return Object.prototype.hasOwnProperty.call(READERS, format) ? READERS[format as DataFormat] : null;
}

/** The formats as a message lists them: `'csv' or 'ndjson'`. */
export function formatChoices(): string {
  const names = Object.keys(READERS).map((f) => `'${f}'`);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : names.join('');
}
