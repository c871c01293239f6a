/**
 * The fault-injection harness: a whole Kiln on loopback whose parts can be broken on purpose.
 *
 * - its own `redis-server` (AOF fsynced on every write) that can be killed, restarted and have its
 *   clients dropped;
 * - s3rver behind an {@link S3FaultProxy} (the workers write through the proxy; the verifier reads
 *   s3rver directly);
 * - the API as a process of its own (`dist/api/server.js`);
 * - two or more worker processes (`dist/worker/main.js`), each with its sandboxed training child,
 *   which can be SIGKILLed (child or parent) or SIGTERMed and replaced;
 * - a real webhook receiver that every job reports to.
 *
 * Runs are tracked by polling the API, so a run's first start and end are known without trusting
 * what the workers say about themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createStore } from '../../store/create-store';
import type { ArtifactStore } from '../../store/artifact-store';
import { alive, parentPid, pidOwningConnection, sandboxChildren } from '../support/process-tree';
import { freePort } from '../support/ports';
import { RedisProcess } from '../support/redis-process';
import { S3FaultProxy, seededRandom, type S3FaultProfile } from '../support/s3-fault-proxy';
import { startS3Server, type TestS3Server } from '../support/s3-server';
import { startWebhookReceiver } from '../support/webhook-receiver';
import { lines } from '../support/lines';

const DIST = join(__dirname, '../../dist');
export const TENANT = 'acme';
const QUEUE_PREFIX = 'kiln-faults';

export interface HarnessOptions {
  /** Worker processes to start. @defaultValue 2 */
  workers?: number;
  /** Seeds the S3 fault draws and the harness's own random choices. @defaultValue 1 */
  seed?: number;
  /** S3 faults from the start. @defaultValue none */
  s3Faults?: S3FaultProfile;
  /**
   * BullMQ lock duration for the workers (KILN_LOCK_DURATION_MS): how long a killed worker's job
   * stays locked before the stalled checker may hand it to another worker. @defaultValue 10000
   */
  lockDurationMs?: number;
  /** Extra environment for the workers. */
  workerEnv?: Record<string, string>;
  /**
   * Jobs turn BackupAndRestore off (`callbacks.backupAndRestore.enabled: false`): what the suite
   * finds without resume, to show the verifier can fail. @defaultValue true
   */
  backup?: boolean;
  /** Progress lines; silent by default. */
  log?: (line: string) => void;
}

/** A fault the harness injected and the runs it hit. */
export type FaultKind = 'child_kill' | 'parent_kill' | 'parent_term' | 'redis_restart' | 'redis_drop' | 'store_read_only' | 'redis_outage';

export interface InjectedFault {
  kind: FaultKind;
  /** ms since epoch. */
  at: number;
  /** The run's last completed epoch when it was hit (from the API), if known. */
  epoch: number | null;
}

/** A submitted run as the harness sees it from outside. */
export interface TrackedRun {
  jobId: string;
  runId: string;
  tenant: string;
  epochs: number;
  label: string;
  acceptedAt: number;
  /** When the API first showed it running (ms since epoch). */
  firstRunningAt: number | null;
  /** When it ended (the job's terminal transition), ms since epoch. */
  endedAt: number | null;
  /** Terminal status, null while it has not ended. */
  status: string | null;
  /** Last job view read from the API. */
  view: any;
  /** Faults the harness injected into this run's training. */
  injected: InjectedFault[];
}

export interface WorkerHandle {
  index: number;
  proc: ChildProcess;
  pid: number;
  exited: Promise<number | null>;
  /** The process's stdout/stderr lines (JSON log lines from the parent and its children). */
  output: string[];
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FaultHarness {
  readonly workers: WorkerHandle[] = [];
  readonly runs: TrackedRun[] = [];
  /** Every fault injected, in order. */
  readonly faults: Array<InjectedFault & { runs: string[] }> = [];
  readonly random: () => number;
  /** API process output, for diagnosing. */
  readonly apiOutput: string[] = [];
  apiExitCode: number | null | undefined = undefined;
  private readonly apiKey = 'acme_' + randomBytes(12).toString('hex');
  private readonly webhookSecret = 'whsec_' + randomBytes(32).toString('base64');
  private poller: NodeJS.Timeout | null = null;
  private polling = false;
  private workerCount = 0;
  private api: ChildProcess | null = null;

  private constructor(
    readonly redis: RedisProcess,
    readonly s3: TestS3Server,
    readonly proxy: S3FaultProxy,
    readonly receiver: Awaited<ReturnType<typeof startWebhookReceiver>>,
    /** s3rver directly, bypassing the fault proxy: what the verifier reads. */
    readonly store: ArtifactStore,
    private readonly opts: HarnessOptions,
  ) {
    this.random = seededRandom((opts.seed ?? 1) * 7919 + 17);
  }

  /** The API's base URL. */
  base = '';

  static async start(opts: HarnessOptions = {}): Promise<FaultHarness> {
    const redis = await RedisProcess.start();
    const s3 = await startS3Server();
    const proxy = await S3FaultProxy.start(s3.endpoint, { seed: opts.seed ?? 1, profile: opts.s3Faults });
    const receiver = await startWebhookReceiver(204);
    const store = createStore({ uri: s3.uri, s3: s3.s3Options });
    const h = new FaultHarness(redis, s3, proxy, receiver, store, opts);
    try {
      await h.startApi();
      for (let i = 0; i < (opts.workers ?? 2); i++) await h.startWorker();
    } catch (err) {
      await h.close();
      throw err;
    }
    h.poller = setInterval(() => void h.poll(), 250);
    process.on('exit', h.killAll);
    return h;
  }

  /** Strikes that missed, and why (scenarios.ts retries them). */
  readonly misses: string[] = [];

  /** A progress line (to opts.log). */
  note(line: string): void {
    this.opts.log?.(line);
  }

  /** Environment shared by the API and the workers. */
  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: this.redis.url,
      KILN_QUEUE_PREFIX: QUEUE_PREFIX,
      KILN_STORE: this.s3.uri,
      AWS_ACCESS_KEY_ID: this.s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.s3.credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      KILN_API_KEYS: `${TENANT}:${this.apiKey}`,
      KILN_OUTBOUND_ALLOW: '127.0.0.1',
      KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0',
      KILN_TENANT_MAX_RUNNING: '0',
      ...extra,
    };
  }

  private async startApi(): Promise<void> {
    const port = await freePort();
    const api = spawn(process.execPath, ['--openssl-legacy-provider', join(DIST, 'api/server.js')], {
      env: this.env({ PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', KILN_S3_ENDPOINT: this.s3.endpoint }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.api = api;
    const listening = new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        this.apiOutput.push(line);
        if (/listening on/.test(line)) resolve();
      };
      lines(api.stdout!, onLine);
      lines(api.stderr!, onLine);
      api.once('exit', (code) => {
        this.apiExitCode = code;
        reject(new Error(`the API exited (${code}) before listening:\n${this.apiOutput.join('\n')}`));
      });
    });
    await Promise.race([listening, sleep(20000).then(() => {
      throw new Error('the API did not start within 20 s');
    })]);
    this.base = `http://127.0.0.1:${port}`;
  }

  /** Starts one more worker process; resolves once it has connected and logged that it started. */
  async startWorker(): Promise<WorkerHandle> {
    const index = this.workerCount++;
    const proc = spawn(process.execPath, ['--openssl-legacy-provider', join(DIST, 'worker/main.js')], {
      env: this.env({
        KILN_S3_ENDPOINT: this.proxy.endpoint,
        KILN_BACKEND: 'cpu',
        KILN_WORKER_CONCURRENCY: '1',
        KILN_WORKER_HEALTH_PORT: '0',
        KILN_LOCK_DURATION_MS: String(this.opts.lockDurationMs ?? 10000),
        KILN_SHUTDOWN_GRACE_SECONDS: '30',
        KILN_WEBHOOK_SCHEDULE: '200ms,500ms,1s,2s,4s,8s',
        LOG_LEVEL: 'info',
        ...this.opts.workerEnv,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const started = new Promise<void>((resolve) => {
      const onLine = (line: string) => {
        output.push(line);
        if (output.length > 5000) output.splice(0, 1000);
        if (line.includes('"worker started"')) resolve();
      };
      lines(proc.stdout!, onLine);
      lines(proc.stderr!, onLine);
    });
    const outcome = await Promise.race([started.then(() => 'ok' as const), exited.then(() => 'exited' as const), sleep(20000).then(() => 'timeout' as const)]);
    if (outcome !== 'ok') {
      proc.kill('SIGKILL');
      throw new Error(`worker ${index} did not start (${outcome}):\n${output.slice(-20).join('\n')}`);
    }
    const handle: WorkerHandle = { index, proc, pid: proc.pid!, exited, output };
    this.workers.push(handle);
    this.note(`worker ${index} started (pid ${handle.pid})`);
    return handle;
  }

  /** Worker processes still alive. */
  liveWorkers(): WorkerHandle[] {
    return this.workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
  }

  auth(): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}` };
  }

  /** A small seeded iris job reporting every epoch to the harness's webhook receiver. */
  irisSpec(epochs: number, seed: number, label: string): Record<string, unknown> {
    return {
      model: { inputShape: [4], layers: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
      compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
      data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
      fit: { epochs, batchSize: 4, seed },
      callbacks: {
        reduceLROnPlateau: { monitor: 'val_loss', patience: 3, factor: 0.5 }, csvLogger: {}, tensorBoard: {},
        ...(this.opts.backup === false ? { backupAndRestore: { enabled: false } } : {}),
      },
      webhook: { url: this.receiver.url, secret: this.webhookSecret, events: ['job.started', 'job.epoch', 'checkpoint.improved', 'job.succeeded', 'job.failed', 'job.cancelled'] },
      tags: { suite: 'faults', label },
    };
  }

  /** POST /v1/jobs; returns the raw response. */
  async post(body: unknown): Promise<Response> {
    return fetch(`${this.base}/v1/jobs`, { method: 'POST', headers: { ...this.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  /** Submits a job that must be accepted (202) and starts tracking it. */
  async submit(spec: Record<string, any>, label = String(spec.tags?.label ?? 'run')): Promise<TrackedRun> {
    const res = await this.post(spec);
    const text = await res.text();
    if (res.status !== 202) throw new Error(`submission answered ${res.status}: ${text}`);
    const accepted = JSON.parse(text) as { jobId: string; runId: string };
    const run: TrackedRun = {
      jobId: accepted.jobId, runId: accepted.runId, tenant: TENANT, epochs: spec.fit.epochs, label,
      acceptedAt: Date.now(), firstRunningAt: null, endedAt: null, status: null, view: null, injected: [],
    };
    this.runs.push(run);
    return run;
  }

  /** GET /v1/jobs/{jobId}: the view, or null when the API did not answer 200 (e.g. Redis is down). */
  async view(jobId: string): Promise<any | null> {
    try {
      const res = await fetch(`${this.base}/v1/jobs/${jobId}`, { headers: this.auth() });
      if (res.status !== 200) {
        await res.arrayBuffer();
        return null;
      }
      return await res.json();
    } catch {
      return null;
    }
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(this.runs.filter((r) => r.status === null).map(async (run) => this.refresh(run)));
    } finally {
      this.polling = false;
    }
  }

  private async refresh(run: TrackedRun): Promise<void> {
    const view = await this.view(run.jobId);
    if (!view) return;
    run.view = view;
    if (run.firstRunningAt === null && (view.status === 'running' || TERMINAL.has(view.status))) {
      const running = (view.transitions as Array<{ status: string; at: string }>).find((t) => t.status === 'running');
      run.firstRunningAt = view.status === 'running' ? Date.now() : running ? Date.parse(running.at) : Date.now();
    }
    if (TERMINAL.has(view.status)) {
      const end = (view.transitions as Array<{ status: string; at: string }>).at(-1);
      run.endedAt = end && TERMINAL.has(end.status) ? Date.parse(end.at) : Date.now();
      run.status = view.status;
      this.note(`${run.label} ${run.jobId} ${view.status} at epoch ${view.progress?.epoch} (attempts ${view.attempts}, ${(view.interruptions ?? []).length} interruptions)`);
    }
  }

  /** Waits until `ok(view)` holds for the run (views come from the poller). */
  async waitFor(run: TrackedRun, ok: (view: any) => boolean, what: string, timeoutMs = 60000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (run.view && ok(run.view)) return run.view;
      if (Date.now() > deadline) throw new Error(`${run.label} ${run.jobId}: ${what} (status ${run.view?.status}, epoch ${run.view?.progress?.epoch})`);
      await sleep(100);
    }
  }

  /** Waits until the run is training and has completed at least epoch `epoch`. */
  async waitForEpoch(run: TrackedRun, epoch: number, timeoutMs = 60000): Promise<any> {
    return this.waitFor(run, (v) => TERMINAL.has(v.status) || (v.status === 'running' && v.progress.epoch !== null && v.progress.epoch >= epoch), `reach epoch ${epoch}`, timeoutMs);
  }

  /** Waits for every given run to end (or the timeout); returns the runs still not ended. */
  async waitForEnd(runs: TrackedRun[], timeoutMs = 180000): Promise<TrackedRun[]> {
    const deadline = Date.now() + timeoutMs;
    while (runs.some((r) => r.status === null) && Date.now() < deadline) await sleep(200);
    await this.poll();
    return runs.filter((r) => r.status === null);
  }

  /**
   * Finds the processes training a job: its sandboxed child polls the job's cancel key every 2 s
   * from its own Redis connection, so the harness watches Redis (MONITOR) for that read and maps
   * the client's port to the process holding the socket. Throws when it is not found training.
   */
  async locateOne(jobId: string, timeoutMs = 6000): Promise<{ worker: WorkerHandle; childPid: number }> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const source = await this.redis.findClient((args) => args[0]?.toLowerCase() === 'get' && args[1] === `${QUEUE_PREFIX}:kiln:cancel:${jobId}`, Math.max(100, deadline - Date.now())).catch(() => null);
      if (source === null) break;
      const port = Number(source.split(':').at(-1));
      const candidates = this.liveWorkers().flatMap((w) => sandboxChildren(w.pid));
      const childPid = pidOwningConnection(port, this.redis.port, candidates);
      const ppid = childPid === null ? null : parentPid(childPid);
      const worker = this.workers.find((w) => w.pid === ppid);
      if (childPid !== null && worker) return { worker, childPid };
    }
    throw new Error(`job ${jobId} is not training in any live worker`);
  }

  private record(kind: FaultKind, runs: TrackedRun[]): void {
    const at = Date.now();
    for (const run of runs) run.injected.push({ kind, at, epoch: run.view?.progress?.epoch ?? null });
    this.faults.push({ kind, at, epoch: null, runs: runs.map((r) => r.jobId) });
    this.note(`fault ${kind} → ${runs.map((r) => `${r.label}@${r.view?.progress?.epoch}`).join(', ') || 'no run'}`);
  }

  /** Runs the API shows as running right now. */
  runningRuns(): TrackedRun[] {
    return this.runs.filter((r) => r.status === null && r.view?.status === 'running');
  }

  /** SIGKILLs the sandboxed child training `run` (as the OOM killer would). */
  async killChild(run: TrackedRun, located?: { worker: WorkerHandle; childPid: number }): Promise<void> {
    // A location found earlier still holds while the same child lives under the same worker.
    const where = located && parentPid(located.childPid) === located.worker.pid ? located : await this.locateOne(run.jobId);
    process.kill(where.childPid, 'SIGKILL');
    this.record('child_kill', [run]);
  }

  /** Which runs each live worker trains now (by locating every running run). */
  async runsOn(worker: WorkerHandle): Promise<TrackedRun[]> {
    const out: TrackedRun[] = [];
    for (const run of this.runningRuns()) {
      const where = await this.locateOne(run.jobId, 3000).catch(() => null);
      if (where?.worker === worker) out.push(run);
    }
    return out;
  }

  /**
   * Kills a worker parent process (SIGKILL: its children die with it and its jobs stall until the
   * lock expires; SIGTERM: it asks its jobs to back up and hand back, then exits) and starts a
   * replacement. `victims` are the runs it was training (found first when not given).
   */
  async killParent(worker: WorkerHandle, signal: 'SIGKILL' | 'SIGTERM', victims?: TrackedRun[]): Promise<WorkerHandle> {
    const hit = victims ?? (await this.runsOn(worker));
    const children = sandboxChildren(worker.pid);
    worker.proc.kill(signal);
    this.record(signal === 'SIGKILL' ? 'parent_kill' : 'parent_term', hit);
    const code = await Promise.race([worker.exited, sleep(40000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      this.note(`worker ${worker.index} did not exit after ${signal}; killing it`);
      worker.proc.kill('SIGKILL');
      await worker.exited;
    }
    // A SIGKILLed parent's children notice the closed IPC channel and exit; make sure they did.
    const deadline = Date.now() + 5000;
    while (children.some(alive) && Date.now() < deadline) await sleep(50);
    for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL');
    return this.startWorker();
  }

  /** Drops every Redis client connection (CLIENT KILL); the runs training at the time are recorded as hit. */
  async dropRedisClients(): Promise<number> {
    const hit = this.runningRuns();
    const n = await this.redis.dropClients();
    this.record('redis_drop', hit);
    return n;
  }

  /** SIGKILLs redis-server, keeps it down for `downMs`, then starts it again on the same port and data. */
  async restartRedis(downMs: number, whileDown?: () => Promise<void>): Promise<void> {
    const hit = this.runningRuns();
    await this.redis.stop('SIGKILL');
    this.record('redis_restart', hit);
    const started = Date.now();
    if (whileDown) await whileDown();
    await sleep(Math.max(0, downMs - (Date.now() - started)));
    await this.redis.restart();
    this.note('redis back');
  }

  /**
   * Makes the store read-only (every write refused with a 503) for `downMs`, calling `whileDown`
   * meanwhile; the runs training at the time are recorded as hit.
   */
  async storeReadOnly(downMs: number, whileDown?: () => Promise<void>): Promise<void> {
    const hit = this.runningRuns();
    this.proxy.readOnly = true;
    this.record('store_read_only', hit);
    const started = Date.now();
    try {
      if (whileDown) await whileDown();
      await sleep(Math.max(0, downMs - (Date.now() - started)));
    } finally {
      this.proxy.readOnly = false;
      this.note('store writable again');
    }
  }

  /** A long Redis outage: {@link restartRedis}, recorded as `redis_outage`. */
  async redisOutage(downMs: number): Promise<void> {
    const hit = this.runningRuns();
    await this.redis.stop('SIGKILL');
    this.record('redis_outage', hit);
    await sleep(downMs);
    await this.redis.restart();
    this.note('redis back');
  }

  /** BullMQ's own counters of a job: attempts started and made, and stalls counted. */
  async bullCounters(jobId: string): Promise<{ attemptsStarted: number; attemptsMade: number; stalls: number }> {
    const [ats, atm, stc] = (await this.redis.command('HMGET', `${QUEUE_PREFIX}:training:${jobId}`, 'ats', 'atm', 'stc')) as Array<string | null>;
    return { attemptsStarted: Number(ats ?? 0), attemptsMade: Number(atm ?? 0), stalls: Number(stc ?? 0) };
  }

  /** The webhook deliveries received for a job. */
  webhooksFor(jobId: string): Array<{ id: string; type: string; data: any }> {
    const out: Array<{ id: string; type: string; data: any }> = [];
    for (const w of this.receiver.received) {
      try {
        const body = JSON.parse(w.body) as { type: string; data: any };
        if (body.data?.jobId === jobId) out.push({ id: String(w.headers['webhook-id']), type: body.type, data: body.data });
      } catch {
        // not ours
      }
    }
    return out;
  }

  /** Last resort when the test process exits without close(): no redis-server, API or worker outlives it. */
  private readonly killAll = () => {
    const pids = [this.redis.pid, this.api?.pid, ...this.liveWorkers().flatMap((w) => [w.pid, ...sandboxChildren(w.pid)])];
    for (const pid of pids) {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  };

  /** Stops everything the harness started and deletes its data. */
  async close(): Promise<void> {
    process.off('exit', this.killAll);
    if (this.poller) clearInterval(this.poller);
    for (const w of this.liveWorkers()) {
      const children = sandboxChildren(w.pid);
      w.proc.kill('SIGKILL');
      await w.exited;
      for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL');
    }
    if (this.api && this.api.exitCode === null && this.api.signalCode === null) {
      this.api.kill('SIGKILL');
    }
    await this.proxy.close().catch(() => undefined);
    await this.store.close?.();
    await this.s3.close().catch(() => undefined);
    await this.receiver.close();
    await this.redis.close();
  }
}

