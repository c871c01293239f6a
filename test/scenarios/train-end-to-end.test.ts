import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { Webhook } from 'standardwebhooks';
import { createStore } from '../../store/create-store';
import { startS3Server } from '../support/s3-server';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { startWebhookReceiver } from '../support/webhook-receiver';

const secret = 'whsec_' + randomBytes(32).toString('base64');

function irisJob(webhookUrl: string) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
    fit: { epochs: 12, batchSize: 16, seed: 3 },
    callbacks: {
      earlyStopping: { monitor: 'val_loss', patience: 3, restoreBestWeights: true },
      modelCheckpoint: { filepath: 'epoch-{epoch:02d}-{val_accuracy:.3f}', monitor: 'val_accuracy', saveBestOnly: true },
      csvLogger: {},
    },
    webhook: { url: webhookUrl, secret },
    tags: { suite: 'e2e' },
  };
}

for (const driver of ['s3', 'file'] as const) {
  describe(`a job trains end to end (${driver} store)`, () => {
    let stack: KilnStack;
    let s3: Awaited<ReturnType<typeof startS3Server>> | null = null;
    let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

    before(async () => {
      await tf.setBackend('cpu');
      receiver = await startWebhookReceiver();
      if (driver === 's3') {
        s3 = await startS3Server();
        stack = await startStack({ name: `e2e-${driver}`, store: { uri: s3.uri, endpoint: s3.endpoint } });
      } else {
        // The file-store run trains on wasm, the other on cpu: both portable backends end to end.
        stack = await startStack({ name: `e2e-${driver}`, env: { KILN_BACKEND: 'wasm' } });
      }
    });
    after(async () => {
      await stack?.close();
      await receiver?.close();
      await s3?.close();
    });

    test('POST → trains → best.json, its checkpoint and the CSV are stored → the model loads through the API → the webhook verifies', async () => {
      const res = await fetch(`${stack.base}/v1/jobs`, {
        method: 'POST',
        headers: { ...stack.auth(), 'content-type': 'application/json' },
        body: JSON.stringify(irisJob(receiver.url)),
      });
      assert.equal(res.status, 202, await res.clone().text());
      const accepted = (await res.json()) as any;
      assert.equal(res.headers.get('location'), `/v1/jobs/${accepted.jobId}`);
      assert.equal(accepted.status, 'queued');

      const view = await waitForJob(stack, accepted.jobId);
      assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
      assert.ok(['completed', 'early_stopping'].includes(view.stopReason));
      assert.equal(view.backend, driver === 's3' ? 'cpu' : 'wasm', 'the backend that trained the run is recorded');
      assert.ok(view.best, 'the job names its best checkpoint');
      assert.equal(view.best.monitor, 'val_accuracy');
      assert.deepEqual(view.transitions.map((t: any) => t.status), ['queued', 'running', 'succeeded']);

      const store = createStore({ uri: stack.storeUri, s3: s3?.s3Options });
      const prefix = `acme/runs/${accepted.runId}`;
      const best = JSON.parse((await store.get(`${prefix}/best.json`))!.toString('utf8'));
      assert.equal(best.key, view.best.key);
      assert.match(best.path, /^epoch-\d{2}-\d\.\d{3}$/);
      assert.ok(await store.head(`${best.key}/model.json`), 'the checkpoint best.json names is stored');
      assert.ok(await store.head(`${best.key}/weights.bin`));
      const csv = (await store.get(`${prefix}/logs/training_log.csv`))!.toString('utf8');
      const rows = csv.trim().split(/\r?\n/);
      assert.equal(rows[0], 'epoch,accuracy,loss,val_accuracy,val_loss');
      assert.equal(rows.length - 1, view.progress.epoch + 1, 'one CSV row per epoch that ran');

      const served = await fetch(`${stack.base}/v1/runs/${accepted.runId}/logs.csv`, { headers: stack.auth() });
      assert.equal(await served.text(), csv);

      const model = await loadLayersModel(`${stack.base}/v1/runs/${accepted.runId}/model/model.json`, { requestInit: { headers: stack.auth() } });
      const out = model.predict(tf.tensor2d([[0.1, 0.2, -0.5, -0.4]])) as tf.Tensor;
      assert.deepEqual(out.shape, [1, 3]);
      const probs = Array.from(out.dataSync());
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'softmax output sums to 1');
      out.dispose();
      model.dispose();

      const [hook] = await receiver.waitFor(1);
      const payload = new Webhook(secret).verify(hook.body, {
        'webhook-id': String(hook.headers['webhook-id']),
        'webhook-timestamp': String(hook.headers['webhook-timestamp']),
        'webhook-signature': String(hook.headers['webhook-signature']),
      }) as any;
      assert.equal(payload.type, 'job.succeeded');
      assert.equal(payload.data.jobId, accepted.jobId);
      assert.equal(payload.data.best.key, best.key);
      assert.throws(() => new Webhook(secret).verify(hook.body.replace('succeeded', 'failed'), {
        'webhook-id': String(hook.headers['webhook-id']),
        'webhook-timestamp': String(hook.headers['webhook-timestamp']),
        'webhook-signature': String(hook.headers['webhook-signature']),
      }), 'a tampered body does not verify');
    });
  });
}
