import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SchemaCompileSpec } from '../../core/api.gen';
import { checkCompileSpec, kerasLogName, logKeysForCompile, resolveOptimizer, tfjsLossName, tfjsMetricNames } from '../../core/compile-spec';

describe('resolveOptimizer', () => {
  const cases: Array<[SchemaCompileSpec['optimizer'], Record<string, unknown>]> = [
    [{ name: 'sgd' }, { kind: 'sgd', learningRate: 0.01 }],
    [{ name: 'sgd', momentum: 0.8 }, { kind: 'momentum', learningRate: 0.01, momentum: 0.8 }],
    [{ name: 'momentum' }, { kind: 'momentum', learningRate: 0.01, momentum: 0.9 }],
    [{ name: 'adam' }, { kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
    [{ name: 'adam', learningRate: 0.05, beta2: 0.99 }, { kind: 'adam', learningRate: 0.05, beta1: 0.9, beta2: 0.99, epsilon: 1e-7 }],
    [{ name: 'adamax' }, { kind: 'adamax', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
    [{ name: 'rmsprop' }, { kind: 'rmsprop', learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7 }],
    [{ name: 'adagrad' }, { kind: 'adagrad', learningRate: 0.001, initialAccumulatorValue: 0.1 }],
    [{ name: 'adadelta' }, { kind: 'adadelta', learningRate: 0.001, rho: 0.95, epsilon: 1e-7 }],
    // Keras's string shorthand: the optimizer at its defaults (keras/src/optimizers/adam.py: learning_rate=0.001).
    ['adam', { kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
    ['sgd', { kind: 'sgd', learningRate: 0.01 }],
    ['rmsprop', { kind: 'rmsprop', learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7 }],
    // Keras class names, as a string or as the object's name.
    ['Adam', { kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
    ['SGD', { kind: 'sgd', learningRate: 0.01 }],
    ['RMSprop', { kind: 'rmsprop', learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7 }],
    ['Adagrad', { kind: 'adagrad', learningRate: 0.001, initialAccumulatorValue: 0.1 }],
    ['Adamax', { kind: 'adamax', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
    ['Adadelta', { kind: 'adadelta', learningRate: 0.001, rho: 0.95, epsilon: 1e-7 }],
    [{ name: 'SGD', momentum: 0.5, learningRate: 0.1 }, { kind: 'momentum', learningRate: 0.1, momentum: 0.5 }],
  ];
  for (const [given, expected] of cases) {
    it(`fills ${JSON.stringify(given)} from the Keras defaults`, () => {
      assert.deepEqual(resolveOptimizer(given), expected);
    });
  }
});

describe('names', () => {
  it('maps losses and keeps worker metrics out of tfjs compile', () => {
    assert.equal(tfjsLossName('sparse_categorical_crossentropy'), 'sparseCategoricalCrossentropy');
    assert.equal(tfjsLossName('mse'), 'meanSquaredError');
    assert.deepEqual(tfjsMetricNames(['accuracy', 'precision', 'mae', 'auc']), ['accuracy', 'mae']);
  });

  it('maps tfjs log keys back to Keras names', () => {
    assert.equal(kerasLogName('acc'), 'accuracy');
    assert.equal(kerasLogName('val_acc'), 'val_accuracy');
    assert.equal(kerasLogName('val_loss'), 'val_loss');
    assert.equal(kerasLogName('mse'), 'mse');
  });
});

describe('logKeysForCompile', () => {
  const compile: SchemaCompileSpec = { optimizer: { name: 'adam' }, loss: 'categorical_crossentropy', metrics: ['accuracy', 'precision', 'mae'] };

  it('lists train, validation and worker-computed validation keys', () => {
    const { keys, problems } = logKeysForCompile(compile, true);
    assert.deepEqual(keys, ['loss', 'accuracy', 'mae', 'val_loss', 'val_accuracy', 'val_mae', 'val_precision']);
    assert.deepEqual(problems, []);
  });

  it('reports validation-only metrics without validation data and leaves them out', () => {
    const { keys, problems } = logKeysForCompile(compile, false);
    assert.deepEqual(keys, ['loss', 'accuracy', 'mae']);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].pointer, '/compile/metrics/1');
    assert.match(problems[0].detail, /val_precision.*validationSplit/);
  });
});

describe('checkCompileSpec', () => {
  it('reports options the optimizer does not take, naming those that do', () => {
    const problems = checkCompileSpec({ optimizer: { name: 'adam', rho: 0.9, momentum: 0.5 }, loss: 'mse' }, { hasValidation: true });
    assert.deepEqual(problems.map((p) => p.pointer), ['/compile/optimizer/momentum', '/compile/optimizer/rho']);
    assert.match(problems[1].detail, /rmsprop, adadelta/);
  });

  it('explains that tfjs Adagrad has no epsilon', () => {
    const [p] = checkCompileSpec({ optimizer: { name: 'adagrad', epsilon: 1e-6 }, loss: 'mse' }, { hasValidation: false, pointerBase: '/x' });
    assert.equal(p.pointer, '/x/optimizer/epsilon');
    assert.match(p.detail, /tfjs Adagrad has no epsilon/);
  });

  it('accepts a valid spec', () => {
    assert.deepEqual(checkCompileSpec({ optimizer: { name: 'rmsprop', rho: 0.8, momentum: 0.1 }, loss: 'huber', metrics: ['mse'] }, { hasValidation: false }), []);
  });
});

describe('checkCompileSpec: the optimizer shorthand and class names', () => {
  it('checks options under the class name as under the Keras name', () => {
    const problems = checkCompileSpec({ optimizer: { name: 'Adagrad', epsilon: 1e-3 }, loss: 'mse' }, { hasValidation: false });
    assert.equal(problems.length, 1);
    assert.equal(problems[0].pointer, '/compile/optimizer/epsilon');
    assert.match(problems[0].detail, /optimizer 'adagrad' takes no 'epsilon'/);
    assert.deepEqual(checkCompileSpec({ optimizer: 'Adam', loss: 'mse' }, { hasValidation: false }), []);
  });
});
