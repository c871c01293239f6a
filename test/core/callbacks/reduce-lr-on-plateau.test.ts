import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import type { CallbackEvent } from '../../../core/callbacks/events';
import type { Logs } from '../../../core/callbacks/model-handle';
import { ReduceLROnPlateau, type ReduceLROnPlateauOptions } from '../../../core/callbacks/reduce-lr-on-plateau';
import { FakeModel } from './fake-model';

const f32 = Math.fround;

async function run(opts: ReduceLROnPlateauOptions, series: Array<number | Logs>, lr0 = 0.1) {
  const model = new FakeModel(f32(lr0));
  const events: CallbackEvent[] = [];
  const list = new CallbackList([new ReduceLROnPlateau(opts)], { model, emit: (e) => events.push(e) });
  const logged: Array<number | undefined> = [];
  await list.onTrainBegin();
  for (const [epoch, v] of series.entries()) {
    await list.onEpochBegin(epoch);
    const logs: Logs = typeof v === 'number' ? { val_loss: v } : { ...v };
    await list.onEpochEnd(epoch, logs);
    logged.push(logs.learning_rate);
  }
  await list.onTrainEnd();
  const cuts = events.flatMap((e) => (e.type === 'learning_rate_changed' ? [e.epoch] : []));
  return { lr: model.lr, logged, cuts, events };
}

const CASES: Array<{ name: string; opts: ReduceLROnPlateauOptions; series: Array<number | Logs>; lr: number; cuts: number[]; logged?: number[] }> = [
  // The three scenarios of Keras's reduce_lr_on_plateau_test.py (Adam(0.1)).
  { name: 'reduces after patience (Keras)', opts: { patience: 1, factor: 0.1, minDelta: 100 }, series: [1, 1], lr: f32(0.01), cuts: [1] },
  { name: 'honours min_lr (Keras)', opts: { patience: 1, factor: 0.1, minDelta: 10, minLr: 0.005 }, series: [1, 1, 1, 1], lr: f32(0.005), cuts: [1, 2] },
  { name: 'cooldown 2 over 4 epochs cuts twice (Keras)', opts: { patience: 1, factor: 0.1, minDelta: 100, cooldown: 2 }, series: [1, 1, 1, 1], lr: f32(f32(0.01) * 0.1), cuts: [1, 3] },
  {
    name: 'cooldown overlapping patience',
    opts: { patience: 2, cooldown: 3 },
    series: Array(10).fill(1),
    lr: f32(f32(f32(0.1) * 0.1) * 0.1),
    cuts: [2, 6],
    // Each cut multiplies the float32 rate read back from the optimizer, as Keras does.
    logged: [...Array(3).fill(f32(0.1)), ...Array(4).fill(f32(f32(0.1) * 0.1)), ...Array(3).fill(f32(f32(f32(0.1) * 0.1) * 0.1))],
  },
  { name: 'minLr clamp, then no further cut at the floor', opts: { patience: 0, minLr: 0.05 }, series: [1, 1, 1], lr: f32(0.05), cuts: [1] },
  { name: 'improvements reset wait', opts: { patience: 1, minDelta: 0 }, series: [1, 0.9, 0.8, 0.8, 0.7], lr: f32(f32(0.1) * 0.1), cuts: [3] },
  { name: 'a NaN value is no improvement', opts: { patience: 1, minDelta: 0 }, series: [1, NaN], lr: f32(f32(0.1) * 0.1), cuts: [1] },
  // Keras 3.11+ monitor_callback.py: `_set_monitor_op` leaves `best` unset and `_is_improvement`
  // returns True when `reference_value is None`, so a NaN first value becomes the best and no
  // later value (every comparison with NaN is false) beats it.
  { name: 'NaN first value becomes the best (Keras 3.11+)', opts: { patience: 1, minDelta: 0 }, series: [NaN, NaN], lr: f32(f32(0.1) * 0.1), cuts: [1] },
  { name: 'issue 17: [NaN, 0.5, 0.4, 0.3], patience 1, factor 0.5', opts: { patience: 1, factor: 0.5 }, series: [NaN, 0.5, 0.4, 0.3], lr: f32(f32(f32(f32(0.1) * 0.5) * 0.5) * 0.5), cuts: [1, 2, 3] },
  { name: 'missing monitor: no decision, rate still logged', opts: { patience: 0 }, series: [{ loss: 1 }, { loss: 1 }], lr: f32(0.1), cuts: [], logged: [f32(0.1), f32(0.1)] },
  { name: 'max mode on an accuracy', opts: { patience: 0, monitor: 'val_accuracy', compiledMetrics: ['accuracy'] }, series: [{ val_accuracy: 0.5 }, { val_accuracy: 0.50005 }, { val_accuracy: 0.6 }], lr: f32(0.01), cuts: [1] },
];

for (const c of CASES) {
  test(`ReduceLROnPlateau: ${c.name}`, async () => {
    const r = await run(c.opts, c.series);
    assert.equal(r.lr, c.lr);
    assert.deepEqual(r.cuts, c.cuts);
    if (c.logged) assert.deepEqual(r.logged, c.logged);
  });
}

test('learning_rate in the logs is the rate the epoch used, before the cut', async () => {
  const r = await run({ patience: 0 }, [1, 2]);
  assert.deepEqual(r.logged, [f32(0.1), f32(0.1)]);
  assert.deepEqual(r.events, [{ type: 'learning_rate_changed', epoch: 1, by: 'ReduceLROnPlateau', from: f32(0.1), to: f32(f32(0.1) * 0.1) }]);
});

test('factor >= 1 is refused like Keras', () => {
  assert.throws(() => new ReduceLROnPlateau({ factor: 1 }), /factor >= 1.0/);
});
