import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SaveRequest } from '../../../core/callbacks/model-handle';
import { CheckpointWriter } from '../../../worker/callbacks/checkpoint-writer';
import { GatedStore, runParts, storedJson, tempDir } from './worker-fakes';

const MODEL = { modelJson: { format: 'layers-model' }, weights: Buffer.from([1, 2, 3, 4]) };

function bestSave(epoch: number, value: number): SaveRequest {
  return { path: 'best', weightsOnly: false, epoch, logs: { val_loss: value }, best: { monitor: 'val_loss', value, mode: 'min' } };
}

describe('CheckpointWriter', () => {
  test('best.json moves only once the checkpoint it names is stored, and in save order', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /best\/a001-000001\/weights\.bin$/);
      const { job, layout, uploader, recorder } = runParts(store);
      const writer = new CheckpointWriter({ job, layout, uploader, recorder, notifier: null, serializeFinal: async () => MODEL });
      await writer.save(bestSave(0, 0.9), MODEL);
      await writer.save(bestSave(1, 0.5), MODEL);
      // The second checkpoint is stored; the first one's weights are not, so no pointer may move yet.
      await store.whenStored('acme/runs/run-1/checkpoints/best/a001-000002/weights.bin');
      await store.whenStored('acme/runs/run-1/checkpoints/best/a001-000002/model.json');
      assert.deepEqual(store.waiting, ['acme/runs/run-1/checkpoints/best/a001-000001/weights.bin']);
      assert.equal(await storedJson(store, layout.bestPointer), null, 'best.json waits for the first checkpoint');
      store.release();
      await writer.pendingBestMoves();
      const best = await storedJson(store, layout.bestPointer);
      assert.equal(best.epoch, 1, 'the later, better save wins: moves apply in save order');
      assert.equal(best.key, 'acme/runs/run-1/checkpoints/best/a001-000002');
      assert.deepEqual(recorder.manifest.best, best, 'run.json names the same best');
      await uploader.flush();
    } finally {
      tmp.remove();
    }
  });

  test('after a resume best.json moves only to a checkpoint strictly better than the one it named', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /^$/);
      const { job, layout, uploader, recorder } = runParts(store, { attempt: 2 });
      const floor = { epoch: 3, path: 'best', key: 'acme/runs/run-1/checkpoints/best/a001-000004', monitor: 'val_loss', value: 0.5, savedAt: 'then' };
      layout.resumeSaves({ best: 4 });
      const writer = new CheckpointWriter({ job, layout, uploader, recorder, notifier: null, serializeFinal: async () => MODEL, resumedBest: floor });
      assert.deepEqual(writer.best, floor);
      await writer.save(bestSave(4, 0.6), MODEL);
      await writer.pendingBestMoves();
      assert.equal(await storedJson(store, layout.bestPointer), null, 'a worse checkpoint than the floor does not move best.json');
      await writer.save(bestSave(5, 0.4), MODEL);
      await writer.pendingBestMoves();
      const best = await storedJson(store, layout.bestPointer);
      assert.equal(best.key, 'acme/runs/run-1/checkpoints/best/a002-000006', 'versions continue the backed-up save counts');
      assert.deepEqual(writer.saveCounts(), { best: 6 });
      await uploader.flush();
    } finally {
      tmp.remove();
    }
  });

  test('train end: pending moves first, then the final model, named in run.json only once stored', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /final\/a003-000001\/weights\.bin$/);
      const { job, layout, uploader, recorder } = runParts(store, { attempt: 3 });
      const writer = new CheckpointWriter({ job, layout, uploader, recorder, notifier: null, serializeFinal: async () => MODEL });
      await writer.onTrainEnd();
      assert.equal(recorder.manifest.finalKey, null, 'no epoch ran: no final model');
      recorder.lastEpoch = 2;
      const ending = writer.onTrainEnd();
      await store.whenStored('acme/runs/run-1/checkpoints/final/a003-000001/model.json');
      assert.deepEqual(store.waiting, ['acme/runs/run-1/checkpoints/final/a003-000001/weights.bin']);
      assert.equal(recorder.manifest.finalKey, null, 'not named while its weights are not stored');
      store.release();
      await ending;
      assert.equal(recorder.manifest.finalKey, 'acme/runs/run-1/checkpoints/final/a003-000001');
      assert.deepEqual(writer.saveCounts(), {}, 'the final model is not a counted save');
      await uploader.flush();
    } finally {
      tmp.remove();
    }
  });
});
