import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const DEV_KEY = /^dev_[A-Za-z0-9_-]{24,}$/;

/**
 * The development API key `npm start` uses when no KILN_API_KEYS are set: read from `path`
 * (`.kiln/dev-api-key`), or generated and written there on first use, so the key a developer
 * exported keeps working across restarts. The file is the owner's alone (mode 0600), and is
 * re-restricted if something loosened it. A file that does not hold a key is an error naming it,
 * not silently replaced: the developer may have edited it.
 */
export function loadOrCreateDevKey(path: string): string {
  let existing: string | null = null;
  try {
    existing = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== null) {
    if (!DEV_KEY.test(existing)) throw new Error(`${path} does not hold a development key (dev_ and 24+ URL-safe characters); delete it to get a new one`);
    chmodSync(path, 0o600);
    return existing;
  }
  const key = 'dev_' + randomBytes(18).toString('base64url');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // 'wx': two processes starting at once must not each write a different key.
  try {
    writeFileSync(path, key + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateDevKey(path);
    throw err;
  }
  return key;
}
