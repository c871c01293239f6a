import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { S3Store, parseS3Uri, signsPayloadByDefault } from '../../store/s3-store';
import { startS3Server, type TestS3Server } from '../support/s3-server';
import { FlakyProxy } from './flaky-proxy';
import { describeStoreBehaviours, readAll, rejectsWithCode } from './store-behaviours';
import { freePort } from '../support/ports';

let s3: TestS3Server;
let store: S3Store;
const opened: S3Store[] = [];

/** A store on the test server, closed after the file's tests. */
function open(uri: string, opts: ConstructorParameters<typeof S3Store>[1] = {}): S3Store {
  const s = new S3Store(uri, { ...s3.s3Options, ...opts });
  opened.push(s);
  return s;
}

before(async () => {
  s3 = await startS3Server();
  store = open(`${s3.uri}/behaviours`, { listPageSize: 7 });
});

after(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await s3.close();
});

describeStoreBehaviours('S3Store', () => store);


describe('S3Store', () => {
  it('parses s3:// URIs and keeps the prefix out of returned keys', async () => {
    assert.deepEqual(parseS3Uri('s3://b'), { bucket: 'b', prefix: '' });
    assert.deepEqual(parseS3Uri('s3://b/'), { bucket: 'b', prefix: '' });
    assert.deepEqual(parseS3Uri('s3://b//deep/pre/'), { bucket: 'b', prefix: 'deep/pre' });
    assert.throws(() => parseS3Uri('s3:///nobucket'), /s3:\/\/bucket/);
    assert.throws(() => parseS3Uri('s3://b/a/../x'), /prefix/);

    const prefixed = open(`${s3.uri}/tenants/`);
    const root = open(s3.uri);
    assert.equal(prefixed.uri, `${s3.uri}/tenants`);
    await prefixed.put('acme/runs/r1/run.json', '{}');
    assert.deepEqual(await prefixed.list('acme/'), [{ key: 'acme/runs/r1/run.json', size: 2 }]);
    assert.deepEqual(await root.head('tenants/acme/runs/r1/run.json'), { key: 'tenants/acme/runs/r1/run.json', size: 2 });
    assert.equal(await root.head('acme/runs/r1/run.json'), null);
  });

  it('follows ListObjectsV2 continuation tokens across pages', async () => {
    const proxy = await FlakyProxy.start(s3.endpoint);
    try {
      const paged = open(`${s3.uri}/paged`, { endpoint: proxy.endpoint, listPageSize: 10 });
      const keys = Array.from({ length: 35 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
      await Promise.all(keys.map((k) => paged.put(k, 'x')));
      const listed = await paged.list('k/');
      assert.deepEqual(listed.map((o) => o.key), keys);
      const lists = proxy.requests.filter((r) => r.method === 'GET' && /[?&]list-type=2/.test(r.url));
      assert.equal(lists.length, 4);
      assert.equal(lists.filter((r) => /[?&]continuation-token=/.test(r.url)).length, 3);
      assert.ok(lists.every((r) => /[?&]max-keys=10(&|$)/.test(r.url)));
    } finally {
      await proxy.close();
    }
  });

  it('uploads bodies above the threshold in parts and reads them back intact', async () => {
    const proxy = await FlakyProxy.start(s3.endpoint);
    try {
      const mp = open(`${s3.uri}/multipart`, { endpoint: proxy.endpoint, multipartThreshold: 4096, partSize: 1500, partConcurrency: 3 });
      const body = randomBytes(10_000);
      await mp.put('weights.bin', body, { contentType: 'application/octet-stream' });
      const parts = proxy.requests.filter((r) => r.method === 'PUT' && /[?&]partNumber=/.test(r.url));
      assert.equal(parts.length, 7);
      assert.ok(proxy.requests.some((r) => r.method === 'POST' && /[?&]uploads/.test(r.url)), 'no CreateMultipartUpload');
      assert.ok(proxy.requests.some((r) => r.method === 'POST' && /[?&]uploadId=/.test(r.url)), 'no CompleteMultipartUpload');
      const back = await mp.get('weights.bin');
      assert.equal(createHash('sha256').update(back!).digest('hex'), createHash('sha256').update(body).digest('hex'));

      const small = proxy.requests.length;
      await mp.put('small.bin', randomBytes(4096));
      assert.deepEqual(proxy.requests.slice(small).map((r) => r.method), ['PUT']);
    } finally {
      await proxy.close();
    }
  });

  it('sends bodies as UNSIGNED-PAYLOAD over loopback or HTTPS and signs their hash elsewhere, or when asked', async () => {
    assert.equal(signsPayloadByDefault(undefined), false, 'AWS itself is HTTPS');
    assert.equal(signsPayloadByDefault('https://minio.internal:9000'), false);
    for (const loopback of ['http://127.0.0.1:9000', 'http://127.8.0.1', 'http://localhost:4569', 'http://[::1]:9000']) {
      assert.equal(signsPayloadByDefault(loopback), false, loopback);
    }
    assert.equal(signsPayloadByDefault('http://minio:9000'), true);
    assert.equal(signsPayloadByDefault('http://10.0.0.5:9000'), true);
    assert.equal(signsPayloadByDefault('not a url'), true);

    const proxy = await FlakyProxy.start(s3.endpoint);
    try {
      const unsigned = open(`${s3.uri}/payload`, { endpoint: proxy.endpoint, multipartThreshold: 2048, partSize: 1500 });
      const signed = open(`${s3.uri}/payload`, { endpoint: proxy.endpoint, signPayload: true });
      const parted = randomBytes(3000);
      await unsigned.put('u', 'unsigned body');
      await unsigned.put('parted', parted);
      await signed.put('s', 'signed body');
      const hashHeader = (pattern: RegExp) => proxy.requests.filter((r) => r.method === 'PUT' && pattern.test(r.url)).map((r) => r.headers['x-amz-content-sha256']);
      assert.deepEqual(hashHeader(/\/payload\/u(\?|$)/), ['UNSIGNED-PAYLOAD']);
      assert.deepEqual(hashHeader(/\/payload\/parted\?.*partNumber=/), ['UNSIGNED-PAYLOAD', 'UNSIGNED-PAYLOAD']);
      assert.deepEqual(hashHeader(/\/payload\/s(\?|$)/), [createHash('sha256').update('signed body').digest('hex')]);
      // s3rver checked each request's signature; the bodies arrived whole.
      const reader = open(`${s3.uri}/payload`);
      assert.equal((await reader.get('u'))?.toString(), 'unsigned body');
      assert.deepEqual(await reader.get('parted'), parted);
      assert.equal((await reader.get('s'))?.toString(), 'signed body');
    } finally {
      await proxy.close();
    }
  });

  it('aborts a multipart upload whose part fails and stores nothing', async () => {
    const proxy = await FlakyProxy.start(s3.endpoint);
    try {
      const mp = open(`${s3.uri}/multipart-fail`, { endpoint: proxy.endpoint, multipartThreshold: 1000, partSize: 1000, maxAttempts: 1 });
      proxy.fail({ match: (req) => /[?&]partNumber=3(&|$)/.test(req.url ?? '') });
      await rejectsWithCode(mp.put('weights.bin', randomBytes(5000)), 'STORE_UNAVAILABLE', /multipart/);
      assert.ok(proxy.requests.some((r) => r.method === 'DELETE' && /[?&]uploadId=/.test(r.url)), 'the upload was not aborted');
      proxy.heal();
      assert.equal(await mp.head('weights.bin'), null);
    } finally {
      await proxy.close();
    }
  });

  it('round-trips a 1 MiB object through getStream byte for byte', async () => {
    const body = randomBytes(1024 * 1024 + 17);
    await store.put('integrity/blob', body);
    const opened = await store.getStream('integrity/blob');
    assert.ok(opened);
    assert.equal(opened.size, body.length);
    assert.ok((await readAll(opened.stream)).equals(body));
  });

  it('reports an unreachable endpoint as STORE_UNAVAILABLE from every operation', async () => {
    const port = await freePort();
    const down = open(s3.uri, { endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    await rejectsWithCode(down.put('a', 'x'), 'STORE_UNAVAILABLE', /ECONNREFUSED/);
    await rejectsWithCode(down.get('a'), 'STORE_UNAVAILABLE');
    await rejectsWithCode(down.getStream('a'), 'STORE_UNAVAILABLE');
    await rejectsWithCode(down.head('a'), 'STORE_UNAVAILABLE');
    await rejectsWithCode(down.list(''), 'STORE_UNAVAILABLE');
    await rejectsWithCode(down.ping(), 'STORE_UNAVAILABLE');
  });

  it('reports 5xx answers as STORE_UNAVAILABLE and a missing bucket as unusable', async () => {
    const proxy = await FlakyProxy.start(s3.endpoint);
    try {
      const flaky = open(s3.uri, { endpoint: proxy.endpoint, maxAttempts: 1 });
      proxy.fail({ times: 2 });
      await rejectsWithCode(flaky.put('a', 'x'), 'STORE_UNAVAILABLE', /503/);
      await rejectsWithCode(flaky.get('a'), 'STORE_UNAVAILABLE', /503/);
      await flaky.put('a', 'x');
      assert.equal((await flaky.get('a'))?.toString(), 'x');
    } finally {
      await proxy.close();
    }
    const nowhere = open('s3://kiln-no-such-bucket');
    await rejectsWithCode(nowhere.ping(), 'STORE_UNAVAILABLE', /bucket does not exist/);
    await rejectsWithCode(nowhere.put('a', 'x'), 'STORE_UNAVAILABLE', /does not exist/);
  });

  it('reports an access-denied answer as a non-retryable error, not as unavailable', async () => {
    const proxy = await FlakyProxy.start(s3.endpoint);
    try {
      const denied = open(s3.uri, { endpoint: proxy.endpoint });
      proxy.fail({ status: 403, code: 'AccessDenied' });
      await rejectsWithCode(denied.put('a', 'x'), 'INTERNAL', /AccessDenied/);
      await rejectsWithCode(denied.ping(), 'STORE_UNAVAILABLE', /access to the bucket is denied/);
      // The SDK does not retry a 403: one request each.
      assert.equal(proxy.requests.length, 2);
    } finally {
      await proxy.close();
    }
  });
});
