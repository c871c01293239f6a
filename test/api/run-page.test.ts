import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPageDocument } from '../../api/routes/page-document';
import { startApi } from '../support/api-app';

const built = join(__dirname, '../../dist/api/pages/run-page');

test('GET /runs/{runId} serves the built page: its script, style and body, with a CSP that allows that script by hash', async (t) => {
  const api = await startApi('run-page');
  t.after(() => api.close());
  const res = await api.app.inject({ method: 'GET', url: '/runs/run_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  const script = /<script type="module">([\s\S]*)<\/script>/.exec(res.body)?.[1];
  assert.equal(script, readFileSync(join(built, 'run-page.js'), 'utf8'), 'the compiled api/pages/run-page/run-page.ts, as it is');
  assert.match(script!, /sessionStorage/);
  assert.ok(res.body.includes(`<style>${readFileSync(join(built, 'run-page.css'), 'utf8')}</style>`));
  assert.ok(res.body.includes(readFileSync(join(built, 'run-page.html'), 'utf8')));
  const csp = String(res.headers['content-security-policy']);
  const hash = createHash('sha256').update(script!).digest('base64');
  assert.ok(csp.split('; ').includes(`script-src 'sha256-${hash}'`), csp);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers['referrer-policy'], 'no-referrer');

  const bad = await api.app.inject({ method: 'GET', url: '/runs/not-a-run' });
  assert.equal(bad.statusCode, 404);
  assert.match(String(bad.headers['content-type']), /problem\+json/);
});

test('a page that was not built is an error that says to build it', () => {
  assert.throws(() => loadPageDocument('no-such-page', 'Kiln'), /the no-such-page page is not built \(no .*no-such-page\.js\): run npm run build/);
});
