import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import { CSVLogger } from '../../../core/callbacks/csv-logger';
import type { CallbackEvent } from '../../../core/callbacks/events';
import { TerminateOnNaN } from '../../../core/callbacks/terminate-on-nan';
import { FakeModel } from './fake-model';

const CASES: Array<{ name: string; losses: Array<number | undefined>; stopAt: number | null }> = [
  { name: 'finite losses never stop', losses: [1, 0.5, 0.25], stopAt: null },
  { name: 'NaN stops at that batch', losses: [1, NaN, 0.5], stopAt: 1 },
  { name: 'Infinity stops', losses: [Infinity], stopAt: 0 },
  { name: '-Infinity stops', losses: [1, -Infinity], stopAt: 1 },
  { name: 'a batch without loss is ignored', losses: [undefined, 1], stopAt: null },
];

for (const c of CASES) {
  test(`TerminateOnNaN: ${c.name}`, async () => {
    const model = new FakeModel();
    const events: CallbackEvent[] = [];
    const list = new CallbackList([new TerminateOnNaN()], { model, emit: (e) => events.push(e) });
    await list.onTrainBegin();
    await list.onEpochBegin(4);
    let stoppedAt: number | null = null;
    for (const [b, loss] of c.losses.entries()) {
      await list.onBatchEnd(b, loss === undefined ? {} : { loss });
      if (model.stopTraining) {
        stoppedAt = b;
        break;
      }
    }
    assert.equal(stoppedAt, c.stopAt);
    assert.equal(list.stoppedBy, c.stopAt === null ? null : 'TerminateOnNaN');
    if (c.stopAt !== null) {
      assert.equal(list.stoppedEpoch, 4);
      assert.deepEqual(events.map((e) => e.type), ['nan_terminated']);
    }
  });
}

test('TerminateOnNaN: the epoch still ends, so the CSV gets the nan row (Keras test_stop_training_csv)', async () => {
  const model = new FakeModel();
  let csv = '';
  const list = new CallbackList([new TerminateOnNaN(), new CSVLogger({ sink: (t) => void (csv = t) })], { model, emit: () => {} });
  await list.onTrainBegin();
  await list.onEpochBegin(0);
  await list.onBatchEnd(0, { loss: NaN });
  await list.onEpochEnd(0, { loss: NaN });
  await list.onTrainEnd();
  assert.equal(csv, 'epoch,loss,val_loss\r\n0,nan,NA\r\n');
});
