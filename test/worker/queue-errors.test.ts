import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DelayedError, UnrecoverableError, WaitingError } from 'bullmq';
import { KilnError } from '../../core/errors';
import { isUnrecoverable, QueueErrorName, queueError, toJobFailure } from '../../worker/queue-errors';

test('the error names are the ones BullMQ gives its own error classes', () => {
  assert.equal(QueueErrorName.Unrecoverable, new UnrecoverableError().name);
  assert.equal(QueueErrorName.Delayed, new DelayedError().name);
  assert.equal(QueueErrorName.Waiting, new WaitingError().name);
  assert.equal(queueError(QueueErrorName.Delayed, 'later').name, 'DelayedError');
});

test('failures are classified once: user faults and jobs that hurt themselves fail at once, infrastructure faults are retried', () => {
  const cases: Array<[unknown, string, boolean]> = [
    [new KilnError('DATASET_INVALID', 'row 2: oops'), 'DATASET_INVALID: row 2: oops', true],
    [new KilnError('TRAINING_STALLED', 'no batch'), 'TRAINING_STALLED: no batch', true],
    [new KilnError('RESOURCE_EXHAUSTED', 'too big'), 'RESOURCE_EXHAUSTED: too big', true],
    [new KilnError('STORE_UNAVAILABLE', 'S3 down'), 'STORE_UNAVAILABLE: S3 down', false],
    [new KilnError('WORKER_CRASHED', 'died'), 'WORKER_CRASHED: died', false],
    [new Error('surprise'), 'INTERNAL: surprise', false],
  ];
  for (const [err, message, unrecoverable] of cases) {
    const out = toJobFailure(err);
    assert.equal(out.message, message);
    assert.equal(isUnrecoverable(out), unrecoverable, message);
  }
});
