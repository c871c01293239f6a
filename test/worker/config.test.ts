import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../worker/config';

test('KILN_DATASET_MEMORY_BYTES: 512 MiB by default, at least 1 MiB', () => {
  assert.equal(loadConfig({}).datasetMemoryBytes, 512 * 1024 * 1024);
  assert.equal(loadConfig({ KILN_DATASET_MEMORY_BYTES: '16777216' }).datasetMemoryBytes, 16 * 1024 * 1024);
  assert.throws(() => loadConfig({ KILN_DATASET_MEMORY_BYTES: '4096' }), /KILN_DATASET_MEMORY_BYTES: must be an integer from 1048576/);
  assert.throws(() => loadConfig({ KILN_DATASET_MEMORY_BYTES: '1G' }), /KILN_DATASET_MEMORY_BYTES/);
});
