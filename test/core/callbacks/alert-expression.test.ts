import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertExpression, AlertExpressionError } from '../../../core/callbacks/alert-expression';

const LOGS = { val_accuracy: 0.93, val_f1: 0.79, loss: 0.2, val_loss: NaN };

const CASES: Array<[string, boolean]> = [
  ['val_accuracy > 0.92', true],
  ['val_accuracy > 0.92 and val_f1 > 0.8', false],
  ['val_accuracy > 0.92 or val_f1 > 0.8', true],
  ['val_f1 > 0.8 or val_accuracy > 0.95 and loss < 1', false],
  ['(val_f1 > 0.8 or val_accuracy > 0.9) and loss < 1', true],
  ['0.9 < val_accuracy', true],
  ['loss <= 0.2 and loss >= 0.2 and loss == 0.2', true],
  ['loss != 0.2', false],
  ['val_loss < 1', false],
  ['val_loss != 1', true],
  ['missing_metric < 1', false],
  ['missing_metric != 1', false],
  ['loss < 2e-1', false],
  ['loss < -1', false],
];

test('alert conditions evaluate with and/or precedence, parentheses, NaN and missing metrics', () => {
  for (const [text, want] of CASES) assert.equal(AlertExpression.parse(text).evaluate(LOGS), want, text);
});

test('the metrics a condition mentions are listed once, in order', () => {
  assert.deepEqual(AlertExpression.parse('val_f1 > 1 or (loss < 1 and val_f1 < 0)').metrics, ['val_f1', 'loss']);
});

test('syntax errors say where', () => {
  const bad: Array<[string, RegExp]> = [
    ['val_accuracy >', /ends early/],
    ['val_accuracy 0.9', /expected a comparison/],
    ['val_accuracy > 0.9 and', /ends early/],
    ['(loss < 1', /expected '\)'/],
    ['loss < 1)', /unexpected '\)'/],
    ['loss < val_loss', /one metric and one number/],
    ['loss ~ 1', /unexpected '~' at character 6/],
    ['', /ends early/],
  ];
  for (const [text, re] of bad) assert.throws(() => AlertExpression.parse(text), (e) => e instanceof AlertExpressionError && re.test(e.message), text);
});
