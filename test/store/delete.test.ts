import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ArtifactStore } from '../../store/artifact-store';
import { FileStore } from '../../store/file-store';
import { S3Store } from '../../store/s3-store';
import { backupKeys, backupPointerKey, backupVersion, parseBackupVersion } from '../../store/run-layout';
import { startS3Server, type TestS3Server } from '../support/s3-server';

/** `delete` (used to prune BackupAndRestore versions) on both drivers. */
function deleteBehaviours(name: string, open: () => ArtifactStore) {
  describe(`${name}: delete`, () => {
    test('removes an object and leaves its neighbours; a missing object is no error', async () => {
      const store = open();
      const keys = backupKeys('acme', 'run_1', backupVersion(2, 7));
      await store.put(keys.state, '{}');
      await store.put(keys.weights, Buffer.from([1, 2, 3]));
      await store.delete!(keys.state);
      assert.equal(await store.get(keys.state), null);
      assert.deepEqual((await store.get(keys.weights))?.toJSON().data, [1, 2, 3]);
      await store.delete!(keys.state);
      await store.delete!(backupPointerKey('acme', 'run_1'));
      await assert.rejects(store.delete!('../escape'), (e: any) => e.code === 'BAD_REQUEST');
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'kiln-delete-'));
after(() => rmSync(dir, { recursive: true, force: true }));
deleteBehaviours('file store', () => new FileStore(dir));

let s3: TestS3Server;
let s3store: S3Store;
before(async () => {
  s3 = await startS3Server();
  s3store = new S3Store(`${s3.uri}/delete`, s3.s3Options);
});
after(async () => {
  await s3store.close();
  await s3.close();
});
deleteBehaviours('s3 store', () => s3store);

test('backup versions name the attempt and the epoch and sort by them', () => {
  assert.equal(backupVersion(2, 7), 'a002-e000007');
  assert.deepEqual(parseBackupVersion('a002-e000007'), { attempt: 2, epoch: 7 });
  assert.equal(parseBackupVersion('a001-000003'), null, 'a checkpoint version is not a backup version');
  const keys = backupKeys('acme', 'run_1', 'a001-e000000');
  assert.equal(keys.state, 'acme/runs/run_1/backup/a001-e000000/state.json');
  assert.equal(keys.bestWeights, 'acme/runs/run_1/backup/a001-e000000/best-weights.bin');
  assert.equal(backupPointerKey('acme', 'run_1'), 'acme/runs/run_1/backup/latest.json');
  assert.throws(() => backupKeys('acme', 'run_1', '../x'), /must look like/);
});
