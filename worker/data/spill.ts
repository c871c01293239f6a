import type { SchemaDataSpec } from '../../core/api.gen';
import { classRemap } from './classes';
import type { LabelEncoding } from './label-encoding';
import type { RowFile } from './row-file';
import type { ScratchFiles } from './scratch-files';
import { randomHoldOut, splitCounts, stratifiedHoldOut } from './split';
import { SpilledSplit, copySelectedRows, type RowEncoding } from './spilled-split';
import type { Standardization } from './standardize';
import { writeRows, type Table } from './table';

/**
 * A dataset past its memory budget (README.md, "spilled to a scratch file"): when a table moves to
 * a scratch file ({@link SpillPlan}), and how the spilled tables become the two sides training
 * reads batch by batch ({@link spilledSides}).
 */

/** When read-table.ts moves rows from memory to a scratch file. */
export interface SpillPlan {
  /** Bytes of parsed values the table may hold in memory; one row more and it spills. */
  limitBytes: number;
  scratch: ScratchFiles;
  /** Whether a spilled table still keeps each row's label value in memory. */
  keepLabels: boolean;
}

/** The two sides of a dataset whose rows (all or some) went to scratch files. */
export async function spilledSides(
  spec: SchemaDataSpec,
  seed: number,
  scratch: ScratchFiles,
  encoding: LabelEncoding,
  classes: string[] | null,
  width: number,
  labelColumn: string,
  trainPart: { table: Table; name: string },
  valPart: { table: Table; name: string } | null,
): Promise<{ train: SpilledSplit; validation: SpilledSplit | null; standardization: Standardization | null; bytes: number }> {
  const features = trainPart.table.featureColumns.length;
  // A file that fitted while the other did not joins it on disk: one way of reading for both sides.
  const fileOf = ({ table }: { table: Table }): RowFile => {
    if (table.file) return table.file;
    const file = writeRows(scratch, table.count, features, (i) => table.features[i], (r) => table.labels[r]);
    file.endWrites();
    return file;
  };
  const rowEncoding = ({ table, name }: { table: Table; name: string }): RowEncoding => ({
    features,
    classes: classes ? { encoding, remap: classRemap(table, classes, labelColumn, name), width } : null,
    standardization: null,
  });
  const trainFile = fileOf(trainPart);
  const trainEncoding = rowEncoding(trainPart);
  const count = trainPart.table.count;
  let train: SpilledSplit;
  let validation: SpilledSplit | null = null;
  if (valPart) {
    const valEncoding = rowEncoding(valPart);
    train = new SpilledSplit(trainFile, null, count, trainEncoding);
    validation = new SpilledSplit(fileOf(valPart), null, valPart.table.count, valEncoding);
  } else if (spec.validationSplit !== undefined) {
    const [trainCount, valCount] = splitCounts(count, spec.validationSplit, trainPart.name);
    const held = spec.stratify ? stratifiedHoldOut(trainPart.table.labels, valCount, seed) : randomHoldOut(count, valCount, seed);
    // The held-out rows get a file of their own, so a validation pass reads only them.
    const valFile = scratch.createRowFile(features + 1);
    await copySelectedRows(trainFile, valFile, held);
    train = new SpilledSplit(trainFile, held, trainCount, trainEncoding);
    validation = new SpilledSplit(valFile, null, valCount, trainEncoding);
  } else {
    train = new SpilledSplit(trainFile, null, count, trainEncoding);
  }
  let standardization: Standardization | null = null;
  if (spec.standardize) {
    standardization = await train.featureStats();
    train = train.standardized(standardization);
    validation = validation ? validation.standardized(standardization) : null;
  }
  const bytes = trainFile.bytes + (validation ? validation.file.bytes : 0);
  return { train, validation, standardization, bytes };
}

