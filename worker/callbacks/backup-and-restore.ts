import { Callback } from '../../core/callbacks/callback';
import type { CallbackList } from '../../core/callbacks/callback-list';
import { CSVLogger } from '../../core/callbacks/csv-logger';
import { EarlyStopping } from '../../core/callbacks/early-stopping';
import { logsToWire, type TrainingJobData } from '../../core/queue-contract';
import type { BackupState, BackupWriter, LoadedBackup } from './backup-writer';
import type { CheckpointWriter } from './checkpoint-writer';
import type { RunRecorder } from './run-recorder';
import type { TrainingModel } from './training-model';

/** What {@link BackupAndRestore} backs up, and from what it restores. */
export interface BackupAndRestoreOptions {
  job: TrainingJobData;
  /** This attempt's writer (its settings say whether and how often to back up). */
  writer: BackupWriter;
  /** The backup this attempt continues from, or null for a fresh start. */
  restored: LoadedBackup | null;
  model: TrainingModel;
  /** The job's callbacks: their state is backed up and restored. */
  callbacks: CallbackList;
  recorder: RunRecorder;
  checkpoints: CheckpointWriter;
  /** Stores the CSV log's whole text (the CSVLogger's sink): a resume rewrites it as of the backup. */
  csvSink(text: string): Promise<void>;
  /** True once the worker wants the job back (see `TrainingDeps.handBackRequested`). @defaultValue never */
  handBackRequested?(): boolean;
}

/**
 * Kiln's BackupAndRestore (Keras `keras/src/callbacks/backup_and_restore.py`; on by default, see
 * core/callbacks/README.md for the differences), one self-contained callback, last in the list so it
 * sees every other callback's end of epoch:
 *
 * - `onTrainBegin` of a resumed attempt puts back the backup: weights and optimizer slots, the
 *   learning rate, every job callback's state (after their own `onTrainBegin`, which it overrides),
 *   EarlyStopping's best weights, then the CSV log and run.json as of the backup. Training then
 *   starts at {@link initialEpoch}.
 * - `onEpochEnd` backs up when due (saveFreq, saveEverySeconds) or when the worker asked for the job
 *   back ({@link handingBack}). latest.json waits for everything queued before the backup and for
 *   best.json's pending moves (see {@link BackupWriter.write}).
 */
export class BackupAndRestore extends Callback {
  override readonly name = 'BackupAndRestore';
  /** The last epoch end asked to hand the job back: its backup is written; the fit loop stops and hands back. */
  handingBack = false;

  constructor(private readonly opts: BackupAndRestoreOptions) {
    super();
  }

  /** The epoch training starts at: after the backup's, else 0 (Keras `initial_epoch`). */
  get initialEpoch(): number {
    return this.opts.restored ? this.opts.restored.state.epoch + 1 : 0;
  }

  override async onTrainBegin(): Promise<void> {
    const { restored, model, callbacks, recorder } = this.opts;
    if (!restored) return;
    const s = restored.state;
    model.restoreTrainingState({ weights: restored.weights, optimizer: restored.optimizer });
    model.setLearningRate(s.learningRate);
    callbacks.restore(s.callbacks);
    const es = callbacks.find(EarlyStopping);
    if (es && restored.bestWeights) es.adoptBestWeights(model.decodeSnapshot(restored.bestWeights));
    // The stored log and manifest may hold epochs after the backup: rewrite both as of the backup.
    const csv = callbacks.find(CSVLogger);
    if (csv && csv.content.length > 0) await this.opts.csvSink(csv.content);
    if (s.stopTraining) model.stopTraining = true;
    await recorder.resumedAt(s);
  }

  override async onEpochEnd(epoch: number): Promise<void> {
    const { writer, model, job } = this.opts;
    this.handingBack = writer.settings.enabled && (this.opts.handBackRequested?.() ?? false) && !model.stopTraining && epoch + 1 < job.spec.fit.epochs;
    if (writer.due(epoch) || this.handingBack) await this.backUp(epoch);
  }

  private async backUp(epoch: number): Promise<void> {
    const { writer, model, callbacks, recorder, checkpoints, job } = this.opts;
    const snapshot = callbacks.find(EarlyStopping)?.bestWeightsSnapshot ?? null;
    const state: BackupState = {
      version: 1,
      jobId: job.jobId,
      runId: job.runId,
      attempt: writer.attempt,
      epoch,
      savedAt: new Date().toISOString(),
      learningRate: model.getLearningRate(),
      stopTraining: model.stopTraining,
      callbacks: callbacks.state(),
      hasBestWeights: snapshot !== null,
      best: checkpoints.best,
      saveCounts: checkpoints.saveCounts(),
      lastLogs: logsToWire(recorder.lastLogs),
      lastNotifiedEpoch: recorder.lastNotifiedEpoch,
      run: recorder.manifest.growingParts(),
    };
    const { weights, optimizer } = model.encodeTrainingState();
    await writer.write(epoch, state, { weights, optimizer, bestWeights: snapshot ? model.encodeSnapshot(snapshot) : null }, checkpoints.pendingBestMoves());
  }
}
