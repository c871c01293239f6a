import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobEvent } from '../../client/index';
import { ProgressView } from '../../cli/progress-view';

const EVENTS: JobEvent[] = [
  { event: 'status', id: '-1', data: { status: 'queued', at: '2026-11-28T10:00:00.000Z' } },
  { event: 'status', id: '-1', data: { status: 'running', at: '2026-11-28T10:00:00.250Z', attempt: 1 } },
  { event: 'epoch', id: '0', data: { epoch: 0, epochs: 4, logs: { val_loss: 0.97, loss: 1.02, learning_rate: 0.01, accuracy: 0.41 }, best: null } },
  { event: 'callback', id: '0.0', data: { type: 'checkpoint_saved', epoch: 0, path: 'best', weightsOnly: false, best: { monitor: 'val_loss', value: 0.97, mode: 'min' } } },
  { event: 'callback', id: '0.1', data: { type: 'checkpoint_saved', epoch: 0, path: 'periodic', weightsOnly: false } },
  { event: 'epoch', id: '1', data: { epoch: 1, epochs: 4, logs: { loss: 0.88, accuracy: 0.6, val_loss: 'NaN', learning_rate: 0.01 }, best: { epoch: 0, path: 'best', monitor: 'val_loss', value: 0.97 } } },
  { event: 'callback', id: '1.0', data: { type: 'learning_rate_changed', epoch: 1, by: 'ReduceLROnPlateau', from: 0.01, to: 0.001 } },
  { event: 'callback', id: '1.1', data: { type: 'early_stopping', epoch: 1, monitors: ['val_loss'], bestEpoch: 0, bestValue: 0.97, wait: 1 } },
  { event: 'status', id: '1.1', data: { status: 'succeeded', at: '2026-11-28T10:00:02.100Z' } },
  { event: 'end', id: '1.1', data: { status: 'succeeded', stopReason: 'early_stopping', best: { epoch: 0, path: 'best', monitor: 'val_loss', value: 0.97 }, error: null } },
];

function render(tty: boolean, columns?: number): string {
  let out = '';
  const view = new ProgressView((t) => (out += t), { tty, columns });
  for (const e of EVENTS) view.onEvent(e);
  return out;
}

test('plain output: one line per status, epoch and marker, epochs 1-based, metrics in Keras order, no control sequences', () => {
  assert.equal(render(false), [
    'queued',
    'running (attempt 1)',
    'epoch 1/4  loss=1.02 accuracy=0.41 val_loss=0.97 lr=0.01',
    '★ epoch 1: new best val_loss=0.97 (checkpoint best)',
    'epoch 2/4  loss=0.88 accuracy=0.6 val_loss=NaN lr=0.01',
    '↓ epoch 2: learning rate 0.01 → 0.001 (ReduceLROnPlateau)',
    '■ epoch 2: early stopping: val_loss did not improve for 1 epochs; best epoch 1 (0.97)',
    'succeeded; stop reason early_stopping; best epoch 1 val_loss=0.97',
    '',
  ].join('\n'));
});

test('terminal output: the bar is redrawn in place, markers are printed above it, and it stays on screen at the end', () => {
  const out = render(true, 200);
  const CLEAR = '\r\x1b[2K';
  assert.ok(out.includes(`${CLEAR}epoch 1/4 [██████░░░░░░░░░░░░░░░░░░]  25%  loss=1.02 accuracy=0.41 val_loss=0.97 lr=0.01`), JSON.stringify(out));
  // A marker clears the bar, prints itself on a line of its own, then draws the bar again.
  assert.ok(out.includes(`${CLEAR}★ epoch 1: new best val_loss=0.97 (checkpoint best)\nepoch 1/4 [`), JSON.stringify(out));
  assert.ok(out.includes(`${CLEAR}epoch 2/4 [████████████░░░░░░░░░░░░]  50%`));
  assert.ok(out.includes(`${CLEAR}↓ epoch 2: learning rate 0.01 → 0.001 (ReduceLROnPlateau)\nepoch 2/4 [`));
  // What the screen finally shows: every CLEAR wipes the line back to the last newline.
  const screen = out.split('\n').map((line) => line.split(CLEAR).at(-1)).join('\n');
  assert.deepEqual(screen.split('\n'), [
    'queued',
    'running (attempt 1)',
    '★ epoch 1: new best val_loss=0.97 (checkpoint best)',
    '↓ epoch 2: learning rate 0.01 → 0.001 (ReduceLROnPlateau)',
    '■ epoch 2: early stopping: val_loss did not improve for 1 epochs; best epoch 1 (0.97)',
    'epoch 2/4 [████████████░░░░░░░░░░░░]  50%  loss=0.88 accuracy=0.6 val_loss=NaN lr=0.01',
    'succeeded; stop reason early_stopping; best epoch 1 val_loss=0.97',
    '',
  ]);
});

test('terminal output: the bar is cut to the terminal width so it never wraps', () => {
  const out = render(true, 40);
  for (const piece of out.split(/\r\x1b\[2K|\n/)) if (piece.startsWith('epoch')) assert.ok([...piece].length <= 39, piece);
});

test('a failed end prints the error code and detail; a terminal status reason is kept', () => {
  let out = '';
  const view = new ProgressView((t) => (out += t), { tty: false });
  view.onEvent({ event: 'status', id: '-1', data: { status: 'failed', at: '2026-11-28T10:00:00.000Z', reason: 'dataset missing' } });
  view.onEvent({ event: 'end', id: '-1', data: { status: 'failed', stopReason: 'error', best: null, error: { code: 'DATASET_INVALID', detail: "no object 'x.csv'" } } });
  assert.equal(out, "failed (dataset missing); stop reason error\nerror DATASET_INVALID: no object 'x.csv'\n");
});
