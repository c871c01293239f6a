import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../worker/config';

test('KILN_DATASET_MEMORY_BYTES: 512 MiB by default, at least 1 MiB', () => {
  assert.equal(loadConfig({}).datasetMemoryBytes, 512 * 1024 * 1024);
  assert.equal(loadConfig({ KILN_DATASET_MEMORY_BYTES: '16777216' }).datasetMemoryBytes, 16 * 1024 * 1024);
  assert.throws(() => loadConfig({ KILN_DATASET_MEMORY_BYTES: '4096' }), /KILN_DATASET_MEMORY_BYTES: must be an integer from 1048576/);
  assert.throws(() => loadConfig({ KILN_DATASET_MEMORY_BYTES: '1G' }), /KILN_DATASET_MEMORY_BYTES/);
});

test('job isolation limits: memory ceiling 2 GiB, stall timeout 300 s, cancel grace 15 s by default', () => {
  const config = loadConfig({});
  assert.equal(config.workerMemoryBytes, 2 * 1024 * 1024 * 1024);
  assert.equal(config.stallTimeoutSeconds, 300);
  assert.equal(config.cancelGraceSeconds, 15);
  assert.equal(config.testStallTag, null);
  const set = loadConfig({ KILN_WORKER_MEMORY_BYTES: '268435456', KILN_STALL_TIMEOUT_SECONDS: '5', KILN_CANCEL_GRACE_SECONDS: '0' });
  assert.deepEqual([set.workerMemoryBytes, set.stallTimeoutSeconds, set.cancelGraceSeconds], [256 * 1024 * 1024, 5, 0]);
  assert.equal(loadConfig({ KILN_WORKER_MEMORY_BYTES: '0' }).workerMemoryBytes, 0, '0 = no ceiling, as for admission');
  assert.throws(() => loadConfig({ KILN_WORKER_MEMORY_BYTES: '-1' }), /KILN_WORKER_MEMORY_BYTES/);
  assert.throws(() => loadConfig({ KILN_STALL_TIMEOUT_SECONDS: '0' }), /KILN_STALL_TIMEOUT_SECONDS/);
});

test('LOG_LEVEL is read by loadConfig (the training process takes its log level from there too)', () => {
  assert.equal(loadConfig({ LOG_LEVEL: 'warn' }).logLevel, 'warn');
  assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
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
