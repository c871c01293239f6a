import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import type { CallbackEvent } from '../../../core/callbacks/events';
import { LearningRateScheduler, scheduledRate, type LearningRateSchedulerOptions } from '../../../core/callbacks/learning-rate-scheduler';
import type { Logs } from '../../../core/callbacks/model-handle';
import { FakeModel } from './fake-model';

const close = (a: number[], b: number[]): void => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= 1e-12 * Math.max(1, Math.abs(b[i])), `epoch ${i}: ${x} vs ${b[i]}`));
};

const CASES: Array<{ name: string; opts: Omit<LearningRateSchedulerOptions, 'initialLearningRate'>; rates: number[] }> = [
  { name: 'step', opts: { schedule: { type: 'step', stepSize: 2, gamma: 0.5 } }, rates: [1, 1, 0.5, 0.5, 0.25] },
  { name: 'step default gamma', opts: { schedule: { type: 'step', stepSize: 3 } }, rates: [1, 1, 1, 0.1] },
  { name: 'exponential', opts: { schedule: { type: 'exponential', decayRate: 0.5, decayEpochs: 2 } }, rates: [1, Math.SQRT1_2, 0.5, 0.5 * Math.SQRT1_2] },
  { name: 'exponential staircase', opts: { schedule: { type: 'exponential', decayRate: 0.5, decayEpochs: 2, staircase: true } }, rates: [1, 1, 0.5, 0.5] },
  { name: 'cosine with alpha, flat after decayEpochs', opts: { schedule: { type: 'cosine', decayEpochs: 2, alpha: 0.1 } }, rates: [1, 0.55, 0.1, 0.1] },
  { name: 'piecewise: Keras boundary semantics (epoch <= boundary)', opts: { schedule: { type: 'piecewise', boundaries: [1, 3], values: [0.1, 0.01, 0.001] } }, rates: [0.1, 0.1, 0.01, 0.01, 0.001] },
  { name: 'warm-up then the schedule from lr0', opts: { schedule: { type: 'step', stepSize: 1, gamma: 0.5 }, warmup: { epochs: 2, startLr: 0.2 } }, rates: [0.2, 0.6, 1, 0.5, 0.25] },
];

for (const c of CASES) {
  test(`scheduledRate: ${c.name}`, () => {
    close(c.rates.map((_, e) => scheduledRate(c.opts.schedule, c.opts.warmup, 1, e)), c.rates);
  });
}

test('LearningRateScheduler sets the rate at epoch begin and logs it (float32) at epoch end', async () => {
  const model = new FakeModel(0.1);
  const events: CallbackEvent[] = [];
  const list = new CallbackList([new LearningRateScheduler({ schedule: { type: 'step', stepSize: 1, gamma: 0.5 }, initialLearningRate: 0.1 })], { model, emit: (e) => events.push(e) });
  await list.onTrainBegin();
  const logged: number[] = [];
  for (let epoch = 0; epoch < 3; epoch++) {
    await list.onEpochBegin(epoch);
    const logs: Logs = { loss: 1 };
    await list.onEpochEnd(epoch, logs);
    logged.push(logs.learning_rate);
  }
  assert.deepEqual(logged, [0.1, 0.05, 0.025].map(Math.fround));
  // Epoch 0 keeps the compiled rate (the FakeModel starts at 0.1 in float64, so it is re-set as float32 without an event).
  assert.deepEqual(events.map((e) => (e.type === 'learning_rate_changed' ? e.epoch : -1)), [1, 2]);
});
