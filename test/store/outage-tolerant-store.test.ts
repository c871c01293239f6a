import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../../core/errors';
import type { ArtifactStore, ObjectBody, PutOptions } from '../../store/artifact-store';
import { FileStore } from '../../store/file-store';
import { OutageTolerantStore, type StoreOutage } from '../../store/outage-tolerant-store';
import { putWithRetries, Uploader } from '../../store/uploader';

/** A file store whose writes can be refused as an unavailable store would (a fake of our own interface). */
class ReadOnlySwitch implements ArtifactStore {
  readOnly = false;
  refused = 0;
  readonly uri: string;
  constructor(private readonly inner: FileStore) {
    this.uri = inner.uri;
  }
  async put(key: string, body: ObjectBody, opts?: PutOptions) {
    if (this.readOnly) {
      this.refused++;
      throw new KilnError('STORE_UNAVAILABLE', `store ${key}: the store is read-only`);
    }
    return this.inner.put(key, body, opts);
  }
  get(key: string) { return this.inner.get(key); }
  getStream(key: string) { return this.inner.getStream(key); }
  head(key: string) { return this.inner.head(key); }
  list(prefix: string) { return this.inner.list(prefix); }
  listPage(prefix: string) { return this.inner.listPage(prefix); }
  ping() { return this.inner.ping(); }
}

const fast = { retries: 2, baseDelayMs: 2, maxDelayMs: 10 };

function setup(toleranceMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-outage-'));
  const flaky = new ReadOnlySwitch(new FileStore(dir, { fsync: false }));
  const told: Array<StoreOutage | null> = [];
  const store = new OutageTolerantStore(flaky, { toleranceMs, retry: fast, onOutage: (o) => told.push(o) });
  return { flaky, store, told, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves once `flaky` has refused `n` writes. */
async function refusals(flaky: ReadOnlySwitch, n: number): Promise<void> {
  while (flaky.refused < n) await new Promise((r) => setTimeout(r, 2));
}

describe('OutageTolerantStore', () => {
  test('a write to a read-only store waits for it far past the retry count, and lands once it is writable', async () => {
    const { flaky, store, told, cleanup } = setup(60000);
    try {
      flaky.readOnly = true;
      const put = store.put('a/b.json', '{"x":1}');
      await refusals(flaky, 20); // ten times the retry count: only the tolerance keeps it going
      assert.ok(store.outage, 'the outage shows');
      let available = false;
      const waited = store.whenAvailable().then(() => (available = true));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(available, false, 'whenAvailable waits while writes are refused');
      flaky.readOnly = false;
      await put;
      await waited;
      assert.equal((await store.get('a/b.json'))!.toString(), '{"x":1}');
      assert.equal(store.outage, null);
      assert.equal(told.length, 2, 'told once when it began and once when it ended');
      assert.match(told[0]!.error.message, /read-only/);
      assert.equal(told[1], null);
    } finally {
      cleanup();
    }
  });

  test('past the tolerance the write fails as STORE_UNAVAILABLE, and later calls do not wait it out again', async () => {
    const { flaky, store, cleanup } = setup(60);
    try {
      flaky.readOnly = true;
      await assert.rejects(store.put('k', 'v'), (e: unknown) => e instanceof KilnError && e.code === 'STORE_UNAVAILABLE');
      await store.whenAvailable(); // resolves once the tolerance is over, though the store is still read-only
      assert.ok(store.outage);
      const before = flaky.refused;
      await assert.rejects(store.put('k2', 'v'));
      assert.equal(flaky.refused - before, 1, 'one try once the tolerance is spent');
    } finally {
      cleanup();
    }
  });

  test('a user error fails at once, without waiting', async () => {
    const { flaky, store, told, cleanup } = setup(60000);
    try {
      await assert.rejects(store.put('x/' + 'y'.repeat(300), 'v'), (e: unknown) => e instanceof KilnError && e.code === 'BAD_REQUEST' && !e.retryable);
      assert.equal(flaky.refused, 0);
      assert.deepEqual(told, []);
    } finally {
      cleanup();
    }
  });

  test('an Uploader over it waits out the outage: every object lands, in order, once the store takes writes again', async () => {
    const { flaky, store, cleanup } = setup(60000);
    try {
      const up = new Uploader(store, { retry: fast, concurrency: 4 });
      flaky.readOnly = true;
      const stored = [];
      for (let i = 0; i < 5; i++) stored.push((await up.enqueue(`runs/r/epoch-${i}.json`, String(i))).stored);
      await up.enqueue('runs/r/run.json', 'last');
      await refusals(flaky, 30);
      flaky.readOnly = false;
      await up.flush();
      await Promise.all(stored);
      assert.equal(up.stats().failures, 0);
      assert.deepEqual((await store.list('runs/r/')).map((o) => o.key), [0, 1, 2, 3, 4].map((i) => `runs/r/epoch-${i}.json`).concat('runs/r/run.json'));
    } finally {
      cleanup();
    }
  });
});

test('putWithRetries keeps retrying STORE_UNAVAILABLE for toleranceMs, beyond its retry count', async () => {
  let tries = 0;
  const t0 = performance.now();
  await putWithRetries(async () => {
    tries++;
    if (performance.now() - t0 < 80) throw new KilnError('STORE_UNAVAILABLE', 'down');
  }, { retries: 1, baseDelayMs: 1, maxDelayMs: 5, toleranceMs: 10000 });
  assert.ok(tries > 2, `tried ${tries} times`);
  await assert.rejects(putWithRetries(async () => {
    throw new KilnError('STORE_UNAVAILABLE', 'down');
  }, { retries: 1, baseDelayMs: 1, maxDelayMs: 5 }), /down/);
});
