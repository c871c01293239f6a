import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const script = join(__dirname, '..', '..', 'infra', 'docker', 'healthcheck.js');

/** Runs the container health probe as Docker would and returns its exit code and stderr. */
function probe(env: Record<string, string>, args = ['PORT', '8080', '/healthz']): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, _out, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

describe('infra/docker/healthcheck.js', () => {
  let server: Server;
  let port: string;
  const answers: Record<string, number | 'hang'> = { '/healthz': 200, '/down': 503, '/slow': 'hang' };
  before(async () => {
    server = createServer((req, res) => {
      const answer = answers[req.url ?? ''] ?? 404;
      if (answer === 'hang') return; // never answers
      res.writeHead(answer).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = String((server.address() as AddressInfo).port);
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('exits 0 on a 2xx from the port named by the env var', async () => {
    assert.deepEqual((await probe({ PORT: port })).code, 0);
    assert.equal((await probe({ KILN_WORKER_HEALTH_PORT: port }, ['KILN_WORKER_HEALTH_PORT', '8081', '/healthz'])).code, 0);
  });

  it('falls back to the default port when the env var is unset', async () => {
    assert.equal((await probe({}, ['PORT', port, '/healthz'])).code, 0);
  });

  it('exits 1 on a non-2xx answer, a closed port, a hung server or a bad port', async () => {
    const down = await probe({ PORT: port }, ['PORT', '8080', '/down']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /503/);
    const closed = await probe({ PORT: '1' });
    assert.equal(closed.code, 1);
    const hung = await probe({ PORT: port, KILN_HEALTHCHECK_TIMEOUT_MS: '200' }, ['PORT', '8080', '/slow']);
    assert.equal(hung.code, 1);
    assert.match(hung.stderr, /TimeoutError|AbortError/);
    const bad = await probe({ PORT: 'eighty' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a TCP port/);
  });
});
