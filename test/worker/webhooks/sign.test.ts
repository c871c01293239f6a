import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { signWebhook, verifyWebhook } from '../../../worker/webhooks/sign';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

describe('Standard Webhooks signatures, checked by the standardwebhooks package', () => {
  const secret = newSecret();
  const id = 'msg_job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C_job_succeeded';
  const body = JSON.stringify({ type: 'job.succeeded', timestamp: '2026-11-28T10:00:00.000Z', data: { jobId: 'job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C', metrics: { val_loss: 0.25 } } });
  const now = Math.floor(Date.now() / 1000);
  const headers = (over: Partial<Record<string, string>> = {}) => ({
    'webhook-id': id,
    'webhook-timestamp': String(now),
    'webhook-signature': signWebhook([secret], id, now, body),
    ...over,
  });

  test('a signed body verifies and yields the payload', () => {
    assert.deepEqual(new Webhook(secret).verify(body, headers()), JSON.parse(body));
    assert.equal(verifyWebhook(secret, id, now, body, headers()['webhook-signature']), true);
  });

  test('a tampered body fails', () => {
    const tampered = body.replace('0.25', '0.15');
    assert.throws(() => new Webhook(secret).verify(tampered, headers()), /signature/i);
    assert.equal(verifyWebhook(secret, id, now, tampered, headers()['webhook-signature']), false);
  });

  test('a wrong secret fails', () => {
    const other = newSecret();
    assert.throws(() => new Webhook(other).verify(body, headers()), /signature/i);
    assert.equal(verifyWebhook(other, id, now, body, headers()['webhook-signature']), false);
  });

  test('a changed id or timestamp fails (both are signed)', () => {
    assert.throws(() => new Webhook(secret).verify(body, headers({ 'webhook-id': `${id}x` })));
    assert.throws(() => new Webhook(secret).verify(body, headers({ 'webhook-timestamp': String(now + 1) })));
  });

  test('a stale timestamp fails even with a correct signature', () => {
    const old = now - 600;
    const stale = headers({ 'webhook-timestamp': String(old), 'webhook-signature': signWebhook([secret], id, old, body) });
    assert.throws(() => new Webhook(secret).verify(body, stale), /timestamp/i);
    assert.equal(verifyWebhook(secret, id, old, body, stale['webhook-signature']), false);
    assert.equal(verifyWebhook(secret, id, old, body, stale['webhook-signature'], { nowSeconds: old + 10 }), true);
  });

  test('during a rotation both the old and the new secret verify one header', () => {
    const next = newSecret();
    const header = signWebhook([secret, next], id, now, body);
    assert.equal(header.split(' ').length, 2);
    for (const s of [secret, next]) {
      assert.deepEqual(new Webhook(s).verify(body, headers({ 'webhook-signature': header })), JSON.parse(body));
      assert.equal(verifyWebhook(s, id, now, body, header), true);
    }
    assert.throws(() => new Webhook(newSecret()).verify(body, headers({ 'webhook-signature': header })));
  });
});
