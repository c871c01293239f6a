import { KilnError } from '../../core/errors';
import { LOSSES, lossLabelEncoding, type LabelEncoding } from '../../core/compile-spec';

// The encodings and which loss takes which are core's (one loss table); the worker reads them here.
export { isClassification, maxClassesFor, type LabelEncoding } from '../../core/compile-spec';

/*
 * Class order — which class is index 0, which is "positive" — is the sorted order of the distinct
 * label values in the training data: numeric labels ascending by value (so `2` before `10`), then
 * the rest by UTF-16 code unit (locale-independent, so every worker agrees). Binary 0/1 labels
 * therefore stay 0/1, and `no`/`yes` become 0/1.
 */

/** Label encoding for a Keras loss name; unknown names are a `JOB_SPEC_INVALID` error. */
export function labelEncodingForLoss(loss: string): LabelEncoding {
  const encoding = lossLabelEncoding(loss);
  if (encoding === undefined) {
    const detail = `compile.loss '${loss}' has no label encoding; use one of ${Object.keys(LOSSES).join(', ')}.`;
    throw new KilnError('JOB_SPEC_INVALID', detail, { errors: [{ pointer: '/compile/loss', detail }] });
  }
  return encoding;
}

/** A decimal number as CSV files write them: no hex, no `Infinity`, no empty string. */
export const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * The class a raw label cell names. Numeric labels are identified by value, so `1`, `1.0` and
 * `1e0` (as pandas writes float columns) are one class, named `1`; other labels by their trimmed text.
 */
export function canonicalLabel(raw: string): string {
  const text = raw.trim();
  return DECIMAL.test(text) ? String(Number(text)) : text;
}

/** Sort order of class names, as described at the top of this file. */
export function compareLabels(a: string, b: string): number {
  const an = DECIMAL.test(a);
  const bn = DECIMAL.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Target values per row: `numClasses` for one-hot, else 1. */
export function labelWidth(encoding: LabelEncoding, numClasses: number): number {
  return encoding === 'one-hot' ? numClasses : 1;
}

/** Writes the target of class `index` for one row at `offset` of `y`. */
export function writeClassTarget(y: Float32Array, offset: number, encoding: LabelEncoding, index: number): void {
  switch (encoding) {
    case 'one-hot':
      y[offset + index] = 1;
      break;
    case 'sign':
      y[offset] = index === 0 ? -1 : 1;
      break;
    case 'index':
    case 'binary':
      y[offset] = index;
      break;
    case 'numeric':
      throw new Error('numeric labels have no class target');
  }
}

/**
 * Refuses labels the model's output cannot hold, before training starts: one-hot targets need
 * exactly one output unit per class, class indices need at least as many units as classes, and
 * binary or sign targets one unit. Left to tfjs, a mismatch fails deep in `fit` as a shape error
 * that looks like ours and is retried. A `DATASET_INVALID` error (not retried) naming the label
 * column, its class count and the model's output width.
 *
 * @param outputShape - one sample's output shape (checkModelSpec's `outputShape`); null = unknown, not checked
 */
export function checkLabelsFitOutput(loss: string, classes: readonly string[] | null, outputShape: ReadonlyArray<number | null> | null, labelColumn: string): void {
  if (classes === null || outputShape === null || outputShape.length === 0) return;
  const units = outputShape[outputShape.length - 1];
  if (units === null) return;
  const encoding = labelEncodingForLoss(loss);
  const n = classes.length;
  const need = encoding === 'one-hot' ? (units === n ? null : `exactly ${n} output units (one per class)`)
    : encoding === 'index' ? (units >= n ? null : `at least ${n} output units (one per class)`)
    : encoding === 'binary' || encoding === 'sign' ? (units === 1 ? null : 'one output unit')
    : null;
  if (need === null) return;
  const shown = classes.slice(0, 5).map((c) => `'${c}'`).join(', ') + (n > 5 ? ', …' : '');
  throw new KilnError(
    'DATASET_INVALID',
    `label column '${labelColumn}' has ${n} classes (${shown}) but the model's last layer has ${units} units; loss ${loss} needs ${need}. ` +
      `Set the last layer's units to ${encoding === 'binary' || encoding === 'sign' ? 1 : n}, or check data.labelColumn.`,
  );
}
