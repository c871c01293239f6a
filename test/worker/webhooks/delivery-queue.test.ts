import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { NO_OUTBOUND_EXCEPTIONS, parseOutboundAllow } from '../../../core/outbound-policy';
import { messageIdFor, webhookKeys, type DeliveryAttemptRecord, type DeliverySummary, type WebhookEvent } from '../../../core/webhook-contract';
import { QueueWebhookSender, startWebhookDeliveryWorker, type WebhookDeliveryWorker } from '../../../worker/webhooks/delivery-queue';
import { REDIS_URL, uniquePrefix } from '../../support/redis';
import { startScriptedReceiver, type ScriptedAnswer } from '../../support/scripted-receiver';

const LOOPBACK = parseOutboundAllow('127.0.0.1').allow;
const secret = `whsec_${randomBytes(32).toString('base64')}`;

describe('durable webhook delivery through the webhooks queue', () => {
  let connection: Redis;
  let prefix: string;
  let cleanup: () => Promise<void>;
  let sender: QueueWebhookSender;
  const workers: WebhookDeliveryWorker[] = [];
  const receivers: Array<{ close(): Promise<void> }> = [];
  let seq = 0;

  beforeEach(() => {
    ({ prefix, cleanup } = uniquePrefix('webhooks'));
    connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    sender = new QueueWebhookSender({ connection, prefix });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close();
    await sender.close();
    for (const r of receivers.splice(0)) await r.close();
    await cleanup();
    connection.disconnect();
  });

  const startWorker = (schedule: number[], outbound = LOOPBACK) => {
    const w = startWebhookDeliveryWorker({ connection, prefix, schedule, jitter: 0, timeoutMs: 2000, outbound });
    workers.push(w);
    return w;
  };
  const receiver = async (script: (n: number) => ScriptedAnswer) => {
    const r = await startScriptedReceiver(script);
    receivers.push(r);
    return r;
  };
  const newJob = () => `job_01TEST${String(++seq).padStart(4, '0')}${randomBytes(6).toString('hex').toUpperCase()}`;
  const event = (jobId: string, type: WebhookEvent['type'] = 'job.succeeded'): WebhookEvent => ({
    type, timestamp: new Date().toISOString(), data: { jobId, status: 'succeeded', metrics: { val_loss: 0.2 } },
  });
  const summary = async (jobId: string, deliveryId: string): Promise<DeliverySummary | null> => {
    const raw = await connection.hget(webhookKeys.deliveries(prefix, jobId), deliveryId);
    return raw ? JSON.parse(raw) : null;
  };
  const attempts = async (jobId: string, deliveryId: string): Promise<DeliveryAttemptRecord[]> =>
    (await connection.lrange(webhookKeys.attempts(prefix, jobId), 0, -1)).reverse().map((l) => JSON.parse(l)).filter((r) => r.deliveryId === deliveryId);
  const until = async (what: string, cond: () => Promise<boolean>, timeoutMs = 10000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const settled = (jobId: string, id: string) => until(`${id} to settle`, async () => ['delivered', 'failed', 'skipped'].includes((await summary(jobId, id))?.state ?? ''));

  test('a receiver down for the first 3 attempts gets the event exactly once as a 2xx, same webhook-id each time, every attempt logged', async () => {
    const r = await receiver((n) => ({ status: n < 3 ? 503 : 204 }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'job.succeeded');
    const ev = event(jobId);
    startWorker([100, 100, 100, 100]);
    await sender.send({ url: r.url, secret }, id, ev);
    // A repeat send (say, after a worker restart) is the same delivery, not a second one.
    await sender.send({ url: r.url, secret }, id, ev);
    await settled(jobId, id);

    assert.equal(r.received.length, 4);
    assert.deepEqual(r.received.map((q) => q.headers['webhook-id']), [id, id, id, id]);
    for (const q of r.received) {
      const payload = new Webhook(secret).verify(q.body, {
        'webhook-id': String(q.headers['webhook-id']),
        'webhook-timestamp': String(q.headers['webhook-timestamp']),
        'webhook-signature': String(q.headers['webhook-signature']),
      });
      assert.deepEqual(payload, ev);
    }
    for (let i = 1; i < 4; i++) assert.ok(r.received[i].at - r.received[i - 1].at >= 95, 'retries wait for the schedule');

    const log = await attempts(jobId, id);
    assert.deepEqual(log.map((a) => [a.attempt, a.statusCode, a.outcome]), [[1, 503, 'retrying'], [2, 503, 'retrying'], [3, 503, 'retrying'], [4, 204, 'delivered']]);
    assert.deepEqual(log.map((a) => a.error), ['HTTP 503', 'HTTP 503', 'HTTP 503', null]);
    for (const a of log) {
      assert.ok(typeof a.latencyMs === 'number' && a.latencyMs >= 0);
      assert.ok(!Number.isNaN(Date.parse(a.at)));
    }
    assert.ok(log.slice(0, 3).every((a) => a.nextAttemptAt !== null) && log[3].nextAttemptAt === null);
    assert.deepEqual(await summary(jobId, id).then((s) => [s?.state, s?.attempts, s?.eventType, s?.url]), ['delivered', 4, 'job.succeeded', r.url]);
  });

  test('closing the worker between attempts loses nothing: a new worker makes the next attempt when due', async () => {
    const r = await receiver((n) => ({ status: n === 0 ? 503 : 200 }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'job.failed');
    const first = startWorker([1200]);
    await sender.send({ url: r.url, secret }, id, event(jobId, 'job.failed'));
    await until('the first attempt to be logged', async () => (await attempts(jobId, id)).length === 1);
    await first.close();
    assert.equal(r.received.length, 1);
    assert.equal((await summary(jobId, id))?.state, 'pending');

    startWorker([1200]);
    await settled(jobId, id);
    assert.equal(r.received.length, 2);
    assert.equal(r.received[1].headers['webhook-id'], id);
    assert.ok(r.received[1].at - r.received[0].at >= 1150, `second attempt after ${r.received[1].at - r.received[0].at} ms`);
    assert.deepEqual((await attempts(jobId, id)).map((a) => a.outcome), ['retrying', 'delivered']);
  });

  test('410 Gone disables the endpoint: later deliveries to that URL are skipped and logged as such', async () => {
    const r = await receiver(() => ({ status: 410 }));
    const jobId = newJob();
    const gone = messageIdFor(jobId, 'job.started');
    const later = messageIdFor(jobId, 'job.succeeded');
    startWorker([50, 50, 50]);
    await sender.send({ url: r.url, secret }, gone, event(jobId, 'job.started'));
    await settled(jobId, gone);
    await sender.send({ url: r.url, secret }, later, event(jobId, 'job.succeeded'));
    await settled(jobId, later);

    assert.equal(r.received.length, 1, 'one request only: no retry after 410, none to a disabled endpoint');
    assert.deepEqual((await attempts(jobId, gone)).map((a) => [a.statusCode, a.outcome]), [[410, 'disabled']]);
    assert.equal((await summary(jobId, gone))?.state, 'failed');
    const skipped = await attempts(jobId, later);
    assert.deepEqual(skipped.map((a) => [a.statusCode, a.outcome]), [[null, 'skipped']]);
    assert.match(skipped[0].error ?? '', /410/);
    assert.equal((await summary(jobId, later))?.state, 'skipped');
  });

  test('429 with Retry-After is retried no sooner than asked, even when the schedule says sooner', async () => {
    const r = await receiver((n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 202 }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'job.epoch', 0);
    startWorker([50]);
    await sender.send({ url: r.url, secret }, id, event(jobId, 'job.epoch'));
    await settled(jobId, id);
    assert.equal(r.received.length, 2);
    const gap = r.received[1].at - r.received[0].at;
    assert.ok(gap >= 1000, `retried after ${gap} ms, asked for 1000`);
    const log = await attempts(jobId, id);
    assert.deepEqual(log.map((a) => [a.statusCode, a.outcome]), [[429, 'retrying'], [202, 'delivered']]);
    assert.ok(Date.parse(log[0].nextAttemptAt!) - Date.parse(log[0].at) >= 1000);
  });

  test('a Retry-After beyond the limit is given up on rather than retried early', async () => {
    const r = await receiver(() => ({ status: 503, headers: { 'retry-after': '7200' } }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'job.succeeded');
    workers.push(startWebhookDeliveryWorker({ connection, prefix, schedule: [50], jitter: 0, outbound: LOOPBACK, maxRetryAfterMs: 60000 }));
    await sender.send({ url: r.url, secret }, id, event(jobId));
    await settled(jobId, id);
    assert.equal(r.received.length, 1);
    assert.match((await attempts(jobId, id))[0].error ?? '', /Retry-After 7200 s/);
  });

  test('gives up when the schedule is used up, logging every attempt', async () => {
    const r = await receiver(() => ({ status: 500 }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'job.cancelled');
    startWorker([30, 30]);
    await sender.send({ url: r.url, secret }, id, event(jobId, 'job.cancelled'));
    await settled(jobId, id);
    assert.equal(r.received.length, 3);
    const log = await attempts(jobId, id);
    assert.deepEqual(log.map((a) => a.outcome), ['retrying', 'retrying', 'failed']);
    assert.match(log[2].error ?? '', /gave up after 3 attempts/);
    assert.equal((await summary(jobId, id))?.state, 'failed');
  });

  test('a URL that resolves to a forbidden address is a failed delivery, without a request or a retry', async () => {
    const r = await receiver(() => ({ status: 204 }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'job.succeeded');
    startWorker([30, 30], NO_OUTBOUND_EXCEPTIONS);
    await sender.send({ url: `http://localhost:${r.port}/hook`, secret }, id, event(jobId));
    await settled(jobId, id);
    assert.equal(r.received.length, 0);
    const log = await attempts(jobId, id);
    assert.equal(log.length, 1);
    assert.equal(log[0].outcome, 'failed');
    assert.match(log[0].error ?? '', /refused: localhost \(.*127\.0\.0\.1.*\)/);
  });

  test('Slack-format alert deliveries carry a { text } body and are unsigned without a secret', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const jobId = newJob();
    const id = messageIdFor(jobId, 'alert.triggered', 'r0_e2');
    startWorker([30]);
    await sender.send({ url: r.url, format: 'slack' }, id, { type: 'alert.triggered', timestamp: new Date().toISOString(), data: { jobId, text: 'Kiln alert at epoch 3: val_loss < 0.3' } });
    await settled(jobId, id);
    assert.deepEqual(JSON.parse(r.received[0].body), { text: 'Kiln alert at epoch 3: val_loss &lt; 0.3' });
    assert.equal(r.received[0].headers['webhook-signature'], undefined);
    assert.equal(r.received[0].headers['webhook-id'], id);
  });
});
