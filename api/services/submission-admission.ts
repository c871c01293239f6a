import type { Redis } from 'ioredis';
import { kilnKeys } from '../../core/queue-contract';
import { limitFor, type TenantLimit } from '../../core/tenant-limits';
import { WriteBatcher } from './write-batcher';

const WINDOW_MS = 60_000;

// Everything a submission needs from Redis before it is queued, in one atomic step (one round trip):
// 1. Idempotency: a key already bound to a job is a replay; nothing else happens.
// 2. The tenant's sliding one-minute log, on Redis's clock so every API instance counts the same
//    window: full means refused, with the ms until its oldest entry leaves.
// 3. The job goes into the tenant's index and, when keyed, the key is bound to it.
// KEYS: tenant index, submission log, [idempotency key]. ARGV: jobId, window ms, max per window
// (0 = unlimited), idempotency record, its TTL in s.
// Returns {1} admitted, {0, wait ms} refused, {2, record} replay of the record's job.
const ADMIT = `
if #KEYS == 3 then
  local prior = redis.call('GET', KEYS[3])
  if prior then return {2, prior} end
end
local max = tonumber(ARGV[3])
if max > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local window = tonumber(ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= max then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, tonumber(oldest[2]) + window - now}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], window)
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
if #KEYS == 3 then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
return {1}
`;

// Undoes an admission whose job could not be queued. KEYS as above; ARGV: jobId.
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if #KEYS == 3 then redis.call('DEL', KEYS[3]) end
return 1
`;

const ADMIT_COMMAND = 'kilnSubmissionAdmit';
const RELEASE_COMMAND = 'kilnSubmissionRelease';
type ScriptCommand = (numberOfKeys: number, ...args: Array<string | number>) => Promise<unknown>;

/** The outcome of {@link SubmissionAdmission.admit}. */
export type Admission =
  | { kind: 'admitted' }
  /** The tenant's minute is full; nothing was recorded. */
  | { kind: 'refused'; max: number; retryAfterSeconds: number }
  /** The Idempotency-Key is already bound; `record` is what it was bound to (as passed to `admit`). */
  | { kind: 'replay'; record: string };

/** One submission as {@link SubmissionAdmission} sees it. */
export interface SubmissionKeys {
  tenant: string;
  jobId: string;
  /** The Redis key of the submission's Idempotency-Key record, when it has one. */
  idempotencyKey?: string;
}

/**
 * Admission of `POST /v1/jobs` before the job is queued, in one Redis command: Idempotency-Key
 * replays, the per-tenant submissions per minute (`KILN_TENANT_SUBMISSIONS_PER_MINUTE`) and the
 * tenant's job index, as one Lua script (ioredis sends its text once per connection, then EVALSHA);
 * a submission with neither a key nor a limit needs only its index entry, a plain ZADD.
 */
export class SubmissionAdmission {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly perMinute: TenantLimit,
    private readonly idempotencyTtlSeconds: number,
  ) {
    if (!(ADMIT_COMMAND in redis)) redis.defineCommand(ADMIT_COMMAND, { lua: ADMIT });
    if (!(RELEASE_COMMAND in redis)) redis.defineCommand(RELEASE_COMMAND, { lua: RELEASE });
  }

  /**
   * Admits the submission (records it in the tenant's minute and index, binds its Idempotency-Key
   * to `idempotencyRecord`), or says why not. Rejects only when Redis does.
   */
  async admit(s: SubmissionKeys, idempotencyRecord: string): Promise<Admission> {
    const max = limitFor(this.perMinute, s.tenant);
    if (max <= 0 && s.idempotencyKey === undefined) {
      // Nothing to decide: only the index entry (a plain ZADD costs Redis less than the script).
      WriteBatcher.of(this.redis).hold();
      await this.redis.zadd(kilnKeys.tenantJobs(this.prefix, s.tenant), 0, s.jobId);
      return { kind: 'admitted' };
    }
    const reply = (await this.run(ADMIT_COMMAND, s, [s.jobId, WINDOW_MS, max, idempotencyRecord, this.idempotencyTtlSeconds])) as [number, number | string];
    if (reply[0] === 1) return { kind: 'admitted' };
    if (reply[0] === 2) return { kind: 'replay', record: String(reply[1]) };
    return { kind: 'refused', max, retryAfterSeconds: Math.max(1, Math.ceil(Number(reply[1]) / 1000)) };
  }

  /** Gives back what `admit` recorded for a submission that was not queued after all. */
  async release(s: SubmissionKeys): Promise<void> {
    await this.run(RELEASE_COMMAND, s, [s.jobId]);
  }

  private run(command: string, s: SubmissionKeys, args: Array<string | number>): Promise<unknown> {
    const keys = [kilnKeys.tenantJobs(this.prefix, s.tenant), kilnKeys.tenantSubmissions(this.prefix, s.tenant)];
    if (s.idempotencyKey !== undefined) keys.push(s.idempotencyKey);
    const script = (this.redis as unknown as Record<string, ScriptCommand>)[command];
    WriteBatcher.of(this.redis).hold();
    return script.call(this.redis, keys.length, ...keys, ...args);
  }
}
