import { parseFailure } from '../core/errors';
import { withoutSecrets } from '../core/job-secrets';
import type { TrainingJobData, TrainingResult } from '../core/queue-contract';
import type { ArtifactStore } from '../store/artifact-store';
import { runManifestKey } from '../store/run-layout';
import type { JobNotifier } from './webhooks/job-notifier';

/**
 * What the worker parent does when a job ends for good: records a failure in the run manifest
 * (the sandbox may have died without writing it) and sends the completion webhook.
 */
export class JobOutcomes {
  constructor(
    private readonly store: ArtifactStore,
    private readonly notifier: JobNotifier,
    private readonly log: (msg: string, fields?: object) => void,
  ) {}

  async completed(data: TrainingJobData, result: TrainingResult): Promise<void> {
    // A cancelled job whose process was killed after the grace period (stuck) could not say so itself.
    if (result.status === 'cancelled') await this.recordEnd(data, { status: 'cancelled', stopReason: 'cancelled' }, (run) => run.status !== 'cancelled');
    await this.notifier.notify(data, result.status === 'cancelled' ? 'job.cancelled' : 'job.succeeded', {
      status: result.status,
      stopReason: result.stopReason,
      epoch: result.epoch,
      epochs: result.epochs,
      metrics: result.metrics,
      best: result.best,
      backend: result.backend,
      finishedAt: result.finishedAt,
    });
  }

  async failed(data: TrainingJobData, reason: string, attempts: number): Promise<void> {
    const error = parseFailure(reason);
    await this.recordEnd(data, { status: 'failed', stopReason: 'error', error, attempts });
    await this.notifier.notify(data, 'job.failed', { status: 'failed', stopReason: 'error', error, attempts, finishedAt: new Date().toISOString() });
  }

  /** Records how the job ended in its run manifest (writing a minimal one if the run never wrote it), when `needed` says so. */
  private async recordEnd(data: TrainingJobData, fields: Record<string, unknown>, needed: (run: Record<string, unknown>) => boolean = () => true): Promise<void> {
    const key = runManifestKey(data.tenant, data.runId);
    try {
      const existing = await this.store.get(key);
      const run = existing ? JSON.parse(existing.toString('utf8')) : {
        runId: data.runId, jobId: data.jobId, spec: withoutSecrets(data.spec), history: [], best: null, artifacts: [], backend: null, createdAt: data.createdAt,
      };
      if (!needed(run)) return;
      Object.assign(run, fields, { updatedAt: new Date().toISOString() });
      await this.store.put(key, JSON.stringify(run), { contentType: 'application/json' });
    } catch (err) {
      this.log(`could not record the ${String(fields.status)} job in run.json`, { jobId: data.jobId, err: (err as Error).message });
    }
  }
}
