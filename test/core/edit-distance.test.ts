import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance } from '../../core/edit-distance';

test('edit distance counts single-character insertions, deletions and substitutions', () => {
  const cases: Array<[string, string, number]> = [
    ['', '', 0], ['', 'abc', 3], ['abc', '', 3], ['patience', 'patience', 0],
    ['paitence', 'patience', 2], ['kitten', 'sitting', 3], ['dense', 'Dense', 1], ['units', 'unit', 1],
  ];
  for (const [a, b, d] of cases) {
    assert.equal(editDistance(a, b), d, `${a} → ${b}`);
    assert.equal(editDistance(b, a), d, `${b} → ${a}`);
  }
});
