import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as cli } from '../cli/kiln';
import { ROOT, sourceFiles } from './support/source-files';

// Every environment variable Kiln reads is documented in .env.example and in the README's
// configuration table. The names come from the code twice over: each `loadConfig(env)` (found by
// scanning the sources) and the CLI are run on an environment that records what is read, and the
// sources are scanned for `env.NAME`, `env['NAME']` and helper calls `(env, 'NAME'`.

const NAME = /^[A-Z][A-Z0-9_]*$/;
const sources = () => sourceFiles().filter((f) => !f.endsWith('.gen.ts'));

/** An environment that records the names read from it; `values` answers some of them. */
function recordingEnv(read: Set<string>, values: Record<string, string>): Record<string, string | undefined> {
  return new Proxy({} as Record<string, string | undefined>, {
    get: (_, k) => {
      if (typeof k !== 'string') return undefined;
      read.add(k);
      return values[k];
    },
    has: (_, k) => {
      if (typeof k === 'string') read.add(k);
      return typeof k === 'string' && k in values;
    },
  });
}

/** The names the code reads: run-time reads of every loadConfig and the CLI, and the sources' reads. */
async function namesRead(): Promise<{ runtime: Set<string>; scanned: Map<string, string> }> {
  const runtime = new Set<string>();
  const loaders = sources().filter((f) => /export function loadConfig\(/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.ok(loaders.length >= 2, `loadConfig in api/config.ts and worker/config.ts at least: ${loaders.join(', ')}`);
  for (const file of loaders) {
    const { loadConfig } = require(join(ROOT, file)) as { loadConfig: (env: Record<string, string | undefined>) => unknown };
    // A read that depends on another variable being set shows once that one is: set every name
    // read so far and run again, until no new name appears.
    for (let size = -1; size !== runtime.size;) {
      size = runtime.size;
      for (const values of [{}, Object.fromEntries([...runtime].map((n) => [n, '1']))]) {
        try {
          loadConfig(recordingEnv(runtime, values));
        } catch {
          // Invalid values are reported after every variable was read; the names are what counts.
        }
      }
    }
  }
  const io = { out: () => {}, err: () => {}, isTTY: false, columns: 80 };
  await cli(['status', 'job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C', '--url', 'http://127.0.0.1:1'], io, recordingEnv(runtime, {}));
  for (const n of runtime) if (!NAME.test(n)) runtime.delete(n);

  const scanned = new Map<string, string>();
  const patterns = [/\benv\.([A-Z][A-Z0-9_]*)\b/g, /\benv\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g, /\(\s*env\s*,\s*['"]([A-Z][A-Z0-9_]*)['"]/g];
  for (const file of sources()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) if (!scanned.has(m[1])) scanned.set(m[1], file);
  }
  return { runtime, scanned };
}

function documentedInEnvExample(): Set<string> {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
  return new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
}

function documentedInReadme(): Set<string> {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\|\s*variable\s*\|\s*default\s*\|/.test(l));
  assert.ok(start >= 0, "the README's configuration table (| variable | default | meaning |)");
  const names = new Set<string>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const first = line.split('|')[1];
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1]);
  }
  return names;
}

test('every environment variable the code reads is documented in .env.example and the README', async () => {
  const { runtime, scanned } = await namesRead();
  // The recording works: the variables every deployment sets are among what it saw.
  for (const known of ['REDIS_URL', 'KILN_STORE', 'KILN_API_KEYS', 'KILN_BACKEND', 'KILN_URL']) assert.ok(runtime.has(known), `${known} read at run time`);
  for (const known of ['REDIS_URL', 'KILN_BODY_LIMIT_BYTES', 'KILN_URL']) assert.ok(scanned.has(known), `${known} found in the sources`);

  const all = new Set([...runtime, ...scanned.keys()]);
  const example = documentedInEnvExample();
  const readme = documentedInReadme();
  const where = (n: string) => (scanned.has(n) ? `${n} (${scanned.get(n)})` : `${n} (read by a loadConfig)`);
  assert.deepEqual([...all].filter((n) => !example.has(n)).sort().map(where), [], 'missing from .env.example');
  assert.deepEqual([...all].filter((n) => !readme.has(n)).sort().map(where), [], "missing from the README's configuration table");
});
