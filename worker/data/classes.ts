import { KilnError } from '../../core/errors';
import { compareLabels, maxClassesFor, writeClassTarget, type LabelEncoding } from './label-encoding';
import type { Table } from './table';

/**
 * The classes of a classification job, from its training table: the label names sorted (see
 * label-encoding.ts), checked against the loss (at least two; exactly two for binary and hinge).
 */
export function trainingClasses(table: Table, encoding: LabelEncoding, labelColumn: string, source: string, loss: string): string[] {
  const classes = [...table.labelNames].sort(compareLabels);
  if (classes.length < 2) {
    throw new KilnError(
      'DATASET_INVALID',
      `${source}: label column '${labelColumn}' has a single class ('${classes[0]}'); loss ${loss} needs at least two ` +
        'classes — check labelColumn, or use a regression loss for a numeric target.',
    );
  }
  if (classes.length > maxClassesFor(encoding)) {
    const shown = classes.slice(0, 5).map((c) => `'${c}'`).join(', ') + (classes.length > 5 ? ', …' : '');
    throw new KilnError(
      'DATASET_INVALID',
      `${source}: label column '${labelColumn}' has ${classes.length} classes (${shown}) but loss ${loss} needs exactly two; ` +
        'use categorical_crossentropy or sparse_categorical_crossentropy for more classes.',
    );
  }
  return classes;
}

/** A table's targets in the loss's encoding (regression: the labels as read). */
export function encodeTargets(
  table: Table,
  encoding: LabelEncoding,
  classes: string[] | null,
  width: number,
  labelColumn: string,
  source: string,
): Float32Array {
  if (classes === null) return table.labels;
  const remap = classRemap(table, classes, labelColumn, source);
  const y = new Float32Array(table.count * width);
  for (let r = 0; r < table.count; r++) writeClassTarget(y, r * width, encoding, remap[table.labels[r]]);
  return y;
}

/** Provisional class id of `table` → index in `classes`; a label outside them is a DATASET_INVALID error. */
export function classRemap(table: Table, classes: string[], labelColumn: string, source: string): Int32Array {
  const finalIndex = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(table.labelNames, (name, id) => {
    const index = finalIndex.get(name);
    if (index === undefined) {
      throw new KilnError(
        'DATASET_INVALID',
        `${source}, line ${table.labelLines[id]}: label '${name}' in column '${labelColumn}' is not a class of the training data ` +
          `(${classes.map((c) => `'${c}'`).join(', ')}); validation rows must use the training classes.`,
      );
    }
    return index;
  });
}

