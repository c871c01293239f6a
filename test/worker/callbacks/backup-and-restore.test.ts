import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import { EarlyStopping } from '../../../core/callbacks/early-stopping';
import type { WeightsSnapshot } from '../../../core/callbacks/model-handle';
import { backupPointerKey } from '../../../store/run-layout';
import { BackupAndRestore } from '../../../worker/callbacks/backup-and-restore';
import { BackupWriter, readLatestBackup, type BackupSettings } from '../../../worker/callbacks/backup-writer';
import { CheckpointWriter } from '../../../worker/callbacks/checkpoint-writer';
import type { EncodedTrainingState, TrainingModel } from '../../../worker/callbacks/training-model';
import { FakeModel } from '../../core/callbacks/fake-model';
import { GatedStore, runParts, storedJson, tempDir } from './worker-fakes';

/** core's FakeModel plus the bytes a backup needs: the weights are one number. */
class FakeTrainingModel extends FakeModel implements TrainingModel {
  encodeTrainingState(): EncodedTrainingState {
    return { weights: Buffer.from(String(this.weights)), optimizer: Buffer.from(String(this.lr)) };
  }
  restoreTrainingState(state: EncodedTrainingState): void {
    this.weights = Number(state.weights.toString());
  }
  encodeSnapshot(snapshot: WeightsSnapshot): Buffer {
    return Buffer.from(String((snapshot as WeightsSnapshot & { value: number }).value));
  }
  decodeSnapshot(bytes: Buffer): WeightsSnapshot {
    return { value: Number(bytes.toString()), dispose() {} } as WeightsSnapshot;
  }
  weightValues() {
    return [];
  }
}

const EVERY_5: BackupSettings = { enabled: true, everyEpochs: 5, everySeconds: null, deleteCheckpoint: true };
const MODEL = { modelJson: {}, weights: Buffer.from([0]) };

function parts(store: GatedStore, opts: { attempt?: number; handBack?: () => boolean } = {}) {
  const run = runParts(store, { attempt: opts.attempt, epochs: 4 });
  const model = new FakeTrainingModel();
  const writer = new BackupWriter(store, run.uploader, run.job.tenant, run.job.runId, opts.attempt ?? 1, EVERY_5, () => undefined);
  const checkpoints = new CheckpointWriter({ ...run, notifier: null, serializeFinal: async () => MODEL });
  const callbacks = new CallbackList([new EarlyStopping({ monitor: 'loss', patience: 5 })], { model, emit: run.recorder.record });
  return { ...run, model, writer, checkpoints, callbacks, make: (restored: Awaited<ReturnType<typeof readLatestBackup>> = null) =>
    new BackupAndRestore({ job: run.job, writer, restored, model, callbacks, recorder: run.recorder, checkpoints, csvSink: async () => undefined, handBackRequested: opts.handBack }) };
}

describe('BackupAndRestore', () => {
  test('a hand-back backs up the epoch even when not due, unless training is over anyway', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /^$/);
      let asked = false;
      const p = parts(store, { handBack: () => asked });
      const backup = p.make();
      await backup.onEpochEnd(0);
      assert.equal(backup.handingBack, false);
      assert.equal(await storedJson(store, backupPointerKey('acme', 'run-1')), null, 'epoch 1 of 5 is not due');
      asked = true;
      await backup.onEpochEnd(1);
      assert.equal(backup.handingBack, true);
      await p.writer.settled();
      assert.equal((await storedJson(store, backupPointerKey('acme', 'run-1'))).epoch, 1);
      p.model.stopTraining = true;
      await backup.onEpochEnd(2);
      assert.equal(backup.handingBack, false, 'a stopped run finishes instead');
      p.model.stopTraining = false;
      await backup.onEpochEnd(3);
      assert.equal(backup.handingBack, false, 'nor after the last epoch');
      await p.uploader.flush();
    } finally {
      tmp.remove();
    }
  });

  test('latest.json waits for best.json\'s pending moves; a resume continues after the backup', async () => {
    const tmp = tempDir();
    try {
      const store = new GatedStore(tmp.dir, /checkpoints\/best\/a001-000001\/weights\.bin$|best\.json$/);
      const p = parts(store, { handBack: () => true });
      await p.callbacks.onTrainBegin();
      await p.checkpoints.save({ path: 'best', weightsOnly: false, epoch: 0, logs: {}, best: { monitor: 'loss', value: 0.5, mode: 'min' } }, MODEL);
      p.model.weights = 7;
      await p.callbacks.onEpochEnd(0, { loss: 0.5 });
      await p.make().onEpochEnd(0);
      const state = `acme/runs/run-1/backup/a001-e000000/state.json`;
      await store.whenStored(state);
      assert.equal(await storedJson(store, backupPointerKey('acme', 'run-1')), null, 'latest.json waits for the best checkpoint');
      // The checkpoint is stored: best.json may move now, and latest.json must wait for that move.
      store.release(/weights\.bin$/);
      await store.whenHeld('acme/runs/run-1/best.json');
      store.release();
      await p.writer.settled();
      const latest = store.journal.indexOf(`put ${backupPointerKey('acme', 'run-1')}`);
      assert.ok(latest > store.journal.indexOf('stored acme/runs/run-1/best.json'), `latest.json after best.json: ${store.journal.join(', ')}`);
      assert.equal((await storedJson(store, 'acme/runs/run-1/best.json')).epoch, 0);
      assert.equal((await storedJson(store, backupPointerKey('acme', 'run-1'))).epoch, 0);
      await p.uploader.flush();

      // The next attempt: the job callbacks' fresh state is overridden by the backup's.
      const restored = await readLatestBackup(store, 'acme', 'run-1', 'job-1');
      const q = parts(store, { attempt: 2 });
      const resumed = q.make(restored);
      assert.equal(resumed.initialEpoch, 1);
      await q.callbacks.onTrainBegin();
      await resumed.onTrainBegin();
      assert.equal(q.model.weights, 7);
      assert.equal(q.callbacks.find(EarlyStopping)!.state() !== null, true);
      assert.deepEqual(q.callbacks.state(), restored!.state.callbacks);
      assert.equal(q.recorder.lastEpoch, 0);
      await q.uploader.flush();
    } finally {
      tmp.remove();
    }
  });
});
