import type { SchemaInterruption } from '../../core/api.gen';
import { Callback } from '../../core/callbacks/callback';
import type { CallbackEvent } from '../../core/callbacks/events';
import type { Logs } from '../../core/callbacks/model-handle';
import { logsToWire, type Backend, type TrainingJobData, type TrainingProgress, type TrainingResult } from '../../core/queue-contract';
import type { RunLayout } from '../../store/run-layout';
import type { Uploader } from '../../store/uploader';
import type { JobNotifier } from '../webhooks/job-notifier';
import type { BackupState } from './backup-writer';
import { RunManifest, eventsToWire } from './run-manifest';

/** What {@link RunRecorder} records through. */
export interface RunRecorderOptions {
  job: TrainingJobData;
  layout: RunLayout;
  uploader: Uploader;
  backend: Backend;
  /** 1-based attempt number of this run of the job. */
  attempt: number;
  /** When this attempt started. */
  startedAt: Date;
  reportProgress(progress: TrainingProgress): Promise<void>;
  /** Webhooks from inside training; null sends none. */
  notifier: JobNotifier | null;
  log(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Records the run, as Keras's History does for `fit`'s return value: run.json after every epoch
 * (history, callback events, artifacts), the job's progress, the `job.started` and `job.epoch`
 * webhooks, and the callbacks' events (logged, alerts forwarded as `alert.triggered`). It keeps
 * what the run's result is made of: the last epoch and its logs. Errors propagate (a store that
 * cannot take run.json is an infrastructure fault, and the job is retried).
 */
export class RunRecorder extends Callback {
  override readonly name = 'RunRecorder';
  readonly manifest: RunManifest;
  /** The last epoch that ended (0-based), null before the first. */
  lastEpoch: number | null = null;
  lastLogs: Logs = {};
  /** The last epoch whose `job.epoch` webhook was queued. */
  lastNotifiedEpoch: number | null = null;
  /** Events before this index were reported with an earlier progress update. */
  private eventsReported = 0;
  /** `performance.now()` when the current epoch began (progress' `epochMs`: training, validation, callbacks). */
  private epochBeganAt = 0;

  constructor(private readonly opts: RunRecorderOptions) {
    super();
    this.manifest = new RunManifest(opts.job, opts.layout, opts.backend, opts.startedAt);
  }

  /** The callbacks' events so far (run.json's `events`). */
  get events(): readonly CallbackEvent[] {
    return this.manifest.events;
  }

  /** The job callbacks' event sink: every event is kept, logged, and an alert is sent on. */
  readonly record = (event: CallbackEvent): void => {
    this.manifest.events.push(event);
    const { job, notifier, log } = this.opts;
    log('callback event', { event });
    if (event.type === 'alert_fired' && notifier) {
      const target = notifier.alertTarget(job, event);
      if (target) {
        void notifier.notify(job, 'alert.triggered', { epoch: event.epoch, rule: event.rule, when: event.when, values: event.values, text: event.text }, { seq: `${event.rule}_${event.epoch}`, target });
      }
    }
  };

  /**
   * Before anything is written: the run a backup recorded (its history, events and artifacts; null
   * for a fresh start) and the job's interruptions so far.
   */
  continueFrom(run: BackupState['run'] | null, interruptions: SchemaInterruption[]): void {
    if (run) this.manifest.restore(run);
    this.manifest.interruptions = interruptions;
    this.eventsReported = this.manifest.events.length;
  }

  /** Queues run.json as it is now. */
  async writeManifest(): Promise<void> {
    await this.opts.uploader.enqueue(this.opts.layout.manifest, this.manifest.json(), { contentType: 'application/json' });
  }

  override async onTrainBegin(): Promise<void> {
    const { job, notifier, attempt, backend, startedAt } = this.opts;
    await this.writeManifest();
    void notifier?.notify(job, 'job.started', { attempt, backend, startedAt: startedAt.toISOString() }, { seq: attempt });
  }

  /**
   * The run continues after epoch `state.epoch` of a backup: run.json is rewritten as of the backup
   * (the stored one may hold epochs after it), and progress says where training stands.
   */
  async resumedAt(state: BackupState): Promise<void> {
    await this.writeManifest();
    this.lastEpoch = state.epoch;
    this.lastLogs = logsFromWire(state.lastLogs);
    this.lastNotifiedEpoch = state.lastNotifiedEpoch;
    await this.report({ events: [], epoch: state.epoch, metrics: state.lastLogs });
  }

  override async onEpochBegin(): Promise<void> {
    this.epochBeganAt = performance.now();
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const { job, notifier } = this.opts;
    this.lastEpoch = epoch;
    this.lastLogs = logs;
    this.manifest.addEpoch(epoch, logs);
    await this.writeManifest();
    const events = eventsToWire(this.manifest.events.slice(this.eventsReported));
    this.eventsReported = this.manifest.events.length;
    await this.report({ events, epoch, metrics: logsToWire(logs), epochMs: performance.now() - this.epochBeganAt });
    void notifier?.notify(job, 'job.epoch', { epoch, epochs: job.spec.fit.epochs, metrics: logsToWire(logs) }, { seq: epoch });
    this.lastNotifiedEpoch = epoch;
  }

  /** The run's outcome as of the last epoch that ended. */
  result(status: TrainingResult['status'], stopReason: TrainingResult['stopReason']): TrainingResult {
    return {
      status,
      stopReason,
      epoch: this.lastEpoch,
      epochs: this.opts.job.spec.fit.epochs,
      metrics: logsToWire(this.lastLogs),
      best: this.manifest.best,
      backend: this.opts.backend,
      attempt: this.opts.attempt,
      finishedAt: new Date().toISOString(),
    };
  }

  /** Writes the final run.json and waits until everything the run queued is stored. */
  async finish(result: TrainingResult): Promise<TrainingResult> {
    this.manifest.finish(result);
    await this.writeManifest();
    await this.opts.uploader.flush();
    return result;
  }

  private async report(p: Pick<TrainingProgress, 'events' | 'epoch' | 'metrics' | 'epochMs'>): Promise<void> {
    const { job, backend, attempt, startedAt } = this.opts;
    await this.opts.reportProgress({
      events: p.events,
      epoch: p.epoch,
      epochs: job.spec.fit.epochs,
      metrics: p.metrics,
      backend,
      best: this.manifest.best,
      attempt,
      startedAt: startedAt.toISOString(),
      ...(p.epochMs === undefined ? {} : { epochMs: p.epochMs }),
    });
  }
}

function logsFromWire(logs: Record<string, number | string>): Logs {
  const out: Logs = {};
  for (const [k, v] of Object.entries(logs)) out[k] = typeof v === 'number' ? v : Number(v);
  return out;
}
