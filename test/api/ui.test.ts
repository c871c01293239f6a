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
