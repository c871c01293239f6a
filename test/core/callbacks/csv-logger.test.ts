import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CSVLogger } from '../../../core/callbacks/csv-logger';
import type { Logs } from '../../../core/callbacks/model-handle';
import { FakeModel } from './fake-model';

// Expected texts were written by Python's csv.DictWriter (excel dialect) driven exactly as Keras's
// CSVLogger drives it. Non-finite values are given as Python reprs.
const GOLDEN: Array<{ name: string; sep: string; rows: Array<[number, Record<string, number | string>]>; csv: string }> = [
  {"name": "basic", "sep": ",", "rows": [[0, {"loss": 0.6931471824645996, "accuracy": 0.5, "val_loss": 0.7, "val_accuracy": 0.25}], [1, {"loss": 1.0, "accuracy": 1e-05, "val_loss": "nan", "val_accuracy": 1e+16}]], "csv": "epoch,accuracy,loss,val_accuracy,val_loss\r\n0,0.5,0.6931471824645996,0.25,0.7\r\n1,1e-05,1.0,1e+16,nan\r\n"},
  {"name": "no-validation", "sep": ",", "rows": [[0, {"loss": 0.5, "mse": 0.25}], [1, {"loss": 0.125, "mse": "inf"}]], "csv": "epoch,loss,mse,val_loss,val_mse\r\n0,0.5,0.25,NA,NA\r\n1,0.125,inf,NA,NA\r\n"},
  {"name": "missing-later", "sep": ",", "rows": [[0, {"loss": 0.5, "val_loss": 0.4}], [1, {"loss": 0.3}]], "csv": "epoch,loss,val_loss\r\n0,0.5,0.4\r\n1,0.3,NA\r\n"},
  {"name": "tab", "sep": "\t", "rows": [[0, {"loss": 0.5, "val_loss": -0.0}], [1, {"loss": 1e-07, "val_loss": 123456789.0}]], "csv": "epoch\tloss\tval_loss\r\n0\t0.5\t-0.0\r\n1\t1e-07\t123456789.0\r\n"},
  {"name": "dot-separator-quotes", "sep": ".", "rows": [[0, {"loss": 0.5, "val_loss": 2.0}]], "csv": "epoch.loss.val_loss\r\n0.\"0.5\".\"2.0\"\r\n"},
  {"name": "learning-rate", "sep": ";", "rows": [[0, {"loss": 0.5, "val_loss": 0.4, "learning_rate": 0.0010000000474974513}]], "csv": "epoch;learning_rate;loss;val_loss\r\n0;0.0010000000474974513;0.5;0.4\r\n"}
];

const num = (v: number | string): number => (typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity);

async function write(logger: CSVLogger, rows: Array<[number, Logs]>): Promise<void> {
  logger.setModel(new FakeModel());
  await logger.onTrainBegin();
  for (const [epoch, logs] of rows) await logger.onEpochEnd(epoch, logs);
  await logger.onTrainEnd();
}

for (const g of GOLDEN) {
  test(`CSVLogger matches Keras byte for byte: ${g.name}`, async () => {
    const texts: string[] = [];
    const logger = new CSVLogger({ separator: g.sep, sink: (t) => void texts.push(t) });
    const rows = g.rows.map(([e, l]): [number, Logs] => [e, Object.fromEntries(Object.entries(l).map(([k, v]) => [k, num(v)]))]);
    await write(logger, rows);
    assert.equal(texts[texts.length - 1], g.csv);
    assert.equal(texts.length, rows.length, 'the sink gets the whole text after every epoch');
  });
}

test('CSVLogger: a resumed run drops the rows it will log again, keeps the header', async () => {
  const existing = 'epoch,loss,val_loss\r\n0,0.5,0.6\r\n1,0.4,0.5\r\n2,0.3,0.45\r\n';
  let text = '';
  const logger = new CSVLogger({ sink: (t) => void (text = t), existing: { text: existing, keepEpochsBelow: 2 } });
  await write(logger, [[2, { loss: 0.35, val_loss: 0.4 }], [3, { loss: 0.25, val_loss: 0.3 }]]);
  assert.equal(text, 'epoch,loss,val_loss\r\n0,0.5,0.6\r\n1,0.4,0.5\r\n2,0.35,0.4\r\n3,0.25,0.3\r\n');
});

test('CSVLogger: append continues a non-empty log without a second header; without append it starts over', async () => {
  const existing = 'epoch,loss,val_loss\r\n0,0.5,0.6\r\n';
  let text = '';
  await write(new CSVLogger({ append: true, sink: (t) => void (text = t), existing: { text: existing } }), [[0, { loss: 0.1, val_loss: 0.2 }]]);
  assert.equal(text, existing + '0,0.1,0.2\r\n');
  await write(new CSVLogger({ sink: (t) => void (text = t), existing: { text: existing } }), [[0, { loss: 0.1, val_loss: 0.2 }]]);
  assert.equal(text, 'epoch,loss,val_loss\r\n0,0.1,0.2\r\n');
});

test('CSVLogger: keys are fixed by the first epoch; later new keys are not written', async () => {
  let text = '';
  await write(new CSVLogger({ sink: (t) => void (text = t) }), [[0, { loss: 1, val_loss: 2 }], [1, { loss: 1, val_loss: 2, extra: 3 }]]);
  assert.equal(text, 'epoch,loss,val_loss\r\n0,1.0,2.0\r\n1,1.0,2.0\r\n');
});
