import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SchemaModelSpec } from '../../core/api.gen';
import { estimateModelCost, modelCostProblems } from '../../core/model-cost';
import { checkModelSpec } from '../../core/model-spec';

const cost = (inputShape: number[], layers: unknown[], batchSize = 32, optimizer = 'adam') => {
  const m = checkModelSpec({ inputShape, layers } as unknown as SchemaModelSpec);
  assert.deepEqual(m.problems, []);
  return estimateModelCost(m.layerShapes, m.inputShape, { batchSize, optimizer });
};

describe('estimateModelCost', () => {
  // Figures from Keras's model.count_params() for the same layers.
  it('counts parameters as Keras does', () => {
    assert.equal(cost([4], [{ type: 'dense', units: 16 }, { type: 'dense', units: 3 }]).params, 4 * 16 + 16 + 16 * 3 + 3);
    assert.equal(cost([8, 8, 1], [{ type: 'conv2d', filters: 8, kernelSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 10, useBias: false }]).params, 3 * 3 * 1 * 8 + 8 + 6 * 6 * 8 * 10);
    assert.equal(cost([5, 3], [{ type: 'lstm', units: 4 }]).params, 4 * (4 * (3 + 4) + 4));
    assert.equal(cost([5, 3], [{ type: 'gru', units: 4 }]).params, 3 * (4 * (3 + 4) + 4));
    assert.equal(cost([4], [{ type: 'batch_normalization' }]).params, 16);
    assert.equal(cost([5, 3], [{ type: 'bidirectional', layer: { type: 'simple_rnn', units: 2 } }]).params, 2 * (2 * (3 + 2) + 2));
    assert.equal(cost([10], [{ type: 'embedding', inputDim: 1000, outputDim: 8 }]).params, 8000);
  });

  it('estimates training bytes from weights, gradients, optimizer slots and a batch of activations', () => {
    const c = cost([4], [{ type: 'dense', units: 16 }], 10, 'sgd');
    assert.equal(c.params, 80);
    assert.equal(c.activationsPerSample, 4 + 16);
    assert.equal(c.trainingBytes, 4 * (80 * 2 + 2 * 10 * 20));
    assert.equal(cost([4], [{ type: 'dense', units: 16 }], 10, 'adam').trainingBytes, 4 * (80 * 4 + 2 * 10 * 20));
  });

  it('refuses past the limits, naming the variable and pointing at the biggest layer or the batch size', () => {
    const huge = cost([4], [{ type: 'dense', units: 8 }, { type: 'dense', units: 1e9 }]);
    const [p] = modelCostProblems(huge, { maxModelParams: 50_000_000, workerMemoryBytes: 2 ** 31 }, { model: '/model', batchSize: '/fit/batchSize' });
    assert.equal(p.pointer, '/model/layers/1');
    assert.match(p.detail, /9\.0 billion parameters .* above the limit of 50\.0 million \(KILN_MAX_MODEL_PARAMS\)/);
    const wide = cost([1024], [{ type: 'dense', units: 100_000 }], 65536);
    const [q] = modelCostProblems(wide, { maxModelParams: 0, workerMemoryBytes: 2 ** 31 }, { model: '/model', batchSize: '/fit/batchSize' });
    assert.equal(q.pointer, '/fit/batchSize');
    assert.match(q.detail, /KILN_WORKER_MEMORY_BYTES/);
    assert.deepEqual(modelCostProblems(huge, { maxModelParams: 0, workerMemoryBytes: 0 }, { model: '/model', batchSize: '/fit/batchSize' }), []);
  });
});
