import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallbackEvent } from '../../../core/callbacks/events';
import { GatedStore, runParts, storedJson, tempDir } from './worker-fakes';

const LR: CallbackEvent = { type: 'learning_rate_changed', epoch: 0, by: 'ReduceLROnPlateau', from: 0.1, to: 0.05 };
const STOP: CallbackEvent = { type: 'early_stopping', epoch: 1, monitors: ['val_loss'], bestEpoch: 0, bestValue: 0.5, wait: 1 };

describe('RunRecorder', () => {
  test('each epoch end: run.json with the history and events so far, progress with that epoch\'s events only', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /^$/);
      const { layout, uploader, recorder, progress } = runParts(store);
      await recorder.onTrainBegin();
      for (const [epoch, events] of [[0, [LR]], [1, [STOP]]] as const) {
        await recorder.onEpochBegin();
        events.forEach(recorder.record);
        await recorder.onEpochEnd(epoch, { loss: 1 / (epoch + 1), val_loss: Number.NaN });
      }
      await uploader.flush();
      const run = await storedJson(store, layout.manifest);
      assert.deepEqual(run.history.map((h: { epoch: number }) => h.epoch), [0, 1]);
      assert.equal(run.history[1].logs.val_loss, 'NaN', 'non-finite numbers go on the wire as strings');
      assert.deepEqual(run.events, [LR, STOP]);
      assert.deepEqual(progress.map((p) => p.events), [[LR], [STOP]]);
      assert.ok(progress.every((p) => typeof p.epochMs === 'number' && p.epochMs >= 0));
      assert.equal(recorder.lastEpoch, 1);
      assert.deepEqual(recorder.result('succeeded', 'early_stopping').metrics, { loss: 0.5, val_loss: 'NaN' });
    } finally {
      tmp.remove();
    }
  });

  test('a resumed run continues the backup\'s record and reports only events after it', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /^$/);
      const { layout, uploader, recorder, progress } = runParts(store, { attempt: 2 });
      recorder.continueFrom({ history: [{ epoch: 0, logs: { loss: 1 } }], events: [LR], artifacts: [] }, [{ at: 'then', reason: 'worker_lost', epoch: 0 } as never]);
      await recorder.onTrainBegin();
      await recorder.onEpochBegin();
      recorder.record(STOP);
      await recorder.onEpochEnd(1, { loss: 0.5 });
      await recorder.finish(recorder.result('succeeded', 'early_stopping'));
      const run = await storedJson(store, layout.manifest);
      assert.deepEqual(run.history.map((h: { epoch: number }) => h.epoch), [0, 1]);
      assert.deepEqual(run.events, [LR, STOP]);
      assert.equal(run.status, 'succeeded');
      assert.equal(run.interruptions.length, 1);
      assert.deepEqual(progress.map((p) => p.events), [[STOP]], 'the backup\'s events were reported by the attempt that made them');
      await uploader.flush();
    } finally {
      tmp.remove();
    }
  });
});
