import type { SchemaBestCheckpoint, SchemaCallbackEvent, SchemaInterruption, SchemaRun } from '../../core/api.gen';
import type { CallbackEvent } from '../../core/callbacks/events';
import type { Logs } from '../../core/callbacks/model-handle';
import { logsToWire, type Backend, type TrainingJobData, type TrainingResult } from '../../core/queue-contract';
import type { RunLayout } from '../../store/run-layout';
import type { BackupState } from './backup-writer';
import { csvLogFile } from './job-callbacks';

/** Callback events as run.json and progress carry them (the contract's `CallbackEvent`s). */
export function eventsToWire(events: readonly CallbackEvent[]): SchemaCallbackEvent[] {
  return events.map((event) => ({ ...event }));
}

/** The run manifest (run.json) as it grows during training; {@link RunRecorder} owns it. */
export class RunManifest {
  best: SchemaBestCheckpoint = null;
  /** The callbacks' events in order; shared with the recorder, which appends to it. */
  events: CallbackEvent[] = [];
  /** Store key prefix of the model as training left it. */
  finalKey: string | null = null;
  interruptions: SchemaInterruption[] = [];
  private history: SchemaRun['history'] = [];
  private artifacts: SchemaRun['artifacts'] = [];
  private status: SchemaRun['status'] = 'running';
  private stopReason: SchemaRun['stopReason'] = null;

  constructor(
    private readonly job: TrainingJobData,
    private readonly layout: RunLayout,
    private readonly backend: Backend,
    private readonly startedAt: Date,
  ) {}

  /** Continues the manifest of a backup (BackupAndRestore). */
  restore(parts: BackupState['run']): void {
    this.history = [...parts.history];
    this.artifacts = [...parts.artifacts];
    this.events = [...parts.events];
  }

  /** What a backup keeps of the manifest. */
  growingParts(): BackupState['run'] {
    return { history: [...this.history], events: [...this.events], artifacts: [...this.artifacts] };
  }

  addEpoch(epoch: number, logs: Logs): void {
    this.history.push({ epoch, logs: logsToWire(logs) });
  }

  addArtifact(a: SchemaRun['artifacts'][number]): void {
    this.artifacts.push(a);
  }

  finish(r: TrainingResult): void {
    this.status = r.status;
    this.stopReason = r.stopReason;
    this.best = r.best ?? this.best;
  }

  json(): string {
    const run: SchemaRun = {
      runId: this.job.runId,
      jobId: this.job.jobId,
      status: this.status,
      stopReason: this.stopReason,
      backend: this.backend,
      spec: this.job.spec,
      history: this.history,
      best: this.best,
      artifacts: [
        { kind: 'manifest', key: this.layout.manifest },
        ...(this.best ? [{ kind: 'pointer' as const, key: this.layout.bestPointer }] : []),
        { kind: 'log', key: this.layout.log(csvLogFile(this.job.spec)) },
        ...this.artifacts,
      ],
      error: null,
      createdAt: this.job.createdAt,
      updatedAt: new Date().toISOString(),
      startedAt: this.startedAt.toISOString(),
      final: this.finalKey,
      events: eventsToWire(this.events),
      ...(this.interruptions.length > 0 ? { interruptions: this.interruptions } : {}),
    };
    return JSON.stringify(run);
  }
}
