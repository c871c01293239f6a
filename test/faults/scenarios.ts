/**
 * Fault scenarios for the harness: each submits small seeded iris runs and breaks something at a
 * random moment of their training. The runner (run.ts) and the sample test compose them; the
 * verifier (verify.ts) judges the runs afterwards.
 */
import { parentPid } from '../support/process-tree';
import type { FaultHarness, TrackedRun, WorkerHandle } from './harness';
import { summarize, verifyRun, type FaultReport, type RunVerdict } from './verify';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A random integer in [lo, hi]. */
export function pick(h: FaultHarness, lo: number, hi: number): number {
  return lo + Math.floor(h.random() * (hi - lo + 1));
}

/** Waits for the run to reach a random epoch in [lo, hi], then a random 0–400 ms more (mid-epoch, mid-upload). */
async function randomMoment(h: FaultHarness, run: TrackedRun, lo: number, hi: number): Promise<boolean> {
  const view = await h.waitForEpoch(run, pick(h, lo, hi), 120000);
  if (view.status !== 'running') return false;
  await sleep(h.random() * 400);
  return run.status === null;
}

let seq = 0;
/** Submits `count` iris runs of `epochs` epochs with fresh seeds. */
export async function submitRuns(h: FaultHarness, count: number, epochs: number, label: string): Promise<TrackedRun[]> {
  const runs: TrackedRun[] = [];
  for (let i = 0; i < count; i++) {
    seq++;
    runs.push(await h.submit(h.irisSpec(epochs, 1000 + seq, `${label}-${seq}`), `${label}-${seq}`));
  }
  return runs;
}

/** An uninterrupted run alone on the harness: its wall time is the baseline. */
export async function baseline(h: FaultHarness, epochs: number): Promise<{ run: TrackedRun; seconds: number }> {
  const [run] = await submitRuns(h, 1, epochs, 'baseline');
  const left = await h.waitForEnd([run], 180000);
  if (left.length > 0 || run.firstRunningAt === null || run.endedAt === null) throw new Error('the baseline run did not finish');
  return { run, seconds: (run.endedAt - run.firstRunningAt) / 1000 };
}

/** SIGKILLs the sandboxed child of each run once, at a random epoch. */
export async function childKills(h: FaultHarness, runs: TrackedRun[], epochs: number): Promise<void> {
  await Promise.all(runs.map((run) => strike(h, run, epochs, 'child kill', async () => {
    // Locate the child first (it takes up to one cancel-poll period), then strike at the moment.
    const where = await h.locateOne(run.jobId).catch(() => undefined);
    if (!(await randomMoment(h, run, 2, epochs - 4))) return 'the run was no longer running at the chosen moment';
    try {
      await h.killChild(run, where);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  })));
}

/**
 * Runs `attempt` (which returns null once its fault landed, else why it did not) up to three
 * times while the run is still running: on a loaded machine a location or a moment can slip (the
 * sandbox child changes, the cancel poll is late), and a missed strike would leave the run
 * untested. Each miss is noted with its reason.
 */
async function strike(h: FaultHarness, run: TrackedRun, epochs: number, what: string, attempt: () => Promise<string | null>): Promise<boolean> {
  await h.waitFor(run, (v) => v.status !== 'queued', 'start', 120000);
  for (let tries = 1; tries <= 3; tries++) {
    const missed = await attempt();
    if (missed === null) return true;
    h.note(`${what} of ${run.label} missed (try ${tries}): ${missed}`);
    h.misses.push(`${what} of ${run.label}, try ${tries}: ${missed}`);
    if (run.status !== null || (run.view?.progress?.epoch ?? 0) >= epochs) return false;
  }
  return false;
}

/**
 * Kills the worker parent training `run` at a random epoch (SIGKILL, or SIGTERM for a graceful
 * hand-back) and starts a replacement worker. Other runs on that worker are hit too.
 */
export async function parentKill(h: FaultHarness, run: TrackedRun, epochs: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<WorkerHandle | null> {
  let killed: WorkerHandle | null = null;
  await strike(h, run, epochs, `parent ${signal}`, async () => {
    const where = await h.locateOne(run.jobId).catch(() => null);
    if (!where) return 'the run was not found training in a live worker';
    if (!(await randomMoment(h, run, 2, epochs - 4))) return 'the run was no longer running at the chosen moment';
    // Workers run one job at a time (KILN_WORKER_CONCURRENCY=1), so the run is the worker's only victim
    // as long as it still trains there.
    const still = parentPid(where.childPid) === where.worker.pid ? where : await h.locateOne(run.jobId).catch(() => null);
    if (!still) return 'the run moved before the strike and was not found again';
    killed = await h.killParent(still.worker, signal, [run]);
    return null;
  });
  return killed;
}

/** Drops every Redis connection once the run reaches a random epoch. */
export async function redisDrop(h: FaultHarness, run: TrackedRun, epochs: number): Promise<void> {
  if (!(await randomMoment(h, run, 2, epochs - 4))) return;
  await h.dropRedisClients();
}

/** What the API answered while Redis was down. */
export interface OutageChecks {
  requests: number;
  /** Status → count. */
  statuses: Record<string, number>;
  /** 503 answers that were problem+json with a Retry-After header. */
  wellFormed503: number;
  /** Anything else: the status and body of each. */
  bad: string[];
}

/**
 * Submissions and reads against the API while Redis is down: each must be a 503 problem+json with
 * Retry-After (never a 500, never a hang).
 */
export async function probeApiWhileDown(h: FaultHarness, jobIds: string[], rounds: number): Promise<OutageChecks> {
  const out: OutageChecks = { requests: 0, statuses: {}, wellFormed503: 0, bad: [] };
  const check = async (what: string, res: Promise<Response>) => {
    out.requests++;
    try {
      const r = await res;
      const body = await r.text();
      out.statuses[r.status] = (out.statuses[r.status] ?? 0) + 1;
      const problem = (r.headers.get('content-type') ?? '').startsWith('application/problem+json');
      if (r.status === 503 && problem && r.headers.get('retry-after')) out.wellFormed503++;
      else out.bad.push(`${what} → ${r.status} ${r.headers.get('content-type')} retry-after=${r.headers.get('retry-after')} ${body.slice(0, 200)}`);
    } catch (err) {
      out.statuses.error = (out.statuses.error ?? 0) + 1;
      out.bad.push(`${what} → ${(err as Error).message}`);
    }
  };
  const timeout = () => AbortSignal.timeout(10000);
  for (let i = 0; i < rounds; i++) {
    await check('POST /v1/jobs', fetch(`${h.base}/v1/jobs`, { method: 'POST', headers: { ...h.auth(), 'content-type': 'application/json' }, body: JSON.stringify(h.irisSpec(5, 1, 'outage')), signal: timeout() }));
    for (const id of jobIds) await check(`GET /v1/jobs/${id}`, fetch(`${h.base}/v1/jobs/${id}`, { headers: h.auth(), signal: timeout() }));
    await check('GET /v1/jobs', fetch(`${h.base}/v1/jobs`, { headers: h.auth(), signal: timeout() }));
  }
  return out;
}

/**
 * Submits `queued` extra runs (accepted, 202, most still waiting), then kills Redis for `downMs`
 * while runs train, probing the API meanwhile; Redis comes back from its AOF and everything
 * accepted must still complete.
 */
export async function redisOutage(h: FaultHarness, opts: { queued: number; epochs: number; downMs: number }): Promise<{ accepted: TrackedRun[]; api: OutageChecks }> {
  const accepted = await submitRuns(h, opts.queued, opts.epochs, 'pre-outage');
  let api: OutageChecks = { requests: 0, statuses: {}, wellFormed503: 0, bad: [] };
  await h.restartRedis(opts.downMs, async () => {
    await sleep(200);
    api = await probeApiWhileDown(h, accepted.slice(0, 2).map((r) => r.jobId), 2);
  });
  return { accepted, api };
}

/** Waits a little for webhooks still in flight: until every ended run's epochs arrived or `ms` passed. */
export async function settleWebhooks(h: FaultHarness, runs: TrackedRun[], ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  const complete = () => runs.every((r) => {
    if (r.status !== 'succeeded') return true;
    const last = r.view?.progress?.epoch ?? -1;
    const got = new Set(h.webhooksFor(r.jobId).filter((d) => d.type === 'job.epoch').map((d) => d.data.epoch));
    return got.size >= last + 1 && h.webhooksFor(r.jobId).some((d) => d.type === 'job.succeeded');
  });
  while (!complete() && Date.now() < deadline) await sleep(200);
}

/**
 * Times a run lost its training process to an injected fault: every child or parent kill, and a
 * SIGTERM only when the job handed itself back (a SIGTERM during the last epoch lets it finish).
 * Redis drops and restarts are faults the workers ride out; they are reported apart.
 */
export function interruptionsOf(run: TrackedRun): number {
  const kills = run.injected.filter((f) => f.kind === 'child_kill' || f.kind === 'parent_kill').length;
  const terms = run.injected.filter((f) => f.kind === 'parent_term').length;
  const handedBack = ((run.view?.interruptions ?? []) as Array<{ reason: string }>).filter((i) => i.reason === 'shutdown').length;
  return kills + Math.min(terms, handedBack);
}

/** Verifies every tracked run and sums the report. */
export async function verifyAll(h: FaultHarness, baselineSeconds: number | null, exclude: TrackedRun[] = []): Promise<{ report: FaultReport; verdicts: RunVerdict[] }> {
  const runs = h.runs.filter((r) => !exclude.includes(r));
  await settleWebhooks(h, runs);
  const verdicts: RunVerdict[] = [];
  for (const run of runs) {
    verdicts.push(await verifyRun(h.store, {
      jobId: run.jobId, runId: run.runId, tenant: run.tenant, epochs: run.epochs, status: run.status, view: run.view,
      firstRunningAt: run.firstRunningAt, endedAt: run.endedAt, interruptions: interruptionsOf(run),
    }, h.webhooksFor(run.jobId)));
  }
  return { report: summarize(verdicts, baselineSeconds), verdicts };
}

/** What a long outage did to the runs that trained through it. */
export interface LongOutageFigures {
  fault: 'store_read_only' | 'redis_outage';
  downSeconds: number;
  /** The runs' last completed epoch when it began. */
  hitAtEpoch: Array<number | null>;
  /** Runs the API showed as `waiting` (store_unavailable) while it lasted. */
  shownWaiting: number;
  /** Per run, once it ended: its status, BullMQ's attempts started and stalls, the interruptions it recorded. */
  runs: Array<{ jobId: string; status: string | null; attemptsStarted: number; stalls: number; interruptions: string[]; wallSeconds: number | null }>;
  /** Writes the read-only store refused. */
  writesRefused?: number;
}

/**
 * The store turns read-only (every write refused) for `downMs` once the first run reaches a
 * random epoch of its middle, then writable again. Every run must end succeeded on its first
 * attempt, with no stall, each epoch once and a sound best.json (checked by verifyAll), and be
 * shown as waiting while it lasted.
 */
export async function storeReadOnlyOutage(h: FaultHarness, runs: TrackedRun[], epochs: number, downMs: number): Promise<LongOutageFigures> {
  await randomMoment(h, runs[0], 2, Math.max(2, Math.floor(epochs / 2)));
  const hitAtEpoch = runs.map((r) => r.view?.progress?.epoch ?? null);
  const refusedBefore = h.proxy.counts.writesRefused;
  const waiting = new Set<string>();
  await h.storeReadOnly(downMs, async () => {
    const until = Date.now() + downMs;
    while (Date.now() < until) {
      for (const r of runs) if (r.view?.waiting?.reason === 'store_unavailable') waiting.add(r.jobId);
      await sleep(250);
    }
  });
  await h.waitForEnd(runs, 300000);
  return { fault: 'store_read_only', downSeconds: downMs / 1000, hitAtEpoch, shownWaiting: waiting.size, runs: await outcomes(h, runs), writesRefused: h.proxy.counts.writesRefused - refusedBefore };
}

/**
 * Redis is killed for `downMs` (longer than the workers' lock) once the first run reaches a random
 * epoch of its middle, then started again from its AOF. Every run must end succeeded on its first
 * attempt, with no stall counted, each epoch once and a sound best.json.
 */
export async function redisLongOutage(h: FaultHarness, runs: TrackedRun[], epochs: number, downMs: number): Promise<LongOutageFigures> {
  await randomMoment(h, runs[0], 2, Math.max(2, Math.floor(epochs / 2)));
  const hitAtEpoch = runs.map((r) => r.view?.progress?.epoch ?? null);
  await h.redisOutage(downMs);
  await h.waitForEnd(runs, 300000);
  return { fault: 'redis_outage', downSeconds: downMs / 1000, hitAtEpoch, shownWaiting: 0, runs: await outcomes(h, runs) };
}

async function outcomes(h: FaultHarness, runs: TrackedRun[]): Promise<LongOutageFigures['runs']> {
  return Promise.all(runs.map(async (r) => {
    const c = await h.bullCounters(r.jobId);
    return {
      jobId: r.jobId,
      status: r.status,
      attemptsStarted: c.attemptsStarted,
      stalls: c.stalls,
      interruptions: ((r.view?.interruptions ?? []) as Array<{ reason: string; detail?: string }>).map((i) => (i.detail ? `${i.reason}: ${i.detail}` : i.reason)),
      wallSeconds: r.firstRunningAt !== null && r.endedAt !== null ? Math.round((r.endedAt - r.firstRunningAt) / 100) / 10 : null,
    };
  }));
}

/** Whether a long outage cost a run anything: not succeeded, a second attempt, or a stall. */
export function outageCosts(f: LongOutageFigures): string[] {
  return f.runs.flatMap((r) => [
    ...(r.status !== 'succeeded' ? [`${r.jobId} ended ${r.status}`] : []),
    ...(r.attemptsStarted !== 1 ? [`${r.jobId} started ${r.attemptsStarted} attempts`] : []),
    ...(r.stalls !== 0 ? [`${r.jobId} counted ${r.stalls} stalls`] : []),
  ]).concat(f.fault === 'store_read_only' && f.shownWaiting < f.runs.filter((r, i) => f.hitAtEpoch[i] !== null).length ? [`only ${f.shownWaiting} of the runs hit were shown waiting`] : []);
}
