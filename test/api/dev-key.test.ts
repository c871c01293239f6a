import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { loadConfig } from '../../api/config';
import { loadOrCreateDevKey } from '../../api/dev-key';
import { REDIS_URL, uniquePrefix } from '../support/redis';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the development key', () => {
  test('is generated once, kept owner-only, and read back unchanged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-devkey-'));
    try {
      const path = join(dir, '.kiln', 'dev-api-key');
      const key = loadOrCreateDevKey(path);
      assert.match(key, /^dev_[A-Za-z0-9_-]{24}$/);
      assert.equal(mode(path), 0o600);
      assert.equal(mode(join(dir, '.kiln')) & 0o077, 0, 'the folder is the owner\'s too');
      assert.equal(loadOrCreateDevKey(path), key);
      chmodSync(path, 0o644);
      assert.equal(loadOrCreateDevKey(path), key);
      assert.equal(mode(path), 0o600, 'a loosened file is restricted again');
      writeFileSync(path, 'not a key\n');
      assert.throws(() => loadOrCreateDevKey(path), /dev-api-key does not hold a development key.*delete it/);
      assert.equal(readFileSync(path, 'utf8'), 'not a key\n', 'an edited file is not overwritten');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('loadConfig uses it only when no KILN_API_KEYS are set', () => {
    let calls = 0;
    const devKey = () => (calls++, 'dev_0123456789abcdefghijklmn');
    const dev = loadConfig({}, { devKey });
    assert.equal(dev.generatedDevKey, 'dev_0123456789abcdefghijklmn');
    assert.equal(dev.apiKeys.get('dev_0123456789abcdefghijklmn'), 'dev');
    const configured = loadConfig({ KILN_API_KEYS: 'acme:0123456789abcdef0123' }, { devKey });
    assert.equal(configured.generatedDevKey, null);
    assert.equal(calls, 1, 'configured keys never create the file');
    assert.throws(() => loadConfig({}), /KILN_API_KEYS: no API keys configured/);
  });

  test('npm start prints KILN_URL and KILN_API_KEY, and the same key after a restart', { timeout: 120_000 }, async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'kiln-start-'));
    const { prefix, cleanup } = uniquePrefix('dev-key');
    const server = resolve(__dirname, '../../dist/api/server.js');
    const start = async (): Promise<string> => {
      // What `npm start` runs (after its build): the API with one worker beside it.
      const child = spawn(process.execPath, [server, '--with-worker'], {
        cwd,
        env: { PATH: process.env.PATH, REDIS_URL, KILN_QUEUE_PREFIX: prefix, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', KILN_BACKEND: 'cpu', KILN_WORKER_HEALTH_PORT: '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      try {
        for await (const chunk of child.stdout!) {
          out += String(chunk);
          if (/\$KILN_URL\/v1\/jobs/.test(out)) break;
        }
      } finally {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      const m = /export KILN_URL=(http:\/\/\S+) KILN_API_KEY=(dev_\S+)\n\s+curl -H "authorization: Bearer \$KILN_API_KEY" \$KILN_URL\/v1\/jobs/.exec(out);
      assert.ok(m, out);
      assert.doesNotMatch(out, /KILN_KEY=/);
      return m[2];
    };
    try {
      const first = await start();
      assert.equal(await start(), first, 'the key survives a restart');
      assert.equal(readFileSync(join(cwd, '.kiln', 'dev-api-key'), 'utf8').trim(), first);
      assert.equal(mode(join(cwd, '.kiln', 'dev-api-key')), 0o600);
    } finally {
      await cleanup();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
