import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Alerts } from '../../../core/callbacks/alerts';
import { CallbackList } from '../../../core/callbacks/callback-list';
import type { AlertFiredEvent, CallbackEvent } from '../../../core/callbacks/events';
import { FakeModel } from './fake-model';

async function fire(rules: ConstructorParameters<typeof Alerts>[0], series: number[]): Promise<AlertFiredEvent[]> {
  const events: CallbackEvent[] = [];
  const list = new CallbackList([new Alerts(rules)], { model: new FakeModel(), emit: (e) => events.push(e) });
  await list.onTrainBegin();
  for (const [epoch, v] of series.entries()) await list.onEpochEnd(epoch, { val_accuracy: v });
  return events.filter((e): e is AlertFiredEvent => e.type === 'alert_fired');
}

test('fire once: only the first epoch where the condition holds', async () => {
  const ev = await fire([{ when: 'val_accuracy > 0.9' }], [0.8, 0.95, 0.96, 0.5, 0.97]);
  assert.deepEqual(ev.map((e) => e.epoch), [1]);
  assert.equal(ev[0].rule, 'val_accuracy > 0.9');
});

test('fire always: every epoch where it holds', async () => {
  const ev = await fire([{ name: 'good', when: 'val_accuracy > 0.9', fire: 'always', format: 'slack', url: 'https://hooks.example/x' }], [0.8, 0.95, 0.5, 0.97]);
  assert.deepEqual(ev.map((e) => e.epoch), [1, 3]);
  assert.deepEqual(
    { rule: ev[0].rule, format: ev[0].format, url: ev[0].url, values: ev[0].values, text: ev[0].text },
    { rule: 'good', format: 'slack', url: 'https://hooks.example/x', values: { val_accuracy: 0.95 }, text: "Kiln alert 'good' at epoch 2: val_accuracy > 0.9 (val_accuracy=0.95)" },
  );
});
