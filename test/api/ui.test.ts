import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { newJobIds } from '../../core/ids';
import { runManifestKey } from '../../store/run-layout';
import { auth, startApi } from '../support/api-app';

test('GET /v1/runs/{runId}/curves.svg renders the stored run and follows tenancy', async (t) => {
  const api = await startApi('ui-curves');
  t.after(() => api.close());
  const { jobId, runId } = newJobIds();
  const manifest = {
    runId, jobId, status: 'succeeded', stopReason: 'early_stopping', backend: 'cpu',
    spec: { compile: { optimizer: { name: 'sgd', learningRate: 0.1 } } },
    history: [0, 1, 2, 3].map((epoch) => ({ epoch, logs: { loss: 1 / (epoch + 1), val_loss: [0.9, 0.5, 0.6, 0.7][epoch] } })),
    events: [
      { type: 'checkpoint_saved', epoch: 1, path: 'm', weightsOnly: false, best: { monitor: 'val_loss', value: 0.5, mode: 'min' } },
      { type: 'early_stopping', epoch: 3, monitors: ['val_loss'], bestEpoch: 1, bestValue: 0.5, wait: 2 },
      { type: 'weights_restored', epoch: 3, fromEpoch: 1 },
    ],
    best: null, artifacts: [], createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
  };
  const file = join(api.storeDir, runManifestKey('acme', runId));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(manifest));

  const res = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/curves.svg`, headers: auth() });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /^image\/svg\+xml/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.match(res.body, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(res.body, /data-series="loss"/);
  assert.match(res.body, /data-series="val_loss"/);
  assert.match(res.body, /class="marker marker-stop" data-epoch="3"/);
  assert.match(res.body, /class="marker marker-checkpoint" data-epoch="1"/);
  assert.match(res.body, /class="restored" data-epoch="1"/);
  assert.match(res.body, /data-series="learning_rate"/, 'the spec\'s initial rate gives a rate line');

  const other = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/curves.svg`, headers: auth('globex') });
  assert.equal(other.statusCode, 404);
  assert.match(String(other.headers['content-type']), /problem\+json/);
  const anon = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/curves.svg` });
  assert.equal(anon.statusCode, 401);
});

test('GET /v1/runs/{runId}/curves.svg: a running job\'s axis spans spec.fit.epochs, a finished one the epochs that ran; ?width= sizes the image', async (t) => {
  const api = await startApi('ui-curves-planned');
  t.after(() => api.close());
  const { jobId, runId } = newJobIds();
  const now = new Date().toISOString();
  const manifest = {
    runId, jobId, status: 'running', stopReason: null, backend: 'cpu',
    spec: { compile: { optimizer: { name: 'adam', learningRate: 0.01 } }, fit: { epochs: 40 } },
    history: [0, 1, 2].map((epoch) => ({ epoch, logs: { loss: 1 / (epoch + 1) } })),
    events: [], best: null, artifacts: [], createdAt: now, updatedAt: now,
  };
  const file = join(api.storeDir, runManifestKey('acme', runId));
  mkdirSync(dirname(file), { recursive: true });
  const get = async (query = '') => {
    const res = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/curves.svg${query}`, headers: auth() });
    assert.equal(res.statusCode, 200, res.body);
    return res.body;
  };
  const rootAttr = (svg: string, name: string): string => new RegExp(`^<svg [^>]*\\b${name}="([^"]*)"`).exec(svg)![1];
  /** x of the axis ends and of the loss points. */
  const geometry = (svg: string) => {
    const [, l, r] = /class="axis axis-x" d="M([\d.]+) [\d.]+H([\d.]+)"/.exec(svg)!.map(Number);
    const d = /class="series train s\d" data-series="loss"[^>]* d="([^"]+)"/.exec(svg)![1];
    return { l, r, xs: [...d.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1])) };
  };

  writeFileSync(file, JSON.stringify(manifest));
  const running = await get();
  assert.equal(rootAttr(running, 'data-epochs'), '3');
  assert.equal(rootAttr(running, 'data-axis-epochs'), '40', 'the axis has room for all 40 planned epochs');
  const live = geometry(running);
  const epochW = live.xs[1] - live.xs[0];
  assert.ok(Math.abs((live.r - live.l - 2 * (live.xs[0] - live.l)) / epochW - 39) < 0.1, 'the plot spans epochs 0 … 39');

  // Finished after the same three epochs (early stop): the axis spans only them.
  writeFileSync(file, JSON.stringify({
    ...manifest, status: 'succeeded', stopReason: 'early_stopping',
    events: [{ type: 'early_stopping', epoch: 2, monitors: ['loss'], bestEpoch: 0, bestValue: 1, wait: 2 }],
  }));
  const done = await get();
  assert.equal(rootAttr(done, 'data-axis-epochs'), '3');
  const end = geometry(done);
  assert.ok(end.r - end.xs[2] <= 24, `the last epoch sits at the right end: ${end.xs[2]} of ${end.r}`);

  // The run page asks for the card's size; the text stays 11px, the viewBox follows.
  const wide = await get('?width=960&height=400');
  assert.equal(rootAttr(wide, 'width'), '960');
  assert.equal(rootAttr(wide, 'viewBox'), '0 0 960 400');
  assert.ok(geometry(wide).r > end.r + 200, 'the plot grows with the image');
  for (const bad of ['?width=100', '?width=wide', '?height=99999', '?zoom=2']) {
    const res = await api.app.inject({ method: 'GET', url: `/v1/runs/${runId}/curves.svg${bad}`, headers: auth() });
    assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
    assert.match(String(res.headers['content-type']), /problem\+json/);
  }
});
