import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';

const FIXTURES = join(__dirname, '..', 'fixtures', 'keras');

/** Names of the layers in a served model.json's topology (tfjs writes Keras's layout). */
function layerNames(modelJson: any): string[] {
  return (modelJson.modelTopology.config.layers as Array<{ config: { name: string } }>).map((l) => l.config.name);
}

describe('Keras model JSON and a CNN through the API (wasm backend)', () => {
  let stack: KilnStack;
  before(async () => {
    stack = await startStack({ name: 'keras-cnn', env: { KILN_BACKEND: 'wasm', KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0' } });
  });
  after(async () => stack?.close());

  const submit = async (body: unknown): Promise<{ jobId: string; runId: string }> => {
    const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 202, await res.clone().text());
    return (await res.json()) as { jobId: string; runId: string };
  };
  const served = async (runId: string) => {
    const res = await fetch(`${stack.base}/v1/runs/${runId}/model/model.json`, { headers: stack.auth() });
    assert.equal(res.status, 200);
    return (await res.json()) as any;
  };

  for (const fixture of ['keras3-functional', 'keras2-functional']) {
    test(`a Keras-produced Functional model (${fixture}.json, a skip connection and normalisation) builds and trains on iris`, async () => {
      const keras = JSON.parse(readFileSync(join(FIXTURES, `${fixture}.json`), 'utf8'));
      const { jobId, runId } = await submit({
        model: { keras },
        compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
        data: { builtin: 'iris', validationSplit: 0.2, stratify: true, standardize: true },
        fit: { epochs: 12, batchSize: 16, seed: 2 },
      });
      const view = await waitForJob(stack, jobId, 60000);
      assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
      assert.equal(view.backend, 'wasm');
      assert.equal(view.progress.epoch, 11);
      const first = view.progress.metrics;
      assert.ok(first.val_accuracy > 0.5, `it learned (val_accuracy ${first.val_accuracy})`);
      const model = await served(runId);
      const names = layerNames(model);
      const fixtureNames = (keras.config.layers as Array<{ config: { name: string } }>).map((l) => l.config.name);
      assert.deepEqual(names, fixtureNames, 'the stored model keeps the Keras graph, layer for layer');
      assert.deepEqual(model.userDefinedMetadata.kiln.classes, ['setosa', 'versicolor', 'virginica']);
    });
  }

  test('a digits CNN (reshape [8, 8, 1], conv2d + max pooling + flatten + dense) trains on wasm', async () => {
    const { jobId, runId } = await submit({
      model: {
        inputShape: [8, 8, 1],
        layers: [
          { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu', padding: 'same' },
          { type: 'max_pooling2d', poolSize: 2 },
          { type: 'flatten' },
          { type: 'dense', units: 10, activation: 'softmax' },
        ],
      },
      compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
      data: { builtin: 'digits', reshape: [8, 8, 1], validationSplit: 0.2, stratify: true, standardize: true },
      fit: { epochs: 3, batchSize: 32, seed: 4 },
    });
    const view = await waitForJob(stack, jobId, 60000);
    assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
    assert.equal(view.backend, 'wasm');
    assert.ok(view.progress.metrics.val_accuracy > 0.5, `a CNN learns digits in 3 epochs (val_accuracy ${view.progress.metrics.val_accuracy})`);
    const model = await served(runId);
    const classes = model.modelTopology.config.layers.map((l: any) => l.class_name);
    assert.ok(['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense'].every((c) => classes.includes(c)), classes.join(','));
    assert.deepEqual(model.userDefinedMetadata.kiln.featureShape, [8, 8, 1]);
  });
});
