import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKilnError } from '../../../core/errors';
import { newJobIds } from '../../../core/ids';
import { selectBackend } from '../../../worker/tfjs/backend';
import { checkLabelsFitOutput } from '../../../worker/data/label-encoding';
import { trainLocally } from '../../support/run-locally';

const datasetInvalid = (message: RegExp) => (err: unknown) => {
  assert.ok(isKilnError(err) && err.code === 'DATASET_INVALID' && !err.retryable, String(err));
  assert.match((err as Error).message, message);
  return true;
};

describe('labels must fit the model output', () => {
  test('one-hot needs one unit per class, indices at least as many units, binary one unit', () => {
    const four = ['a', 'b', 'c', 'd'];
    assert.throws(() => checkLabelsFitOutput('categorical_crossentropy', four, [3], 'label'), datasetInvalid(/label column 'label' has 4 classes \('a', 'b', 'c', 'd'\) but the model's last layer has 3 units; .*exactly 4 output units/));
    assert.throws(() => checkLabelsFitOutput('sparse_categorical_crossentropy', four, [3], 'label'), datasetInvalid(/at least 4 output units/));
    assert.throws(() => checkLabelsFitOutput('binary_crossentropy', ['no', 'yes'], [2], 'label'), datasetInvalid(/needs one output unit/));
    checkLabelsFitOutput('categorical_crossentropy', four, [4], 'label');
    checkLabelsFitOutput('sparse_categorical_crossentropy', four, [5], 'label');
    checkLabelsFitOutput('binary_crossentropy', ['no', 'yes'], [1], 'label');
    checkLabelsFitOutput('mse', null, [1], 'label');
    checkLabelsFitOutput('categorical_crossentropy', four, [null], 'label');
  });

  before(async () => {
    await selectBackend('cpu');
  });

  test('a stored dataset with more classes than output units fails the job as DATASET_INVALID before training', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-labels-'));
    try {
      mkdirSync(join(dir, 'acme', 'datasets'), { recursive: true });
      const rows = Array.from({ length: 40 }, (_, i) => `${i % 7},${(i * 3) % 5},${'abcd'[i % 4]}`);
      writeFileSync(join(dir, 'acme', 'datasets', 'four.csv'), `x1,x2,label\n${rows.join('\n')}\n`);
      const spec = {
        model: { inputShape: [2], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] },
        compile: { optimizer: { name: 'adam' }, loss: 'categorical_crossentropy' },
        data: { uri: 'datasets/four.csv', labelColumn: 'label' },
        fit: { epochs: 1, batchSize: 8 },
      };
      const { jobId, runId } = newJobIds();
      const job = { tenant: 'acme', jobId, runId, spec: spec as any, createdAt: new Date().toISOString() };
      await assert.rejects(trainLocally(spec, { resume: { dir, job } }), datasetInvalid(/label column 'label' has 4 classes .* last layer has 3 units/));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
