import type { Redis } from 'ioredis';
import { kilnKeys } from '../core/queue-contract';
import { limitFor, type TenantLimit } from '../core/tenant-limits';

/** How long a slot lasts without renewal: a worker that died frees its tenant's slot after this. */
const LEASE_MS = 5 * 60_000;
const RENEW_MS = 60_000;

// KEYS[1]: the tenant's running set (jobId → lease expiry). ARGV: limit, lease ms, jobId.
// Expired leases are dropped first; a job that already holds a slot (a retry) renews it.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

/** A held slot; release it when the job stops training, whatever the outcome. */
export interface TenantSlot {
  release(): Promise<void>;
}

/**
 * Per-tenant limit on jobs training at once (`KILN_TENANT_MAX_RUNNING`), shared by every worker
 * through Redis. Returns null when the tenant is at its limit: the caller puts the job back to wait.
 */
export async function acquireTenantSlot(redis: Redis, prefix: string, limit: TenantLimit, tenant: string, jobId: string): Promise<TenantSlot | null> {
  const max = limitFor(limit, tenant);
  if (max <= 0) return { release: async () => undefined };
  const key = kilnKeys.tenantRunning(prefix, tenant);
  const got = await redis.eval(ACQUIRE, 1, key, max, LEASE_MS, jobId);
  if (got !== 1) return null;
  const renew = setInterval(() => {
    redis.eval(ACQUIRE, 1, key, Number.MAX_SAFE_INTEGER, LEASE_MS, jobId).catch(() => undefined);
  }, RENEW_MS);
  renew.unref();
  return {
    release: async () => {
      clearInterval(renew);
      await redis.zrem(key, jobId).catch(() => undefined);
    },
  };
}
