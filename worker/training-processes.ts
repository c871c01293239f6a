/**
 * The worker parent's side of job isolation: every training job runs in a process of its own,
 * forked ahead of time as a warm spare, and is supervised from outside the training thread (a
 * process spinning in a synchronous loop cannot answer anything, so nothing here relies on it).
 *
 * - One job per process: whatever a job leaves behind (a pending rejection, a timer, a leaked
 *   tensor, a grown wasm heap) dies with its process and can never reach another tenant's job.
 *   The spare is forked and initialised while the previous job trains, so taking it costs no start-up.
 * - Memory ceiling: the resident set is sampled; past the ceiling the process is killed and the job
 *   fails once as RESOURCE_EXHAUSTED (the V8 heap is capped below it by the fork's execArgv).
 * - Watchdog: no progress signal for the stall timeout and the process is killed; the job fails
 *   once as TRAINING_STALLED.
 * - Cancel: a cancelled job that has not stopped by itself within the grace period is killed and
 *   ends cancelled.
 * - A process that dies by itself (killed from outside, a native crash) fails the attempt as
 *   WORKER_CRASHED, which is retried: that is the infrastructure's fault, not the job's.
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../core/errors';
import { toJobFailure } from './queue-errors';

/** IPC message a training process sends on each sign of progress (batch end, epoch end). */
export const PROGRESS_SIGNAL = 'kiln:progress';

/** How a training process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** V8 reported running out of heap (on stderr) before the process died. */
  heapExhausted: boolean;
}

/** A forked training process, as the queue module hands it over. */
export interface TrainingProcess {
  readonly pid: number;
  /** Settles once the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** Whether the process has exited already. */
  hasExited(): boolean;
  kill(signal: NodeJS.Signals): void;
}

/** Limits every job's process is held to. */
export interface ProcessLimits {
  /** Resident-set ceiling in bytes (KILN_WORKER_MEMORY_BYTES); 0 = none. */
  memoryBytes: number;
  /** Milliseconds without a progress signal before the process is killed (KILN_STALL_TIMEOUT_SECONDS). */
  stallTimeoutMs: number;
  /** Milliseconds a cancelled job has to stop by itself (KILN_CANCEL_GRACE_SECONDS). */
  cancelGraceMs: number;
  /**
   * How often the supervisor samples memory, progress and cancellation.
   * @defaultValue 500
   */
  sampleMs?: number;
}

/** How a supervised job learns what it needs from its caller. */
export interface SupervisedJob<T> {
  /**
   * Sends the job to the process; settles with the processor's result or error. Call `progress`
   * on each sign of progress the process gives.
   */
  start(proc: TrainingProcess, progress: () => void): Promise<T>;
  /** Whether the job was cancelled (polled). */
  cancelled(): boolean;
  /** The result the job ends with when its process is killed after a cancel's grace period. */
  cancelledResult(): T;
}

/** Milliseconds a finished job's process has to exit after SIGTERM before it is killed. */
const EXIT_GRACE_MS = 5000;

type Verdict =
  | { kind: 'stalled'; idleMs: number }
  | { kind: 'memory'; rss: number }
  | { kind: 'cancelled' }
  | { kind: 'exited'; exit: ProcessExit };

/** Runs each job in a fresh process with a warm spare; see the file comment. */
export class TrainingProcesses<P extends TrainingProcess> {
  private spare: Promise<P> | null = null;
  private readonly alive = new Set<P>();
  private closed = false;

  constructor(private readonly spawn: () => Promise<P>, private readonly limits: ProcessLimits) {}

  /** Forks the warm spare now (at worker start), so the first job does not wait for it either. */
  warm(): void {
    if (this.closed || this.spare) return;
    const spare = this.spawn().then((p) => this.track(p));
    // A spare that could not start is retried when a job asks for one.
    spare.catch(() => undefined);
    this.spare = spare;
  }

  /** Runs one job in a process of its own and ends that process afterwards, whatever happened. */
  async run<T>(job: SupervisedJob<T>): Promise<T> {
    const proc = await this.take();
    this.warm();
    const sampleMs = this.limits.sampleMs ?? 500;
    let lastProgress = Date.now();
    let cancelledAt: number | null = null;
    let timer: NodeJS.Timeout | undefined;
    let decide!: (v: Verdict) => void;
    const verdict = new Promise<Verdict>((resolve) => {
      decide = resolve;
    });
    const condemn = (v: Verdict) => {
      proc.kill('SIGKILL');
      decide(v);
    };
    timer = setInterval(() => {
      const now = Date.now();
      const rss = residentBytes(proc.pid);
      if (rss !== null && this.limits.memoryBytes > 0 && rss > this.limits.memoryBytes) return condemn({ kind: 'memory', rss });
      if (job.cancelled()) {
        cancelledAt ??= now;
        if (now - cancelledAt >= this.limits.cancelGraceMs) return condemn({ kind: 'cancelled' });
        // A cancelled job is stopping: the grace period, not the watchdog, bounds it now.
        return;
      }
      if (now - lastProgress >= this.limits.stallTimeoutMs) return condemn({ kind: 'stalled', idleMs: now - lastProgress });
    }, sampleMs);
    // Let an IPC message already under way (the result, the error) land before the exit decides.
    void proc.exited.then((exit) => setImmediate(() => decide({ kind: 'exited', exit })));
    try {
      const outcome = await Promise.race([
        job.start(proc, () => {
          lastProgress = Date.now();
        }).then((value) => ({ value })),
        verdict,
      ]);
      if ('value' in outcome) return outcome.value;
      // The job ends only once its killed process is gone (SIGKILL cannot be refused), so it frees its core first.
      await proc.exited;
      if (outcome.kind === 'cancelled') return job.cancelledResult();
      throw toJobFailure(verdictError(outcome, this.limits));
    } finally {
      clearInterval(timer);
      this.retire(proc);
    }
  }

  /** Ends every process (running jobs, the spare) and waits for them to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = null;
    await spare?.catch(() => undefined);
    const all = [...this.alive];
    for (const p of all) p.kill('SIGKILL');
    await Promise.all(all.map((p) => p.exited));
  }

  /** Processes alive now (running, spare or exiting): for tests and diagnostics. */
  pids(): number[] {
    return [...this.alive].map((p) => p.pid);
  }

  private async take(): Promise<P> {
    const spare = this.spare;
    this.spare = null;
    const warm = spare ? await spare.catch(() => null) : null;
    if (warm && !warm.hasExited()) return warm;
    return this.track(await this.spawn());
  }

  private track(p: P): P {
    this.alive.add(p);
    void p.exited.then(() => this.alive.delete(p));
    if (this.closed) p.kill('SIGKILL');
    return p;
  }

  private retire(p: P): void {
    if (p.hasExited()) return;
    // The job is over: its process exits (it is never reused), and is killed if it will not.
    p.kill('SIGTERM');
    const force = setTimeout(() => p.kill('SIGKILL'), EXIT_GRACE_MS);
    force.unref();
    void p.exited.then(() => clearTimeout(force));
  }
}

function verdictError(v: Exclude<Verdict, { kind: 'cancelled' }>, limits: ProcessLimits): KilnError {
  const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
  switch (v.kind) {
    case 'stalled':
      return new KilnError('TRAINING_STALLED', `no batch or epoch finished for ${Math.round(v.idleMs / 1000)} s (KILN_STALL_TIMEOUT_SECONDS is ${Math.round(limits.stallTimeoutMs / 1000)}); the training process was stopped. A model this slow per batch needs a smaller batchSize or model`);
    case 'memory':
      return new KilnError('RESOURCE_EXHAUSTED', `the training process used ${mib(v.rss)}, over the worker's memory ceiling of ${mib(limits.memoryBytes)} (KILN_WORKER_MEMORY_BYTES); use a smaller model, batchSize or dataset`);
    case 'exited':
      if (v.exit.heapExhausted) {
        return new KilnError('RESOURCE_EXHAUSTED', `the training process ran out of JavaScript heap (its share of the ${mib(limits.memoryBytes)} KILN_WORKER_MEMORY_BYTES ceiling); use a smaller model, batchSize or dataset`);
      }
      // Retried: a process killed from outside (a lost node, the kernel's OOM killer) is not the job's doing, once.
      return new KilnError('WORKER_CRASHED', `the training process died (exit code ${v.exit.code}, signal ${v.exit.signal}); if it died on every attempt, the job may need more memory or a smaller model/batch`);
  }
}

/** Resident set of a process in bytes (Linux /proc), or null where it cannot be read. */
export function residentBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The V8 heap limit for a memory ceiling, in MiB (--max-old-space-size): three quarters of it, so
 * a job whose JS heap grows fails cleanly with V8's own message before the resident set reaches the
 * ceiling; the rest is for the wasm heap, tensor buffers and native memory.
 */
export function heapLimitMiB(memoryBytes: number): number {
  return Math.max(64, Math.floor((memoryBytes * 0.75) / 1048576));
}
