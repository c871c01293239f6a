import { classificationMetrics } from '../../core/classification-metrics';
import { lossLabelEncoding } from '../../core/compile-spec';
import type { Logs } from '../../core/callbacks/model-handle';

/**
 * The epoch-end metrics tfjs does not compute (`val_precision`, `val_recall`, `val_f1`,
 * `val_auc`), from the model's predictions on the validation split. Labels that are class indices
 * (sparse losses) are expanded to one-hot rows first.
 */
export function extraValidationMetrics(wanted: string[], predicted: { yTrue: Float32Array; yPred: Float32Array; classes: number }, loss: string): Logs {
  const { yTrue, yPred, classes } = predicted;
  const rows = yPred.length / classes;
  const pred: number[][] = [];
  const truth: number[][] = [];
  const sparse = lossLabelEncoding(loss) === 'index';
  for (let i = 0; i < rows; i++) {
    pred.push(Array.from(yPred.subarray(i * classes, (i + 1) * classes)));
    if (sparse) {
      const row = new Array<number>(classes).fill(0);
      row[yTrue[i]] = 1;
      truth.push(row);
    } else {
      truth.push(Array.from(yTrue.subarray(i * classes, (i + 1) * classes)));
    }
  }
  const all = classificationMetrics(truth, pred);
  const out: Logs = {};
  for (const name of wanted) out[`val_${name}`] = all[name as keyof typeof all];
  return out;
}
