import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { buildCallbacks } from '../../../core/callbacks/from-spec';
import type { CallbackEvent } from '../../../core/callbacks/events';
import type { Logs, ModelHandle, SaveRequest, WeightsSnapshot } from '../../../core/callbacks/model-handle';
import { EarlyStopping } from '../../../core/callbacks/early-stopping';
import { CSVLogger, splitRow } from '../../../core/callbacks/csv-logger';
import { selectBackend } from '../../../worker/tfjs/backend';
import { HandBack } from '../../../worker/training/run-training';
import { backupPointerKey } from '../../../store/run-layout';
import { trainLocally } from '../../support/run-locally';
import { FileStore } from '../../../store/file-store';
import { encodeBundle } from '../../../worker/tfjs/training-state';
import { readEvents, summaryValues } from '../tensorboard/tfevents-reader';

/** A model of plain numbers: weights are one number that changes every epoch. */
class FakeModel implements ModelHandle {
  stopTraining = false;
  lr = 0.1;
  weights = 0;
  saves: SaveRequest[] = [];
  getLearningRate() { return this.lr; }
  setLearningRate(lr: number) { this.lr = lr; }
  snapshotWeights(): WeightsSnapshot & { value: number } { return { value: this.weights, dispose() {} }; }
  restoreWeights(s: WeightsSnapshot) { this.weights = (s as unknown as { value: number }).value; }
  async save(r: SaveRequest) { this.saves.push(r); }
}

const SPEC = {
  terminateOnNaN: {},
  reduceLROnPlateau: { monitor: 'val_loss', patience: 1, factor: 0.5, cooldown: 1 },
  earlyStopping: { monitor: ['val_loss', 'val_accuracy'], patience: 3, restoreBestWeights: true },
  modelCheckpoint: { filepath: 'ckpt-{epoch:02d}', monitor: 'val_accuracy', saveBestOnly: true, saveFreq: 3 },
  csvLogger: {},
  alerts: [{ when: 'val_accuracy > 0.6', fire: 'once' as const }, { when: 'val_loss < 0.5', fire: 'always' as const }],
};

/** A noisy plateau, so every callback has something to decide. */
function logsAt(epoch: number): Logs {
  const valLoss = [1, 0.8, 0.7, 0.72, 0.69, 0.7, 0.71, 0.45, 0.46, 0.47, 0.48, 0.49][epoch];
  return { loss: 1 / (epoch + 1), accuracy: epoch / 12, val_loss: valLoss, val_accuracy: [0.3, 0.5, 0.62, 0.6, 0.64, 0.64, 0.63, 0.7, 0.69, 0.68, 0.7, 0.7][epoch] };
}

async function runEpochs(list: ReturnType<typeof buildCallbacks>, model: FakeModel, from: number, to: number): Promise<void> {
  for (let epoch = from; epoch < to && !model.stopTraining; epoch++) {
    await list.onEpochBegin(epoch);
    for (let b = 0; b < 4; b++) {
      await list.onBatchBegin(b);
      await list.onBatchEnd(b, { loss: 1 / (epoch + 1) });
    }
    model.weights = epoch + 1;
    await list.onEpochEnd(epoch, logsAt(epoch));
  }
  await list.onTrainEnd();
}

function build(model: FakeModel, events: CallbackEvent[], csv: string[]) {
  return buildCallbacks(SPEC, {
    model,
    compiledMetrics: ['accuracy'],
    initialLearningRate: 0.1,
    epochs: 12,
    csvSink: (t) => { csv.push(t); },
    emit: (e) => { events.push(e); },
  });
}

describe('callback state round trip', () => {
  test('a list restored from JSON state after epoch k decides exactly as the list that kept running', async () => {
    for (const k of [0, 2, 4, 6]) {
      // Reference: one uninterrupted run.
      const refModel = new FakeModel();
      const refEvents: CallbackEvent[] = [];
      const refCsv: string[] = [];
      const ref = build(refModel, refEvents, refCsv);
      await ref.onTrainBegin();
      await runEpochs(ref, refModel, 0, 12);

      // Interrupted: run to the end of epoch k, back up through JSON, continue in a new list.
      const aModel = new FakeModel();
      const aEvents: CallbackEvent[] = [];
      const a = build(aModel, aEvents, []);
      await a.onTrainBegin();
      for (let epoch = 0; epoch <= k; epoch++) {
        await a.onEpochBegin(epoch);
        for (let b = 0; b < 4; b++) await a.onBatchEnd(b, { loss: 1 / (epoch + 1) });
        aModel.weights = epoch + 1;
        await a.onEpochEnd(epoch, logsAt(epoch));
      }
      const state = JSON.parse(JSON.stringify(a.state()));
      const es = a.find(EarlyStopping)!;
      const best = es.bestWeightsSnapshot as unknown as { value: number } | null;

      const bModel = new FakeModel();
      bModel.lr = aModel.lr;
      bModel.weights = aModel.weights;
      const bEvents: CallbackEvent[] = [];
      const bCsv: string[] = [];
      const b = build(bModel, bEvents, bCsv);
      await b.onTrainBegin();
      b.restore(state);
      if (best) b.find(EarlyStopping)!.adoptBestWeights({ value: best.value, dispose() {} } as unknown as WeightsSnapshot);
      await runEpochs(b, bModel, k + 1, 12);

      const after = (e: CallbackEvent) => (e.epoch ?? -1) > k;
      assert.deepEqual(bEvents.filter(after), refEvents.filter(after), `events after a restore at epoch ${k}`);
      assert.deepEqual([...aEvents, ...bEvents].filter((e) => e.type === 'alert_fired' && e.rule === 'val_accuracy > 0.6').length, 1, 'a fire-once alert fires once across the resume');
      assert.equal(bModel.lr, refModel.lr, 'learning rate');
      assert.equal(bModel.weights, refModel.weights, 'restored best weights at train end');
      assert.deepEqual(bModel.saves.map((s) => [s.path, s.epoch, s.batch]), refModel.saves.filter((s) => s.epoch > k).map((s) => [s.path, s.epoch, s.batch]), 'checkpoint saves');
      assert.equal(bCsv.at(-1), refCsv.at(-1), 'the CSV holds each epoch once, as the uninterrupted one');
      assert.equal(b.stoppedBy, ref.stoppedBy);
      assert.equal(b.stoppedEpoch, ref.stoppedEpoch);
    }
  });

  test('non-finite values survive JSON, and a state from another spec is refused', async () => {
    const model = new FakeModel();
    const list = build(model, [], []);
    await list.onTrainBegin();
    await list.onEpochBegin(0);
    await list.onEpochEnd(0, { ...logsAt(0), val_loss: NaN });
    const json = JSON.stringify(list.state());
    assert.match(json, /"Infinity"|"NaN"/);
    const other = buildCallbacks({ csvLogger: {} }, { model, compiledMetrics: [], initialLearningRate: 0.1, epochs: 3, csvSink: () => undefined, emit: () => undefined });
    assert.throws(() => other.restore(JSON.parse(json)), /not this job's/);
  });
});

function irisSpec(extra: Record<string, unknown> = {}) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.05 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
    fit: { epochs: 10, batchSize: 16, seed: 7 },
    callbacks: {
      reduceLROnPlateau: { monitor: 'val_loss', patience: 1, factor: 0.5 },
      earlyStopping: { monitor: 'val_loss', patience: 20, restoreBestWeights: true },
      alerts: [{ when: 'val_accuracy > 0.5', fire: 'once' }],
      tensorBoard: {},
      ...extra,
    },
  };
}

function csvEpochs(text: string): number[] {
  return text.split('\r\n').slice(1).filter((l) => l.length > 0).map((l) => Number(splitRow(l, ',')[0]));
}

describe('a run interrupted and resumed from its backup (cpu, seeded)', () => {
  before(async () => {
    await selectBackend('cpu');
  });

  test('killed twice (once past its last backup, once handed back) it ends exactly as the uninterrupted run', async () => {
    // saveFreq 3: backups after epochs 2, 5, 8; the first crash after epoch 4 loses epochs 3-4.
    const spec = irisSpec({ backupAndRestore: { saveFreq: 3 } });
    const ref = await trainLocally(spec);
    let first: any;
    await assert.rejects(trainLocally(spec, { afterEpoch: (e) => { if (e === 4) throw new Error('simulated crash'); } }), (err: any) => {
      first = err;
      return /simulated crash/.test(err.message);
    });
    const resume = { dir: first.dir, job: first.job };
    let handedBack = false;
    await assert.rejects(trainLocally(spec, { resume, attempt: 2, handBackRequested: () => true }), (err: any) => {
      handedBack = err instanceof HandBack;
      return handedBack && err.epoch === 3;
    });
    const done = await trainLocally(spec, { resume, attempt: 3 });
    try {
      assert.equal(done.result.status, 'succeeded');
      for (const [k, v] of Object.entries(ref.result.metrics)) {
        assert.ok(Math.abs((done.result.metrics[k] as number) - (v as number)) < 1e-6, `final ${k}: ${done.result.metrics[k]} vs ${v}`);
      }
      assert.deepEqual(done.run.history.map((h: any) => h.epoch), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'history has each epoch once');
      done.run.history.forEach((h: any, i: number) => {
        for (const [k, v] of Object.entries(ref.run.history[i].logs)) assert.ok(Math.abs(h.logs[k] - (v as number)) < 1e-6, `epoch ${i} ${k}`);
      });
      assert.equal(done.result.best?.epoch, ref.result.best?.epoch, 'same best epoch');
      assert.ok(Math.abs((done.result.best!.value as number) - (ref.result.best!.value as number)) < 1e-6);
      const bestJson = JSON.parse((await done.store.get(`acme/runs/${done.runId}/best.json`))!.toString('utf8'));
      assert.equal(bestJson.epoch, ref.result.best?.epoch, 'best.json names the best epoch');
      assert.ok(Math.abs(bestJson.value - (ref.result.best!.value as number)) < 1e-6, 'best.json not regressed');

      const csv = (await done.store.get(`acme/runs/${done.runId}/logs/training_log.csv`))!.toString('utf8');
      assert.deepEqual(csvEpochs(csv), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'CSV has each epoch once');
      const refCsv = (await ref.store.get(`acme/runs/${ref.runId}/logs/training_log.csv`))!.toString('utf8');
      assert.equal(csv.split('\r\n')[0], refCsv.split('\r\n')[0], 'same header');

      const alerts = done.run.events.filter((e: any) => e.type === 'alert_fired');
      assert.equal(alerts.length, 1, 'the fire-once alert is in the events once');
      assert.deepEqual(done.run.events.filter((e: any) => e.type === 'learning_rate_changed').map((e: any) => e.epoch),
        ref.run.events.filter((e: any) => e.type === 'learning_rate_changed').map((e: any) => e.epoch), 'same learning-rate cuts');
      assert.equal(done.run.events.filter((e: any) => e.type === 'weights_restored').length, 1);

      // TensorBoard: every epoch's scalars exactly once across all the run's event files.
      const tbFiles = (await done.store.list(`acme/runs/${done.runId}/tensorboard/train/`));
      assert.ok(tbFiles.length >= 2, 'the resumed attempts opened new event files');
      const steps: number[] = [];
      for (const f of tbFiles) {
        const values = summaryValues(readEvents((await done.store.get(f.key))!));
        steps.push(...values.filter((v) => v.tag === 'epoch_loss').map((v) => v.step));
      }
      assert.deepEqual(steps.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'TensorBoard steps once each');

      // deleteCheckpoint (default): nothing of the backup is left.
      assert.deepEqual(await done.store.list(`acme/runs/${done.runId}/backup/`), []);
    } finally {
      ref.cleanup();
      done.cleanup();
    }
  });

  test('a backup holds the optimizer state: resuming with a fresh optimizer would differ', async () => {
    // Guard against a test that cannot fail: the same resume, but with the optimizer state left
    // out, must not match the uninterrupted run.
    const spec = irisSpec({ backupAndRestore: { deleteCheckpoint: false } });
    const ref = await trainLocally(spec);
    let first: any;
    await assert.rejects(trainLocally(spec, { afterEpoch: (e) => { if (e === 3) throw new Error('crash'); } }), (err: any) => (first = err, true));
    const pointer = JSON.parse((await ref.store.get(backupPointerKey('acme', ref.runId)))!.toString('utf8'));
    assert.equal(pointer.epoch, 9, 'deleteCheckpoint false keeps the last backup');
    const store = new FileStore(first.dir);
    const p = JSON.parse((await store.get(backupPointerKey('acme', first.job.runId)))!.toString('utf8'));
    assert.equal(p.epoch, 3);
    // Wipe the optimizer state of the backup: a fresh Adam then takes different steps.
    const optKey = `acme/runs/${first.job.runId}/backup/${p.version}/optimizer.bin`;
    await store.put(optKey, encodeBundle([], { iterations: 0 }));
    const done = await trainLocally(spec, { resume: { dir: first.dir, job: first.job }, attempt: 2 });
    try {
      assert.deepEqual(done.run.history.map((h: any) => h.epoch), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const diff = Math.abs((done.result.metrics.val_loss as number) - (ref.result.metrics.val_loss as number));
      assert.ok(diff > 1e-6, `without the optimizer state the run differs (diff ${diff})`);
    } finally {
      ref.cleanup();
      done.cleanup();
    }
  });
});
