import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../../worker/tfjs/backend';
import { isKilnError } from '../../../core/errors';
import { trainLocally } from '../../support/run-locally';

before(async () => {
  await selectBackend('cpu');
});

/**
 * Issue 14: a ModelCheckpoint path with a segment longer than a file name allows got an unhandled
 * ENAMETOOLONG rejection from an upload, which later killed the reused sandbox child (and so the
 * next tenant's job). It must fail this job at once, as the user's error, and nothing else.
 */
test('a checkpoint path segment longer than a file name fails the job as a user error, with no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const spec = {
      model: { inputShape: [4], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] },
      compile: { optimizer: { name: 'adam', learningRate: 0.05 }, loss: 'categorical_crossentropy' },
      data: { builtin: 'iris' },
      fit: { epochs: 3, batchSize: 32, seed: 1 },
      callbacks: { modelCheckpoint: { filepath: 'e{epoch:02d}-' + 'x'.repeat(300) } },
    };
    const err = await trainLocally(spec).then(() => null, (e: unknown) => e);
    assert.ok(isKilnError(err), `a KilnError, got ${String(err)}`);
    assert.equal(err.retryable, false, `not retried: ${err.code} ${err.message}`);
    assert.match(err.message, /segment/);
    // Give any stray rejection the turns it needs to surface.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled.map(String), []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
