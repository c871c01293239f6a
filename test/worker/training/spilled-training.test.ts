import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel } from '../../../worker/tfjs/build-model';
import { compileModel } from '../../../worker/tfjs/compile-model';
import { FileTrainingSession } from '../../../worker/tfjs/file-training-session';
import { ArrayTrainingSession, type BatchHooks } from '../../../worker/tfjs/training-session';
import { loadDataset, loadDatasetWithin } from '../../../worker/data/load-dataset';
import { ScratchFiles } from '../../../worker/data/scratch-files';
import { openFilesLike } from '../../support/open-files';
import { trainLocally } from '../../support/run-locally';

/**
 * Training from a spilled dataset (KILN_DATASET_MEMORY_BYTES smaller than the data) on the cpu
 * backend: the same batch contract and figures as the in-memory path, tensors and scratch files
 * released however the job ends, and an exact resume.
 */

const SCRATCH = /\/kiln-job_[^/]*\.rows \(deleted\)$/;
const openScratch = () => openFilesLike('/kiln-job_').filter((t) => SCRATCH.test(t));
/** Far below iris's 3 kB of values: every job here spills. */
const BUDGET = 1024;

const iris = (extra: Record<string, unknown> = {}) => ({
  model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
  compile: { optimizer: { name: 'adam', learningRate: 0.05 }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy', 'f1'] },
  data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
  fit: { epochs: 3, batchSize: 16, seed: 7 },
  ...extra,
});

describe('training from a spilled dataset', () => {
  before(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });

  test('one epoch in stored order gives the in-memory session’s batches, logs and validation figures', async () => {
    const spec = iris();
    const opts = { loss: spec.compile.loss, seed: 7, tenant: 'acme', storeUri: 'file:///x', readObject: async () => null };
    const memory = await loadDataset(spec.data as any, opts);
    const scratch = new ScratchFiles(join(tmpdir(), `kiln-test-${process.pid}-session-`));
    const spilled = await loadDatasetWithin(spec.data as any, opts, { memoryBytes: BUDGET, scratch });
    assert.equal(spilled.storage, 'spilled');
    if (spilled.storage !== 'spilled') return;
    const baseline = tf.memory().numTensors;
    const model = () => {
      const m = buildModel(spec.model as any, { seed: 7 });
      compileModel(m, spec.compile as any);
      return m;
    };
    const a = new ArrayTrainingSession(model(), memory.train, memory.validation, memory.featureShape, memory.labelShape);
    const b = new FileTrainingSession(model(), spilled.train, spilled.validation, spilled.featureShape, spilled.labelShape);
    const record = (calls: string[], batchLogs: Array<Record<string, number>>): BatchHooks => ({
      onBatchBegin: async (batch) => void calls.push(`begin ${batch}`),
      onBatchEnd: async (batch, logs) => {
        calls.push(`end ${batch}`);
        batchLogs.push(logs);
      },
    });
    const [callsA, callsB, logsA, logsB]: [string[], string[], Array<Record<string, number>>, Array<Record<string, number>>] = [[], [], [], []];
    const epochA = await a.trainEpoch(0, 16, null, record(callsA, logsA));
    const epochB = await b.trainEpoch(0, 16, null, record(callsB, logsB));
    assert.deepEqual(callsB, callsA, 'the same batch hooks: 105 rows in batches of 16 → 7');
    assert.equal(callsB.length, 14);
    logsB.forEach((l, i) => {
      assert.deepEqual(Object.keys(l).sort(), Object.keys(logsA[i]).sort());
      for (const k of Object.keys(l)) assert.ok(Math.abs(l[k] - logsA[i][k]) < 1e-5, `batch ${i} ${k}: ${l[k]} vs ${logsA[i][k]}`);
    });
    assert.deepEqual(Object.keys(epochB).sort(), Object.keys(epochA).sort());
    for (const k of Object.keys(epochA)) assert.ok(Math.abs(epochB[k] - epochA[k]) < 1e-5, `epoch ${k}: ${epochB[k]} vs ${epochA[k]} (sample-weighted)`);

    // Batch sizes that do not divide the validation rows: the weighted means still match evaluate().
    const valA = await a.evaluateValidation(7);
    const valB = await b.evaluateValidation(7);
    assert.deepEqual(Object.keys(valB).sort(), Object.keys(valA).sort());
    for (const k of Object.keys(valA)) assert.ok(Math.abs(valB[k] - valA[k]) < 1e-5, `${k}: ${valB[k]} vs ${valA[k]}`);
    const predA = (await a.predictValidation(7))!;
    const predB = (await b.predictValidation(7))!;
    assert.equal(predB.classes, 3);
    assert.deepEqual(predB.yTrue, predA.yTrue);
    predB.yPred.forEach((v, i) => assert.ok(Math.abs(v - predA.yPred[i]) < 1e-6));

    a.dispose();
    b.dispose();
    await scratch.release();
    assert.equal(tf.memory().numTensors, baseline, 'both models and the in-memory tensors released');
  });

  test('a job trains to a sensible accuracy from its scratch files, then releases tensors and files', async () => {
    const baseline = tf.memory().numTensors;
    const during: string[][] = [];
    const out = await trainLocally(iris({ fit: { epochs: 25, batchSize: 16, seed: 7 } }), {
      datasetMemoryBytes: BUDGET,
      afterEpoch: () => void during.push(openScratch()),
    });
    try {
      assert.equal(out.result.status, 'succeeded');
      // The training rows and the held-out rows: two files, open while the job ran.
      assert.ok(during.every((files) => files.length === 2 && files.every((f) => f.includes(`/kiln-${out.job.jobId}-`))), JSON.stringify(during[0]));
      assert.ok((out.result.metrics.val_accuracy as number) >= 0.85, `val_accuracy ${out.result.metrics.val_accuracy}`);
      assert.ok(typeof out.result.metrics.val_f1 === 'number', 'the extra metrics from streamed predictions');
      assert.deepEqual(openScratch(), [], 'scratch files closed');
      assert.equal(tf.memory().numTensors, baseline);
    } finally {
      out.cleanup();
    }
  });

  test('a failed job and a cancelled job close their scratch files and release their tensors', async () => {
    const baseline = tf.memory().numTensors;
    // The model expects 5 features; iris has 4: the first batch fails.
    await assert.rejects(trainLocally(iris({ model: { inputShape: [5], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] } }), { datasetMemoryBytes: BUDGET }));
    assert.deepEqual(openScratch(), [], 'after the failure');
    assert.equal(tf.memory().numTensors, baseline);
    let batches = 0;
    let epochs = 0;
    const out = await trainLocally(iris({ fit: { epochs: 50, batchSize: 8, seed: 2 } }), {
      datasetMemoryBytes: BUDGET,
      isCancelled: () => epochs >= 1 && ++batches > 3,
      afterEpoch: () => void epochs++,
    });
    try {
      assert.equal(out.result.status, 'cancelled');
      assert.equal(out.run.history.length, 1, 'cancelled between batches of the second epoch');
      assert.deepEqual(openScratch(), []);
      assert.equal(tf.memory().numTensors, baseline);
    } finally {
      out.cleanup();
    }
  });

  test('TerminateOnNaN stops mid-epoch on a diverging loss', async () => {
    const out = await trainLocally({
      model: { inputShape: [64], layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dense', units: 1 }] },
      compile: { optimizer: { name: 'sgd', learningRate: 5 }, loss: 'mean_squared_error' },
      data: { builtin: 'digits', validationSplit: 0.3 },
      fit: { epochs: 30, batchSize: 32, seed: 2 },
      callbacks: { terminateOnNaN: {} },
    }, { datasetMemoryBytes: 64 * 1024 });
    try {
      assert.equal(out.result.stopReason, 'terminate_on_nan');
      assert.ok(out.run.history.length < 30);
    } finally {
      out.cleanup();
    }
  });

  test('a run resumed from its backup replays the same shuffled batches: it ends as the uninterrupted run', async () => {
    const spec = iris({ fit: { epochs: 4, batchSize: 16, seed: 11 } });
    const ref = await trainLocally(spec, { datasetMemoryBytes: BUDGET });
    let first: any;
    await assert.rejects(trainLocally(spec, { datasetMemoryBytes: BUDGET, afterEpoch: (e) => { if (e === 1) throw new Error('simulated crash'); } }),
      (err: any) => ((first = err), /simulated crash/.test(err.message)));
    const done = await trainLocally(spec, { datasetMemoryBytes: BUDGET, resume: { dir: first.dir, job: first.job }, attempt: 2 });
    // The same job in memory: same split, but another epoch order (so other weights).
    const inMemory = await trainLocally(spec);
    try {
      assert.deepEqual(done.run.history.map((h: any) => h.epoch), [0, 1, 2, 3]);
      done.run.history.forEach((h: any, i: number) => {
        for (const [k, v] of Object.entries(ref.run.history[i].logs)) assert.ok(Math.abs(h.logs[k] - (v as number)) < 1e-6, `epoch ${i} ${k}: ${h.logs[k]} vs ${v}`);
      });
      const diff = Math.abs((inMemory.result.metrics.loss as number) - (ref.result.metrics.loss as number));
      assert.ok(diff > 1e-6, `the in-memory path shuffles differently (loss diff ${diff})`);
    } finally {
      ref.cleanup();
      done.cleanup();
      inMemory.cleanup();
    }
  });
});
