import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKilnError } from '../../core/errors';
import {
  RunLayout, bestPointerKey, checkpointKeys, checkpointVersion, logKey, parseCheckpointVersion,
  runArtifactKey, runManifestKey, runPrefix, runRelativePath, tensorboardKey, tensorboardPrefix,
} from '../../store/run-layout';

const badRequest = (e: unknown) => isKilnError(e) && e.code === 'BAD_REQUEST';

describe('run layout keys', () => {
  it('places every artifact of a run under <tenant>/runs/<runId>/', () => {
    assert.equal(runPrefix('acme', 'r-1'), 'acme/runs/r-1/');
    assert.equal(runManifestKey('acme', 'r-1'), 'acme/runs/r-1/run.json');
    assert.equal(bestPointerKey('acme', 'r-1'), 'acme/runs/r-1/best.json');
    assert.equal(logKey('acme', 'r-1'), 'acme/runs/r-1/logs/training_log.csv');
    assert.equal(logKey('acme', 'r-1', 'fold2.csv'), 'acme/runs/r-1/logs/fold2.csv');
    assert.equal(tensorboardPrefix('acme', 'r-1'), 'acme/runs/r-1/tensorboard/');
    assert.equal(tensorboardKey('acme', 'r-1', 'train/events.out.tfevents.1.h'), 'acme/runs/r-1/tensorboard/train/events.out.tfevents.1.h');
    assert.deepEqual(checkpointKeys('acme', 'r-1', 'weights.03-0.41.keras', 'a002-000001'), {
      prefix: 'acme/runs/r-1/checkpoints/weights.03-0.41.keras/a002-000001/',
      runRelative: 'checkpoints/weights.03-0.41.keras/a002-000001/',
      version: 'a002-000001',
      modelJson: 'acme/runs/r-1/checkpoints/weights.03-0.41.keras/a002-000001/model.json',
      weightsBin: 'acme/runs/r-1/checkpoints/weights.03-0.41.keras/a002-000001/weights.bin',
    });
  });

  it('formats and parses checkpoint versions so keys sort chronologically', () => {
    assert.equal(checkpointVersion(1, 1), 'a001-000001');
    assert.equal(checkpointVersion(12, 345), 'a012-000345');
    assert.equal(checkpointVersion(1000, 1234567), 'a1000-1234567');
    assert.deepEqual(parseCheckpointVersion('a012-000345'), { attempt: 12, seq: 345 });
    assert.equal(parseCheckpointVersion('v1'), null);
    assert.ok(checkpointVersion(1, 9) < checkpointVersion(1, 10));
    assert.ok(checkpointVersion(9, 1) < checkpointVersion(10, 1));
    assert.throws(() => checkpointVersion(0, 1), badRequest);
    assert.throws(() => checkpointVersion(1, 1.5), badRequest);
  });

  for (const [label, tenant, runId] of [
    ['a slash in the tenant', 'ac/me', 'r1'],
    ['a parent tenant', '..', 'r1'],
    ['an empty run id', 'acme', ''],
    ['a run id with a slash', 'acme', 'r1/../r2'],
    ['a hidden run id', 'acme', '.r1'],
  ] as const) {
    it(`rejects ${label}`, () => {
      assert.throws(() => runPrefix(tenant, runId), badRequest);
      assert.throws(() => new RunLayout({ tenant, runId }), badRequest);
    });
  }

  for (const path of ['../other-run/best.json', '/etc/passwd', 'a//b', 'logs/', './run.json', '']) {
    it(`refuses run-relative path ${JSON.stringify(path)} that could leave the run`, () => {
      assert.throws(() => runArtifactKey('acme', 'r1', path), badRequest);
      assert.throws(() => checkpointKeys('acme', 'r1', path, 'a001-000001'), badRequest);
      assert.throws(() => new RunLayout({ tenant: 'acme', runId: 'r1' }).nextCheckpoint(path), badRequest);
    });
  }

  it('maps keys to run-relative paths and back', () => {
    const key = runArtifactKey('acme', 'r1', 'checkpoints/best/a001-000002/model.json');
    assert.equal(key, 'acme/runs/r1/checkpoints/best/a001-000002/model.json');
    assert.equal(runRelativePath('acme', 'r1', key), 'checkpoints/best/a001-000002/model.json');
    assert.equal(runRelativePath('acme', 'r10', key), null);
    assert.equal(runRelativePath('other', 'r1', key), null);
    assert.equal(runRelativePath('acme', 'r1', 'acme/runs/r1/'), null);
  });
});

describe('RunLayout', () => {
  it('never hands out the same checkpoint keys twice, within or across attempts', () => {
    const first = new RunLayout({ tenant: 'acme', runId: 'r1', attempt: 1 });
    const retry = new RunLayout({ tenant: 'acme', runId: 'r1', attempt: 2 });
    const seen = new Set<string>();
    for (const layout of [first, retry]) {
      for (let i = 0; i < 3; i++) {
        for (const path of ['best.keras', 'weights.01.keras']) {
          const keys = layout.nextCheckpoint(path);
          assert.ok(!seen.has(keys.modelJson), `duplicate ${keys.modelJson}`);
          seen.add(keys.modelJson);
        }
      }
    }
    assert.equal(seen.size, 12);
  });

  it('counts saves per formatted path from 1 within an attempt', () => {
    const layout = new RunLayout({ tenant: 'acme', runId: 'r1', attempt: 3 });
    assert.equal(layout.nextCheckpoint('best.keras').version, 'a003-000001');
    assert.equal(layout.nextCheckpoint('best.keras').version, 'a003-000002');
    assert.equal(layout.nextCheckpoint('ep5.keras').version, 'a003-000001');
    assert.equal(layout.nextCheckpoint('best.keras').modelJson, 'acme/runs/r1/checkpoints/best.keras/a003-000003/model.json');
  });

  it('binds the run-level keys', () => {
    const layout = new RunLayout({ tenant: 'acme', runId: 'r1' });
    assert.equal(layout.attempt, 1);
    assert.equal(layout.prefix, 'acme/runs/r1/');
    assert.equal(layout.manifest, 'acme/runs/r1/run.json');
    assert.equal(layout.bestPointer, 'acme/runs/r1/best.json');
    assert.equal(layout.log(), 'acme/runs/r1/logs/training_log.csv');
    assert.equal(layout.tensorboard('validation/events.out.tfevents.2.h'), 'acme/runs/r1/tensorboard/validation/events.out.tfevents.2.h');
    assert.throws(() => new RunLayout({ tenant: 'acme', runId: 'r1', attempt: 0 }), badRequest);
  });
});
