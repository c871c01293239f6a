import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import type { Logs } from '../../../core/callbacks/model-handle';
import { ModelCheckpoint, type ModelCheckpointOptions } from '../../../core/callbacks/model-checkpoint';
import { FakeModel } from './fake-model';

async function run(opts: ModelCheckpointOptions, series: Logs[], batches = 0, firstEpoch = 0) {
  const model = new FakeModel();
  const list = new CallbackList([new ModelCheckpoint(opts)], { model, emit: () => {} });
  await list.onTrainBegin();
  for (const [i, logs] of series.entries()) {
    const epoch = firstEpoch + i;
    await list.onEpochBegin(epoch);
    for (let b = 0; b < batches; b++) {
      await list.onBatchBegin(b);
      await list.onBatchEnd(b, { loss: 1 / (b + 1) });
    }
    await list.onEpochEnd(epoch, { ...logs });
  }
  await list.onTrainEnd();
  return model.saves;
}

const acc = (...v: number[]): Logs[] => v.map((x) => ({ val_accuracy: x, val_loss: 1 - x }));
const loss = (...v: number[]): Logs[] => v.map((x) => ({ val_loss: x }));

const CASES: Array<{ name: string; opts: ModelCheckpointOptions; series: Logs[]; saved: Array<[number, string]> }> = [
  { name: 'saves every epoch by default', opts: { filepath: 'm-{epoch:02d}.keras' }, series: loss(0.5, 0.6), saved: [[0, 'm-01.keras'], [1, 'm-02.keras']] },
  { name: 'saveBestOnly in max mode', opts: { filepath: 'm-{epoch:02d}-{val_accuracy:.4f}.keras', monitor: 'val_accuracy', mode: 'max', saveBestOnly: true }, series: acc(0.5, 0.6, 0.55, 0.7), saved: [[0, 'm-01-0.5000.keras'], [1, 'm-02-0.6000.keras'], [3, 'm-04-0.7000.keras']] },
  { name: 'saveBestOnly, auto mode from compiled accuracy', opts: { filepath: 'm{epoch}.keras', monitor: 'val_accuracy', saveBestOnly: true, compiledMetrics: ['accuracy'] }, series: acc(0.5, 0.4, 0.6), saved: [[0, 'm1.keras'], [2, 'm3.keras']] },
  { name: 'a tie is not saved', opts: { filepath: 'm{epoch}.keras', saveBestOnly: true }, series: loss(0.5, 0.5), saved: [[0, 'm1.keras']] },
  { name: 'initialValueThreshold must be beaten first', opts: { filepath: 'm{epoch}.keras', saveBestOnly: true, initialValueThreshold: 0.5 }, series: loss(0.6, 0.4, 0.45, 0.3), saved: [[1, 'm2.keras'], [3, 'm4.keras']] },
  { name: 'a later NaN value is never best', opts: { filepath: 'm{epoch}-{val_loss}.keras', saveBestOnly: true }, series: loss(0.6, 0.5, NaN), saved: [[0, 'm1-0.6.keras'], [1, 'm2-0.5.keras']] },
  // Keras 3.11+ monitor_callback.py `_is_improvement`: True against an unset best, so a NaN first
  // value is saved and becomes the best, which nothing beats (issue 17's example).
  { name: 'a NaN first value is saved and never beaten (Keras 3.11+)', opts: { filepath: 'm{epoch}.keras', saveBestOnly: true }, series: loss(NaN, 0.5, 0.4), saved: [[0, 'm1.keras']] },
  // initial_value_threshold is MonitorCallback's `baseline`: the first value must beat it; a NaN
  // threshold is never beaten.
  { name: 'a NaN initialValueThreshold is never beaten', opts: { filepath: 'm{epoch}.keras', saveBestOnly: true, initialValueThreshold: NaN }, series: loss(0.5, 0.4), saved: [] },
  { name: 'a missing monitor saves anyway (Keras warns and saves)', opts: { filepath: 'm{epoch}.keras', monitor: 'loss', mode: 'min', saveBestOnly: true }, series: loss(0.5, 0.6), saved: [[0, 'm1.keras'], [1, 'm2.keras']] },
  { name: 'python rounding in names: half-even on the binary value', opts: { filepath: '{val_loss:.2f}_{val_loss:.1f}.keras' }, series: loss(0.125, 0.375, 2.675), saved: [[0, '0.12_0.1.keras'], [1, '0.38_0.4.keras'], [2, '2.67_2.7.keras']] },
];

for (const c of CASES) {
  test(`ModelCheckpoint: ${c.name}`, async () => {
    const saves = await run(c.opts, c.series);
    assert.deepEqual(saves.map((s) => [s.epoch, s.path]), c.saved);
  });
}

test('ModelCheckpoint: epoch >= 100 widens {epoch:02d}', async () => {
  const saves = await run({ filepath: 'e{epoch:02d}.keras' }, loss(0.5, 0.4), 0, 99);
  assert.deepEqual(saves.map((s) => s.path), ['e100.keras', 'e101.keras']);
});

test('ModelCheckpoint: saveFreq counts batches across epochs like Keras', async () => {
  const saves = await run({ filepath: 'b-{epoch}-{batch:03d}.keras', saveFreq: 2 }, loss(0.5, 0.4), 3);
  assert.deepEqual(saves.map((s) => [s.epoch, s.batch, s.path]), [[0, 1, 'b-1-002.keras'], [1, 0, 'b-2-001.keras'], [1, 2, 'b-2-003.keras']]);
});

test('ModelCheckpoint: save requests carry weightsOnly and the best value', async () => {
  const saves = await run({ filepath: 'w.weights.h5', saveBestOnly: true, saveWeightsOnly: true }, loss(0.5));
  assert.deepEqual(saves[0], { path: 'w.weights.h5', weightsOnly: true, epoch: 0, logs: { val_loss: 0.5 }, best: { monitor: 'val_loss', value: 0.5, mode: 'min' } });
});

test('ModelCheckpoint: a template key missing at run time fails the job (a decider)', async () => {
  await assert.rejects(run({ filepath: '{val_f1:.2f}.keras' }, loss(0.5)), /KeyError: 'val_f1'/);
});
