import type { Redis } from 'ioredis';

/**
 * Takes a running job's lock back after a Redis outage outlasted it. BullMQ only extends a lock
 * that still exists (extendLock*.lua), and its stalled checker moves an active job without a
 * lock back to waiting and counts a stall (moveStalledJobsToWait-9.lua): a Redis outage longer
 * than the lock would cost the job an attempt, and start a second attempt beside the one still
 * training. This sets the lock again when no one else holds it and the job is still active here
 * (and takes it out of the stalled set, as a renewal does). When the stalled checker got there
 * first, it gives back the stall it counted: a Redis outage is not the job's fault.
 *
 * KEYS: lock, active list, stalled set, job hash. ARGV: token, lock duration (ms), job id.
 * Returns 1 when the lock is (again) this token's, 0 when the job is no longer this worker's.
 */
const RETAKE_LOCK = `
local current = redis.call('GET', KEYS[1])
if current then
  if current == ARGV[1] then return 1 end
  return 0
end
if redis.call('LPOS', KEYS[2], ARGV[3]) == false then
  local stalls = tonumber(redis.call('HGET', KEYS[4], 'stc') or '0')
  if stalls > 0 and redis.call('HGET', KEYS[4], 'defa') == false then redis.call('HINCRBY', KEYS[4], 'stc', -1) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SREM', KEYS[3], ARGV[3])
return 1
`;

/**
 * Runs {@link RETAKE_LOCK} for one job of the queue whose keys start with `base`
 * (`<prefix>:<queue>:`, BullMQ's qualified queue name and a colon); resolves to whether the lock
 * is `token`'s.
 */
export async function retakeLock(redis: Redis, base: string, jobId: string, token: string, lockDurationMs: number): Promise<boolean> {
  const kept = await redis.eval(RETAKE_LOCK, 4, `${base}${jobId}:lock`, `${base}active`, `${base}stalled`, `${base}${jobId}`, token, lockDurationMs, jobId);
  return kept === 1;
}
