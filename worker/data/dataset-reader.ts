import type { KilnError } from '../../core/errors';

/**
 * The reader interface every data format implements: a reader turns a file's bytes into a header
 * (the column names) and rows of cells, and knows nothing of labels, features, splits or spilling
 * (read-table.ts does that, the same for every format). To add a format, see README.md.
 */

/** How a format names its columns in messages. */
export interface ColumnWords {
  /** "the header" / "the first object (line 1)". */
  header: string;
  /** "column" / "key". */
  column: string;
  /** Where a missing label is looked for, when a message should say: "" / " in the first object (line 1)". */
  inHeader: string;
}

/**
 * One data row as its format gives it: the cells in header order — strings from a CSV, JSON values
 * from NDJSON (undefined where an object lacks the key).
 */
export type RowHandler = (cells: readonly unknown[], line: number) => void;

/** Where a reader sends what it reads. */
export interface RowSink {
  /** Called once, before the first row, with the column names and how messages name them. */
  onHeader(header: string[], words: ColumnWords): void;
  /** Called per data row; a throw (a DATASET_INVALID error) ends the read. */
  onRow: RowHandler;
  /** A DATASET_INVALID error about this file (`detail` is prefixed with the file's name). */
  invalid(detail: string): KilnError;
}

/** Reads one data format (`data.format`). Stateless: one instance serves every job. */
export interface DatasetReader {
  /** How a message names a file of this format: "upload the CSV there first". */
  readonly fileNoun: string;
  /**
   * Streams `input` to `sink`: `onHeader` once, then `onRow` per data row, one row held at a time.
   * With `strictKeys` (the job lists no feature columns, so the header decides them), a format
   * whose rows name their columns must refuse a row with a column the header lacks: it would be
   * silently ignored. Resolves whether the file had at least one data row; an empty file (no
   * header) is an error through `sink.invalid`. Stream faults are rethrown as they are.
   *
   * @param source How messages name the file, e.g. `data.uri 'datasets/a.csv'`.
   */
  read(input: AsyncIterable<string | Uint8Array>, source: string, strictKeys: boolean, sink: RowSink): Promise<boolean>;
}
