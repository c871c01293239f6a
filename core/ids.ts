import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID: 48 bits of milliseconds then 80 random bits, in Crockford base32, so ids sort by
 * creation time (the job list pages through them in that order).
 */
export function ulid(now: number = Date.now(), random: Buffer = randomBytes(10)): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let bits = 0n;
  for (const b of random) bits = (bits << 8n) | BigInt(b);
  let rand = '';
  for (let i = 0; i < 16; i++) {
    rand = CROCKFORD[Number(bits & 31n)] + rand;
    bits >>= 5n;
  }
  return time + rand;
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
