import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { trainLocally } from '../../support/run-locally';

/**
 * The sandbox process is reused from job to job, so a whole job — data, model, optimizer slots,
 * validation passes, checkpoints, metrics — must leave tfjs's live tensor count where it found it,
 * whether it succeeds, stops early, is cancelled or fails.
 */
describe('runTraining releases every tensor it allocates', () => {
  before(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });

  const cnn = {
    model: {
      inputShape: [8, 8, 1],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'max_pooling2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dropout', rate: 0.2 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy', 'precision', 'f1'] },
    data: { builtin: 'digits', reshape: [8, 8, 1], validationSplit: 0.2, stratify: true, standardize: true },
    fit: { epochs: 2, batchSize: 64, seed: 1 },
    callbacks: {
      earlyStopping: { monitor: 'val_loss', patience: 5, restoreBestWeights: true },
      modelCheckpoint: { filepath: 'e{epoch}', monitor: 'val_accuracy', saveBestOnly: true },
      reduceLROnPlateau: { monitor: 'val_loss', patience: 1 },
      csvLogger: {},
    },
  };
  const iris = (extra: Record<string, unknown> = {}) => ({
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'sgd', learningRate: 0.05 }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 4, batchSize: 16, seed: 2 },
    ...extra,
  });

  test('a CNN job with validation metrics, checkpoints and callbacks, run three times: the count is flat', async () => {
    const baseline = tf.memory().numTensors;
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const out = await trainLocally(cnn);
      assert.equal(out.result.status, 'succeeded');
      out.cleanup();
      counts.push(tf.memory().numTensors);
    }
    assert.deepEqual(counts, [baseline, baseline, baseline], `live tensors after each job (baseline ${baseline})`);
  });

  test('a job stopped by EarlyStopping that restores the best weights', async () => {
    const baseline = tf.memory().numTensors;
    const out = await trainLocally(iris({
      fit: { epochs: 30, batchSize: 16, seed: 2 },
      compile: { optimizer: { name: 'sgd', learningRate: 0.05 }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
      callbacks: { earlyStopping: { monitor: 'val_loss', patience: 0, minDelta: 10, restoreBestWeights: true } },
    }));
    assert.equal(out.result.stopReason, 'early_stopping');
    out.cleanup();
    assert.equal(tf.memory().numTensors, baseline);
  });

  test('a job cancelled mid-run', async () => {
    const baseline = tf.memory().numTensors;
    let epochs = 0;
    const out = await trainLocally(iris({ fit: { epochs: 50, batchSize: 16, seed: 2 } }), {
      isCancelled: () => epochs >= 2,
      afterEpoch: () => {
        epochs++;
      },
    });
    assert.equal(out.result.status, 'cancelled');
    out.cleanup();
    assert.equal(tf.memory().numTensors, baseline);
  });

  test('a job that fails at its first epoch (the model does not fit the data)', async () => {
    const baseline = tf.memory().numTensors;
    // Three outputs for sparse labels over ten digit classes: tfjs fails inside fit.
    const bad = iris({ data: { builtin: 'digits', validationSplit: 0.2 }, model: { inputShape: [64], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] }, compile: { optimizer: { name: 'sgd' }, loss: 'categorical_crossentropy' } });
    await assert.rejects(trainLocally(bad));
    assert.equal(tf.memory().numTensors, baseline);
  });
});
