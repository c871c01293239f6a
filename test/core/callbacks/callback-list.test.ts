import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Callback } from '../../../core/callbacks/callback';
import { CallbackList } from '../../../core/callbacks/callback-list';
import type { CallbackEvent } from '../../../core/callbacks/events';
import { buildCallbacks } from '../../../core/callbacks/from-spec';
import type { Logs } from '../../../core/callbacks/model-handle';
import { FakeModel } from './fake-model';

class Failing extends Callback {
  override readonly name: string;
  override readonly role: 'decider' | 'observer';
  constructor(role: 'decider' | 'observer') {
    super();
    this.role = role;
    this.name = `Failing${role}`;
  }
  override async onEpochEnd(): Promise<void> {
    throw new Error('boom');
  }
}

class Recorder extends Callback {
  override readonly name = 'Recorder';
  seen: Logs[] = [];
  override async onEpochEnd(_epoch: number, logs: Logs = {}): Promise<void> {
    this.seen.push({ ...logs });
  }
}

test('an observer failure is counted and reported once; later callbacks still run', async () => {
  const events: CallbackEvent[] = [];
  const rec = new Recorder();
  const list = new CallbackList([new Failing('observer'), rec], { model: new FakeModel(), emit: (e) => events.push(e) });
  await list.onTrainBegin();
  for (let e = 0; e < 3; e++) await list.onEpochEnd(e, { loss: e });
  assert.equal(list.observerFailures.get('Failingobserver'), 3);
  assert.deepEqual(events, [{ type: 'callback_failed', callback: 'Failingobserver', epoch: 0, message: 'boom' }]);
  assert.equal(rec.seen.length, 3);
});

test('a decider failure propagates', async () => {
  const list = new CallbackList([new Failing('decider')], { model: new FakeModel(), emit: () => {} });
  await assert.rejects(list.onEpochEnd(0, {}), /boom/);
});

test('buildCallbacks: fixed order, learning_rate visible to the CSV row of the same epoch', async () => {
  const model = new FakeModel(0.1);
  let csv = '';
  const list = buildCallbacks(
    {
      alerts: [{ when: 'learning_rate < 0.1' }],
      csvLogger: {},
      modelCheckpoint: { filepath: 'm-{epoch}-{learning_rate:.3f}.keras' },
      earlyStopping: { patience: 5 },
      reduceLROnPlateau: { patience: 0 },
      terminateOnNaN: {},
    },
    { model, compiledMetrics: [], initialLearningRate: 0.1, epochs: 3, csvSink: (t) => void (csv = t), emit: () => {} },
  );
  assert.deepEqual(list.callbacks.map((c) => c.name), ['TerminateOnNaN', 'ReduceLROnPlateau', 'EarlyStopping', 'ModelCheckpoint', 'CSVLogger', 'Alerts']);
  await list.onTrainBegin();
  const logs: Logs = { loss: 1, val_loss: 1 };
  await list.onEpochEnd(0, logs);
  assert.equal(logs.learning_rate, Math.fround(0.1), 'the caller sees learning_rate too');
  assert.equal(csv, 'epoch,learning_rate,loss,val_loss\r\n0,0.10000000149011612,1.0,1.0\r\n');
  assert.equal(model.saves[0].path, 'm-1-0.100.keras');
});
