import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMetrics, formatValue, parseCsv, renderTable } from '../../cli/format';

test('formatValue: 4 significant digits, integers as they are, exponents when tiny or huge, strings kept', () => {
  const cases: [number | string | null, string][] = [
    [0.019999999552965164, '0.02'], [0.41783764958381653, '0.4178'], [12, '12'], [0, '0'],
    [0.00001234, '1.23e-5'], [123456.7, '1.23e+5'], ['NaN', 'NaN'], [null, '-'], [-0.5, '-0.5'],
  ];
  for (const [v, want] of cases) assert.equal(formatValue(v), want, String(v));
});

test('formatMetrics orders loss, training metrics, validation metrics, then the learning rate as lr', () => {
  assert.equal(formatMetrics({ val_accuracy: 0.9, learning_rate: 0.01, accuracy: 0.8, val_loss: 0.3, loss: 0.4 }), 'loss=0.4 accuracy=0.8 val_loss=0.3 val_accuracy=0.9 lr=0.01');
});

test('renderTable right-aligns numeric columns, left-aligns text, and pads every column to its widest cell', () => {
  assert.equal(renderTable([['name', 'loss', 'note'], ['a', '0.5', 'x'], ['bbb', 'NaN', 'longer'], ['c', '-12', '']]), [
    'name  loss  note',
    'a      0.5  x',
    'bbb    NaN  longer',
    'c      -12',
    '',
  ].join('\n'));
});

test('parseCsv reads RFC 4180: quotes, doubled quotes, commas and newlines in quotes, CRLF, no empty last row', () => {
  assert.deepEqual(parseCsv('epoch,"a,b","say ""hi"""\r\n0,"x\ny",2\r\n'), [['epoch', 'a,b', 'say "hi"'], ['0', 'x\ny', '2']]);
  assert.deepEqual(parseCsv('a,b\n1,'), [['a', 'b'], ['1', '']]);
  assert.deepEqual(parseCsv(''), []);
});
