import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { webhookKeys, type WebhookDeliveryData } from '../../../core/webhook-contract';
import { DeliveryLog } from '../../../worker/webhooks/delivery-log';
import { REDIS_URL, uniquePrefix } from '../../support/redis';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
before(() => {
  ({ prefix, cleanup } = uniquePrefix('delivery-log'));
  redis = new Redis(REDIS_URL);
});
after(async () => {
  await cleanup();
  redis.disconnect();
});

const data = (deliveryId: string): WebhookDeliveryData => ({
  deliveryId, jobId: 'job_01LOG', url: 'https://hooks.example.com/x', format: 'json', event: { type: 'job.epoch', timestamp: 't', data: {} },
});

test('the attempt list is capped and expires; summaries keep the full count', async () => {
  const log = new DeliveryLog(redis, prefix, { cap: 3, ttlSeconds: 60 });
  const d = data('msg_job_01LOG_job_epoch_0');
  await log.queued(d);
  for (let i = 0; i < 5; i++) {
    const n = await log.attempt(d, { at: new Date(1000 * i).toISOString(), statusCode: 500, latencyMs: 3, error: 'HTTP 500', outcome: i < 4 ? 'retrying' : 'failed', nextAttemptAt: null });
    assert.equal(n, i + 1);
  }
  const lines = (await redis.lrange(webhookKeys.attempts(prefix, d.jobId), 0, -1)).map((l) => JSON.parse(l).attempt);
  assert.deepEqual(lines, [5, 4, 3]);
  const summary = JSON.parse((await redis.hget(webhookKeys.deliveries(prefix, d.jobId), d.deliveryId))!);
  assert.equal(summary.attempts, 5);
  assert.equal(summary.state, 'failed');
  const ttl = await redis.ttl(webhookKeys.attempts(prefix, d.jobId));
  assert.ok(ttl > 0 && ttl <= 60, String(ttl));
});

test('queuing the same delivery again changes nothing', async () => {
  const log = new DeliveryLog(redis, prefix);
  const d = data('msg_job_01LOG_job_succeeded');
  await log.queued(d, new Date('2026-01-01T00:00:00Z'));
  await log.attempt(d, { at: '2026-01-01T00:00:01.000Z', statusCode: 204, latencyMs: 1, error: null, outcome: 'delivered', nextAttemptAt: null });
  await log.queued(d, new Date('2026-02-01T00:00:00Z'));
  const summary = JSON.parse((await redis.hget(webhookKeys.deliveries(prefix, d.jobId), d.deliveryId))!);
  assert.deepEqual([summary.createdAt, summary.state, summary.attempts], ['2026-01-01T00:00:00.000Z', 'delivered', 1]);
});

test('disabled endpoints match whatever case the scheme and host were written in', async () => {
  const log = new DeliveryLog(redis, prefix);
  await log.disable('HTTPS://Hooks.Example.com/gone');
  assert.equal(await log.isDisabled('https://hooks.example.com/gone'), true);
  assert.equal(await log.isDisabled('https://hooks.example.com/other'), false);
});
