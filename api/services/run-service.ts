import type { SchemaJobSpec, SchemaRun } from '../../core/api.gen';
import { KilnError } from '../../core/errors';
import { jobIdForRun } from '../../core/ids';
import { withoutSecrets } from '../../core/job-secrets';
import type { ArtifactStore } from '../../store/artifact-store';
import { bestPointerKey, logKey, runManifestKey } from '../../store/run-layout';
import type { JobService } from './job-service';

/** Runs as stored by the worker: the manifest, the best model and the CSV log, per tenant. */
export class RunService {
  constructor(private readonly store: ArtifactStore, private readonly jobs: JobService) {}

  async getRun(tenant: string, runId: string): Promise<SchemaRun> {
    const stored = await this.store.get(runManifestKey(tenant, runId));
    if (stored) {
      const run = JSON.parse(stored.toString('utf8')) as SchemaRun;
      // A manifest written before secrets were kept apart may still hold one: never show it.
      return run.spec ? { ...run, spec: withoutSecrets(run.spec) } : run;
    }
    // Not started yet: the job is the only record; answer its queued state in the run's shape.
    const job = await this.jobs.getJob(tenant, jobIdForRun(runId)).catch((err) => {
      if (err instanceof KilnError && err.code === 'NOT_FOUND') throw runNotFound(runId);
      throw err;
    });
    return {
      runId,
      jobId: job.jobId,
      status: job.status,
      stopReason: job.stopReason,
      backend: job.backend,
      history: [],
      best: job.best,
      artifacts: [],
      error: job.error,
      createdAt: job.createdAt,
      updatedAt: job.transitions[job.transitions.length - 1].at,
    };
  }

  /** A file of the best checkpoint (model.json or a weights file it names), streamed. */
  async getModelFile(tenant: string, runId: string, file: string) {
    const pointer = await this.store.get(bestPointerKey(tenant, runId));
    if (!pointer) {
      await this.getRun(tenant, runId); // 404 for an unknown run, else: no checkpoint yet
      throw new KilnError('NOT_FOUND', `run ${runId} has no best checkpoint yet; it appears after the first checkpoint is stored`);
    }
    const best = JSON.parse(pointer.toString('utf8')) as { key: string };
    const object = await this.store.getStream(`${best.key}/${file}`);
    if (!object) throw new KilnError('NOT_FOUND', `the best checkpoint of run ${runId} has no file '${file}'; model.json lists its weight files`);
    return object;
  }

  async getLog(tenant: string, runId: string) {
    const run = await this.getRun(tenant, runId);
    const spec = run.spec as SchemaJobSpec | undefined;
    const filename = spec?.callbacks?.csvLogger?.filename ?? 'training_log.csv';
    const object = await this.store.getStream(logKey(tenant, runId, filename));
    if (!object) throw new KilnError('NOT_FOUND', `run ${runId} has no CSV log yet; it is written after the first epoch`);
    return object;
  }
}

function runNotFound(runId: string): KilnError {
  return new KilnError('NOT_FOUND', `no run ${runId} for this API key`);
}
