import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { KilnError, isKilnError } from '../../core/errors';
import type { ArtifactStore, ObjectBody, ObjectInfo, ObjectPage } from '../../store/artifact-store';
import { S3Store } from '../../store/s3-store';
import { Uploader, type UploadRetryEvent } from '../../store/uploader';
import { startS3Server, type TestS3Server } from '../support/s3-server';
import { FlakyProxy } from './flaky-proxy';
import { rejectsWithCode } from './store-behaviours';

/**
 * An in-memory ArtifactStore whose puts can be held open (`hold`) and released one by one, or made
 * to fail, so tests decide exactly when each upload finishes.
 */
class ControlledStore implements ArtifactStore {
  readonly uri = 'memory://test';
  readonly objects = new Map<string, Buffer>();
  /** `start:<key>` / `end:<key>` in the order they happened. */
  readonly events: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  hold = false;
  private readonly held: Array<{ key: string; release: () => void }> = [];
  private readonly failures = new Map<string, unknown[]>();

  /** The next `errors.length` puts of `key` throw these errors, in order. */
  failNext(key: string, ...errors: unknown[]): void {
    this.failures.set(key, errors);
  }

  /** Waits until a put is held, then lets the oldest held put finish. */
  async releaseNext(): Promise<string> {
    while (this.held.length === 0) await tick();
    const next = this.held.shift()!;
    next.release();
    return next.key;
  }

  async put(key: string, body: ObjectBody): Promise<void> {
    this.events.push(`start:${key}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((release) => this.held.push({ key, release }));
      else await tick();
      const error = this.failures.get(key)?.shift();
      if (error !== undefined) throw error;
      this.objects.set(key, Buffer.from(body as Buffer));
      this.events.push(`end:${key}`);
    } finally {
      this.inFlight--;
    }
  }

  async get(key: string): Promise<Buffer | null> { return this.objects.get(key) ?? null; }
  async getStream(): Promise<null> { return null; }
  async head(key: string): Promise<ObjectInfo | null> {
    const body = this.objects.get(key);
    return body === undefined ? null : { key, size: body.length };
  }
  async list(): Promise<ObjectInfo[]> { return []; }
  async listPage(): Promise<ObjectPage> { return { objects: [], next: null }; }
  async ping(): Promise<void> {}
}

const unavailable = () => new KilnError('STORE_UNAVAILABLE', 'store is down');

/** Whether `promise` has settled after everything already queued has run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => { done = true; }, () => { done = true; });
  for (let i = 0; i < 5; i++) await tick();
  return done;
}

describe('Uploader ordering', () => {
  it('uploads one object at a time in enqueue order', async () => {
    const store = new ControlledStore();
    const up = new Uploader(store);
    const keys = Array.from({ length: 20 }, (_, i) => `run/obj-${i}`);
    for (const key of keys) await up.enqueue(key, key);
    await up.flush();
    assert.deepEqual(store.events, keys.flatMap((k) => [`start:${k}`, `end:${k}`]));
    assert.equal(store.maxInFlight, 1);
    assert.deepEqual(up.stats(), { queued: 0, queuedBytes: 0, uploaded: 20, uploadedBytes: keys.join('').length, retries: 0, failures: 0, skipped: 0, superseded: 0 });
  });

  it('starts best.json only after the checkpoint files it names are stored', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store);
    const model = await up.enqueue('r/ckpt/a001-000001/model.json', '{}');
    const weights = await up.enqueue('r/ckpt/a001-000001/weights.bin', Buffer.alloc(1000));
    const best = await up.enqueue('r/best.json', '{"checkpoint":"ckpt/a001-000001/"}');
    assert.equal(await store.releaseNext(), model.key);
    await model.stored;
    assert.equal(await settled(best.stored), false);
    assert.equal(store.events.includes('start:r/best.json'), false);
    assert.equal(await store.releaseNext(), weights.key);
    assert.equal(await store.releaseNext(), best.key);
    await up.flush();
    assert.ok(store.events.indexOf('end:r/ckpt/a001-000001/weights.bin') < store.events.indexOf('start:r/best.json'));
  });

  it('rejects an invalid key at once without queueing it', async () => {
    const up = new Uploader(new ControlledStore());
    await rejectsWithCode(up.enqueue('../escape', 'x'), 'BAD_REQUEST');
    assert.equal(up.stats().queued, 0);
    await up.flush();
  });
});

describe('Uploader concurrency', () => {
  const starts = (store: ControlledStore) => store.events.filter((e) => e.startsWith('start:')).map((e) => e.slice('start:'.length));

  it('keeps up to `concurrency` uploads in flight, started in enqueue order', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store, { concurrency: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) await up.enqueue(key, key);
    await tick();
    assert.deepEqual(starts(store), ['a', 'b', 'c']);
    assert.equal(await store.releaseNext(), 'a');
    await tick();
    assert.deepEqual(starts(store), ['a', 'b', 'c', 'd']);
    for (let i = 0; i < 4; i++) await store.releaseNext();
    await up.flush();
    assert.deepEqual(starts(store), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(store.maxInFlight, 3);
    assert.equal(up.stats().uploaded, 5);
  });

  it('stores writes to the same key in enqueue order, the later one starting after the earlier is stored, other keys going ahead', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store, { concurrency: 4 });
    await up.enqueue('r/run.json', 'v1');
    await up.enqueue('r/ckpt/weights.bin', 'w');
    await up.enqueue('r/run.json', 'v2');
    await up.enqueue('r/logs/log.csv', 'csv');
    await tick();
    // The second run.json waits for the first; the log behind it goes ahead.
    assert.deepEqual(starts(store), ['r/run.json', 'r/ckpt/weights.bin', 'r/logs/log.csv']);
    assert.equal(await store.releaseNext(), 'r/run.json');
    await tick();
    assert.deepEqual(starts(store), ['r/run.json', 'r/ckpt/weights.bin', 'r/logs/log.csv', 'r/run.json']);
    for (let i = 0; i < 3; i++) await store.releaseNext();
    await up.flush();
    assert.equal(store.objects.get('r/run.json')?.toString(), 'v2');
  });

  it('drops a queued write superseded by a newer write to the same key; the older settles with the newer', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store);
    await up.enqueue('r/ckpt/weights.bin', 'w');
    const v1 = await up.enqueue('r/run.json', 'v1');
    const csv1 = await up.enqueue('r/logs/log.csv', 'a');
    const v2 = await up.enqueue('r/run.json', 'v2');
    const v3 = await up.enqueue('r/run.json', 'v3');
    const csv2 = await up.enqueue('r/logs/log.csv', 'a\nb');
    let v1Settled = false;
    void v1.stored.then(() => { v1Settled = true; });
    for (let i = 0; i < 3; i++) await store.releaseNext();
    await up.flush();
    await Promise.all([v1.stored, v2.stored, v3.stored, csv1.stored, csv2.stored]);
    assert.ok(v1Settled);
    // Each key written once, with its newest body, after the checkpoint ahead of them.
    assert.deepEqual(starts(store), ['r/ckpt/weights.bin', 'r/run.json', 'r/logs/log.csv']);
    assert.equal(store.objects.get('r/run.json')?.toString(), 'v3');
    assert.equal(store.objects.get('r/logs/log.csv')?.toString(), 'a\nb');
    assert.equal(up.stats().superseded, 3);
  });

  it('never drops a write already in flight: the newer one follows it', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store);
    const v1 = await up.enqueue('r/run.json', 'v1');
    await tick();
    const v2 = await up.enqueue('r/run.json', 'v2');
    await store.releaseNext();
    await v1.stored;
    await tick();
    await store.releaseNext();
    await v2.stored;
    assert.deepEqual(starts(store), ['r/run.json', 'r/run.json']);
    assert.equal(store.objects.get('r/run.json')?.toString(), 'v2');
    assert.equal(up.stats().superseded, 0);
  });

  it('starts nothing after a failure, lets uploads already in flight finish, and rejects the rest', async () => {
    const store = new ControlledStore();
    store.hold = true;
    store.failNext('a', new KilnError('INTERNAL', 'access denied'));
    const up = new Uploader(store, { concurrency: 2 });
    const a = await up.enqueue('a', 'x');
    const b = await up.enqueue('b', 'y');
    const c = await up.enqueue('c', 'z');
    assert.equal(await store.releaseNext(), 'a');
    await rejectsWithCode(a.stored, 'INTERNAL', /access denied/);
    assert.equal(await store.releaseNext(), 'b');
    await b.stored;
    await rejectsWithCode(c.stored, 'INTERNAL', /earlier upload failed/);
    await rejectsWithCode(up.flush(), 'INTERNAL', /access denied/);
    assert.deepEqual(starts(store), ['a', 'b']);
    assert.deepEqual(up.stats(), { queued: 0, queuedBytes: 0, uploaded: 1, uploadedBytes: 1, retries: 0, failures: 1, skipped: 1, superseded: 0 });
  });

  it('rejects a concurrency below 1', () => {
    assert.throws(() => new Uploader(new ControlledStore(), { concurrency: 0 }), (e: unknown) => isKilnError(e) && e.code === 'BAD_REQUEST');
  });
});

describe('Uploader memory budget', () => {
  it('makes enqueue wait while the queue is over budget, and only then', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store, { maxQueuedBytes: 100 });
    await up.enqueue('a', Buffer.alloc(60));
    await up.enqueue('b', Buffer.alloc(40));
    const c = up.enqueue('c', Buffer.alloc(30));
    assert.equal(await settled(c), false, 'enqueue returned while 130 bytes were queued against a budget of 100');
    assert.equal(up.stats().queuedBytes, 130);
    assert.equal(await store.releaseNext(), 'a');
    assert.equal(await settled(c), true);
    assert.equal(await store.releaseNext(), 'b');
    assert.equal(await store.releaseNext(), 'c');
    await up.flush();
    assert.equal(up.stats().uploaded, 3);
  });

  it('admits an object bigger than the whole budget once the queue ahead of it is empty', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store, { maxQueuedBytes: 10 });
    await up.enqueue('small', Buffer.alloc(5));
    const big = up.enqueue('big', Buffer.alloc(1000));
    assert.equal(await settled(big), false);
    await store.releaseNext();
    await big;
    await store.releaseNext();
    await up.flush();
    assert.equal(store.objects.get('big')?.length, 1000);
  });

  it('keeps call order among callers waiting for room', async () => {
    const store = new ControlledStore();
    store.hold = true;
    const up = new Uploader(store, { maxQueuedBytes: 100 });
    await up.enqueue('first', Buffer.alloc(100));
    // "large" waits for room; "tiny", called after it, must not overtake it even though it would fit sooner.
    const large = up.enqueue('large', Buffer.alloc(80));
    const tiny = up.enqueue('tiny', Buffer.alloc(1));
    assert.equal(await settled(tiny), false);
    for (let i = 0; i < 3; i++) await store.releaseNext();
    await Promise.all([large, tiny]);
    await up.flush();
    assert.deepEqual(store.events.filter((e) => e.startsWith('start:')), ['start:first', 'start:large', 'start:tiny']);
  });

  it('flush covers callers still waiting for room', async () => {
    const store = new ControlledStore();
    const up = new Uploader(store, { maxQueuedBytes: 10 });
    const pending = [up.enqueue('a', Buffer.alloc(10)), up.enqueue('b', Buffer.alloc(10)), up.enqueue('c', Buffer.alloc(10))];
    await up.flush();
    assert.deepEqual([...store.objects.keys()], ['a', 'b', 'c']);
    await Promise.all(pending);
  });
});

describe('Uploader retries and failures', () => {
  it('retries STORE_UNAVAILABLE with exponential backoff and full jitter', async () => {
    const store = new ControlledStore();
    store.failNext('k', unavailable(), unavailable(), unavailable());
    const seen: UploadRetryEvent[] = [];
    const up = new Uploader(store, { retry: { retries: 5, baseDelayMs: 4, maxDelayMs: 10 }, random: () => 0.5, onRetry: (e) => seen.push(e) });
    const { stored } = await up.enqueue('k', 'v');
    await stored;
    assert.deepEqual(seen.map((e) => [e.retry, e.delayMs]), [[1, 2], [2, 4], [3, 5]]);
    assert.ok(seen.every((e) => e.key === 'k' && e.error.code === 'STORE_UNAVAILABLE'));
    assert.equal(up.stats().retries, 3);
    assert.equal(store.objects.get('k')?.toString(), 'v');
  });

  it('does not retry other errors, and uploads nothing after a failure', async () => {
    const store = new ControlledStore();
    store.failNext('r/ckpt/weights.bin', new KilnError('INTERNAL', 'access denied'));
    const up = new Uploader(store, { retry: { baseDelayMs: 1 } });
    const weights = await up.enqueue('r/ckpt/weights.bin', 'w');
    const best = await up.enqueue('r/best.json', '{}');
    await rejectsWithCode(weights.stored, 'INTERNAL', /access denied/);
    await rejectsWithCode(best.stored, 'INTERNAL', /earlier upload failed/);
    await rejectsWithCode(up.flush(), 'INTERNAL', /access denied/);
    await rejectsWithCode(up.enqueue('r/later', 'x'), 'INTERNAL', /earlier upload failed/);
    assert.equal(store.objects.has('r/best.json'), false);
    assert.equal(store.events.filter((e) => e === 'start:r/ckpt/weights.bin').length, 1);
    assert.deepEqual(up.stats(), { queued: 0, queuedBytes: 0, uploaded: 0, uploadedBytes: 0, retries: 0, failures: 1, skipped: 2, superseded: 0 });
  });

  it('wraps a non-Kiln error from a store as INTERNAL with its cause', async () => {
    const store = new ControlledStore();
    const cause = new Error('boom');
    store.failNext('k', cause);
    const up = new Uploader(store);
    await up.enqueue('k', 'v');
    await assert.rejects(up.flush(), (e: unknown) => isKilnError(e) && e.code === 'INTERNAL' && e.cause === cause);
  });

  it('fails waiting callers too once an upload has failed', async () => {
    const store = new ControlledStore();
    store.hold = true;
    store.failNext('a', new KilnError('INTERNAL', 'nope'));
    const up = new Uploader(store, { maxQueuedBytes: 10 });
    await up.enqueue('a', Buffer.alloc(10));
    const waiting = up.enqueue('b', Buffer.alloc(10));
    await store.releaseNext();
    await rejectsWithCode(waiting, 'INTERNAL', /earlier upload failed/);
    await rejectsWithCode(up.flush(), 'INTERNAL');
  });
});

describe('Uploader against S3 over a flaky link', () => {
  let s3: TestS3Server;
  let proxy: FlakyProxy;
  let store: S3Store;
  let direct: S3Store;

  before(async () => {
    s3 = await startS3Server();
    proxy = await FlakyProxy.start(s3.endpoint);
    // One attempt per request: the uploader's retries, not the SDK's, are under test.
    store = new S3Store(s3.uri, { ...s3.s3Options, endpoint: proxy.endpoint, maxAttempts: 1 });
    direct = new S3Store(s3.uri, s3.s3Options);
  });

  after(async () => {
    await store.close();
    await direct.close();
    await proxy.close();
    await s3.close();
  });

  it('rides out 503 answers and stores everything, in order', async () => {
    proxy.fail({ times: 3 });
    const up = new Uploader(store, { retry: { retries: 4, baseDelayMs: 5 } });
    await up.enqueue('acme/runs/r1/checkpoints/best/a001-000001/model.json', '{"m":1}');
    await up.enqueue('acme/runs/r1/checkpoints/best/a001-000001/weights.bin', Buffer.alloc(2048, 7));
    await up.enqueue('acme/runs/r1/best.json', '{"checkpoint":"checkpoints/best/a001-000001/"}');
    await up.flush();
    assert.equal(up.stats().retries, 3);
    assert.equal(up.stats().uploaded, 3);
    assert.equal((await direct.get('acme/runs/r1/best.json'))?.toString(), '{"checkpoint":"checkpoints/best/a001-000001/"}');
    assert.deepEqual(await direct.get('acme/runs/r1/checkpoints/best/a001-000001/weights.bin'), Buffer.alloc(2048, 7));
    const puts = proxy.requests.filter((r) => r.method === 'PUT');
    assert.deepEqual(puts.map((r) => r.failed), [true, true, true, false, false, false]);
    assert.match(puts[5].url, /best\.json/);
  });

  it('gives up after its retries, rejects flush and never writes the pointer', async () => {
    proxy.fail({ match: (req) => req.url?.includes('/r2/checkpoints/') === true });
    try {
      const up = new Uploader(store, { retry: { retries: 2, baseDelayMs: 2 } });
      const weights = await up.enqueue('acme/runs/r2/checkpoints/best/a001-000001/weights.bin', Buffer.alloc(10));
      await up.enqueue('acme/runs/r2/best.json', '{}');
      await rejectsWithCode(up.flush(), 'STORE_UNAVAILABLE', /503/);
      await rejectsWithCode(weights.stored, 'STORE_UNAVAILABLE');
      assert.equal(up.stats().retries, 2);
      assert.equal(up.stats().failures, 1);
      assert.equal(await direct.head('acme/runs/r2/best.json'), null);
    } finally {
      proxy.heal();
    }
  });
});
