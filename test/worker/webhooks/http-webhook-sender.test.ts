import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { NO_OUTBOUND_EXCEPTIONS, parseOutboundAllow } from '../../../core/outbound-policy';
import { HttpWebhookSender } from '../../../worker/webhooks/http-webhook-sender';
import { startScriptedReceiver } from '../../support/scripted-receiver';

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closers) await c();
});
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const event = { type: 'job.succeeded' as const, timestamp: '2026-11-28T10:00:00.000Z', data: { jobId: 'job_01HTTP' } };

test('retries in process until a 2xx, same id, each attempt signed afresh', async () => {
  const r = await startScriptedReceiver((n) => ({ status: n < 2 ? 503 : 204 }));
  closers.push(r.close);
  const sender = new HttpWebhookSender({ timeoutMs: 1000, backoffMs: 10, outbound: parseOutboundAllow('127.0.0.1').allow });
  await sender.send({ url: r.url, secret }, 'msg_job_01HTTP_job_succeeded', event);
  assert.equal(r.received.length, 3);
  for (const q of r.received) {
    assert.equal(q.headers['webhook-id'], 'msg_job_01HTTP_job_succeeded');
    new Webhook(secret).verify(q.body, { 'webhook-id': String(q.headers['webhook-id']), 'webhook-timestamp': String(q.headers['webhook-timestamp']), 'webhook-signature': String(q.headers['webhook-signature']) });
  }
});

test('refuses a loopback target under the outbound policy, without retrying', async () => {
  const r = await startScriptedReceiver(() => ({ status: 204 }));
  closers.push(r.close);
  const sender = new HttpWebhookSender({ timeoutMs: 1000, backoffMs: 10, outbound: NO_OUTBOUND_EXCEPTIONS });
  await assert.rejects(sender.send({ url: r.url, secret }, 'msg_job_01HTTP_job_failed', event), /refused/);
  assert.equal(r.received.length, 0);
});
