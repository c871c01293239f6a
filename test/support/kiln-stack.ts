import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadConfig as loadApiConfig } from '../../api/config';
import { loadConfig as loadWorkerConfig } from '../../worker/config';
import { startWorker } from '../../worker/main';
import { REDIS_URL, uniquePrefix } from './redis';

export interface KilnStack {
  app: FastifyInstance;
  base: string;
  storeUri: string;
  keys: Record<string, string>;
  /** Headers for a tenant's requests. */
  auth(tenant?: string): Record<string, string>;
  close(): Promise<void>;
}

const DIST_PROCESSOR = join(__dirname, '../../dist/worker/processor.js');

/**
 * A whole Kiln on loopback: the API (listening), a worker with sandboxed children from dist/, real
 * Redis under a prefix of its own, and the given store (a temp file store by default). Two tenants.
 */
export async function startStack(opts: { name: string; store?: { uri: string; endpoint?: string }; worker?: boolean; env?: Record<string, string> } = { name: 'stack' }): Promise<KilnStack> {
  const { prefix, cleanup } = uniquePrefix(opts.name);
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-stack-'));
  const storeUri = opts.store?.uri ?? 'file://' + join(tmp, 'store');
  const keys = { acme: 'acme_' + randomBytes(12).toString('hex'), globex: 'globex_' + randomBytes(12).toString('hex') };
  const env: Record<string, string> = {
    REDIS_URL,
    KILN_QUEUE_PREFIX: prefix,
    KILN_STORE: storeUri,
    KILN_API_KEYS: Object.entries(keys).map(([t, k]) => `${t}:${k}`).join(','),
    KILN_BACKEND: 'cpu',
    KILN_WORKER_HEALTH_PORT: '0',
    KILN_SHUTDOWN_GRACE_SECONDS: '10',
    KILN_OUTBOUND_ALLOW: '127.0.0.1',
    KILN_WEBHOOK_SCHEDULE: '200ms,500ms,1s',
    LOG_LEVEL: 'warn',
    ...(opts.store?.endpoint ? { KILN_S3_ENDPOINT: opts.store.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } : {}),
    ...opts.env,
  };
  // Sandboxed children inherit the parent's environment when they are forked.
  Object.assign(process.env, env);
  const app = await buildApp(loadApiConfig(env), { logger: false });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const worker = opts.worker === false ? null : await startWorker(loadWorkerConfig(env), { processorFile: DIST_PROCESSOR });
  return {
    app,
    base: address,
    storeUri,
    keys,
    auth: (tenant = 'acme') => ({ authorization: `Bearer ${keys[tenant as keyof typeof keys]}` }),
    async close() {
      await worker?.stop();
      await app.close();
      await cleanup();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Polls a job until it ends, returning its final view. */
export async function waitForJob(stack: KilnStack, jobId: string, timeoutMs = 120000, tenant = 'acme'): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth(tenant) });
    const view = (await res.json()) as any;
    if (['succeeded', 'failed', 'cancelled'].includes(view.status)) return view;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${view.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
