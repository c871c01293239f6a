import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../worker/config';

test('KILN_DATASET_MEMORY_BYTES: 512 MiB by default, at least 1 MiB', () => {
  assert.equal(loadConfig({}).datasetMemoryBytes, 512 * 1024 * 1024);
  assert.equal(loadConfig({ KILN_DATASET_MEMORY_BYTES: '16777216' }).datasetMemoryBytes, 16 * 1024 * 1024);
  assert.throws(() => loadConfig({ KILN_DATASET_MEMORY_BYTES: '4096' }), /KILN_DATASET_MEMORY_BYTES: must be an integer from 1048576/);
  assert.throws(() => loadConfig({ KILN_DATASET_MEMORY_BYTES: '1G' }), /KILN_DATASET_MEMORY_BYTES/);
});

test('KILN_OUTAGE_TOLERANCE_SECONDS: 30 min by default, 0 to a week', () => {
  assert.equal(loadConfig({}).outageToleranceSeconds, 1800);
  assert.equal(loadConfig({ KILN_OUTAGE_TOLERANCE_SECONDS: '0' }).outageToleranceSeconds, 0);
  assert.equal(loadConfig({ KILN_OUTAGE_TOLERANCE_SECONDS: '600' }).outageToleranceSeconds, 600);
  assert.throws(() => loadConfig({ KILN_OUTAGE_TOLERANCE_SECONDS: '-1' }), /KILN_OUTAGE_TOLERANCE_SECONDS: must be an integer from 0/);
  assert.throws(() => loadConfig({ KILN_OUTAGE_TOLERANCE_SECONDS: '30m' }), /KILN_OUTAGE_TOLERANCE_SECONDS/);
});

test('KILN_STORE takes every form the store accepts, relative file:// ones included', () => {
  assert.equal(loadConfig({ KILN_STORE: 'file://./data' }).store.uri, 'file://./data');
  assert.throws(() => loadConfig({ KILN_STORE: 'ftp://x' }), /KILN_STORE: .*file:\/\/.*s3:\/\//);
});
