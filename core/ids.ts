import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// One getrandom call per 409 ids instead of one per id (it was ~6% of a POST's CPU).
const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;

function randomTen(): Buffer {
  if (poolOffset + 10 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  // A copy, so a caller keeping the buffer never sees it refilled.
  const out = Buffer.from(POOL.subarray(poolOffset, poolOffset + 10));
  poolOffset += 10;
  return out;
}

/** Eight base32 digits of a 40-bit integer, most significant first. */
function base32Of40(n: number): string {
  let s = '';
  for (let i = 0; i < 8; i++) {
    s = CROCKFORD[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
}

/**
 * A ULID: 48 bits of milliseconds then 80 random bits, in Crockford base32, so ids sort by
 * creation time (the job list pages through them in that order).
 */
export function ulid(now: number = Date.now(), random: Buffer = randomTen()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  // 80 bits = two 40-bit halves of 8 digits each; 40 bits fit a double exactly.
  const half = (from: number) => (((random[from] * 256 + random[from + 1]) * 256 + random[from + 2]) * 256 + random[from + 3]) * 256 + random[from + 4];
  return time + base32Of40(half(0)) + base32Of40(half(5));
}

/** A new job id and the run id that goes with it (the same suffix, so each derives the other). */
export function newJobIds(now?: number): { jobId: string; runId: string } {
  const id = ulid(now);
  return { jobId: `job_${id}`, runId: `run_${id}` };
}

export function runIdForJob(jobId: string): string {
  return 'run_' + jobId.slice('job_'.length);
}

export function jobIdForRun(runId: string): string {
  return 'job_' + runId.slice('run_'.length);
}
