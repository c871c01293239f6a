import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers } from '@tensorflow/tfjs-layers';
import { releaseModelCaches } from '../../../worker/tfjs/memory';
import { trainLocally } from '../../support/run-locally';

/**
 * The sandbox process is reused from job to job, so once a job ends nothing may keep its model
 * alive. tfjs-layers' executor caches (up to 100 entries, process-wide) used to hold the layer graph
 * of every model that trained, evaluated or predicted; a whole job must now leave no layer behind.
 */
describe('a finished job leaves no model in memory', () => {
  const session = new Session();
  const probe = '__kilnLayerPrototype';

  before(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
    session.connect();
    // Every layer class (Dense, InputLayer, Conv2D, …) has Layer.prototype in its prototype chain.
    (globalThis as Record<string, unknown>)[probe] = layers.Layer.prototype;
  });

  after(() => {
    delete (globalThis as Record<string, unknown>)[probe];
    session.disconnect();
  });

  /**
   * Live objects with Layer.prototype in their prototype chain (layer instances, plus each layer
   * class's own prototype: hence a baseline); V8 collects garbage before it answers.
   */
  async function liveLayers(): Promise<number> {
    const proto = await session.post('Runtime.evaluate', { expression: `globalThis.${probe}` });
    const found = await session.post('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId! });
    const count = await session.post('Runtime.callFunctionOn', {
      objectId: found.objects.objectId!,
      functionDeclaration: 'function () { return this.length; }',
      returnByValue: true,
    });
    await session.post('Runtime.releaseObject', { objectId: found.objects.objectId! });
    return count.result.value as number;
  }

  const spec = (seed: number) => ({
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy', 'f1'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 2, batchSize: 16, seed },
    callbacks: { modelCheckpoint: { filepath: 'e{epoch}', monitor: 'val_loss', saveBestOnly: true } },
  });

  test('the live layer count is back at its baseline after each of three jobs', async () => {
    const baseline = await liveLayers();
    const counts: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const out = await trainLocally(spec(i));
      assert.equal(out.result.status, 'succeeded');
      out.cleanup();
      counts.push(await liveLayers());
    }
    assert.deepEqual(counts, [baseline, baseline, baseline], `live layers after each job (baseline ${baseline})`);
  });

  test('releasing the caches keeps their size limit', () => {
    const flag = 'TOPOLOGICAL_SORT_CACHE_MAX_ENTRIES';
    const before = tf.env().getNumber(flag);
    tf.env().set(flag, 7);
    try {
      releaseModelCaches();
      assert.equal(tf.env().getNumber(flag), 7);
    } finally {
      tf.env().set(flag, before);
    }
  });
});
