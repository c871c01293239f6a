import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApi } from '../../support/api-app';

const ADMIN_KEY = 'ops-key-0123456789abcdef';
const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}` });

describe('the operator key in a browser', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  before(async () => {
    api = await startApi('admin-auth', { KILN_ADMIN_KEY: ADMIN_KEY });
  });
  after(async () => api.close());

  test('/metrics without credentials is a Basic challenge, so a browser asks for the key, and the Basic login works', async () => {
    for (const url of ['/metrics', '/admin/queues']) {
      const anon = await api.app.inject({ method: 'GET', url });
      assert.equal(anon.statusCode, 401, url);
      assert.equal(anon.headers['www-authenticate'], 'Basic realm="Kiln operators", charset="UTF-8"', url);
      assert.equal(anon.json().code, 'UNAUTHENTICATED');
      const wrong = await api.app.inject({ method: 'GET', url, headers: basic('not-the-key-0123456789') });
      assert.equal(wrong.statusCode, 401, url);
      assert.match(String(wrong.headers['www-authenticate']), /^Basic realm=/, 'a wrong password asks again');
    }
    const metrics = await api.app.inject({ method: 'GET', url: '/metrics', headers: basic(ADMIN_KEY) });
    assert.equal(metrics.statusCode, 200, metrics.body);
    assert.match(metrics.body, /# TYPE kiln_queue_jobs gauge/);
  });

  test('a client that sent a Bearer token is told Bearer failed', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer not-the-key-0123456789' } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="Kiln operators"');
    const ok = await api.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(ok.statusCode, 200);
  });
});
