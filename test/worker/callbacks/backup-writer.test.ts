import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { S3Store } from '../../../store/s3-store';
import { backupKeys, backupPointerKey, backupPrefix, backupVersion } from '../../../store/run-layout';
import { Uploader } from '../../../store/uploader';
import { BackupWriter, type BackupSettings, type BackupState } from '../../../worker/callbacks/backup-writer';
import { startS3Server, type TestS3Server } from '../../support/s3-server';
import { FlakyProxy } from '../../store/flaky-proxy';

/**
 * An S3 store whose own delete fails: BackupWriter must prune through the store's write thread,
 * which opens a plain S3Store of its own.
 */
class ThreadOnlyDeletes extends S3Store {
  override async delete(key: string): Promise<void> {
    throw new Error(`deleted ${key} on the training thread`);
  }
}

const SETTINGS: BackupSettings = { enabled: true, everyEpochs: 1, everySeconds: null, deleteCheckpoint: true };
const TENANT = 'acme';

function state(runId: string, attempt: number, epoch: number): BackupState {
  return {
    version: 1, jobId: 'job_1', runId, attempt, epoch, savedAt: new Date(0).toISOString(), learningRate: 0.1, stopTraining: false,
    callbacks: {}, hasBestWeights: epoch % 2 === 0, best: null, saveCounts: {}, lastLogs: {}, lastNotifiedEpoch: epoch,
    run: { history: [], events: [], artifacts: [] },
  };
}

let s3: TestS3Server;
let proxy: FlakyProxy;
let direct: S3Store;

before(async () => {
  s3 = await startS3Server();
  proxy = await FlakyProxy.start(s3.endpoint);
  direct = new S3Store(s3.uri, s3.s3Options);
});

after(async () => {
  await direct.close();
  await proxy.close();
  await s3.close();
});

describe('BackupWriter', () => {
  it('keeps the newest two versions, pruning its own by known keys and earlier attempts\' by listing, on the write thread', async () => {
    const runId = 'run_prune';
    const store = new ThreadOnlyDeletes(s3.uri, { ...s3.s3Options, endpoint: proxy.endpoint });
    try {
      // An earlier attempt left a version behind.
      const earlier = backupKeys(TENANT, runId, backupVersion(1, 0));
      await direct.put(earlier.weights, 'w');
      await direct.put(earlier.state, '{}');
      const logged: string[] = [];
      const writer = new BackupWriter(store, new Uploader(store, { offThread: true, concurrency: 4 }), TENANT, runId, 2, SETTINGS, (m, f) => logged.push(`${m} ${JSON.stringify(f)}`));
      await writer.discover();
      const seenBefore = proxy.requests.length;
      for (let epoch = 1; epoch <= 4; epoch++) {
        await writer.write(epoch, state(runId, 2, epoch), { weights: Buffer.alloc(64, epoch), optimizer: Buffer.alloc(32, epoch), bestWeights: epoch % 2 === 0 ? Buffer.alloc(64, 9) : null });
      }
      await writer.settled();
      const pointer = JSON.parse((await direct.get(backupPointerKey(TENANT, runId)))!.toString()) as { version: string };
      assert.equal(pointer.version, backupVersion(2, 4));
      await writer.finish().catch(() => undefined);
      assert.deepEqual(logged, []);
      const listed = proxy.requests.slice(seenBefore)
        .filter((r) => r.method === 'GET' && r.url.includes('list-type=2'))
        .map((r) => new URL(r.url, 'http://x').searchParams.get('prefix'));
      // The earlier attempt's version is listed; this attempt's versions are not. finish() lists the
      // whole backup folder, deletes what it finds, and lists again to see it empty.
      assert.deepEqual(listed, [earlier.prefix, backupPrefix(TENANT, runId), backupPrefix(TENANT, runId)]);
      assert.deepEqual(await direct.list(backupPrefix(TENANT, runId)), []);
    } finally {
      await store.close();
    }
  });

  it('leaves the newest two versions and latest.json while training goes on', async () => {
    const runId = 'run_keep';
    const store = new S3Store(s3.uri, s3.s3Options);
    try {
      const writer = new BackupWriter(store, new Uploader(store, { offThread: true }), TENANT, runId, 1, SETTINGS, () => undefined);
      for (let epoch = 0; epoch < 5; epoch++) {
        await writer.write(epoch, state(runId, 1, epoch), { weights: Buffer.alloc(8, epoch), optimizer: Buffer.alloc(8, epoch), bestWeights: null });
        await writer.settled();
      }
      // Pruning follows each pointer write without holding up the next one: poll the store for it.
      const deadline = Date.now() + 5000;
      let versions: string[] = [];
      while (Date.now() < deadline) {
        versions = [...new Set((await direct.list(backupPrefix(TENANT, runId))).map((o) => o.key.slice(backupPrefix(TENANT, runId).length).split('/')[0]!))];
        if (versions.length === 3) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(versions.sort(), [backupVersion(1, 3), backupVersion(1, 4), 'latest.json']);
    } finally {
      await store.close();
    }
  });

  it('does not name a backup in latest.json before the work it waits for (a pending best.json move) is done', async () => {
    const runId = 'run_after';
    const store = new S3Store(s3.uri, s3.s3Options);
    try {
      const writer = new BackupWriter(store, new Uploader(store, { offThread: true }), TENANT, runId, 1, SETTINGS, () => undefined);
      await writer.write(0, state(runId, 1, 0), { weights: Buffer.alloc(8), optimizer: Buffer.alloc(8), bestWeights: null });
      await writer.settled();
      let release!: () => void;
      const pendingBestMove = new Promise<void>((r) => { release = r; });
      await writer.write(1, state(runId, 1, 1), { weights: Buffer.alloc(8, 1), optimizer: Buffer.alloc(8, 1), bestWeights: null }, pendingBestMove);
      const pointerVersion = async () => (JSON.parse((await direct.get(backupPointerKey(TENANT, runId)))!.toString()) as { version: string }).version;
      // The backup's own files are stored quickly; latest.json must still name the earlier backup.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await pointerVersion(), backupVersion(1, 0));
      release();
      await writer.settled();
      assert.equal(await pointerVersion(), backupVersion(1, 1));
    } finally {
      await store.close();
    }
  });
});
