import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classificationMetrics, f1, precision, recall, rocAuc } from '../../core/classification-metrics';

const near = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} vs ${b}`);

test('binary: threshold 0.5 (strictly greater), counts by hand', () => {
  const yTrue = [1, 1, 1, 0, 0, 0];
  const yPred = [0.9, 0.6, 0.4, 0.7, 0.5, 0.1]; // tp 2, fn 1, fp 1 (0.5 is not > 0.5)
  near(precision(yTrue, yPred), 2 / 3);
  near(recall(yTrue, yPred), 2 / 3);
  near(f1(yTrue, yPred), 2 / 3);
  // Positives 0.9, 0.6, 0.4 against negatives 0.7, 0.5, 0.1 win 3 + 2 + 1 of the 9 pairs.
  near(rocAuc(yTrue, yPred), 6 / 9);
});

test('binary rows of one column equal flat arrays', () => {
  const t = [1, 0, 1, 0];
  const p = [0.8, 0.3, 0.2, 0.6];
  assert.deepEqual(classificationMetrics(t.map((x) => [x]), p.map((x) => [x])), classificationMetrics(t, p));
});

test('multi-class one-hot: micro precision/recall over cells, macro f1 over argmax', () => {
  const yTrue = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]];
  const yPred = [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]];
  // Cells > 0.5: (0,0) tp, (1,0) fp, (2,2) tp → tp 2, fp 1, fn 2.
  near(precision(yTrue, yPred), 2 / 3);
  near(recall(yTrue, yPred), 2 / 4);
  // argmax: 0,0,2,1 vs 0,1,2,2 → class0 f1 = 2/3, class1 = 0, class2 = 2/3 → macro 4/9.
  near(f1(yTrue, yPred), 4 / 9);
});

test('AUC: ties count half; perfect and inverted rankings; one class only gives 0', () => {
  near(rocAuc([1, 0], [0.5, 0.5]), 0.5);
  near(rocAuc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]), 1);
  near(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]), 0);
  near(rocAuc([1, 1], [0.1, 0.2]), 0);
});

test('zero denominators give 0, and shapes must match', () => {
  near(precision([1, 0], [0.1, 0.2]), 0);
  near(recall([0, 0], [0.9, 0.2]), 0);
  assert.throws(() => precision([1, 0], [0.5]), /rows/);
  assert.throws(() => precision([[1, 0]], [[0.5]]), /columns/);
});
