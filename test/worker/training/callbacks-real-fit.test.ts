import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { selectBackend } from '../../../worker/tfjs/backend';
import { loadDataset } from '../../../worker/data/load-dataset';
import { trainLocally } from '../../support/run-locally';


function irisSpec(callbacks: Record<string, unknown>, overrides: Record<string, any> = {}) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 10, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.05 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
    fit: { epochs: 20, batchSize: 16, seed: 11 },
    callbacks,
    ...overrides,
  };
}

/** Loads a stored checkpoint from the file store into a tfjs model. */
async function loadStored(store: any, prefix: string) {
  const modelJson = JSON.parse((await store.get(`${prefix}/model.json`)).toString('utf8'));
  const weights = await store.get(`${prefix}/weights.bin`);
  return loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
}

describe('callbacks act on a real tfjs model', () => {
  before(async () => {
    await selectBackend('cpu');
  });

  test('EarlyStopping stops early and restores the best weights: validation loss after restore equals the best epoch', async () => {
    // A high learning rate makes validation loss turn up after a few epochs.
    const spec = irisSpec({ earlyStopping: { monitor: 'val_loss', patience: 2, restoreBestWeights: true } }, {
      compile: { optimizer: { name: 'adam', learningRate: 0.3 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
      fit: { epochs: 60, batchSize: 8, seed: 5 },
    });
    const { result, run, store, cleanup } = await trainLocally(spec);
    try {
      assert.equal(result.stopReason, 'early_stopping');
      const losses = run.history.map((h: any) => h.logs.val_loss as number);
      const bestEpoch = losses.indexOf(Math.min(...losses));
      assert.ok(bestEpoch < losses.length - 1, 'the best epoch is not the last one');
      const restored = run.events.find((e: any) => e.type === 'weights_restored');
      assert.equal(restored?.fromEpoch, bestEpoch);
      // The final model (as fit left it) has the best epoch's weights: same validation loss.
      const model = await loadStored(store, run.final);
      model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
      const data = await loadDataset(spec.data as any, { loss: spec.compile.loss, seed: 5, tenant: 'acme', storeUri: 'file:///x', readObject: async () => null });
      const v = data.validation!;
      const x = tf.tensor(v.x, [v.count, 4]);
      const y = tf.tensor(v.y, [v.count, 3]);
      const loss = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
      assert.ok(Math.abs(loss - losses[bestEpoch]) < 1e-4, `val_loss after restore ${loss} vs best ${losses[bestEpoch]}`);
      tf.dispose([x, y]);
      model.dispose();
    } finally {
      cleanup();
    }
  });

  for (const name of ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad', 'adamax', 'adadelta']) {
    test(`ReduceLROnPlateau cuts the rate of ${name} and the cut takes effect`, async () => {
      // minDelta larger than any change: every epoch is a plateau, so with patience 0 every epoch cuts.
      const spec = irisSpec({ reduceLROnPlateau: { monitor: 'loss', factor: 0.5, patience: 0, minDelta: 100, minLr: 0.001 } }, {
        compile: { optimizer: { name, learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
        fit: { epochs: 4, batchSize: 16, seed: 3 },
      });
      const { run, cleanup } = await trainLocally(spec);
      try {
        const rates = run.history.map((h: any) => h.logs.learning_rate as number);
        const changes = run.events.filter((e: any) => e.type === 'learning_rate_changed');
        assert.ok(changes.length >= 2, `cut at least twice, got ${JSON.stringify(changes)}`);
        for (const c of changes) {
          assert.ok(Math.abs(c.to - c.from * 0.5) < 1e-9, 'each cut halves the rate');
          // Logged at the start of the next epoch's end: the rate the optimizer really used.
          if (c.epoch + 1 < rates.length) assert.ok(Math.abs(rates[c.epoch + 1] - c.to) < 1e-9, `epoch ${c.epoch + 1} trained at ${c.to}`);
        }
        assert.ok(Math.abs(rates[0] - 0.01) < 1e-9);
      } finally {
        cleanup();
      }
    });
  }

  test('TerminateOnNaN stops on a diverging loss', async () => {
    const spec = irisSpec({ terminateOnNaN: {} }, {
      // Regressing the digit's value from unscaled pixels with a huge rate overflows within a few batches.
      compile: { optimizer: { name: 'sgd', learningRate: 5 }, loss: 'mean_squared_error' },
      data: { builtin: 'digits', validationSplit: 0.3 },
      model: { inputShape: [64], layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dense', units: 1 }] },
      fit: { epochs: 30, batchSize: 32, seed: 2 },
    });
    const { result, run, cleanup } = await trainLocally(spec);
    try {
      assert.equal(result.stopReason, 'terminate_on_nan');
      assert.ok(run.history.length < 30);
      assert.ok(run.events.some((e: any) => e.type === 'nan_terminated'));
    } finally {
      cleanup();
    }
  });

  test('LearningRateScheduler sets the rate each epoch and logs it', async () => {
    const spec = irisSpec({ learningRateScheduler: { schedule: { type: 'step', stepSize: 2, gamma: 0.1 } } }, { fit: { epochs: 5, batchSize: 16, seed: 3 } });
    const { run, cleanup } = await trainLocally(spec);
    try {
      const expected = [0.05, 0.05, 0.005, 0.005, 0.0005];
      run.history.forEach((h: any, i: number) => assert.ok(Math.abs(h.logs.learning_rate - expected[i]) / expected[i] < 1e-6, `epoch ${i}: ${h.logs.learning_rate}`));
    } finally {
      cleanup();
    }
  });

  test('ModelCheckpoint saveBestOnly writes checkpoints that reload, and best.json names the best', async () => {
    const spec = irisSpec({ modelCheckpoint: { filepath: 'ckpt-{epoch:03d}-{val_accuracy:.4f}', monitor: 'val_accuracy', saveBestOnly: true } }, { fit: { epochs: 8, batchSize: 16, seed: 4 } });
    const { run, store, cleanup, runId } = await trainLocally(spec);
    try {
      const best = JSON.parse((await store.get(`acme/runs/${runId}/best.json`))!.toString('utf8'));
      const accs = run.history.map((h: any) => h.logs.val_accuracy as number);
      assert.equal(best.epoch, accs.indexOf(Math.max(...accs)), 'best.json names the first epoch with the highest val_accuracy');
      assert.equal(best.path, `ckpt-${String(best.epoch + 1).padStart(3, '0')}-${accs[best.epoch].toFixed(4)}`);
      const model = await loadStored(store, best.key);
      const out = model.predict(tf.zeros([1, 4])) as tf.Tensor;
      assert.deepEqual(out.shape, [1, 3]);
      out.dispose();
      model.dispose();
    } finally {
      cleanup();
    }
  });

  test('no tensor leaks: numTensors is the same before and after a 30-epoch fit with every callback on', async () => {
    const spec = irisSpec({
      earlyStopping: { monitor: 'val_loss', patience: 100, restoreBestWeights: true },
      modelCheckpoint: { filepath: 'e{epoch:02d}', monitor: 'val_loss', saveBestOnly: true },
      reduceLROnPlateau: { monitor: 'val_loss', patience: 2, factor: 0.5 },
      csvLogger: {},
      terminateOnNaN: {},
      alerts: [{ when: 'val_accuracy > 0.5', fire: 'always' }],
      tensorBoard: { histogramFreq: 5, updateFreq: 3 },
    }, { fit: { epochs: 30, batchSize: 16, seed: 9 }, compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy', 'precision', 'recall', 'f1', 'auc'] } });
    // One warm-up run allocates tfjs's lazily created globals (kernels' scalars, etc.).
    (await trainLocally({ ...spec, fit: { epochs: 1, batchSize: 16, seed: 9 } })).cleanup();
    const before = tf.memory().numTensors;
    const { run, cleanup } = await trainLocally(spec);
    cleanup();
    assert.equal(run.history.length, 30);
    assert.ok('val_f1' in run.history[0].logs && 'val_auc' in run.history[0].logs);
    assert.equal(tf.memory().numTensors, before);
  });
});
