import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadConfig } from '../../api/config';
import { REDIS_URL, uniquePrefix } from './redis';

export const KEYS = { acme: 'acme-key-0123456789abcdef', globex: 'globex-key-0123456789abcdef' };

/** The API alone (no worker), over real Redis and a temp file store, for app.inject() tests. */
export async function startApi(name: string, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; prefix: string; storeDir: string; close(): Promise<void> }> {
  const { prefix, cleanup } = uniquePrefix(name);
  const storeDir = mkdtempSync(join(tmpdir(), 'kiln-api-'));
  const app = await buildApp(loadConfig({
    REDIS_URL,
    KILN_QUEUE_PREFIX: prefix,
    KILN_STORE: 'file://' + storeDir,
    KILN_API_KEYS: `acme:${KEYS.acme},globex:${KEYS.globex}`,
    KILN_BODY_LIMIT_BYTES: '65536',
    KILN_OUTBOUND_ALLOW: '127.0.0.1',
    ...env,
  }), { logger: false });
  await app.ready();
  return {
    app,
    prefix,
    storeDir,
    async close() {
      await app.close();
      await cleanup();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

export const auth = (tenant: keyof typeof KEYS = 'acme') => ({ authorization: `Bearer ${KEYS[tenant]}` });

/** A small valid job on iris; tests change one thing at a time. */
export function validJob(): any {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 3, batchSize: 16 },
    callbacks: { earlyStopping: { monitor: 'val_loss', patience: 2 }, csvLogger: {} },
  };
}
