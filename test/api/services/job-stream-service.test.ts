import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestAt, eventsByEpoch, formatEventId, formatSse, JobStreamCursor, parseEventId, replayRun, type JobStreamMessage } from '../../../api/services/job-stream-service';
import type { CallbackEvent } from '../../../core/callbacks/events';

const logs = (loss: number) => ({ loss, val_loss: loss + 0.1 });

test('event ids: <epoch> for epochs, <epoch>.<n> for callback events, -1 before any epoch', () => {
  assert.deepEqual(parseEventId('7'), { epoch: 7, sub: -1 });
  assert.deepEqual(parseEventId('7.2'), { epoch: 7, sub: 2 });
  assert.deepEqual(parseEventId('-1'), { epoch: -1, sub: -1 });
  for (const bad of ['', 'abc', '1.2.3', '-2', '1.', '.1']) assert.equal(parseEventId(bad), null, bad);
  for (const id of ['-1', '0', '12', '3.0', '3.11']) assert.equal(formatEventId(parseEventId(id)!), id);
});

test('an SSE message is event, id and one line of JSON data', () => {
  const text = formatSse({ event: 'callback', id: '3.1', data: { type: 'alert_fired', epoch: 3, text: 'two\nlines' } as any });
  assert.equal(text, 'event: callback\nid: 3.1\ndata: {"type":"alert_fired","epoch":3,"text":"two\\nlines"}\n\n');
});

test('the cursor sends each position once, in order, and nothing at or before where it starts', () => {
  const sent: JobStreamMessage[] = [];
  const cursor = new JobStreamCursor((m) => sent.push(m), parseEventId('1.0')!);
  const run = {
    history: [0, 1, 2].map((epoch) => ({ epoch, logs: logs(1 - epoch / 10) })),
    best: null,
    events: [
      { type: 'checkpoint_saved', epoch: 1, path: 'best', weightsOnly: false },
      { type: 'learning_rate_changed', epoch: 1, by: 'ReduceLROnPlateau', from: 0.1, to: 0.05 },
      { type: 'callback_failed', epoch: null, callback: 'CSVLogger', message: 'disk full' },
      { type: 'early_stopping', epoch: 2, monitors: ['val_loss'], bestEpoch: 1, bestValue: 0.9, wait: 1 },
    ] satisfies CallbackEvent[],
  };
  replayRun(cursor, run, 10);
  // The same history again (as live reports of epochs already replayed) adds nothing.
  replayRun(cursor, run, 10);
  assert.deepEqual(sent.map((m) => [m.event, m.id]), [['callback', '1.1'], ['callback', '1.2'], ['epoch', '2'], ['callback', '2.0']]);
  assert.equal((sent[1].data as any).type, 'callback_failed');
  cursor.status({ status: 'succeeded', at: '2026-01-01T00:00:00.000Z' });
  cursor.status({ status: 'succeeded', at: '2026-01-01T00:00:00.000Z' });
  assert.deepEqual(sent.slice(4).map((m) => [m.event, m.id]), [['status', '2.0']]);
});

test('a new attempt is a new running status; a repeated one is not', () => {
  const sent: JobStreamMessage[] = [];
  const cursor = new JobStreamCursor((m) => sent.push(m));
  for (const [status, attempt] of [['queued'], ['running', 1], ['running', 1], ['queued'], ['running', 2]] as const) {
    cursor.status({ status, at: 'x', ...(attempt ? { attempt } : {}) });
  }
  assert.deepEqual(sent.map((m) => [(m.data as any).status, (m.data as any).attempt]), [['queued', undefined], ['running', 1], ['queued', undefined], ['running', 2]]);
});

test('events without an epoch go with the epoch before them', () => {
  const grouped = eventsByEpoch([{ epoch: null }, { epoch: 4 }, { epoch: null }, { epoch: 5 }], 3);
  assert.deepEqual([...grouped.entries()].map(([e, l]) => [e, l.length]), [[3, 1], [4, 2], [5, 1]]);
});

test('the best checkpoint at an epoch: the run\'s once it exists, before that the last best-only save', () => {
  const run = {
    best: { epoch: 5, path: 'best', key: 'k5', monitor: 'val_loss', value: 0.2 },
    events: [
      { type: 'checkpoint_saved', epoch: 0, path: 'best', weightsOnly: false, best: { monitor: 'val_loss', value: 0.9, mode: 'min' } },
      { type: 'checkpoint_saved', epoch: 1, path: 'every', weightsOnly: false },
      { type: 'checkpoint_saved', epoch: 2, path: 'best', weightsOnly: false, best: { monitor: 'val_loss', value: 0.5, mode: 'min' } },
      { type: 'checkpoint_saved', epoch: 5, path: 'best', weightsOnly: false, best: { monitor: 'val_loss', value: 0.2, mode: 'min' } },
    ] satisfies CallbackEvent[],
  };
  assert.equal(bestAt({ best: null, events: [] }, 3), null);
  assert.deepEqual(bestAt(run, 1), { epoch: 0, path: 'best', monitor: 'val_loss', value: 0.9 });
  assert.deepEqual(bestAt(run, 4), { epoch: 2, path: 'best', monitor: 'val_loss', value: 0.5 });
  assert.equal(bestAt(run, 5), run.best);
  assert.equal(bestAt(run, 9), run.best);
});
