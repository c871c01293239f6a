import { dirname, join } from 'node:path';
import { Child, ChildCommand, Job, ParentCommand, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { retakeLock } from './job-lock';
import { kilnKeys, TRAINING_ATTEMPTS, TRAINING_QUEUE, type TrainingJobData, type TrainingProgress, type TrainingResult } from '../core/queue-contract';
import { isUnrecoverable, QueueErrorName, queueError } from './queue-errors';
import { heapLimitMiB, PROGRESS_SIGNAL, TrainingProcesses, type ProcessExit, type ProcessLimits, type TrainingProcess } from './training-processes';

export interface TrainingWorkerOptions {
  connection: Redis;
  prefix: string;
  /** Compiled JS file run in each job's own child process (BullMQ's sandboxed-processor format). */
  processorFile: string;
  concurrency: number;
  lockDurationMs: number;
  queueName?: string;
  /** Memory ceiling, watchdog and cancel grace of each job's process (see training-processes.ts). */
  limits: ProcessLimits;
  /**
   * Takes the tenant's running slot before a process is used for the job; null when the tenant is
   * at its limit (the job goes back to waiting, delayed, without using an attempt).
   */
  admit?(data: TrainingJobData): Promise<{ release(): Promise<void> } | null>;
  /** Watches a job's cancellation from the parent, so a stuck process can be killed after the grace period. */
  watchCancel?(jobId: string): Promise<{ readonly requested: boolean; close(): Promise<void> }>;
}

/** How soon a job that found its tenant at the running limit looks again. */
const TENANT_SLOT_RECHECK_MS = 5000;

/** BullMQ's child entry: it loads the processor file and speaks the sandbox protocol. */
const SANDBOX_MAIN = join(dirname(require.resolve('bullmq')), 'classes', 'main.js');

export type FinishedJob = Pick<Job<TrainingJobData, TrainingResult>, 'id' | 'data' | 'attemptsMade' | 'attemptsStarted' | 'opts' | 'returnvalue' | 'failedReason'>;

export interface TrainingWorkerEvents {
  onCompleted(job: FinishedJob, result: TrainingResult): void;
  /** `final` is false when BullMQ will try the job again. */
  onFailed(job: FinishedJob, error: Error, final: boolean): void;
  onError(error: Error): void;
  /** The stalled checker found a job whose worker was lost (its lock expired) and queued it again. */
  onStalled?(jobId: string, attempt: number | null): void;
  /**
   * Redis came back after `downMs` without a connection while this worker trained `jobId`;
   * `kept` tells whether the job's lock was taken back (it trains on, no attempt spent).
   */
  onRedisReturned?(jobId: string, attempt: number, downMs: number, kept: boolean): void;
}


/**
 * Stalls a job may have before it fails (BullMQ `maxStalledCount`): a job whose worker keeps dying
 * (parent killed, node lost) runs at most TRAINING_ATTEMPTS times, like one whose child crashes.
 */
export const TRAINING_MAX_STALLED = TRAINING_ATTEMPTS - 1;

/** The worker side of the training queue: the only worker module that imports BullMQ. */
export function createTrainingWorker(opts: TrainingWorkerOptions, events: TrainingWorkerEvents) {
  const execArgv = opts.limits.memoryBytes > 0
    ? [...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')), `--max-old-space-size=${heapLimitMiB(opts.limits.memoryBytes)}`]
    : process.execArgv;
  const processes = new TrainingProcesses(() => forkTrainingProcess(opts.processorFile, execArgv), opts.limits);
  // The processor runs here, in the parent: it hands each job to a process of its own and supervises it.
  const processor = async (job: Job<TrainingJobData, TrainingResult>, token?: string): Promise<TrainingResult> => {
    const slot = opts.admit ? await opts.admit(job.data) : null;
    if (opts.admit && !slot) {
      await job.moveToDelayed(Date.now() + TENANT_SLOT_RECHECK_MS, token);
      throw queueError(QueueErrorName.Delayed, `tenant ${job.data.tenant} is at its running-jobs limit; waiting`);
    }
    const cancel = opts.watchCancel ? await opts.watchCancel(job.data.jobId) : null;
    try {
      return await processes.run({
        start: (proc, progress) => runInProcess(proc as SandboxProcess, job, token, progress),
        cancelled: () => cancel?.requested ?? false,
        cancelledResult: () => killedWhileCancelling(job),
      });
    } finally {
      await cancel?.close();
      await slot?.release();
    }
  };
  const worker = new Worker<TrainingJobData, TrainingResult>(opts.queueName ?? TRAINING_QUEUE, processor, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    maxStalledCount: TRAINING_MAX_STALLED,
  });
  processes.warm();
  // Jobs this worker runs now, with their attempt's lock token (for hand-back requests).
  const active = new Map<string, string>();
  const attempts = new Map<string, number>();
  worker.on('active', (job) => {
    if (job.id && job.token) active.set(job.id, job.token);
    if (job.id) attempts.set(job.id, job.attemptsStarted || job.attemptsMade + 1);
  });
  // After a Redis outage: each running job's lock back at once. ioredis sends what queued up on a
  // connection while it was down before anything asked for on 'ready', so the retake has a
  // connection of its own, with nothing queued on it, that reconnects every 100 ms: it reaches
  // Redis ahead of the stalled checks and completions waiting on the workers' own connections,
  // whose backoff has grown to 2 s by then. (A completion also takes its lock back itself first,
  // see processor.ts.)
  const lockConnection = opts.connection.duplicate({ maxRetriesPerRequest: null, retryStrategy: () => 100 });
  lockConnection.on('error', () => undefined);
  let downSince: number | null = null;
  lockConnection.on('close', () => {
    downSince ??= Date.now();
  });
  lockConnection.on('ready', () => {
    if (downSince === null) return;
    const downMs = Date.now() - downSince;
    downSince = null;
    const base = `${opts.prefix}:${opts.queueName ?? TRAINING_QUEUE}:`;
    for (const [jobId, token] of active) {
      void retakeLock(lockConnection, base, jobId, token, opts.lockDurationMs)
        .then((kept) => events.onRedisReturned?.(jobId, attempts.get(jobId) ?? 0, downMs, kept))
        .catch((err: Error) => events.onError(err));
    }
  });
  worker.on('completed', (job, result) => {
    if (job.id) active.delete(job.id);
    if (job.id) attempts.delete(job.id);
    events.onCompleted(job, result);
  });
  worker.on('stalled', (jobId) => {
    void Job.fromId(worker as never, jobId)
      .then((job) => events.onStalled?.(jobId, job?.attemptsStarted ?? null))
      .catch(() => events.onStalled?.(jobId, null));
  });
  worker.on('failed', (job, error) => {
    if (job?.id) active.delete(job.id);
    if (job?.id) attempts.delete(job.id);
    if (!job) return;
    const final = isUnrecoverable(error) || job.attemptsMade >= (job.opts.attempts ?? 1);
    events.onFailed(job, error, final);
  });
  worker.on('error', (error) => events.onError(error));
  return {
    async close(force = false): Promise<void> {
      await worker.close(force);
      // Running jobs are done (or abandoned, when forced): no training process outlives the worker.
      await processes.close();
      lockConnection.disconnect();
    },
    /** Kills every training process now (running jobs stall and resume elsewhere from their backups). */
    killProcesses: () => processes.close(),
    /** Pids of this worker's training processes (running, spare or exiting). */
    processPids: () => processes.pids(),
    /**
     * Asks every job running here to back up at its next epoch end and hand itself back to the
     * queue (the processor moves it to waiting); returns how many were asked.
     */
    async requestHandBack(): Promise<number> {
      const jobs = [...active];
      for (const [jobId, token] of jobs) {
        await opts.connection.set(kilnKeys.handBack(opts.prefix, jobId), token, 'EX', 3600);
        await opts.connection.publish(kilnKeys.handBackChannel(opts.prefix), jobId);
      }
      return jobs.length;
    },
    isRunning: () => worker.isRunning(),
  };
}

/** A job's forked process: BullMQ's sandbox child, with how it exited. */
interface SandboxProcess extends TrainingProcess {
  readonly child: Child;
}

/** Forks one training process and waits until it has loaded the processor file. */
async function forkTrainingProcess(processorFile: string, execArgv: string[]): Promise<SandboxProcess> {
  const child = new Child(SANDBOX_MAIN, processorFile, { useWorkerThreads: false, workerForkOptions: { execArgv } });
  let heapExhausted = false;
  let exitedAlready = false;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      exitedAlready = true;
      resolve({ code, signal, heapExhausted });
    });
  });
  const proc: SandboxProcess = {
    child,
    get pid() {
      return child.pid;
    },
    exited,
    hasExited: () => exitedAlready,
    kill: (signal) => {
      if (!exitedAlready) child.childProcess?.kill(signal);
    },
  };
  const init = child.init();
  // V8 says so on stderr before it aborts; BullMQ pipes the child's stderr on to ours as well.
  child.childProcess?.stderr?.on('data', (chunk: Buffer) => {
    if (/JavaScript heap out of memory|Reached heap limit/.test(chunk.toString())) heapExhausted = true;
  });
  try {
    // BullMQ's init never settles for a child that dies before it has loaded the processor (it
    // drops its own listeners on exit): the exit decides then.
    await Promise.race([init, exited.then((e) => {
      throw new Error(`the training process exited while starting (exit code ${e.code}, signal ${e.signal})`);
    })]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return proc;
}

/** Sends a job to its process and relays what the processor asks of the job (BullMQ's sandbox protocol). */
function runInProcess(proc: SandboxProcess, job: Job<TrainingJobData, TrainingResult>, token: string | undefined, progress: () => void): Promise<TrainingResult> {
  return new Promise<TrainingResult>((resolve, reject) => {
    proc.child.on('message', (msg: { cmd: unknown; value?: any; err?: any }) => {
      void (async () => {
        switch (msg.cmd) {
          case PROGRESS_SIGNAL:
            progress();
            break;
          case ParentCommand.Completed:
            resolve(msg.value as TrainingResult);
            break;
          case ParentCommand.Failed:
          case ParentCommand.Error:
            // The error crosses IPC as a plain object: its name (what BullMQ acts on), message and stack.
            reject(Object.assign(new Error(), msg.value ?? msg.err));
            break;
          case ParentCommand.Progress:
            progress();
            await job.updateProgress(msg.value);
            break;
          case ParentCommand.Log:
            await job.log(msg.value);
            break;
          case ParentCommand.MoveToDelayed:
            await job.moveToDelayed(msg.value?.timestamp, msg.value?.token);
            break;
          case ParentCommand.MoveToWait:
            await job.moveToWait(msg.value?.token);
            break;
        }
      })().catch(reject);
    });
    proc.child.send({ cmd: ChildCommand.Start, job: job.asJSONSandbox(), token }).catch(reject);
  });
}

/** What a job ends with when its process was killed because it did not stop within a cancel's grace period. */
function killedWhileCancelling(job: Job<TrainingJobData, TrainingResult>): TrainingResult {
  const p = (typeof job.progress === 'object' ? job.progress : null) as TrainingProgress | null;
  return {
    status: 'cancelled',
    stopReason: 'cancelled',
    epoch: p?.epoch ?? null,
    epochs: p?.epochs ?? job.data.spec.fit.epochs,
    metrics: p?.metrics ?? {},
    best: p?.best ?? null,
    backend: p?.backend ?? null,
    attempt: p?.attempt ?? job.attemptsStarted,
    finishedAt: new Date().toISOString(),
  };
}
