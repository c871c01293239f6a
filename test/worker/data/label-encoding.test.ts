import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../../../core/errors';
import { canonicalLabel, compareLabels, labelEncodingForLoss } from '../../../worker/data/label-encoding';

describe('label encoding', () => {
  const byLoss: Array<[string, string]> = [
    ['categorical_crossentropy', 'one-hot'],
    ['sparse_categorical_crossentropy', 'index'],
    ['binary_crossentropy', 'binary'],
    ['hinge', 'sign'],
    ['mse', 'numeric'],
    ['mean_squared_error', 'numeric'],
    ['mae', 'numeric'],
    ['mean_absolute_error', 'numeric'],
    ['huber', 'numeric'],
  ];
  for (const [loss, encoding] of byLoss) {
    test(`${loss} → ${encoding}`, () => assert.equal(labelEncodingForLoss(loss), encoding));
  }

  test('an unknown loss is a spec error pointing at compile.loss', () => {
    assert.throws(() => labelEncodingForLoss('kld'), (err: unknown) =>
      isKilnError(err) && err.code === 'JOB_SPEC_INVALID' && err.errors[0].pointer === '/compile/loss');
    assert.throws(() => labelEncodingForLoss('toString'), /no label encoding/);
  });

  test('numeric labels are one class per value; others are trimmed text', () => {
    assert.equal(canonicalLabel('1.0'), '1');
    assert.equal(canonicalLabel(' 1e0 '), '1');
    assert.equal(canonicalLabel('007'), '7');
    assert.equal(canonicalLabel(' cat '), 'cat');
    assert.equal(canonicalLabel('0x10'), '0x10');
  });

  test('classes sort numbers by value, then text by code unit', () => {
    assert.deepEqual(['10', '9', '2'].sort(compareLabels), ['2', '9', '10']);
    assert.deepEqual(['b', 'a', 'B'].sort(compareLabels), ['B', 'a', 'b']);
    assert.deepEqual(['b', '10', 'a', '-1'].sort(compareLabels), ['-1', '10', 'a', 'b']);
  });
});
