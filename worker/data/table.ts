import type { RowFile } from './row-file';
import type { ScratchFiles } from './scratch-files';

/** One data file as read-table.ts parsed it: features, labels as read, and the label names seen. */
export interface Table {
  /** `count × features` values; empty when the rows are in {@link Table.file}. */
  features: Float32Array;
  count: number;
  featureColumns: string[];
  /**
   * Per row: the label's numeric value (regression) or its provisional class id (first-seen order).
   * Empty when the rows are in {@link Table.file}, unless the plan kept them (`keepLabels`).
   */
  labels: Float32Array;
  /** Provisional class id → canonical label. */
  labelNames: string[];
  /** Provisional class id → line of the first row with that label, for messages. */
  labelLines: number[];
  /** The rows (features, then the label value) once they went to a scratch file; else null. */
  file: RowFile | null;
}

/** An empty value array, for the sides of a table whose values are in its file. */
export const NO_VALUES = new Float32Array(0);

/** Bytes of parsed values a table holds in memory. */
export function tableBytes(table: Table): number {
  return table.features.byteLength + table.labels.byteLength;
}

/** Writes rows to a new scratch file: `features` values, then the label, per row. */
export function writeRows(scratch: ScratchFiles, count: number, features: number, feature: (i: number) => number, label: (r: number) => number): RowFile {
  const file = scratch.createRowFile(features + 1);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < features; j++) file.push(feature(r * features + j));
    file.push(label(r));
  }
  return file;
}
