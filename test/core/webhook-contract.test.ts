import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_DELIVERY_SCHEDULE_MS,
  DELIVERY_ID_PATTERN,
  messageIdFor,
  parseDeliverySchedule,
  parseRetryAfter,
  retryDelayMs,
  slackBody,
  stateAfter,
  wantsEvent,
  webhookBody,
  type WebhookEvent,
} from '../../core/webhook-contract';

describe('wantsEvent', () => {
  test('by default: the terminal events and alerts, not progress', () => {
    const spec = { url: 'https://x.example', secret: 'whsec_x' };
    for (const t of ['job.succeeded', 'job.failed', 'job.cancelled', 'alert.triggered'] as const) assert.equal(wantsEvent(spec, t), true, t);
    for (const t of ['job.started', 'job.epoch', 'checkpoint.improved'] as const) assert.equal(wantsEvent(spec, t), false, t);
  });
  test('an explicit list is exactly what is sent', () => {
    const spec = { url: 'https://x.example', events: ['job.epoch', 'job.failed'] };
    assert.equal(wantsEvent(spec, 'job.epoch'), true);
    assert.equal(wantsEvent(spec, 'job.failed'), true);
    assert.equal(wantsEvent(spec, 'job.succeeded'), false);
  });
  test('no webhook wants nothing', () => {
    assert.equal(wantsEvent(undefined, 'job.succeeded'), false);
    assert.equal(wantsEvent(null, 'job.succeeded'), false);
  });
});

test('message ids: stable, distinct per occurrence, valid BullMQ ids and delivery ids', () => {
  const job = 'job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C';
  assert.equal(messageIdFor(job, 'job.succeeded'), `msg_${job}_job_succeeded`);
  assert.equal(messageIdFor(job, 'job.epoch', 7), `msg_${job}_job_epoch_7`);
  assert.equal(messageIdFor(job, 'alert.triggered', 'rule:2/epoch 3'), `msg_${job}_alert_triggered_rule_2_epoch_3`);
  for (const id of [messageIdFor(job, 'job.failed'), messageIdFor(job, 'alert.triggered', 'a:b')]) {
    assert.ok(!id.includes(':'));
    assert.match(id, DELIVERY_ID_PATTERN);
  }
});

describe('Retry-After', () => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  test('delay-seconds', () => assert.equal(parseRetryAfter('120', now), 120000));
  test('HTTP date', () => assert.equal(parseRetryAfter('Sat, 28 Nov 2026 10:00:30 GMT', now), 30000));
  test('a date in the past is no wait', () => assert.equal(parseRetryAfter('Sat, 28 Nov 2026 09:00:00 GMT', now), 0));
  test('absent or unreadable', () => {
    assert.equal(parseRetryAfter(undefined, now), null);
    assert.equal(parseRetryAfter('-5', now), null);
    assert.equal(parseRetryAfter('soon', now), null);
  });
});

describe('retry schedule', () => {
  test('the default spans about three days in 12 retries', () => {
    const total = DEFAULT_DELIVERY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    assert.equal(DEFAULT_DELIVERY_SCHEDULE_MS.length, 12);
    assert.ok(total > 3 * 24 * 3600e3 && total < 3.5 * 24 * 3600e3, String(total / 3600e3));
    assert.deepEqual(parseDeliverySchedule('5s,5m,30m,2h,5h,10h,10h,10h,10h,10h,10h,10h'), DEFAULT_DELIVERY_SCHEDULE_MS);
  });
  test('parses units and rejects junk', () => {
    assert.deepEqual(parseDeliverySchedule('50ms, 1.5s,1d'), [50, 1500, 86400000]);
    assert.equal(typeof parseDeliverySchedule('5 minutes'), 'string');
    assert.equal(typeof parseDeliverySchedule(''), 'string');
  });
  test('jitter stays within ±jitter, Retry-After is a floor, and the schedule runs out', () => {
    const s = [1000, 2000];
    assert.equal(retryDelayMs(s, 0, { jitter: 0.2, random: () => 0, retryAfterMs: null }), 800);
    assert.equal(retryDelayMs(s, 0, { jitter: 0.2, random: () => 1, retryAfterMs: null }), 1200);
    assert.equal(retryDelayMs(s, 1, { jitter: 0, random: Math.random, retryAfterMs: null }), 2000);
    assert.equal(retryDelayMs(s, 0, { jitter: 0.2, random: () => 1, retryAfterMs: 5000 }), 5000);
    assert.equal(retryDelayMs(s, 0, { jitter: 0.2, random: () => 0, retryAfterMs: 100 }), 800);
    assert.equal(retryDelayMs(s, 2, { jitter: 0, random: Math.random, retryAfterMs: 5000 }), null);
  });
});

test('outcomes map onto delivery states', () => {
  assert.deepEqual(['delivered', 'retrying', 'failed', 'disabled', 'skipped'].map((o) => stateAfter(o as never)), ['delivered', 'pending', 'failed', 'failed', 'skipped']);
});

describe('Slack body', () => {
  const alert: WebhookEvent = {
    type: 'alert.triggered',
    timestamp: '2026-11-28T10:00:00.000Z',
    data: { jobId: 'job_01', text: "Kiln alert 'good' at epoch 3: val_accuracy > 0.9 & loss < 0.2 (val_accuracy=0.93)", links: { job: 'https://kiln.example/v1/jobs/job_01' } },
  };
  test('is a Slack incoming-webhook { text } with Slack escaping and a job link', () => {
    const body = JSON.parse(webhookBody('slack', alert));
    assert.deepEqual(Object.keys(body), ['text']);
    assert.equal(body.text, "Kiln alert 'good' at epoch 3: val_accuracy &gt; 0.9 &amp; loss &lt; 0.2 (val_accuracy=0.93) <https://kiln.example/v1/jobs/job_01|job_01>");
  });
  test('summarises other events; relative links are left out', () => {
    const ev: WebhookEvent = { type: 'job.succeeded', timestamp: 't', data: { jobId: 'job_02', stopReason: 'early_stopping', links: { job: '/v1/jobs/job_02' } } };
    assert.deepEqual(slackBody(ev), { text: 'Kiln job_02: job.succeeded (early_stopping)' });
  });
  test('the json format is the event itself', () => {
    assert.deepEqual(JSON.parse(webhookBody('json', alert)), alert);
  });
});
