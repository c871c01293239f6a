import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from '../../store/create-store';
import type { ArtifactStore } from '../../store/artifact-store';
import { TensorBoardLogger } from '../../worker/tensorboard/tensorboard-logger';
import { csvEpochs, epochAudit, expectedWeightBytes, summarize, verifyRun, type Delivery, type RunToVerify } from './verify';

/**
 * The verifier on hand-made runs in a file store: a clean run passes, and each kind of damage a
 * fault could leave (an epoch twice, an epoch missing, a truncated or worse best checkpoint, a lost
 * run) is counted. Without this the fault suite's zeros would prove nothing.
 */

const EPOCHS = 5;
const MODEL_JSON = {
  format: 'layers-model',
  modelTopology: {},
  weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'd/kernel', shape: [4, 3], dtype: 'float32' }, { name: 'd/bias', shape: [3], dtype: 'float32' }] }],
};
const WEIGHT_BYTES = (12 + 3) * 4;
const VAL_LOSS = [0.9, 0.7, 0.6, 0.65, 0.62];

interface Damage {
  history?: number[];
  csv?: number[];
  tensorboard?: number[];
  webhooks?: number[];
  weightsBytes?: number;
  bestEpoch?: number;
}

let n = 0;
async function writeRun(store: ArtifactStore, damage: Damage = {}): Promise<{ run: RunToVerify; deliveries: Delivery[] }> {
  const runId = `run_${++n}`;
  const prefix = `acme/runs/${runId}/`;
  const history = (damage.history ?? [0, 1, 2, 3, 4]).map((e) => ({ epoch: e, logs: { loss: 1 - e / 10, val_loss: VAL_LOSS[e] } }));
  const checkpoints = [0, 1, 2].map((e, i) => ({ kind: 'checkpoint', key: `${prefix}checkpoints/best/a001-00000${i + 1}`, epoch: e }));
  const bestEpoch = damage.bestEpoch ?? 2;
  const bestKey = checkpoints.find((c) => c.epoch === bestEpoch)!.key;
  for (const c of checkpoints) {
    await store.put(`${c.key}/model.json`, JSON.stringify(MODEL_JSON));
    await store.put(`${c.key}/weights.bin`, Buffer.alloc(c.key === bestKey ? damage.weightsBytes ?? WEIGHT_BYTES : WEIGHT_BYTES));
  }
  await store.put(`${prefix}best.json`, JSON.stringify({ epoch: bestEpoch, path: 'best', key: bestKey, monitor: 'val_loss', value: VAL_LOSS[bestEpoch] }));
  const spec = { fit: { epochs: EPOCHS }, callbacks: { csvLogger: {}, tensorBoard: {} }, webhook: { url: 'http://127.0.0.1/hook', events: ['job.epoch'] } };
  await store.put(`${prefix}run.json`, JSON.stringify({ runId, status: 'succeeded', stopReason: 'completed', spec, history, artifacts: checkpoints }));
  const csv = ['epoch,loss,val_loss', ...(damage.csv ?? [0, 1, 2, 3, 4]).map((e) => `${e},${1 - e / 10},${VAL_LOSS[e]}`)].join('\r\n') + '\r\n';
  await store.put(`${prefix}logs/training_log.csv`, csv);
  // The logger itself skips an epoch it already wrote, so a repeat goes to a second event file in
  // the same folder (as a resumed attempt that started a new file would leave it).
  const sessions: number[][] = [[]];
  for (const e of damage.tensorboard ?? [0, 1, 2, 3, 4]) {
    const s = sessions.find((epochs) => !epochs.includes(e)) ?? sessions[sessions.push([]) - 1];
    s.push(e);
  }
  for (const [i, epochs] of sessions.entries()) {
    const files = new Map<string, Buffer[]>();
    const logger = new TensorBoardLogger({ histogramFreq: 0, updateFreq: 'epoch', sink: (path, bytes) => files.set(path, [...(files.get(path) ?? []), bytes]) });
    logger.onTrainBegin();
    for (const e of epochs) logger.onEpochEnd(e, { loss: 1 - e / 10, val_loss: VAL_LOSS[e] }, 0.01);
    for (const [path, parts] of files) await store.put(`${prefix}tensorboard/${path}${i === 0 ? '' : `.${i}`}`, Buffer.concat(parts));
  }
  const deliveries = (damage.webhooks ?? [0, 1, 2, 3, 4]).map((e, i) => ({ id: `msg_${runId}_${e}_${i}`, type: 'job.epoch', data: { epoch: e } }));
  const run: RunToVerify = {
    jobId: `job_${n}`, runId, tenant: 'acme', epochs: EPOCHS, status: 'succeeded',
    view: { status: 'succeeded', stopReason: 'completed', progress: { epoch: EPOCHS - 1 }, interruptions: [] },
    firstRunningAt: 1000, endedAt: 11000, interruptions: 0,
  };
  return { run, deliveries };
}

describe('fault-suite verifier', () => {
  let dir: string;
  let store: ArtifactStore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-verify-'));
    store = createStore('file://' + dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a clean run has no findings', async () => {
    const { run, deliveries } = await writeRun(store);
    const v = await verifyRun(store, run, deliveries);
    assert.deepEqual(v.problems, []);
    assert.equal(v.duplicatedEpochs + v.missingEpochs, 0);
    assert.equal(v.badBestPointer, false);
    assert.deepEqual(Object.keys(v.epochsBySource).sort(), ['csv', 'history', 'tensorboard:train', 'tensorboard:validation', 'webhook']);
  });

  test('an epoch recorded twice is counted in every source that has it twice', async () => {
    const { run, deliveries } = await writeRun(store, { history: [0, 1, 2, 3, 3, 4], csv: [0, 1, 2, 3, 3, 4], tensorboard: [0, 1, 2, 3, 3, 4], webhooks: [0, 1, 2, 3, 3, 4] });
    const v = await verifyRun(store, run, deliveries);
    assert.equal(v.duplicatedEpochs, 5, v.problems.join('\n'));
    assert.equal(v.missingEpochs, 0);
    assert.deepEqual(v.epochsBySource['tensorboard:validation'], { duplicated: [3], missing: [] });
  });

  test('a webhook delivered twice under the same webhook-id is a redelivery, not a duplicate epoch', async () => {
    const { run, deliveries } = await writeRun(store);
    const v = await verifyRun(store, run, [...deliveries, deliveries[2]]);
    assert.equal(v.duplicatedEpochs, 0);
    assert.equal(v.webhookRedeliveries, 1);
  });

  test('epochs lost between a backup and a crash are counted as missing', async () => {
    const { run, deliveries } = await writeRun(store, { history: [0, 1, 4], csv: [0, 1, 2, 4], tensorboard: [0, 1, 2, 3, 4], webhooks: [0, 1, 2, 3] });
    const v = await verifyRun(store, run, deliveries);
    assert.equal(v.missingEpochs, 2 + 1 + 1, v.problems.join('\n'));
    assert.equal(v.duplicatedEpochs, 0);
  });

  test('best.json naming a checkpoint whose weights are truncated is a bad pointer', async () => {
    const { run, deliveries } = await writeRun(store, { weightsBytes: WEIGHT_BYTES - 8 });
    const v = await verifyRun(store, run, deliveries);
    assert.equal(v.badBestPointer, true);
    assert.match(v.problems.join('\n'), /weights\.bin is 52 bytes, its manifest says 60/);
  });

  test('best.json naming a worse checkpoint than another the run stored is a bad pointer', async () => {
    const { run, deliveries } = await writeRun(store, { bestEpoch: 1 });
    const v = await verifyRun(store, run, deliveries);
    assert.equal(v.badBestPointer, true);
    assert.match(v.problems.join('\n'), /epoch 2\) has 0\.6/);
  });

  test('a run that never ended is lost; a failed one is not completed; the report sums them', async () => {
    const clean = await writeRun(store);
    const lost = await writeRun(store);
    lost.run.status = null;
    const failed = await writeRun(store);
    failed.run.status = 'failed';
    const interrupted = await writeRun(store);
    interrupted.run.interruptions = 2;
    interrupted.run.endedAt = interrupted.run.firstRunningAt! + 16000;
    const verdicts = [];
    for (const r of [clean, lost, failed, interrupted]) verdicts.push(await verifyRun(store, r.run, r.deliveries));
    const report = summarize(verdicts, 10);
    assert.equal(report.runsAttempted, 4);
    assert.equal(report.runsCompleted, 2);
    assert.equal(report.lostRuns, 1);
    assert.equal(report.failedRuns, 1);
    assert.equal(report.interruptions, 2);
    assert.equal(report.meanExtraSecondsPerInterruption, 3, '(16 s - 10 s baseline) / 2 interruptions');
  });

  test('helpers: CSV epochs by header, weight sizes from the manifest, audits beyond the expected range', () => {
    assert.deepEqual(csvEpochs('loss,epoch\r\n0.5,0\r\n"0.4",1\r\n'), [0, 1]);
    assert.equal(expectedWeightBytes(MODEL_JSON), WEIGHT_BYTES);
    assert.deepEqual(epochAudit([0, 1, 2, 7], [0, 1, 2]), { duplicated: [7], missing: [] });
  });
});
