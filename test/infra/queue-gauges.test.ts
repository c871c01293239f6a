import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Queue, QueueKeys } from 'bullmq';
import { Redis } from 'ioredis';
import { queueKey, readQueueGauges, toEmbeddedMetricRecord } from '../../infra/aws/queue-gauges';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

describe('queue gauges (real Redis, real BullMQ queue)', () => {
  const prefix = `{kiln-h3-${randomUUID().slice(0, 8)}}`;
  const queueName = 'training';
  const location = { prefix, queueName };
  let redis: Redis;
  let queue: Queue;
  let queueConnection: Redis;
  before(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    queueConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(queueName, { prefix, connection: queueConnection });
  });
  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    // BullMQ leaves a connection it was given open.
    await queueConnection.quit();
    const leftovers = await redis.keys(`${prefix}*`);
    if (leftovers.length) await redis.del(...leftovers);
    await redis.quit();
  });

  it('uses the same keys as BullMQ', () => {
    const keys = new QueueKeys(prefix).getKeys(queueName);
    for (const part of ['wait', 'prioritized', 'active', 'failed'] as const) {
      assert.equal(queueKey(location, part), keys[part]);
    }
    assert.equal(queueKey({ prefix: '{kiln}', queueName: 'training' }, 'wait'), '{kiln}:training:wait');
  });

  it('reads zeros from an empty queue', async () => {
    assert.deepEqual(await readQueueGauges(redis, location, Date.now()), {
      waiting: 0,
      prioritized: 0,
      active: 0,
      failed: 0,
      oldestWaitingAgeSeconds: 0,
    });
  });

  it('counts waiting and prioritized jobs as BullMQ does, and ages the oldest waiting one', async () => {
    const first = await queue.add('job', { n: 1 });
    await queue.add('job', { n: 2 });
    await queue.add('job', { n: 3 }, { priority: 5 });
    const counts = await queue.getJobCounts('wait', 'prioritized', 'active', 'failed');
    const later = first.timestamp + 90_000;
    const gauges = await readQueueGauges(redis, location, later);
    assert.deepEqual(
      { waiting: gauges.waiting, prioritized: gauges.prioritized, active: gauges.active, failed: gauges.failed },
      { waiting: counts.wait, prioritized: counts.prioritized, active: counts.active, failed: counts.failed },
    );
    assert.equal(gauges.waiting, 2);
    assert.equal(gauges.prioritized, 1);
    assert.equal(gauges.oldestWaitingAgeSeconds, 90);
  });

  it('renders one Embedded Metric Format record whose WaitingJobs includes prioritized jobs', () => {
    const record = toEmbeddedMetricRecord(
      { waiting: 2, prioritized: 1, active: 4, failed: 7, oldestWaitingAgeSeconds: 90 },
      'Kiln/Queue',
      'training',
      1_700_000_000_000,
    ) as any;
    const directive = record._aws.CloudWatchMetrics[0];
    assert.equal(record._aws.Timestamp, 1_700_000_000_000);
    assert.equal(directive.Namespace, 'Kiln/Queue');
    assert.deepEqual(directive.Dimensions, [['Queue']]);
    assert.equal(record.Queue, 'training');
    // Every declared metric has a numeric value at the top level, as EMF requires.
    for (const m of directive.Metrics) assert.equal(typeof record[m.Name], 'number', m.Name);
    assert.equal(record.WaitingJobs, 3);
    assert.equal(record.ActiveJobs, 4);
    assert.equal(record.FailedJobs, 7);
    assert.equal(record.OldestWaitingJobAgeSeconds, 90);
  });
});
