import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDataSplit } from '../../core/check-data-spec';

test('the split rules the API and the worker share', () => {
  const cases: Array<[string, object, string, string[]]> = [
    ['a plain split', { uri: 'd.csv', labelColumn: 'y', validationSplit: 0.2, stratify: true }, 'sparse_categorical_crossentropy', []],
    ['both kinds of validation', { uri: 'd.csv', labelColumn: 'y', validationSplit: 0.2, validation: { uri: 'v.csv' } }, 'mse', ['/data/validationSplit']],
    ['stratify without a split', { builtin: 'iris', stratify: true }, 'categorical_crossentropy', ['/data/stratify']],
    ['stratify on a regression loss', { uri: 'd.csv', labelColumn: 'y', validationSplit: 0.2, stratify: true }, 'huber', ['/data/stratify']],
  ];
  for (const [what, data, loss, pointers] of cases) {
    assert.deepEqual(checkDataSplit(data as any, loss).map((p) => p.pointer), pointers, what);
  }
  assert.match(checkDataSplit({ builtin: 'iris', validationSplit: 0.2, stratify: true }, 'mae')[0].detail, /loss mae is a regression loss with no classes; drop stratify/);
});
