/**
 * Runs fuzz cases against a {@link FuzzStack} and builds the report issue 14 asks for: requests by
 * status, 5xx, errors that are not problem documents, accepted hostile jobs that hung, crashed a
 * process, were retried or failed as INTERNAL, `/healthz` latency while it all happened, and a
 * canary job of the other tenant after the hostile ones, which must succeed on its first attempt.
 *
 * The order of work:
 * 1. every case that is not a job case, several at a time (a `/healthz` prober runs throughout, in
 *    a thread of its own so this process's work does not skew it); a request the API accepts
 *    (202) is followed to its end like a job case;
 * 2. the job cases one at a time: each accepted one is followed to its end, then a canary is
 *    submitted and followed (a job that breaks its process breaks the next job in it);
 * 3. a last canary, then reads of the canary's job and run as the hostile tenant (must be 404) and
 *    as its own tenant (must not show its webhook secret), and the hostile tenant's job list (its
 *    size is bounded).
 *
 * Stuck work is bounded rather than waited for: a request that gets no answer within the request
 * timeout, while `/healthz` does not answer either, restarts the API; an accepted job that trains
 * past the hang bound is cancelled and, when it ignores that, its training process is killed.
 */
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { ERROR_CODES } from '../../core/errors';
import { mulberry32 } from '../../core/random';
import { checkAnswer, sendHttp, sendRaw, type Answer } from './client';
import type { FuzzCase } from './cases';
import { generateFromContract, shuffle } from './generator';
import { absurdModelCases, framingCases, irisJob, reportedCases } from './hostile';
import { CANARY_TENANT, FuzzStack, HOSTILE_TENANT } from './stack';

export interface FuzzOptions {
  seed: number;
  /** Cases per category (reported cases always run); null runs every case. @defaultValue null */
  perCategory?: number | null;
  /** Requests in flight at once in the first phase. @defaultValue 4 */
  concurrency?: number;
  /** No answer within this is a failure (and a reason to check the API is alive). @defaultValue 5000 */
  requestTimeoutMs?: number;
  /**
   * An accepted job still not ended this long after it started training has hung (the hostile
   * jobs carry `maxRuntimeSeconds: 20`, so one that trains normally ends well within it).
   * @defaultValue 40000
   */
  hangBoundMs?: number;
  /** An accepted job still queued this long after submission is stuck behind one. @defaultValue 240000 */
  queueBoundMs?: number;
  /**
   * Every `/healthz` answer must come within this. Generous for a shared machine; the report also
   * counts answers over 100 ms. @defaultValue 1000
   */
  healthzBoundMs?: number;
  /**
   * Counted from the first request: no case is sent after this (unsent ones are counted); jobs
   * still open 15 s later count as unfinished. @defaultValue 480000
   */
  deadlineMs?: number;
  /** How long the last canary may take, even past the deadline. @defaultValue 60000 */
  lastCanaryBoundMs?: number;
  /** Size of the single-line CSV case; 0 leaves it out. @defaultValue 50 MiB */
  bigCsvBytes?: number;
  /** Extra environment for the API and worker processes. */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

/** What happened to an accepted job. */
export type JobVerdict = 'completed' | 'failed-user-error' | 'hung' | 'retried' | 'crashed' | 'internal' | 'unknown-code' | 'oversized-error' | 'unfinished' | 'cancel-ignored';
const GOOD_VERDICTS: ReadonlySet<JobVerdict> = new Set(['completed', 'failed-user-error']);

export interface TrackedJob {
  caseId: string;
  tenant: string;
  jobId: string;
  runId: string;
  submittedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  status: string | null;
  code: string | null;
  attempts: number;
  detailBytes: number;
  interruptions: string[];
  /** Bad things seen, in order; the first is the verdict. */
  flags: JobVerdict[];
  cancelledAt: number | null;
  /** The suite stopped waiting for it (it counts as unfinished and is cancelled). */
  givenUp: boolean;
  /** When the suite last killed the training process under it. */
  killedAt: number | null;
  killedChildren: number;
  canary: boolean;
}

export interface CaseResult {
  id: string;
  category: string;
  operation: string;
  statuses: Array<Answer['status']>;
  problems: string[];
  /** The first bytes of a failing answer, for the report. */
  sample: string;
  startedAt: number;
  endedAt: number;
  jobId?: string;
}

interface HealthSample { at: number; ms: number; status: number; error?: string }

export interface FuzzReport {
  seed: number;
  sampled: number | null;
  seconds: number;
  generated: Record<string, number>;
  requests: { total: number; byStatus: Record<string, number>; byCategory: Record<string, Record<string, number>> };
  /** Cases left unsent when the run reached its deadline. */
  casesNotRun: number;
  serverErrors: number;
  nonProblemErrors: number;
  unanswered: number;
  failingCases: Array<{ id: string; statuses: string; problems: string[]; sample: string }>;
  acceptedJobs: { total: number; byVerdict: Record<string, number>; bad: Array<{ caseId: string; jobId: string; verdict: string; flags: string[]; status: string | null; code: string | null; attempts: number; interruptions: string[] }> };
  canaries: { runs: number; succeededFirstAttempt: number; failures: Array<{ after: string; jobId: string; status: string | null; code: string | null; attempts: number; flags: string[] }> };
  healthz: { samples: number; errors: number; p50Ms: number; p99Ms: number; maxMs: number; over100Ms: number; boundMs: number; overBound: Array<{ atS: number; ms: number; status: number; inFlight: string[] }> };
  isolation: { crossTenantReads: number; secretEchoes: string[]; jobListBytes: number };
  processes: { apiRestarts: number; unexpectedExits: Array<{ role: string; code: number | null; signal: string | null; tail: string[] }>; trainingChildrenKilled: number; peakTrainingRssBytes: number };
  /** Names of the checks that failed; empty means the run passed. */
  failed: string[];
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Largest job list page (100 jobs) the suite accepts, so one job's error cannot inflate it (issue 14). */
const MAX_JOB_LIST_BYTES = 1024 * 1024;
/** How long a cancelled job may keep training before its process is killed. */
const CANCEL_GRACE_MS = 5000;

/** Builds every case for a seed (the contract's, the reported ones, absurd models, framing). */
export function allCases(seed: number, ctx: { webhookUrl: string; webhookSecret: string; bigCsvBytes?: number }): { cases: FuzzCase[]; generated: Record<string, number> } {
  const fill = (name: string): string => ({
    jobId: 'job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C', runId: 'run_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C', deliveryId: 'msg_job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C_job_succeeded', file: 'model.json', path: 'run.json',
  } as Record<string, string>)[name] ?? 'x';
  const fromContract = generateFromContract({ seed, webhookUrl: ctx.webhookUrl, webhookSecret: ctx.webhookSecret, fill });
  const extra = [...reportedCases({ seed, bigCsvBytes: ctx.bigCsvBytes }), ...absurdModelCases(), ...framingCases()];
  const generated = { ...fromContract.byCategory };
  for (const c of extra) generated[c.category] = (generated[c.category] ?? 0) + 1;
  return { cases: [...fromContract.cases, ...shuffle(extra, mulberry32(seed ^ 0x1234))], generated };
}

/** A seeded sample: `perCategory` cases of each category, and every reported case. */
export function sampleCases(cases: FuzzCase[], perCategory: number, seed: number): FuzzCase[] {
  const random = mulberry32(seed ^ 0xabcdef);
  const taken = new Map<string, number>();
  return shuffle(cases, random).filter((c) => {
    if (c.reported) return true;
    const n = taken.get(c.category) ?? 0;
    taken.set(c.category, n + 1);
    return n < perCategory;
  });
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const o = {
    concurrency: opts.concurrency ?? 4,
    requestTimeoutMs: opts.requestTimeoutMs ?? 5000,
    hangBoundMs: opts.hangBoundMs ?? 40_000,
    queueBoundMs: opts.queueBoundMs ?? 240_000,
    healthzBoundMs: opts.healthzBoundMs ?? 1000,
    deadlineMs: opts.deadlineMs ?? 480_000,
    deadline: Number.POSITIVE_INFINITY,
    lastCanaryBoundMs: opts.lastCanaryBoundMs ?? 60_000,
  };
  const stack = await FuzzStack.start({ env: opts.env, log });
  const run = new FuzzRun(stack, o, log);
  try {
    return await run.execute(opts);
  } finally {
    await run.stopProber();
    await stack.close();
  }
}

class FuzzRun {
  readonly results: CaseResult[] = [];
  readonly jobs: TrackedJob[] = [];
  private readonly webhookSecret = 'whsec_' + randomBytes(32).toString('base64');
  private prober: Worker | null = null;
  private probeSamples: Promise<HealthSample[]> | null = null;
  private restarting: Promise<void> | null = null;
  /** Cases sent and not yet answered, with when they were sent. */
  private readonly inFlight = new Map<string, number>();
  /** Requests sent again after an API restart, one at a time. */
  private retries: Promise<void> = Promise.resolve();
  private notRun = 0;
  private peakRss = 0;
  private childrenKilled = 0;
  private follower: NodeJS.Timeout | null = null;
  private following = false;

  constructor(
    private readonly stack: FuzzStack,
    private readonly o: { concurrency: number; requestTimeoutMs: number; hangBoundMs: number; queueBoundMs: number; healthzBoundMs: number; deadlineMs: number; deadline: number; lastCanaryBoundMs: number },
    private readonly log: (line: string) => void,
  ) {}

  async execute(opts: FuzzOptions): Promise<FuzzReport> {
    const t0 = Date.now();
    const { cases: every, generated } = allCases(opts.seed, { webhookUrl: this.stack.receiver.url, webhookSecret: this.webhookSecret, bigCsvBytes: opts.bigCsvBytes });
    const cases = opts.perCategory ? sampleCases(every, opts.perCategory, opts.seed) : every;
    const written = new Set<string>();
    for (const c of cases) for (const obj of c.objects ?? []) {
      if (written.has(obj.key)) continue;
      written.add(obj.key);
      this.stack.putObject(HOSTILE_TENANT, obj.key, obj.body());
    }
    this.startProber();
    this.follower = setInterval(() => void this.follow(), 500);
    this.o.deadline = Date.now() + this.o.deadlineMs;

    const requestCases = cases.filter((c) => !c.job);
    const jobCases = cases.filter((c) => c.job);
    this.log(`${cases.length} cases (${requestCases.length} requests, then ${jobCases.length} job cases one at a time)`);
    let next = 0;
    await Promise.all(Array.from({ length: this.o.concurrency }, async () => {
      while (next < requestCases.length && Date.now() < this.o.deadline) {
        const c = requestCases[next++];
        await this.runCase(c);
        if (next % 250 === 0) this.log(`${next}/${requestCases.length} requests`);
      }
    }));
    this.notRun += requestCases.length - next;
    this.log(`requests done; ${this.jobs.length} accepted jobs to wait for`);
    await this.waitForJobs(this.jobs);

    for (const [i, c] of jobCases.entries()) {
      if (Date.now() > this.o.deadline) {
        this.notRun += jobCases.length - i;
        break;
      }
      const result = await this.runCase(c);
      const job = this.jobs.find((j) => j.caseId === c.id);
      if (!job) continue;
      await this.waitForJobs([job]);
      this.log(`${c.id}: ${result.statuses.join(',')} → ${job.status ?? 'open'} ${job.code ?? ''} (${job.flags.join(', ') || 'ok'})`);
      await this.canary(c.id);
    }
    await this.canary('the end of the run', true);
    const isolation = await this.isolationChecks();
    if (this.follower) clearInterval(this.follower);
    const samples = await this.stopProber();
    return this.report(opts, t0, generated, samples, isolation);
  }

  // --- requests ---------------------------------------------------------------------------

  /** Sends one case and judges its answers; `firstSentAt` is set on the one retry. */
  private async runCase(c: FuzzCase, firstSentAt: number | null = null): Promise<CaseResult> {
    // Nothing is sent while the API restarts (it would only be refused).
    while (this.restarting) await this.restarting;
    const startedAt = firstSentAt ?? Date.now();
    this.inFlight.set(c.id, startedAt);
    let answers: Answer[];
    const port = Number(new URL(this.stack.base).port);
    try {
      if (c.request.kind === 'raw') {
        const bytes = c.request.bytes({ auth: this.stack.auth(HOSTILE_TENANT).authorization, host: `127.0.0.1:${port}` });
        answers = await sendRaw(port, bytes, { end: c.request.end ?? false, timeoutMs: this.o.requestTimeoutMs });
      } else {
        const auth = c.request.auth === 'none' ? {} : this.stack.auth(HOSTILE_TENANT);
        answers = [await sendHttp(this.stack.base, { method: c.request.method, path: c.request.path, headers: { ...auth, ...c.request.headers }, body: c.request.body }, this.o.requestTimeoutMs)];
      }
      if (answers.some((a) => typeof a.status !== 'number')) await this.ensureApiAnswers(c.id);
    } finally {
      this.inFlight.delete(c.id);
    }
    // A request left without an answer is sent again once, alone (retries go one at a time): the
    // request that blocked or stopped the API fails again, the ones caught with it get an answer.
    const unanswered = answers.some((a) => typeof a.status !== 'number');
    if (unanswered && firstSentAt === null) {
      const retry = this.retries.then(() => this.runCase(c, startedAt));
      this.retries = retry.then(() => undefined, () => undefined);
      return retry;
    }
    const problems = [...new Set(answers.flatMap((a) => checkAnswer(a)))];
    // A client that half-closed with an incomplete request may be left without an answer.
    if (c.request.kind === 'raw' && c.request.end && answers.every((a) => a.status === 'closed')) problems.splice(0);
    const result: CaseResult = {
      id: c.id, category: c.category, operation: c.operation, statuses: answers.map((a) => a.status), problems,
      sample: problems.length ? answers.map((a) => `${a.status} ${a.contentType} ${a.body.slice(0, 240)}`).join(' | ') : '', startedAt, endedAt: Date.now(),
    };
    // Any accepted submission (raw framing cases included) is followed to its end.
    const accepted = answers.find((a) => a.status === 202 && (c.operation === 'createJob' || /"jobId"/.test(a.body)));
    if (accepted) {
      try {
        const body = JSON.parse(accepted.body) as { jobId: string; runId: string };
        result.jobId = body.jobId;
        this.track(c.id, HOSTILE_TENANT, body, false);
      } catch {
        result.problems.push('202 without a job id');
      }
    }
    this.results.push(result);
    return result;
  }

  /**
   * After a request got no answer: when /healthz does not answer in 2 s either (the API is blocked
   * or died), the API is restarted.
   */
  private ensureApiAnswers(caseId: string): Promise<void> {
    // One check at a time: the requests that timed out together share it.
    this.restarting ??= (async () => {
      const probe = await sendHttp(this.stack.base, { method: 'GET', path: '/healthz', headers: {} }, 2000);
      if (probe.status === 200) return;
      this.log(`the API stopped answering (seen by ${caseId}; in flight: ${[...this.inFlight.keys()].join(', ')}); restarting it`);
      await this.stack.restartApi();
    })().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  // --- jobs -------------------------------------------------------------------------------

  private track(caseId: string, tenant: string, accepted: { jobId: string; runId: string }, canary: boolean): TrackedJob {
    const job: TrackedJob = {
      caseId, tenant, jobId: accepted.jobId, runId: accepted.runId, submittedAt: Date.now(), startedAt: null, endedAt: null, status: null, code: null,
      attempts: 0, detailBytes: 0, interruptions: [], flags: [], givenUp: false, cancelledAt: null, killedAt: null, killedChildren: 0, canary,
    };
    this.jobs.push(job);
    return job;
  }

  private flag(job: TrackedJob, f: JobVerdict): void {
    if (!job.flags.includes(f)) job.flags.push(f);
  }

  /** One round of following: reads every open job, judges it, and unblocks the worker when needed. */
  private async follow(): Promise<void> {
    if (this.following) return;
    this.following = true;
    try {
      this.peakRss = Math.max(this.peakRss, this.stack.trainingChildrenRss());
      await this.stack.ensureWorker();
      for (const job of this.jobs.filter((j) => j.endedAt === null)) await this.followOne(job);
    } catch (err) {
      this.log(`follow: ${(err as Error).message}`);
    } finally {
      this.following = false;
    }
  }

  private async followOne(job: TrackedJob): Promise<void> {
    const a = await sendHttp(this.stack.base, { method: 'GET', path: `/v1/jobs/${job.jobId}`, headers: this.stack.auth(job.tenant) }, 5000);
    if (a.status !== 200) return;
    const view = JSON.parse(a.body) as any;
    const now = Date.now();
    job.status = view.status;
    job.attempts = view.attempts ?? 0;
    job.interruptions = ((view.interruptions ?? []) as Array<{ reason: string; detail?: string }>).map((i) => `${i.reason}: ${(i.detail ?? '').slice(0, 200)}`);
    if (job.startedAt === null && view.status !== 'queued') {
      const running = (view.transitions as Array<{ status: string; at: string }> | undefined)?.find((t) => t.status === 'running');
      job.startedAt = running ? Date.parse(running.at) : now;
    }
    // A process the suite killed (a hung job's) is not a crash the job caused.
    if (job.killedAt === null && (job.attempts > 1 || job.interruptions.length > 0)) {
      this.flag(job, job.interruptions.some((i) => i.startsWith('worker_lost')) ? 'crashed' : 'retried');
    }
    if (TERMINAL.has(view.status)) {
      job.endedAt = now;
      job.code = view.error?.code ?? null;
      job.detailBytes = Buffer.byteLength(String(view.error?.detail ?? ''));
      if (job.detailBytes > 64 * 1024) this.flag(job, 'oversized-error');
      if (view.status === 'failed') {
        const info = job.code ? (ERROR_CODES as Record<string, { retryable: boolean }>)[job.code] : undefined;
        if (job.code === 'WORKER_CRASHED') this.flag(job, job.killedAt === null ? 'crashed' : 'hung');
        else if (job.code === 'INTERNAL' || job.code === 'TIMEOUT') this.flag(job, 'internal');
        else if (!info) this.flag(job, 'unknown-code');
        else if (info.retryable) this.flag(job, 'internal');
      }
      return;
    }
    const hung = job.startedAt !== null && now - job.startedAt > this.o.hangBoundMs;
    const stuckInQueue = job.startedAt === null && now - job.submittedAt > this.o.queueBoundMs;
    if (hung) this.flag(job, 'hung');
    if (stuckInQueue || job.givenUp) this.flag(job, 'unfinished');
    // A judged job that still holds the worker is cancelled; one that ignores the cancel has its
    // training process killed (the retry then sees the cancel at its start).
    if (job.flags.length && job.cancelledAt === null) {
      job.cancelledAt = now;
      await sendHttp(this.stack.base, { method: 'DELETE', path: `/v1/jobs/${job.jobId}`, headers: this.stack.auth(job.tenant) }, 5000);
    } else if (job.cancelledAt !== null && view.status === 'running' && now - job.cancelledAt > CANCEL_GRACE_MS && now - (job.killedAt ?? 0) > CANCEL_GRACE_MS) {
      this.flag(job, 'cancel-ignored');
      job.killedAt = now;
      const n = this.stack.killTrainingChildren();
      job.killedChildren += n;
      this.childrenKilled += n;
      this.log(`${job.caseId} (${job.jobId}) ignored its cancel for ${CANCEL_GRACE_MS / 1000} s; killed ${n} training process(es)`);
    }
  }

  /**
   * Waits until every given job ended, or gives up on them (unfinished) at `until`: by default the
   * deadline plus 15 s for cancels to land.
   */
  private async waitForJobs(jobs: TrackedJob[], until = this.o.deadline + 15_000): Promise<void> {
    for (;;) {
      const open = jobs.filter((j) => j.endedAt === null);
      if (open.length === 0) return;
      if (Date.now() > until) {
        // Given up on: cancelled (by the follower) so they stop holding the worker.
        for (const j of open) j.givenUp = true;
        return;
      }
      await sleep(250);
    }
  }

  /**
   * Submits a small valid iris job as the other tenant and follows it to its end. The last canary
   * runs even past the deadline (it is the point of the run), with a bound of its own.
   */
  private async canary(after: string, last = false): Promise<void> {
    if (!last && Date.now() > this.o.deadline) {
      this.log(`canary after ${after}: not submitted (deadline)`);
      return;
    }
    const body = irisJob({ tags: { suite: 'fuzz-canary' }, webhook: { url: this.stack.receiver.url, secret: this.webhookSecret, events: ['job.succeeded', 'job.failed'] } });
    const a = await sendHttp(this.stack.base, { method: 'POST', path: '/v1/jobs', headers: { ...this.stack.auth(CANARY_TENANT), 'content-type': 'application/json' }, body: JSON.stringify(body) }, this.o.requestTimeoutMs);
    if (a.status !== 202) {
      const job = this.track(after, CANARY_TENANT, { jobId: '-', runId: '-' }, true);
      job.endedAt = Date.now();
      job.status = `not accepted (${a.status}: ${a.body.slice(0, 200)})`;
      job.givenUp = true;
      this.flag(job, 'unfinished');
      return;
    }
    const job = this.track(after, CANARY_TENANT, JSON.parse(a.body), true);
    await this.waitForJobs([job], last ? Math.max(this.o.deadline + 15_000, Date.now() + this.o.lastCanaryBoundMs) : undefined);
    this.log(`canary after ${after}: ${job.status} on attempt ${job.attempts}${job.flags.length ? ` (${job.flags.join(', ')})` : ''}`);
  }

  /** The canary's job and run read as the hostile tenant (404) and as its own (no secret in them). */
  private async isolationChecks(): Promise<FuzzReport['isolation']> {
    let crossTenantReads = 0;
    const secretEchoes: string[] = [];
    const canary = this.jobs.filter((j) => j.canary && j.jobId !== '-').at(-1);
    if (canary) {
      const paths = [`/v1/jobs/${canary.jobId}`, `/v1/runs/${canary.runId}`, `/v1/runs/${canary.runId}/logs.csv`, `/v1/runs/${canary.runId}/artifacts`, `/v1/runs/${canary.runId}/model/model.json`, `/v1/jobs/${canary.jobId}/deliveries`];
      for (const path of paths) {
        const other = await sendHttp(this.stack.base, { method: 'GET', path, headers: this.stack.auth(HOSTILE_TENANT) }, this.o.requestTimeoutMs);
        if (other.status !== 404) crossTenantReads++;
        const own = await sendHttp(this.stack.base, { method: 'GET', path, headers: this.stack.auth(CANARY_TENANT) }, this.o.requestTimeoutMs);
        if (own.body.includes(this.webhookSecret.slice('whsec_'.length))) secretEchoes.push(path);
      }
      const listed = await sendHttp(this.stack.base, { method: 'GET', path: '/v1/jobs?limit=100', headers: this.stack.auth(CANARY_TENANT) }, this.o.requestTimeoutMs);
      if (listed.body.includes(this.webhookSecret.slice('whsec_'.length))) secretEchoes.push('/v1/jobs');
    }
    const list = await sendHttp(this.stack.base, { method: 'GET', path: '/v1/jobs?limit=100', headers: this.stack.auth(HOSTILE_TENANT) }, this.o.requestTimeoutMs);
    return { crossTenantReads, secretEchoes, jobListBytes: list.bytes };
  }

  // --- /healthz prober ----------------------------------------------------------------------

  private startProber(): void {
    this.prober = new Worker(PROBER_SOURCE, { eval: true, workerData: { url: `${this.stack.base}/healthz`, intervalMs: 50 } });
    const prober = this.prober;
    this.probeSamples = new Promise((resolve) => {
      prober.once('message', (samples: HealthSample[]) => resolve(samples));
      prober.once('error', () => resolve([]));
      prober.once('exit', () => resolve([]));
    });
  }

  async stopProber(): Promise<HealthSample[]> {
    if (!this.prober || !this.probeSamples) return [];
    this.prober.postMessage('stop');
    const samples = await Promise.race([this.probeSamples, sleep(this.o.requestTimeoutMs + 5000).then(() => [] as HealthSample[])]);
    await this.prober.terminate();
    this.prober = null;
    return samples;
  }

  // --- report -----------------------------------------------------------------------------

  private report(opts: FuzzOptions, t0: number, generated: Record<string, number>, samples: HealthSample[], isolation: FuzzReport['isolation']): FuzzReport {
    const byStatus: Record<string, number> = {};
    const byCategory: Record<string, Record<string, number>> = {};
    let total = 0;
    for (const r of this.results) for (const s of r.statuses) {
      total++;
      byStatus[String(s)] = (byStatus[String(s)] ?? 0) + 1;
      const cat = (byCategory[r.category] ??= {});
      cat[String(s)] = (cat[String(s)] ?? 0) + 1;
    }
    const failing = this.results.filter((r) => r.problems.length);
    const count = (re: RegExp) => failing.filter((r) => r.problems.some((p) => re.test(p))).length;
    const hostile = this.jobs.filter((j) => !j.canary);
    const byVerdict: Record<string, number> = {};
    for (const j of hostile) {
      const v = j.flags[0] ?? (j.status === 'failed' ? 'failed-user-error' : 'completed');
      byVerdict[v] = (byVerdict[v] ?? 0) + 1;
    }
    const canaries = this.jobs.filter((j) => j.canary);
    const canaryOk = (j: TrackedJob) => j.status === 'succeeded' && j.attempts === 1 && j.flags.length === 0 && j.interruptions.length === 0;
    const ok = samples.filter((s) => !s.error);
    const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
    const q = (p: number) => (sorted.length ? Number(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(1)) : 0);
    const overBound = samples.filter((s) => s.ms > this.o.healthzBoundMs || s.error).slice(0, 50).map((s) => ({
      atS: Number(((s.at - t0) / 1000).toFixed(1)), ms: Number(s.ms.toFixed(1)), status: s.status,
      inFlight: this.results.filter((r) => r.startedAt <= s.at + s.ms && r.endedAt >= s.at).map((r) => r.id).slice(0, 4),
    }));
    const report: FuzzReport = {
      seed: opts.seed,
      sampled: opts.perCategory ?? null,
      seconds: Number(((Date.now() - t0) / 1000).toFixed(1)),
      generated,
      requests: { total, byStatus, byCategory },
      casesNotRun: this.notRun,
      serverErrors: count(/^5xx/),
      nonProblemErrors: count(/not problem\+json|not JSON|problem lacks|problem status|problem code|not a JSON object/),
      unanswered: count(/no answer|without an answer/),
      failingCases: failing.map((r) => ({ id: r.id, statuses: r.statuses.join(','), problems: r.problems, sample: r.sample })),
      acceptedJobs: {
        total: hostile.length,
        byVerdict,
        bad: hostile.filter((j) => j.flags.some((f) => !GOOD_VERDICTS.has(f))).map((j) => ({
          caseId: j.caseId, jobId: j.jobId, verdict: j.flags[0], flags: j.flags, status: j.status, code: j.code, attempts: j.attempts, interruptions: j.interruptions,
        })),
      },
      canaries: {
        runs: canaries.length,
        succeededFirstAttempt: canaries.filter(canaryOk).length,
        failures: canaries.filter((j) => !canaryOk(j)).map((j) => ({ after: j.caseId, jobId: j.jobId, status: j.status, code: j.code, attempts: j.attempts, flags: j.flags })),
      },
      healthz: {
        samples: samples.length, errors: samples.length - ok.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1), over100Ms: samples.filter((s) => s.ms > 100).length,
        boundMs: this.o.healthzBoundMs, overBound,
      },
      isolation,
      processes: { apiRestarts: this.stack.apiRestarts, unexpectedExits: this.stack.unexpectedExits, trainingChildrenKilled: this.childrenKilled, peakTrainingRssBytes: this.peakRss },
      failed: [],
    };
    const f = report.failed;
    if (report.casesNotRun) f.push(`cases not run before the deadline: ${report.casesNotRun}`);
    if (report.serverErrors) f.push(`5xx answers: ${report.serverErrors} cases`);
    if (report.nonProblemErrors) f.push(`errors that are not problem documents: ${report.nonProblemErrors} cases`);
    if (report.unanswered) f.push(`requests without an answer: ${report.unanswered} cases`);
    const oversized = count(/bytes \(bound/);
    if (oversized) f.push(`oversized problem documents: ${oversized} cases`);
    const other = failing.length - count(/^5xx|not problem\+json|not JSON|problem lacks|problem status|problem code|not a JSON object|no answer|without an answer|bytes \(bound/);
    if (other) f.push(`other answer problems: ${other} cases`);
    if (report.acceptedJobs.bad.length) f.push(`accepted hostile jobs that hung, crashed, were retried or failed as INTERNAL: ${report.acceptedJobs.bad.length}`);
    if (report.canaries.runs === 0 || report.canaries.failures.length) f.push(`canaries that did not succeed on attempt 1: ${report.canaries.failures.length} of ${report.canaries.runs}`);
    if (samples.length === 0) f.push('no /healthz samples');
    if (report.healthz.overBound.length) f.push(`/healthz answers over ${this.o.healthzBoundMs} ms or failed: ${samples.filter((s) => s.ms > this.o.healthzBoundMs || s.error).length}`);
    if (isolation.crossTenantReads) f.push(`cross-tenant reads: ${isolation.crossTenantReads}`);
    if (isolation.secretEchoes.length) f.push(`webhook secret echoed by: ${isolation.secretEchoes.join(', ')}`);
    if (isolation.jobListBytes > MAX_JOB_LIST_BYTES) f.push(`GET /v1/jobs?limit=100 answered ${isolation.jobListBytes} bytes`);
    if (report.processes.unexpectedExits.length) f.push(`API or worker processes that died: ${report.processes.unexpectedExits.length}`);
    if (report.processes.apiRestarts) f.push(`API restarts (it stopped answering): ${report.processes.apiRestarts}`);
    return report;
  }
}

/** The `/healthz` prober, in a worker thread of its own: one keep-alive connection, one request at a time. */
const PROBER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const samples = [];
let stop = false;
parentPort.on('message', (m) => { if (m === 'stop') stop = true; });
function once() {
  return new Promise((resolve) => {
    const at = Date.now();
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const req = http.get(workerData.url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ at, ms: ms(), status: res.statusCode }));
      res.on('error', (e) => resolve({ at, ms: ms(), status: 0, error: String(e.code || e.message) }));
    });
    req.on('error', (e) => resolve({ at, ms: ms(), status: 0, error: String(e.code || e.message) }));
  });
}
(async () => {
  while (!stop) {
    const s = await once();
    // A refused connection while the API restarts is not a latency sample of a live API.
    if (s.error !== 'ECONNREFUSED') samples.push(s);
    await new Promise((r) => setTimeout(r, workerData.intervalMs));
  }
  agent.destroy();
  parentPort.postMessage(samples);
})();
`;
