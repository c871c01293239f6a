/**
 * Precision, recall, F1 and ROC AUC from labels and predicted probabilities, for the extra
 * epoch-end metrics Kiln logs (`val_precision`, `val_recall`, `val_f1`, `val_auc`). Pure numbers in,
 * numbers out; the worker computes the predictions.
 *
 * Inputs: binary — `yTrue` of 0/1 and `yPred` of probabilities of class 1 (flat arrays or n×1
 * rows); multi-class — one-hot `yTrue` rows and probability rows of the same width.
 *
 * Averaging, compared with Keras 3's metric objects at their defaults:
 * - precision / recall: every (row, class) cell is one binary decision, positive when the
 *   probability is > 0.5, pooled over all cells (micro average). This is exactly what
 *   `keras.metrics.Precision()` / `Recall()` compute (thresholds=0.5, no top_k, no class_id).
 * - f1: binary — F1 of the > 0.5 decisions. Multi-class — each row's predicted class is its
 *   argmax, F1 per class, then the unweighted mean over classes (macro). Keras's `F1Score()`
 *   defaults to `average=None` (one value per class, which a CSV cannot hold as one number) and
 *   `threshold=None`; Kiln's f1 equals `F1Score(average='macro')` for multi-class, and
 *   `F1Score(threshold=0.5)` for binary.
 * - auc: ROC AUC over the pooled cells (micro, like `keras.metrics.AUC()` with multi_label=False),
 *   computed exactly (ties count one half, the Mann–Whitney statistic) where Keras approximates it
 *   with 200 thresholds; expect differences around 1e-3.
 * A ratio with a zero denominator is 0 (Keras's `divide_no_nan`); AUC with only one class present
 * is 0 as well (Keras gives 0 there too, having no positive or no negative cells).
 */

/** Labels or probabilities: a flat array, or rows. */
export type Matrix = ReadonlyArray<number> | ReadonlyArray<ReadonlyArray<number>>;

/** All four metrics at once. */
export interface ClassificationMetrics {
  precision: number;
  recall: number;
  f1: number;
  auc: number;
}

function rows(m: Matrix): number[][] {
  return m.map((r) => (typeof r === 'number' ? [r] : [...r]));
}

function shape(yTrue: Matrix, yPred: Matrix): { t: number[][]; p: number[][] } {
  const t = rows(yTrue);
  const p = rows(yPred);
  if (t.length !== p.length) throw new RangeError(`yTrue has ${t.length} rows, yPred has ${p.length}`);
  for (let i = 0; i < t.length; i++) {
    if (t[i].length !== p[i].length) throw new RangeError(`row ${i}: yTrue has ${t[i].length} columns, yPred has ${p[i].length}`);
  }
  return { t, p };
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

function counts(t: number[][], p: number[][]): { tp: number; fp: number; fn: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < t.length; i++) {
    for (let j = 0; j < t[i].length; j++) {
      const actual = t[i][j] > 0.5;
      const predicted = p[i][j] > 0.5;
      if (predicted && actual) tp++;
      else if (predicted) fp++;
      else if (actual) fn++;
    }
  }
  return { tp, fp, fn };
}

/** Micro precision at threshold 0.5 (Keras `Precision()`). */
export function precision(yTrue: Matrix, yPred: Matrix): number {
  const { t, p } = shape(yTrue, yPred);
  const c = counts(t, p);
  return ratio(c.tp, c.tp + c.fp);
}

/** Micro recall at threshold 0.5 (Keras `Recall()`). */
export function recall(yTrue: Matrix, yPred: Matrix): number {
  const { t, p } = shape(yTrue, yPred);
  const c = counts(t, p);
  return ratio(c.tp, c.tp + c.fn);
}

/** Binary: F1 at threshold 0.5. Multi-class: macro F1 of argmax predictions. */
export function f1(yTrue: Matrix, yPred: Matrix): number {
  const { t, p } = shape(yTrue, yPred);
  const width = t[0]?.length ?? 1;
  if (width === 1) {
    const c = counts(t, p);
    return ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn);
  }
  let sum = 0;
  for (let k = 0; k < width; k++) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < t.length; i++) {
      const actual = argmax(t[i]) === k;
      const predicted = argmax(p[i]) === k;
      if (predicted && actual) tp++;
      else if (predicted) fp++;
      else if (actual) fn++;
    }
    sum += ratio(2 * tp, 2 * tp + fp + fn);
  }
  return sum / width;
}

function argmax(row: number[]): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}

/** Exact ROC AUC over all cells pooled (ties count one half). */
export function rocAuc(yTrue: Matrix, yPred: Matrix): number {
  const { t, p } = shape(yTrue, yPred);
  const cells: Array<{ score: number; positive: boolean }> = [];
  for (let i = 0; i < t.length; i++) for (let j = 0; j < t[i].length; j++) cells.push({ score: p[i][j], positive: t[i][j] > 0.5 });
  cells.sort((a, b) => a.score - b.score);
  const positives = cells.filter((c) => c.positive).length;
  const negatives = cells.length - positives;
  if (positives === 0 || negatives === 0) return 0;
  // Sum of the positives' mid-ranks, then Mann–Whitney U / (P * N).
  let rankSum = 0;
  for (let i = 0; i < cells.length; ) {
    let j = i;
    while (j < cells.length && cells[j].score === cells[i].score) j++;
    const midRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (cells[k].positive) rankSum += midRank;
    i = j;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** The four metrics for one set of labels and predictions. */
export function classificationMetrics(yTrue: Matrix, yPred: Matrix): ClassificationMetrics {
  return { precision: precision(yTrue, yPred), recall: recall(yTrue, yPred), f1: f1(yTrue, yPred), auc: rocAuc(yTrue, yPred) };
}
