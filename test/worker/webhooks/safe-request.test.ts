import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_OUTBOUND_EXCEPTIONS, parseOutboundAllow } from '../../../core/outbound-policy';
import { safePost } from '../../../worker/webhooks/safe-request';
import { startScriptedReceiver } from '../../support/scripted-receiver';

describe('safePost: SSRF guard at connect time', () => {
  let v4: Awaited<ReturnType<typeof startScriptedReceiver>>;
  let v6: Awaited<ReturnType<typeof startScriptedReceiver>>;
  let redirect: Awaited<ReturnType<typeof startScriptedReceiver>>;
  const post = (url: string, allow = NO_OUTBOUND_EXCEPTIONS, timeoutMs = 2000) => safePost(url, '{"a":1}', { allow, timeoutMs, headers: { 'content-type': 'application/json' } });

  before(async () => {
    v4 = await startScriptedReceiver(() => ({ status: 204 }));
    v6 = await startScriptedReceiver(() => ({ status: 204 }), '::1');
    redirect = await startScriptedReceiver(() => ({ status: 302, headers: { location: v4.url } }));
  });
  after(async () => {
    await Promise.all([v4.close(), v6.close(), redirect.close()]);
  });

  const refusedUrls = () => [
    ['127.0.0.1', v4.url],
    ['a hostname resolving to loopback (localhost)', `http://localhost:${v4.port}/hook`],
    ['[::1]', v6.url],
    ['10.x', 'http://10.0.0.1:9/hook'],
    ['169.254.169.254', 'http://169.254.169.254/latest/meta-data/'],
    ['a decimal-integer IPv4 host', `http://2130706433:${v4.port}/hook`],
    ['an IPv4-mapped IPv6 host', `http://[::ffff:127.0.0.1]:${v4.port}/hook`],
  ] as const;

  test('refuses private, loopback and link-local targets without an allow-list, and never connects', async () => {
    for (const [what, url] of refusedUrls()) {
      const res = await post(url);
      assert.equal(res.kind, 'refused', `${what}: ${JSON.stringify(res)}`);
      assert.match((res as { reason: string }).reason, /KILN_OUTBOUND_ALLOW/);
    }
    assert.equal(v4.received.length, 0);
    assert.equal(v6.received.length, 0);
  });

  test('allow-listed addresses are reached, names included (checked after resolution)', async () => {
    const { allow } = parseOutboundAllow('127.0.0.1,::1');
    assert.deepEqual(await post(v4.url, allow).then((r) => r.kind === 'response' && r.status), 204);
    assert.deepEqual(await post(`http://localhost:${v4.port}/hook`, allow).then((r) => r.kind === 'response' && r.status), 204);
    assert.deepEqual(await post(v6.url, allow).then((r) => r.kind === 'response' && r.status), 204);
    assert.equal(v4.received.length, 2);
    assert.equal(v4.received[0].body, '{"a":1}');
    assert.equal(v6.received.length, 1);
  });

  test('an allow-list entry for one address does not open its neighbours', async () => {
    const { allow } = parseOutboundAllow('127.0.0.2');
    assert.equal((await post(v4.url, allow)).kind, 'refused');
  });

  test('a host-name entry allows that name whatever it resolves to', async () => {
    const { allow } = parseOutboundAllow('localhost');
    const res = await post(`http://localhost:${v4.port}/hook`, allow);
    assert.equal(res.kind === 'response' && res.status, 204);
  });

  test('redirects are not followed: a 3xx is just the answer', async () => {
    const { allow } = parseOutboundAllow('127.0.0.1');
    const before = v4.received.length;
    const res = await post(redirect.url, allow);
    assert.equal(res.kind === 'response' && res.status, 302);
    assert.equal(v4.received.length, before);
  });

  test('times out a receiver that does not answer', async () => {
    const slow = await startScriptedReceiver(() => ({ status: 204, delayMs: 2000 }));
    try {
      const res = await post(slow.url, parseOutboundAllow('127.0.0.1').allow, 200);
      assert.equal(res.kind, 'error');
      assert.match((res as { reason: string }).reason, /timed out after 200 ms/);
      assert.ok(res.latencyMs >= 190 && res.latencyMs < 1500, String(res.latencyMs));
    } finally {
      await slow.close();
    }
  });

  test('a closed port is a network error, not a refusal', async () => {
    const res = await post('http://127.0.0.1:1/hook', parseOutboundAllow('127.0.0.1').allow);
    assert.equal(res.kind, 'error');
  });
});
