import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import { EarlyStopping, type EarlyStoppingOptions } from '../../../core/callbacks/early-stopping';
import type { CallbackEvent } from '../../../core/callbacks/events';
import type { Logs } from '../../../core/callbacks/model-handle';
import { isKilnError } from '../../../core/errors';
import { FakeModel } from './fake-model';

/** Runs EarlyStopping over per-epoch logs (numbers are the monitor's value) like Keras's tests do. */
async function run(opts: EarlyStoppingOptions, series: Array<number | Logs>, stopByOtherAt?: number) {
  const model = new FakeModel();
  const es = new EarlyStopping(opts);
  const events: CallbackEvent[] = [];
  const list = new CallbackList([es], { model, emit: (e) => events.push(e) });
  const monitor = Array.isArray(opts.monitor) ? opts.monitor[0] : opts.monitor ?? 'val_loss';
  let epochsRun = 0;
  await list.onTrainBegin();
  for (const [epoch, item] of series.entries()) {
    epochsRun++;
    model.weights = epoch;
    await list.onEpochBegin(epoch);
    await list.onEpochEnd(epoch, typeof item === 'number' ? { [monitor]: item } : { ...item });
    if (epoch === stopByOtherAt) model.stopTraining = true;
    if (model.stopTraining) break;
  }
  await list.onTrainEnd();
  return { es, model, list, events, epochsRun, summary: es.summary() };
}

test('patience: Keras early_stopping_test losses stop at max(patience, 1) + 2', async () => {
  const losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5];
  for (const patience of [0, 1, 2, 3]) {
    const r = await run({ monitor: 'loss', patience }, losses);
    assert.equal(r.es.stoppedEpoch, Math.max(patience, 1) + 2, `patience ${patience}`);
    assert.equal(r.list.stoppedBy, 'EarlyStopping');
  }
});

const CASES: Array<{
  name: string;
  opts: EarlyStoppingOptions;
  series: Array<number | Logs>;
  stopByOtherAt?: number;
  epochsRun: number;
  stopped: number | null;
  weights?: number;
  bestEpoch?: number | null;
}> = [
  { name: 'restores the best epoch after stopping (Keras)', opts: { patience: 2, restoreBestWeights: true }, series: [0.2, 0.15, 0.1, 0.11, 0.12], epochsRun: 5, stopped: 4, weights: 2, bestEpoch: 2 },
  { name: 'baseline never beaten: runs patience epochs, restores the best (Keras)', opts: { patience: 5, baseline: 0.5, restoreBestWeights: true }, series: [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], epochsRun: 5, stopped: 4, weights: 2 },
  { name: 'another callback stops: best weights still restored (Keras)', opts: { patience: 5, baseline: 0.5, restoreBestWeights: true }, series: [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], stopByOtherAt: 3, epochsRun: 4, stopped: null, weights: 2 },
  { name: 'epoch limit reached: best weights restored anyway (Keras 3)', opts: { patience: 5, restoreBestWeights: true }, series: [0.5, 0.4, 0.45], epochsRun: 3, stopped: null, weights: 1 },
  { name: 'without restoreBestWeights the last weights stay', opts: { patience: 0 }, series: [0.5, 0.6], epochsRun: 2, stopped: 1, weights: 1 },
  { name: 'baseline beaten resets wait', opts: { patience: 1, baseline: 0.5 }, series: [0.6, 0.4, 0.45, 0.46], epochsRun: 3, stopped: 2, bestEpoch: 1 },
  { name: 'a tie is not an improvement', opts: { patience: 1 }, series: [1.0, 1.0, 1.0], epochsRun: 2, stopped: 1, bestEpoch: 0 },
  { name: 'minDelta boundary: exactly minDelta better is not better', opts: { patience: 0, minDelta: 0.1, monitor: 'loss' }, series: [1.0, 0.9], epochsRun: 2, stopped: 1 },
  { name: 'minDelta boundary: more than minDelta better is better', opts: { patience: 0, minDelta: 0.1, monitor: 'loss' }, series: [1.0, 0.89, 0.95], epochsRun: 3, stopped: 2, bestEpoch: 1 },
  { name: 'float32 comparison: a float64-only improvement is a tie', opts: { patience: 0 }, series: [0.5, 0.49999999], epochsRun: 2, stopped: 1, bestEpoch: 0 },
  { name: 'max mode with minDelta', opts: { patience: 0, mode: 'max', minDelta: 0.1, monitor: 'val_accuracy' }, series: [0.5, 0.55], epochsRun: 2, stopped: 1 },
  { name: 'patience 0 never stops at epoch 0', opts: { patience: 0, mode: 'max', monitor: 'val_accuracy' }, series: [0.5], epochsRun: 1, stopped: null },
  { name: 'startFromEpoch ignores the warm-up epochs', opts: { patience: 0, startFromEpoch: 2 }, series: [5, 1, 3, 4, 5], epochsRun: 4, stopped: 3, bestEpoch: 2 },
  { name: 'NaN first value becomes the best and nothing beats it (Keras)', opts: { patience: 2 }, series: [NaN, 1, 0.5, 0.4], epochsRun: 3, stopped: 2, bestEpoch: 0 },
  { name: 'NaN later is no improvement', opts: { patience: 1 }, series: [1, NaN, NaN], epochsRun: 2, stopped: 1, bestEpoch: 0 },
  { name: 'an epoch without the metric is skipped', opts: { patience: 0, monitor: 'loss' }, series: [{ loss: 1 }, {}, { loss: 2 }], epochsRun: 3, stopped: 2 },
  { name: 'several monitors, all: stops only when every one is out of patience', opts: { patience: 0, monitor: ['val_loss', 'loss'] }, series: [{ val_loss: 1, loss: 1 }, { val_loss: 1.1, loss: 0.9 }, { val_loss: 1.2, loss: 0.95 }], epochsRun: 3, stopped: 2 },
  { name: 'several monitors, any: stops when the first is out of patience', opts: { patience: 0, monitor: ['val_loss', 'loss'], stopWhen: 'any' }, series: [{ val_loss: 1, loss: 1 }, { val_loss: 1.1, loss: 0.9 }], epochsRun: 2, stopped: 1 },
];

for (const c of CASES) {
  test(`EarlyStopping: ${c.name}`, async () => {
    const r = await run(c.opts, c.series, c.stopByOtherAt);
    assert.equal(r.epochsRun, c.epochsRun, 'epochs run');
    assert.equal(r.list.stoppedBy, c.stopped === null ? null : 'EarlyStopping');
    assert.equal(r.list.stoppedEpoch, c.stopped);
    if (c.weights !== undefined) assert.equal(r.model.weights, c.weights, 'weights after train end');
    if (c.bestEpoch !== undefined) assert.equal(r.summary.bestEpoch, c.bestEpoch, 'best epoch');
    assert.equal(r.model.liveSnapshots, 0, 'every snapshot disposed');
    const restored = r.events.find((e) => e.type === 'weights_restored');
    assert.equal(restored !== undefined, c.opts.restoreBestWeights === true);
  });
}

test('auto mode: inferred from the name and the compiled metrics; unknown is rejected', async () => {
  const max = await run({ monitor: 'val_accuracy', patience: 0, compiledMetrics: ['accuracy'] }, [0.5, 0.6, 0.55]);
  assert.equal(max.list.stoppedEpoch, 2);
  const min = await run({ monitor: 'val_mae', patience: 0, compiledMetrics: ['mae'] }, [0.5, 0.4, 0.45]);
  assert.equal(min.list.stoppedEpoch, 2);
  await assert.rejects(run({ monitor: 'val_accuracy', patience: 0 }, [0.5]), (e) => isKilnError(e) && /set mode to 'min' or 'max'/.test(e.message));
});

test('the early_stopping event carries the best epoch and value', async () => {
  const r = await run({ patience: 1 }, [0.3, 0.2, 0.25]);
  const ev = r.events.find((e) => e.type === 'early_stopping');
  assert.deepEqual(ev, { type: 'early_stopping', epoch: 2, monitors: ['val_loss'], bestEpoch: 1, bestValue: 0.2, wait: 1 });
});

test('state resets on train begin, so an instance can be reused', async () => {
  const model = new FakeModel();
  const es = new EarlyStopping({ patience: 0, monitor: 'loss' });
  const list = new CallbackList([es], { model, emit: () => {} });
  for (let round = 0; round < 2; round++) {
    model.stopTraining = false;
    await list.onTrainBegin();
    await list.onEpochEnd(0, { loss: 1 });
    await list.onEpochEnd(1, { loss: 2 });
    assert.equal(list.stoppedEpoch, 1, `round ${round}`);
  }
});
