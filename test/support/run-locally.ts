import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newJobIds } from '../../core/ids';
import type { TrainingJobData, TrainingProgress } from '../../core/queue-contract';
import { FileStore } from '../../store/file-store';
import { runTraining } from '../../worker/training/run-training';
import type { RemoteMonitorSender } from '../../core/callbacks/remote-monitor';

/**
 * Runs one job's training in this process (no queue, no sandbox) on the active tfjs backend, over a
 * temp file store. For tests of what training does; the scenario tests cover the whole service.
 */
export async function trainLocally(spec: any, opts: {
  isCancelled?: () => boolean;
  maxEpochRows?: number;
  /** KILN_DATASET_MEMORY_BYTES; a larger dataset trains from a scratch file. @defaultValue no limit */
  datasetMemoryBytes?: number;
  /** Continue a job in the store of an earlier call (`{ dir, job }` from its result or error). */
  resume?: { dir: string; job: TrainingJobData };
  /** @defaultValue 1 */
  attempt?: number;
  afterEpoch?: (epoch: number) => void | Promise<void>;
  handBackRequested?: () => boolean;
  /** Sends RemoteMonitor's posts (worker/webhooks/remote-monitor-sender.ts). @defaultValue none */
  remoteMonitor?: RemoteMonitorSender;
} = {}) {
  const dir = opts.resume?.dir ?? mkdtempSync(join(tmpdir(), 'kiln-train-'));
  const store = new FileStore(dir);
  const { jobId, runId } = newJobIds();
  const job: TrainingJobData = opts.resume?.job ?? { tenant: 'acme', jobId, runId, spec, createdAt: new Date().toISOString() };
  const progress: TrainingProgress[] = [];
  try {
    const result = await runTraining(job, {
      store,
      backend: 'cpu',
      attempt: opts.attempt ?? 1,
      isCancelled: opts.isCancelled ?? (() => false),
      afterEpoch: opts.afterEpoch,
      handBackRequested: opts.handBackRequested,
      reportProgress: async (p) => {
        progress.push(p);
      },
      notifier: null,
      log: () => undefined,
      maxEpochRows: opts.maxEpochRows,
      datasetMemoryBytes: opts.datasetMemoryBytes,
      remoteMonitor: opts.remoteMonitor,
    });
    const run = JSON.parse((await store.get(`acme/runs/${job.runId}/run.json`))!.toString('utf8'));
    return { result, run, progress, store, runId: job.runId, job, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    // A caller that resumes keeps the store of the interrupted attempt.
    if (opts.afterEpoch === undefined && opts.handBackRequested === undefined) rmSync(dir, { recursive: true, force: true });
    else Object.assign(err as object, { dir, job });
    throw err;
  }
}
