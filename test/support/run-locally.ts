import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newJobIds } from '../../core/ids';
import type { TrainingJobData, TrainingProgress } from '../../core/queue-contract';
import { FileStore } from '../../store/file-store';
import { runTraining } from '../../worker/training/run-training';

/**
 * Runs one job's training in this process (no queue, no sandbox) on the active tfjs backend, over a
 * temp file store. For tests of what training does; the scenario tests cover the whole service.
 */
export async function trainLocally(spec: any, opts: { isCancelled?: () => boolean; maxEpochRows?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-train-'));
  const store = new FileStore(dir);
  const { jobId, runId } = newJobIds();
  const job: TrainingJobData = { tenant: 'acme', jobId, runId, spec, createdAt: new Date().toISOString() };
  const progress: TrainingProgress[] = [];
  try {
    const result = await runTraining(job, {
      store,
      backend: 'cpu',
      attempt: 1,
      isCancelled: opts.isCancelled ?? (() => false),
      reportProgress: async (p) => {
        progress.push(p);
      },
      notifier: null,
      log: () => undefined,
      maxEpochRows: opts.maxEpochRows,
    });
    const run = JSON.parse((await store.get(`acme/runs/${runId}/run.json`))!.toString('utf8'));
    return { result, run, progress, store, runId, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
