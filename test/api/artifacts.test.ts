import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import type { ArtifactStore } from '../../store/artifact-store';
import { createStore } from '../../store/create-store';
import { startS3Server } from '../support/s3-server';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { startApi, auth, validJob } from '../support/api-app';
import { assertSameValues, readH5, unzipAll } from '../support/keras-files';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A full GC, again after a turn of the event loop so freed Buffers' memory is really released. */
async function settledGc(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
}

function irisJob() {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
    fit: { epochs: 4, batchSize: 32, seed: 5 },
    callbacks: {
      modelCheckpoint: { filepath: 'epoch-{epoch:02d}', monitor: 'val_loss', saveBestOnly: true },
      csvLogger: {},
      tensorBoard: {},
    },
  };
}

async function problem(res: Response, status: number): Promise<any> {
  const body = await res.text();
  assert.equal(res.status, status, body);
  assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
  const doc = JSON.parse(body);
  assert.equal(doc.status, status);
  return doc;
}

for (const driver of ['s3', 'file'] as const) {
  describe(`run artifacts (${driver} store)`, () => {
    let stack: KilnStack;
    let s3: Awaited<ReturnType<typeof startS3Server>> | null = null;
    let store: ArtifactStore;
    let runId: string;
    let prefix: string;
    let best: any;
    const get = (path: string, tenant = 'acme') => fetch(`${stack.base}${path}`, { headers: stack.auth(tenant) });

    before(async () => {
      await tf.setBackend('cpu');
      if (driver === 's3') {
        s3 = await startS3Server();
        stack = await startStack({ name: `artifacts-${driver}`, store: { uri: s3.uri, endpoint: s3.endpoint } });
      } else {
        stack = await startStack({ name: `artifacts-${driver}` });
      }
      store = createStore({ uri: stack.storeUri, s3: s3?.s3Options, file: { fsync: false } });
      const res = await fetch(`${stack.base}/v1/jobs`, {
        method: 'POST',
        headers: { ...stack.auth(), 'content-type': 'application/json' },
        body: JSON.stringify(irisJob()),
      });
      assert.equal(res.status, 202, await res.clone().text());
      const accepted = (await res.json()) as any;
      runId = accepted.runId;
      prefix = `acme/runs/${runId}/`;
      const view = await waitForJob(stack, accepted.jobId);
      assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
      best = view.best;
    });
    after(async () => {
      await store?.close?.();
      await stack?.close();
      await s3?.close();
    });

    test('lists every object of the run, kinds by layout, sizes equal to the bytes each href downloads', async () => {
      const res = await get(`/v1/runs/${runId}/artifacts`);
      assert.equal(res.status, 200);
      const list = (await res.json()) as any;
      assert.equal(list.nextCursor, null);
      const stored = await store.list(prefix);
      assert.deepEqual(list.items.map((i: any) => [i.path, i.size]), stored.map((o) => [o.key.slice(prefix.length), o.size]),
        'exactly what the store holds under the run');
      const byPath = new Map<string, any>(list.items.map((i: any) => [i.path, i]));
      const bestFolder = best.key.slice(prefix.length);
      const expected: Array<[string, string]> = [
        ['run.json', 'manifest'], ['best.json', 'pointer'], ['logs/training_log.csv', 'log'],
        [`${bestFolder}/model.json`, 'checkpoint'], [`${bestFolder}/weights.bin`, 'checkpoint'],
        ['checkpoints/final/a001-000001/model.json', 'model'], ['checkpoints/final/a001-000001/weights.bin', 'model'],
      ];
      for (const [path, kind] of expected) assert.equal(byPath.get(path)?.kind, kind, `${path} is listed as ${kind}`);
      assert.ok(list.items.some((i: any) => i.kind === 'tensorboard' && i.path.startsWith('tensorboard/train/')), 'TensorBoard files are listed');
      assert.ok(list.items.every((i: any) => i.kind !== 'other'), JSON.stringify(list.items.filter((i: any) => i.kind === 'other')));

      for (const item of list.items) {
        assert.ok(Date.parse(item.lastModified) > Date.now() - 10 * 60_000, `${item.path} has a recent lastModified`);
        const dl = await get(item.href);
        assert.equal(dl.status, 200, item.path);
        const bytes = Buffer.from(await dl.arrayBuffer());
        assert.equal(bytes.length, item.size, `${item.path}: listed size equals bytes downloaded`);
        assert.equal(Number(dl.headers.get('content-length')), item.size);
        assert.deepEqual(bytes, await store.get(prefix + item.path), `${item.path}: bytes identical to the store's`);
        const type = String(dl.headers.get('content-type'));
        if (item.path.endsWith('.json')) assert.match(type, /^application\/json/);
        else if (item.path.endsWith('.csv')) assert.match(type, /^text\/csv/);
        else assert.equal(type, 'application/octet-stream');
        assert.match(String(dl.headers.get('content-disposition')), /^attachment; filename="[^"/]+"/);
      }
    });

    test('pages follow nextCursor to the same list; a forged cursor is a 400', async () => {
      const whole = ((await (await get(`/v1/runs/${runId}/artifacts`)).json()) as any).items;
      const paged: any[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await get(`/v1/runs/${runId}/artifacts?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200);
        const page = (await res.json()) as any;
        assert.ok(page.items.length <= 3);
        paged.push(...page.items);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      assert.equal(pages, Math.ceil(whole.length / 3));
      assert.deepEqual(paged, whole);
      await problem(await get(`/v1/runs/${runId}/artifacts?cursor=${Buffer.from('../x').toString('base64url')}`), 400);
      await problem(await get(`/v1/runs/${runId}/artifacts?limit=0`), 400);
    });

    test('one byte range answers 206 with those bytes; past the end 416; several ranges the whole object', async () => {
      const path = `${best.key.slice(prefix.length)}/weights.bin`;
      const whole = (await store.get(`${best.key}/weights.bin`))!;
      const size = whole.length;
      const ranged = (range: string) => fetch(`${stack.base}/v1/runs/${runId}/artifacts/download?path=${encodeURIComponent(path)}`,
        { headers: { ...stack.auth(), range } });
      const cases: Array<[string, number, number]> = [
        ['bytes=0-9', 0, 9], ['bytes=10-', 10, size - 1], ['bytes=-16', size - 16, size - 1], ['bytes=5-999999999', 5, size - 1],
      ];
      for (const [range, start, end] of cases) {
        const res = await ranged(range);
        assert.equal(res.status, 206, range);
        assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`, range);
        assert.equal(Number(res.headers.get('content-length')), end - start + 1, range);
        assert.equal(res.headers.get('accept-ranges'), 'bytes');
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), whole.subarray(start, end + 1), range);
      }
      const past = await ranged(`bytes=${size}-`);
      assert.equal(past.headers.get('content-range'), `bytes */${size}`);
      assert.equal((await problem(past, 416)).code, 'RANGE_NOT_SATISFIABLE');
      for (const ignored of ['bytes=0-1,4-5', 'items=0-1', 'bytes=9-3']) {
        const res = await ranged(ignored);
        assert.equal(res.status, 200, ignored);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), whole, ignored);
      }
    });

    test('model.keras and ?format=h5 of the worker\'s best and final checkpoints hold its weights in Keras\'s layout', async () => {
      for (const [query, folder] of [['', best.key], ['?checkpoint=final', null]] as const) {
        const keras = await get(`/v1/runs/${runId}/model.keras${query}`);
        assert.equal(keras.status, 200, query);
        const zip = unzipAll(Buffer.from(await keras.arrayBuffer()));
        assert.deepEqual(zip.names, ['metadata.json', 'config.json', 'model.weights.h5']);
        const tree = await readH5(zip.files.get('model.weights.h5')!);
        const key = folder ?? (await store.list(`${prefix}checkpoints/final/`)).map((o) => o.key).find((k) => k.endsWith('/model.json'))!.slice(0, -'/model.json'.length);
        const json = JSON.parse((await store.get(`${key}/model.json`))!.toString('utf8'));
        const bin = (await store.get(`${key}/weights.bin`))!;
        const specs = json.weightsManifest.flatMap((g: any) => g.weights) as Array<{ name: string; shape: number[] }>;
        let offset = 0;
        const values = new Map<string, Float32Array>();
        for (const spec of specs) {
          const n = spec.shape.reduce((a, b) => a * b, 1);
          values.set(spec.name, new Float32Array(bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + offset + 4 * n)));
          offset += 4 * n;
        }
        for (const [path, layer] of [['/layers/dense/vars', 'dense'], ['/layers/dense_1/vars', 'dense_1']]) {
          assert.deepEqual(tree.children.get(path), ['0', '1']);
          assertSameValues(tree.datasets.get(`${path}/0`)!.values, values.get(`${layer}/kernel`)!, `${query} ${path}/0`);
          assertSameValues(tree.datasets.get(`${path}/1`)!.values, values.get(`${layer}/bias`)!, `${query} ${path}/1`);
        }
        const h5 = await get(`/v1/runs/${runId}/model.keras${query}${query ? '&' : '?'}format=h5`);
        assert.equal(h5.status, 200, query);
        const legacy = await readH5(Buffer.from(await h5.arrayBuffer()));
        assertSameValues(legacy.datasets.get('/model_weights/dense_1/dense_1/kernel:0')!.values, values.get('dense_1/kernel')!, `${query} legacy`);
      }
      assert.equal((await problem(await get(`/v1/runs/${runId}/model.keras`, 'globex'), 404)).code, 'NOT_FOUND');
    });

    test('model.tar extracts with tar into model.json, weights and kiln.json, and the model loads', async () => {
      const res = await get(`/v1/runs/${runId}/model.tar`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/x-tar');
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(Number(res.headers.get('content-length')), bytes.length);
      const dir = mkdtempSync(join(tmpdir(), 'kiln-model-tar-'));
      try {
        writeFileSync(join(dir, 'model.tar'), bytes);
        const listed = spawnSync('tar', ['-tf', join(dir, 'model.tar')], { encoding: 'utf8' });
        assert.equal(listed.status, 0, listed.stderr);
        assert.deepEqual(listed.stdout.trim().split('\n'), [`${runId}/`, `${runId}/model.json`, `${runId}/weights.bin`, `${runId}/kiln.json`]);
        const extracted = spawnSync('tar', ['-xf', join(dir, 'model.tar'), '-C', dir], { encoding: 'utf8' });
        assert.equal(extracted.status, 0, extracted.stderr);

        const modelJson = readFileSync(join(dir, runId, 'model.json'));
        const weights = readFileSync(join(dir, runId, 'weights.bin'));
        assert.deepEqual(modelJson, await store.get(`${best.key}/model.json`), 'model.json is the best checkpoint\'s');
        assert.deepEqual(weights, await store.get(`${best.key}/weights.bin`), 'weights.bin is the best checkpoint\'s');
        const kiln = JSON.parse(readFileSync(join(dir, runId, 'kiln.json'), 'utf8'));
        assert.equal(kiln.runId, runId);
        assert.equal(kiln.epoch, best.epoch);
        assert.equal(kiln.monitor, 'val_loss');
        assert.equal(kiln.value, best.value);
        assert.equal(kiln.backend, 'cpu');
        assert.equal(kiln.checkpoint, best.key.slice(prefix.length));
        assert.equal(kiln.standardization.mean.length, 4, 'the standardisation statistics of the four iris features');
        assert.equal(kiln.standardization.std.length, 4);

        const json = JSON.parse(modelJson.toString('utf8'));
        const model = await loadLayersModel(tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest.flatMap((g: any) => g.weights),
          weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
        }));
        const input = [[5.1, 3.5, 1.4, 0.2]].map((row) => row.map((x, i) => (x - kiln.standardization.mean[i]) / kiln.standardization.std[i]));
        const out = model.predict(tf.tensor2d(input)) as tf.Tensor;
        assert.deepEqual(out.shape, [1, 3]);
        assert.ok(Math.abs(Array.from(out.dataSync()).reduce((a, b) => a + b, 0) - 1) < 1e-4, 'softmax output sums to 1');
        out.dispose();
        model.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('a path that could leave the run is a 400; a missing one, another tenant\'s run or an unknown run a 404', async () => {
      const download = (path: string, tenant = 'acme') => get(`/v1/runs/${runId}/artifacts/download?path=${encodeURIComponent(path)}`, tenant);
      for (const path of ['../globex/runs/x/run.json', '/etc/passwd', 'logs/../../run.json', 'logs/./training_log.csv', 'logs//training_log.csv', 'logs\\training_log.csv', '..', 'logs/', '']) {
        const doc = await problem(await download(path), 400);
        assert.equal(doc.code, 'BAD_REQUEST', path);
        assert.match(doc.detail, /path/, path);
      }
      assert.match((await problem(await download('logs/nothing.csv'), 404)).detail, /no artifact 'logs\/nothing\.csv'/);
      await problem(await download('logs'), 404); // a "folder" is not an object

      for (const path of [`/v1/runs/${runId}/artifacts`, `/v1/runs/${runId}/model.tar`, `/v1/runs/${runId}/artifacts/download?path=run.json`]) {
        assert.match((await problem(await get(path, 'globex'), 404)).detail, /no run/, `another tenant: ${path}`);
        const unknown = path.replace(runId, 'run_00000000000000000000000000');
        assert.match((await problem(await get(unknown), 404)).detail, /no run/, `unknown run: ${unknown}`);
      }
    });

    test('streams a 64 MB object without holding it: API heap grows by well under 32 MB', async (t) => {
      const size = 64 * 1024 * 1024;
      const expected = await (async () => {
        const big = randomBytes(size);
        await store.put(`${prefix}other/big.bin`, big);
        return createHash('sha256').update(big).digest('hex');
      })();
      await settledGc();
      const baseline = process.memoryUsage();
      let peak = baseline.heapUsed;
      let retainedBuffers = 0;
      let nextCheck = 0;
      const res = await get(`/v1/runs/${runId}/artifacts/download?path=other/big.bin`);
      assert.equal(res.status, 200);
      assert.equal(Number(res.headers.get('content-length')), size);
      const hash = createHash('sha256');
      let received = 0;
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
        hash.update(value);
        peak = Math.max(peak, process.memoryUsage().heapUsed);
        if (received >= nextCheck) {
          // Buffers live outside the V8 heap, so an object collected in Buffers would not show in
          // heapUsed; what survives a full GC mid-stream shows it.
          await settledGc();
          retainedBuffers = Math.max(retainedBuffers, process.memoryUsage().arrayBuffers - baseline.arrayBuffers);
          nextCheck += 8 * 1024 * 1024;
        }
      }
      assert.equal(received, size);
      assert.equal(hash.digest('hex'), expected, 'the bytes arrive intact');
      const growthMb = (peak - baseline.heapUsed) / 1024 / 1024;
      const buffersMb = retainedBuffers / 1024 / 1024;
      t.diagnostic(`while streaming 64 MB: heapUsed peak growth ${growthMb.toFixed(1)} MB, Buffers retained mid-stream ${buffersMb.toFixed(1)} MB`);
      assert.ok(growthMb < 32, `heapUsed grew by ${growthMb.toFixed(1)} MB while streaming 64 MB`);
      assert.ok(buffersMb < 32, `${buffersMb.toFixed(1)} MB of Buffers were held mid-stream`);
      const listed = ((await (await get(`/v1/runs/${runId}/artifacts`)).json()) as any).items.find((i: any) => i.path === 'other/big.bin');
      assert.deepEqual([listed.kind, listed.size], ['other', size]);
    });
  });
}

describe('run artifacts before training starts', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  before(async () => {
    api = await startApi('artifacts-queued');
  });
  after(async () => api?.close());

  test('a queued run lists no artifacts, has no model.tar (404) and no run.json to download (404)', async () => {
    const created = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: validJob() });
    assert.equal(created.statusCode, 202, created.body);
    const { runId } = created.json();
    const list = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/artifacts`, headers: auth() });
    assert.equal(list.statusCode, 200, list.body);
    assert.deepEqual(list.json(), { items: [], nextCursor: null });
    const tar = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/model.tar`, headers: auth() });
    assert.equal(tar.statusCode, 404);
    assert.match(tar.json().detail, /no best checkpoint yet/);
    const dl = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/artifacts/download?path=run.json`, headers: auth() });
    assert.equal(dl.statusCode, 404);
    assert.match(dl.json().detail, /no artifact 'run\.json'/);
    const other = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/artifacts`, headers: auth('globex') });
    assert.equal(other.statusCode, 404);
  });
});
