import type { Redis } from 'ioredis';
import { KilnError } from '../../core/errors';
import { kilnKeys } from '../../core/queue-contract';
import { limitFor, type TenantLimit } from '../../core/tenant-limits';

const WINDOW_MS = 60_000;

// A sliding one-minute log per tenant. Redis's clock, so every API instance counts the same window.
// Returns {1, 0} when admitted (the member is recorded), {0, ms until the oldest entry leaves} when not.
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
`;

const ADMIT_COMMAND = 'kilnSubmissionAdmit';
type AdmitCommand = (key: string, windowMs: number, max: number, member: string) => Promise<[number, number]>;

/** Per-tenant submissions per minute (`KILN_TENANT_SUBMISSIONS_PER_MINUTE`); over it, a 429 with Retry-After. */
export class SubmissionLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limit: TenantLimit,
  ) {
    // EVALSHA (ioredis falls back to EVAL once if Redis lacks the script) instead of sending the
    // script's text with every POST.
    if (!(ADMIT_COMMAND in redis)) redis.defineCommand(ADMIT_COMMAND, { numberOfKeys: 1, lua: ADMIT });
  }

  /** Records `jobId` against the tenant's minute, or throws RATE_LIMITED. */
  async admit(tenant: string, jobId: string): Promise<void> {
    const max = limitFor(this.limit, tenant);
    if (max <= 0) return;
    const admit = (this.redis as unknown as Record<typeof ADMIT_COMMAND, AdmitCommand>)[ADMIT_COMMAND];
    const [admitted, waitMs] = await admit.call(this.redis, kilnKeys.tenantSubmissions(this.prefix, tenant), WINDOW_MS, max, jobId);
    if (admitted === 1) return;
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    throw new KilnError('RATE_LIMITED', `tenant ${tenant} may submit ${max} jobs per minute and has reached that; nothing was queued, retry after ${retryAfter} s`, { retryAfter });
  }

  /** Gives back a slot taken by a submission that was not queued after all. */
  async release(tenant: string, jobId: string): Promise<void> {
    if (limitFor(this.limit, tenant) <= 0) return;
    await this.redis.zrem(kilnKeys.tenantSubmissions(this.prefix, tenant), jobId);
  }
}
