import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKilnError } from '../../core/errors';
import { S3Store } from '../../store/s3-store';
import { StoreThread } from '../../store/store-thread';
import { Uploader, type UploadRetryEvent } from '../../store/uploader';
import { MeteredStore } from '../../worker/metered-store';
import { startS3Server, type TestS3Server } from '../support/s3-server';
import { FlakyProxy } from './flaky-proxy';
import { rejectsWithCode } from './store-behaviours';

const RETRY = { retries: 3, baseDelayMs: 1, maxDelayMs: 4 };

let s3: TestS3Server;
let proxy: FlakyProxy;
/** Reads back what the threads wrote, on this thread, around the proxy. */
let direct: S3Store;
const opened: S3Store[] = [];

/**
 * A store whose requests go through the proxy (so tests see and break them), closed after the
 * file. One attempt per request: the retries under test are the uploader's, not the SDK's.
 */
function viaProxy(prefix: string): S3Store {
  const store = new S3Store(`${s3.uri}/${prefix}`, { ...s3.s3Options, endpoint: proxy.endpoint, maxAttempts: 1 });
  opened.push(store);
  return store;
}

const puts = (prefix: string) => proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes(`/${prefix}/`) && !r.failed).map((r) => decodeURIComponent(r.url.split(`/${prefix}/`)[1]!.split('?')[0]!));

before(async () => {
  s3 = await startS3Server();
  proxy = await FlakyProxy.start(s3.endpoint);
  direct = new S3Store(s3.uri, s3.s3Options);
});

after(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await direct.close();
  await proxy.close();
  await s3.close();
});

describe('StoreThread', () => {
  it('stores on its thread: a whole buffer moves there, a pooled one is copied and left intact', async () => {
    const store = viaProxy('move');
    const thread = store.writeThread();
    assert.equal(store.writeThread(), thread, 'one thread per store');
    const big = randomBytes(256 * 1024);
    const expected = Buffer.from(big);
    const small = Buffer.from('{"small":true}');
    assert.notEqual(small.buffer.byteLength, small.length, 'a short Buffer.from string sits in the shared pool');
    await Promise.all([
      thread.put('big.bin', big, { contentType: 'application/octet-stream' }, RETRY),
      thread.put('small.json', small, { contentType: 'application/json' }, RETRY),
    ]);
    assert.equal(big.length, 0, 'the whole buffer was handed over, not copied');
    assert.equal(small.toString(), '{"small":true}');
    assert.deepEqual(await direct.get('move/big.bin'), expected);
    assert.equal((await direct.get('move/small.json'))?.toString(), '{"small":true}');
    assert.equal(thread.inFlight, 0);
  });

  it('runs ten nice levels below the training thread on Linux, leaving the process\'s own alone', { skip: process.platform !== 'linux' }, async () => {
    const niceOf = (tid: string) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const base = niceOf(String(process.pid));
    const store = viaProxy('nice');
    await store.writeThread().put('k', Buffer.from('v'), undefined, RETRY);
    const nices = readdirSync('/proc/self/task').map(niceOf);
    assert.ok(nices.includes(Math.min(19, base + 10)), `a thread at nice ${base + 10}: ${nices.join(' ')}`);
    assert.equal(niceOf(String(process.pid)), base, 'the main thread keeps its nice value');
  });

  it('retries STORE_UNAVAILABLE on its thread and reports each retry and try', async () => {
    const store = viaProxy('retry');
    proxy.fail({ match: (req) => req.method === 'PUT' && (req.url ?? '').includes('/retry/k'), times: 2 });
    const retries: Array<[number, string]> = [];
    const tries: boolean[] = [];
    await store.writeThread().put('k', Buffer.from('v'), undefined, RETRY, {
      onRetry: (retry, _delayMs, error) => retries.push([retry, error.code]),
      onTry: (_ms, ok) => tries.push(ok),
    });
    assert.deepEqual(retries, [[1, 'STORE_UNAVAILABLE'], [2, 'STORE_UNAVAILABLE']]);
    assert.deepEqual(tries, [false, false, true]);
    assert.equal((await direct.get('retry/k'))?.toString(), 'v');
  });

  it('rejects with the store\'s error once retries run out or the error is not retryable', async () => {
    const store = viaProxy('fail');
    proxy.fail({ match: (req) => (req.url ?? '').includes('/fail/down'), times: 10 });
    await rejectsWithCode(store.writeThread().put('down', Buffer.from('x'), undefined, { ...RETRY, retries: 1 }), 'STORE_UNAVAILABLE', /fail\/down|down/);
    proxy.fail({ match: (req) => (req.url ?? '').includes('/fail/denied'), times: 1, status: 403, code: 'AccessDenied' });
    await rejectsWithCode(store.writeThread().put('denied', Buffer.from('x'), undefined, RETRY), 'INTERNAL', /AccessDenied/);
    proxy.heal();
  });

  it('lists and deletes on its thread', async () => {
    const store = viaProxy('ops');
    const thread = store.writeThread();
    await thread.put('a/1', Buffer.from('1'), undefined, RETRY);
    await thread.put('a/2', Buffer.from('2'), undefined, RETRY);
    assert.deepEqual(await thread.list('a/'), [{ key: 'a/1', size: 1 }, { key: 'a/2', size: 1 }]);
    await thread.delete('a/1');
    await thread.delete('a/missing');
    assert.deepEqual((await direct.list('ops/')).map((o) => o.key), ['ops/a/2']);
  });

  it('fails the writes of a thread that dies, saying why, and starts a new one for the next write', async () => {
    const thread = new StoreThread({ uri: 'ftp://nowhere', options: {} });
    await assert.rejects(thread.put('k', Buffer.from('x'), undefined, RETRY),
      (e: unknown) => isKilnError(e) && e.code === 'INTERNAL' && /write thread of ftp:\/\/nowhere failed: .*must start with file:\/\/ .* or s3:\/\//.test(e.message));
    assert.equal(thread.running, false);
    await assert.rejects(thread.put('k', Buffer.from('x'), undefined, RETRY), /write thread of ftp:\/\/nowhere failed/);
    await thread.close();
    await assert.rejects(thread.put('k', Buffer.from('x'), undefined, RETRY), /was closed/);
  });

  it('ends with close(), and puts after it reject', async () => {
    const store = new S3Store(`${s3.uri}/closing`, s3.s3Options);
    const thread = store.writeThread();
    await thread.put('k', Buffer.from('x'), undefined, RETRY);
    assert.equal(thread.running, true);
    await store.close();
    assert.equal(thread.running, false);
    await rejectsWithCode(thread.put('k2', Buffer.from('x'), undefined, RETRY), 'INTERNAL', /closed/);
  });

  it('keeps its process alive while a put is in flight, and not once it is idle', async () => {
    proxy.delayMs = 400;
    try {
      const child = spawn(process.execPath, [
        '--import', 'tsx', join(__dirname, 'store-thread-child.ts'), `${s3.uri}/child`, JSON.stringify({ ...s3.s3Options, endpoint: proxy.endpoint }), 'k',
      ], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
      clearTimeout(killer);
      assert.equal(signal, null, 'the child exited by itself (an idle write thread held it open)');
      assert.equal(code, 0);
      assert.equal(out.trim(), 'stored', 'the child lived until its put settled');
      assert.equal((await direct.get('child/k'))?.toString(), 'from the child');
    } finally {
      proxy.delayMs = 0;
    }
  });
});

describe('Uploader with offThread', () => {
  it('stores in enqueue order, supersedes queued writes of a key, and counts as on the caller\'s thread', async () => {
    const store = viaProxy('ordered');
    const up = new Uploader(store, { offThread: true });
    const keys = ['r/ckpt/model.json', 'r/ckpt/weights.bin', 'r/best.json', 'r/run.json', 'r/run.json', 'r/log.csv'];
    const bodies = keys.map((k, i) => (k.endsWith('.bin') ? randomBytes(64 * 1024) : Buffer.from(`${k}#${i}`)));
    for (let i = 0; i < keys.length; i++) await up.enqueue(keys[i]!, bodies[i]!);
    await up.flush();
    // The second run.json was enqueued while the first waited, so it replaced it.
    assert.deepEqual(puts('ordered'), ['r/ckpt/model.json', 'r/ckpt/weights.bin', 'r/best.json', 'r/run.json', 'r/log.csv']);
    assert.equal((await direct.get('ordered/r/run.json'))?.toString(), 'r/run.json#4');
    const stats = up.stats();
    assert.equal(stats.uploaded, 5);
    assert.equal(stats.superseded, 1);
    assert.equal(stats.queuedBytes, 0);
    assert.equal(stats.uploadedBytes, [0, 1, 2, 4, 5].reduce((n, i) => n + (keys[i]!.endsWith('.bin') ? 64 * 1024 : `${keys[i]}#${i}`.length), 0));
  });

  it('reports retries through onRetry, and a failure for good fails later uploads and flush', async () => {
    const store = viaProxy('failing');
    proxy.fail({ match: (req) => (req.url ?? '').includes('/failing/flaky'), times: 1 });
    proxy.fail({ match: (req) => (req.url ?? '').includes('/failing/ckpt'), times: 1, status: 403, code: 'AccessDenied' });
    const seen: UploadRetryEvent[] = [];
    const up = new Uploader(store, { offThread: true, retry: { baseDelayMs: 1, maxDelayMs: 2 }, onRetry: (e) => seen.push(e) });
    const flaky = await up.enqueue('flaky', 'v');
    await flaky.stored;
    assert.deepEqual(seen.map((e) => [e.key, e.retry, e.error.code]), [['flaky', 1, 'STORE_UNAVAILABLE']]);
    const ckpt = await up.enqueue('ckpt', 'w');
    const best = await up.enqueue('best.json', '{}');
    await rejectsWithCode(ckpt.stored, 'INTERNAL', /AccessDenied/);
    await rejectsWithCode(best.stored, 'INTERNAL', /earlier upload failed/);
    await rejectsWithCode(up.flush(), 'INTERNAL', /AccessDenied/);
    assert.equal(await direct.head('failing/best.json'), null);
    assert.equal(up.stats().retries, 1);
    proxy.heal();
  });

  it('meters each try on the thread through MeteredStore', async () => {
    const stored: number[] = [];
    let failed = 0;
    const metered = new MeteredStore(viaProxy('metered'), { stored: (ms) => stored.push(ms), failed: () => { failed++; } });
    proxy.fail({ match: (req) => (req.url ?? '').includes('/metered/k'), times: 1 });
    const up = new Uploader(metered, { offThread: true, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
    await up.enqueue('k', 'v');
    await up.flush();
    assert.equal(failed, 1);
    assert.equal(stored.length, 1);
    assert.ok(stored[0]! >= 0);
  });
});
