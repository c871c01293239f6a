import { resolve } from 'node:path';
import { ConfigProblems, parsePublicUrl, parseRedisUrl } from '../core/config-parse';
import { parseStoreConfig, type StoreConfig } from '../store/create-store';
import { parseOutboundAllow, type OutboundAllow } from '../core/outbound-policy';
import { DEFAULT_MAX_EPOCH_ROWS, DEFAULT_QUEUE_PREFIX } from '../core/queue-contract';
import { DEFAULT_MAX_MODEL_PARAMS, DEFAULT_WORKER_MEMORY_BYTES } from '../core/model-cost';
import type { TenantLimit } from '../core/tenant-limits';

export interface ApiConfig {
  port: number;
  host: string;
  redisUrl: string;
  queuePrefix: string;
  store: StoreConfig;
  /** API key → tenant. */
  apiKeys: Map<string, string>;
  /** The development key in use when no keys were configured (`npm start` only), else null. */
  generatedDevKey: string | null;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  logLevel: string;
  /** Private or loopback hosts and CIDRs that job webhooks may target anyway (KILN_OUTBOUND_ALLOW). */
  outbound: OutboundAllow;
  /** Accepted submissions per tenant per minute (KILN_TENANT_SUBMISSIONS_PER_MINUTE; 0 = unlimited). */
  submissionsPerMinute: TenantLimit;
  /** Cap on fit.epochs × dataset rows per job (KILN_MAX_EPOCH_ROWS; 0 = no cap). */
  maxEpochRows: number;
  /** Cap on a job's model parameters (KILN_MAX_MODEL_PARAMS; 0 = no cap). */
  maxModelParams: number;
  /** Memory one training process may use; jobs estimated above it are refused (KILN_WORKER_MEMORY_BYTES; 0 = no check). */
  workerMemoryBytes: number;
  /**
   * Operator key (KILN_ADMIN_KEY) for `GET /metrics` and the `/admin/queues` dashboard. Unset:
   * /metrics is open and the dashboard is not mounted.
   */
  adminKey: string | null;
  /**
   * Where clients reach the API (KILN_PUBLIC_URL), named as the served OpenAPI document's server.
   * Unset: each request's own origin (api/public-origin.ts).
   */
  publicUrl: string | null;
}

/**
 * Reads the API's configuration from an environment. Pure: called once by the entry point and
 * passed down. Throws one error listing every problem. `devKey`, when given, supplies the
 * development key used instead of KILN_API_KEYS when none are set (`npm start`: api/dev-key.ts).
 */
export function loadConfig(env: Record<string, string | undefined>, opts: { devKey?: () => string } = {}): ApiConfig {
  const p = new ConfigProblems();
  const apiKeys = new Map<string, string>();
  let generatedDevKey: string | null = null;
  const rawKeys = env.KILN_API_KEYS ?? '';
  for (const pair of rawKeys.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf(':');
    const tenant = pair.slice(0, i);
    const key = pair.slice(i + 1);
    if (i <= 0 || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(tenant) || key.length < 16) {
      p.add('KILN_API_KEYS', `each entry is tenant:key with a lowercase tenant (a-z, 0-9, -) and a key of 16+ characters; '${pair.slice(0, Math.max(i, 0))}:…' is not`);
      continue;
    }
    apiKeys.set(key, tenant);
  }
  if (apiKeys.size === 0) {
    if (opts.devKey) {
      generatedDevKey = opts.devKey();
      apiKeys.set(generatedDevKey, 'dev');
    } else {
      p.add('KILN_API_KEYS', 'no API keys configured; set tenant:key pairs, e.g. KILN_API_KEYS=acme:<32 random characters>');
    }
  }
  const config: ApiConfig = {
    port: p.int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '0.0.0.0',
    redisUrl: parseRedisUrl(env, p),
    queuePrefix: env.KILN_QUEUE_PREFIX || DEFAULT_QUEUE_PREFIX,
    store: parseStoreConfig(env, p, 'file://' + resolve('.kiln/store')),
    apiKeys,
    generatedDevKey,
    bodyLimit: p.int(env, 'KILN_BODY_LIMIT_BYTES', 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    logLevel: p.oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    outbound: { hosts: [], cidrs: [] },
    submissionsPerMinute: p.tenantLimit(env, 'KILN_TENANT_SUBMISSIONS_PER_MINUTE', 120),
    maxEpochRows: p.int(env, 'KILN_MAX_EPOCH_ROWS', DEFAULT_MAX_EPOCH_ROWS, 0, Number.MAX_SAFE_INTEGER),
    maxModelParams: p.int(env, 'KILN_MAX_MODEL_PARAMS', DEFAULT_MAX_MODEL_PARAMS, 0, Number.MAX_SAFE_INTEGER),
    workerMemoryBytes: p.int(env, 'KILN_WORKER_MEMORY_BYTES', DEFAULT_WORKER_MEMORY_BYTES, 0, Number.MAX_SAFE_INTEGER),
    adminKey: env.KILN_ADMIN_KEY || null,
    publicUrl: parsePublicUrl(env, p),
  };
  if (config.adminKey !== null && (config.adminKey.length < 16 || /\s/.test(config.adminKey))) {
    p.add('KILN_ADMIN_KEY', 'use 16 or more characters without spaces, e.g. KILN_ADMIN_KEY=$(openssl rand -hex 24)');
  }
  const outbound = parseOutboundAllow(env.KILN_OUTBOUND_ALLOW);
  for (const problem of outbound.problems) p.add('KILN_OUTBOUND_ALLOW', problem);
  config.outbound = outbound.allow;
  p.check('API');
  return config;
}
