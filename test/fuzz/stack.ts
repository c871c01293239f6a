/**
 * The fuzz suite's Kiln: the API and one worker as processes of their own (`dist/api/server.js`,
 * `dist/worker/main.js`), over the shared Redis under a prefix of the suite's own and a file store
 * in a temp directory, with two tenants: `acme` sends the hostile requests, `globex` the canary.
 *
 * Processes, not `buildApp()` in this process: a request that blocks the API's event loop must not
 * block the client measuring it, and a hostile job that kills a process must kill ours, not the
 * runner. The worker runs under an address-space limit (`prlimit --as`, inherited by its sandboxed
 * children), so a job that asks for a 1e9-unit layer fails to allocate instead of taking the
 * shared machine's memory; on an unfixed build it then fails the way it fails without the limit,
 * only sooner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../support/ports';
import { alive, sandboxChildren } from '../support/process-tree';
import { REDIS_URL, uniquePrefix } from '../support/redis';
import { startWebhookReceiver } from '../support/webhook-receiver';
import { lines } from '../support/lines';

const DIST = join(__dirname, '../../dist');
export const HOSTILE_TENANT = 'acme';
export const CANARY_TENANT = 'globex';

export interface FuzzStackOptions {
  /** RLIMIT_AS of the worker and its children, in bytes. @defaultValue 4 GiB */
  workerAddressSpaceBytes?: number;
  /** Extra environment for both processes (e.g. limits a fix introduces). */
  env?: Record<string, string>;
  /** Progress lines; silent by default. */
  log?: (line: string) => void;
}

/** One process of the stack and what it printed (the last lines). */
export interface StackProcess {
  proc: ChildProcess;
  pid: number;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class FuzzStack {
  base = '';
  api: StackProcess | null = null;
  worker: StackProcess | null = null;
  /** Every API or worker exit the suite did not ask for, with the last lines it printed. */
  readonly unexpectedExits: Array<{ role: 'api' | 'worker'; code: number | null; signal: string | null; tail: string[] }> = [];
  /** Times the suite restarted the API because it stopped answering. */
  apiRestarts = 0;
  readonly keys = { [HOSTILE_TENANT]: `${HOSTILE_TENANT}_${randomBytes(12).toString('hex')}`, [CANARY_TENANT]: `${CANARY_TENANT}_${randomBytes(12).toString('hex')}` };
  private port = 0;
  private stopping = false;

  private constructor(
    readonly prefix: string,
    private readonly cleanupRedis: () => Promise<void>,
    /** The file store's directory (tenants' datasets are written under it). */
    readonly storeDir: string,
    private readonly tmp: string,
    readonly receiver: Awaited<ReturnType<typeof startWebhookReceiver>>,
    private readonly opts: FuzzStackOptions,
  ) {}

  static async start(opts: FuzzStackOptions = {}): Promise<FuzzStack> {
    const { prefix, cleanup } = uniquePrefix('fuzz');
    const tmp = mkdtempSync(join(tmpdir(), 'kiln-fuzz-'));
    const receiver = await startWebhookReceiver(204);
    const stack = new FuzzStack(prefix, cleanup, join(tmp, 'store'), tmp, receiver, opts);
    process.on('exit', stack.killAll);
    try {
      stack.port = await freePort();
      await stack.startApi();
      await stack.startWorker();
    } catch (err) {
      await stack.close();
      throw err;
    }
    return stack;
  }

  auth(tenant: string = HOSTILE_TENANT): Record<string, string> {
    return { authorization: `Bearer ${this.keys[tenant as keyof typeof this.keys]}` };
  }

  /** Writes an object into a tenant's area of the store (a dataset the jobs name by key). */
  putObject(tenant: string, key: string, body: string | Buffer): void {
    const path = join(this.storeDir, tenant, key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL,
      KILN_QUEUE_PREFIX: this.prefix,
      KILN_STORE: 'file://' + this.storeDir,
      KILN_API_KEYS: Object.entries(this.keys).map(([t, k]) => `${t}:${k}`).join(','),
      KILN_OUTBOUND_ALLOW: '127.0.0.1',
      // Hundreds of submissions a minute are the point; the rate limit has tests of its own.
      KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0',
      LOG_LEVEL: 'warn',
      ...extra,
      ...this.opts.env,
    };
  }

  private async spawnProcess(role: 'api' | 'worker', command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<StackProcess> {
    const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
    let resolveReady: () => void = () => undefined;
    const isReady = new Promise<void>((r) => (resolveReady = r));
    const onLine = (line: string) => {
      output.push(line);
      if (output.length > 400) output.splice(0, 100);
      if (ready.test(line)) resolveReady();
    };
    lines(proc.stdout!, onLine);
    lines(proc.stderr!, onLine);
    const handle: StackProcess = { proc, pid: proc.pid!, output, exited };
    void exited.then(({ code, signal }) => {
      if (!this.stopping && !handle.proc.killed) this.unexpectedExits.push({ role, code, signal, tail: output.slice(-15) });
    });
    const outcome = await Promise.race([
      isReady.then(() => 'ok' as const),
      exited.then(() => 'exited' as const),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30000).unref()),
    ]);
    if (outcome !== 'ok') {
      proc.kill('SIGKILL');
      throw new Error(`the ${role} did not start (${outcome}):\n${output.slice(-20).join('\n')}`);
    }
    return handle;
  }

  private async startApi(): Promise<void> {
    this.api = await this.spawnProcess('api', process.execPath, [join(DIST, 'api/server.js')],
      this.env({ PORT: String(this.port), HOST: '127.0.0.1' }), /listening on/);
    this.base = `http://127.0.0.1:${this.port}`;
  }

  private async startWorker(): Promise<void> {
    const limit = String(this.opts.workerAddressSpaceBytes ?? 4 * 1024 ** 3);
    this.worker = await this.spawnProcess('worker', 'prlimit', [`--as=${limit}`, '--', process.execPath, join(DIST, 'worker/main.js')], this.env({
      KILN_BACKEND: 'cpu',
      KILN_WORKER_CONCURRENCY: '1',
      KILN_WORKER_HEALTH_PORT: '0',
      KILN_SHUTDOWN_GRACE_SECONDS: '5',
      KILN_WEBHOOK_SCHEDULE: '200ms,500ms,1s',
      LOG_LEVEL: 'info',
    }), /"worker started"/);
    this.opts.log?.(`worker started (pid ${this.worker.pid}, address space ${limit} bytes)`);
  }

  /** Whether a process of the stack is still running. */
  static running(p: StackProcess | null): boolean {
    return p !== null && p.proc.exitCode === null && p.proc.signalCode === null;
  }

  /** Kills the API (it stopped answering) and starts it again on the same port; jobs stay in Redis. */
  async restartApi(): Promise<void> {
    this.apiRestarts++;
    const api = this.api;
    if (api && FuzzStack.running(api)) {
      api.proc.kill('SIGKILL');
      await api.exited;
    }
    await this.startApi();
  }

  /** Starts the worker again when it died. */
  async ensureWorker(): Promise<void> {
    if (!FuzzStack.running(this.worker)) await this.startWorker();
  }

  /** SIGKILLs the worker's sandboxed training children (a job that hangs and ignores cancel); returns how many. */
  killTrainingChildren(): number {
    if (!this.worker) return 0;
    const pids = sandboxChildren(this.worker.pid).filter(alive);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    return pids.length;
  }

  /** Resident memory (bytes) of the worker's sandboxed children, summed. */
  trainingChildrenRss(): number {
    if (!this.worker) return 0;
    return sandboxChildren(this.worker.pid).reduce((sum, pid) => sum + rssOf(pid), 0);
  }

  /** Last resort when the runner exits without close(). */
  private readonly killAll = () => {
    const pids = [this.api?.pid, this.worker?.pid, ...(this.worker ? sandboxChildren(this.worker.pid) : [])];
    for (const pid of pids) if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  };

  /** Stops both processes (and the worker's children) and deletes the store and the Redis keys. */
  async close(): Promise<void> {
    this.stopping = true;
    process.off('exit', this.killAll);
    for (const p of [this.worker, this.api]) {
      if (!p || !FuzzStack.running(p)) continue;
      const children = p === this.worker ? sandboxChildren(p.pid) : [];
      p.proc.kill('SIGKILL');
      await p.exited;
      for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL');
    }
    await this.receiver.close();
    await this.cleanupRedis();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

