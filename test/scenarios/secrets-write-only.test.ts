import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { SECRET_SET } from '../../core/job-secrets';
import { createStore } from '../../store/create-store';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { REDIS_URL } from '../support/redis';
import { startWebhookReceiver } from '../support/webhook-receiver';

/**
 * Issue 14, "secrets are write-only": the webhook secret a job is submitted with never comes back
 * (API answers, run.json and every other stored object, model.tar, the queued job and webhook
 * deliveries in Redis), yet the deliveries are still signed with it.
 */
const secret = 'whsec_' + randomBytes(32).toString('base64');
let stack: KilnStack;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let prefix: string;

before(async () => {
  receiver = await startWebhookReceiver();
  stack = await startStack({ name: 'secrets' });
  prefix = process.env.KILN_QUEUE_PREFIX!;
});
after(async () => {
  await stack?.close();
  await receiver?.close();
});

test('a webhook secret never appears in an answer, a stored object or a queued payload, and deliveries are signed with it', { timeout: 120000 }, async () => {
  const res = await fetch(`${stack.base}/v1/jobs`, {
    method: 'POST',
    headers: { ...stack.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({
      model: { inputShape: [4], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] },
      compile: { optimizer: { name: 'adam', learningRate: 0.05 }, loss: 'categorical_crossentropy' },
      data: { builtin: 'iris', validationSplit: 0.2 },
      fit: { epochs: 3, batchSize: 32, seed: 1 },
      callbacks: { alerts: [{ when: 'loss > 0', fire: 'always' }] },
      webhook: { url: receiver.url, secret, events: ['job.epoch', 'alert.triggered', 'job.succeeded'] },
    }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const { jobId, runId } = (await res.json()) as { jobId: string; runId: string };
  const view = await waitForJob(stack, jobId);
  assert.equal(view.status, 'succeeded', JSON.stringify(view.error));

  const answers: Record<string, string> = {};
  for (const path of [`/v1/jobs/${jobId}`, '/v1/jobs', `/v1/runs/${runId}`, `/v1/runs/${runId}/artifacts`, `/v1/runs/${runId}/model.tar`,
    `/v1/runs/${runId}/artifacts/download?path=run.json`, `/runs/${runId}`]) {
    const r = await fetch(`${stack.base}${path}`, { headers: stack.auth() });
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    answers[path] = Buffer.from(await r.arrayBuffer()).toString('utf8');
  }
  for (const [path, body] of Object.entries(answers)) assert.ok(!body.includes(secret), `${path} does not show the secret`);
  const run = JSON.parse(answers[`/v1/runs/${runId}`]);
  assert.equal(run.spec.webhook.secret, SECRET_SET, 'the run shows that a secret is set');

  const store = createStore(stack.storeUri);
  const objects = await store.list(`acme/runs/${runId}/`);
  assert.ok(objects.some((o) => o.key.endsWith('/run.json')));
  for (const o of objects) assert.ok(!(await store.get(o.key))!.toString('utf8').includes(secret), `${o.key} does not hold the secret`);

  // Redis: the secret sits under its own key only, never in a queued job or delivery.
  const redis = new Redis(REDIS_URL);
  try {
    const holders: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const values = type === 'string' ? [await redis.get(key)]
          : type === 'hash' ? Object.values(await redis.hgetall(key))
            : type === 'list' ? await redis.lrange(key, 0, -1)
              : type === 'stream' ? (await redis.xrange(key, '-', '+')).flatMap(([, fields]) => fields) : [];
        if (values.some((v) => v?.includes(secret))) holders.push(key);
      }
    } while (cursor !== '0');
    assert.deepEqual(holders, [`${prefix}:kiln:secret:webhook:${jobId}`]);
  } finally {
    redis.disconnect();
  }

  // …and every delivery, the alert's included, is signed with it.
  const hooks = await receiver.waitFor(7);
  assert.deepEqual([...new Set(hooks.map((h) => JSON.parse(h.body).type))].sort(), ['alert.triggered', 'job.epoch', 'job.succeeded']);
  for (const hook of hooks) {
    assert.doesNotThrow(() => new Webhook(secret).verify(hook.body, {
      'webhook-id': String(hook.headers['webhook-id']),
      'webhook-timestamp': String(hook.headers['webhook-timestamp']),
      'webhook-signature': String(hook.headers['webhook-signature']),
    }), `${hook.headers['webhook-id']} verifies`);
  }
});
