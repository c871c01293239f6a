import type { SchemaBestCheckpoint } from '../../core/api.gen';
import { Callback } from '../../core/callbacks/callback';
import type { SaveRequest } from '../../core/callbacks/model-handle';
import type { TrainingJobData } from '../../core/queue-contract';
import type { ArtifactStore } from '../../store/artifact-store';
import { checkpointKeys, checkpointVersion, parseCheckpointVersion, type CheckpointKeys, type RunLayout } from '../../store/run-layout';
import type { Uploader } from '../../store/uploader';
import type { JobNotifier } from '../webhooks/job-notifier';
import type { RunRecorder } from './run-recorder';
import type { SerializedModel } from './training-model';

/** What {@link CheckpointWriter} writes through. */
export interface CheckpointWriterOptions {
  job: TrainingJobData;
  /** The attempt's layout; its save counts number the checkpoint versions. */
  layout: RunLayout;
  uploader: Uploader;
  /** The run's recorder: run.json lists the checkpoints and names the best one. */
  recorder: RunRecorder;
  notifier: JobNotifier | null;
  /** The model as fit() leaves it, for the final checkpoint. */
  serializeFinal(): Promise<SerializedModel>;
  /**
   * The best checkpoint when resuming (see {@link resumedBest}): best.json then only moves to a
   * checkpoint strictly better than this one. @defaultValue none (a fresh run)
   */
  resumedBest?: SchemaBestCheckpoint;
}

/**
 * Writes the run's checkpoints through its {@link RunLayout}: every save ModelCheckpoint asks the
 * model for (`checkpoints/<path>/<version>/`), `best.json` after a best-only save, and at train end
 * the final model beside them. The model handle's save sink is {@link save}.
 *
 * Ordering: best.json moves only after the checkpoint it names is completely stored, and in save
 * order ({@link pendingBestMoves}); a backup's latest.json waits for those moves too (a resume
 * reads best.json from the store). run.json names the final model only once it is stored.
 */
export class CheckpointWriter extends Callback {
  override readonly name = 'CheckpointWriter';
  private bestChain: Promise<void> = Promise.resolve();
  /** best.json's value when the attempt began: a resumed run's best only moves past it. */
  private readonly bestFloor: SchemaBestCheckpoint;

  constructor(private readonly opts: CheckpointWriterOptions) {
    super();
    this.bestFloor = opts.resumedBest ?? null;
    if (opts.resumedBest !== undefined) opts.recorder.manifest.best = opts.resumedBest;
  }

  /** The run's best checkpoint so far (as best.json names it once its pending moves are stored). */
  get best(): SchemaBestCheckpoint {
    return this.opts.recorder.manifest.best;
  }

  /** Saves per formatted path so far (backed up, so a resumed attempt continues the versions). */
  saveCounts(): Record<string, number> {
    return this.opts.layout.saveCounts();
  }

  /** Resolves once every best.json move queued so far is stored (rejects if one failed). */
  pendingBestMoves(): Promise<void> {
    return this.bestChain;
  }

  /** Stores one checkpoint; resolves once its files are admitted by the uploader (they upload in the background). */
  readonly save = async (request: SaveRequest, serialized: SerializedModel): Promise<void> => {
    const { layout, job, notifier, recorder } = this.opts;
    const keys = layout.nextCheckpoint(request.path);
    const key = folder(keys);
    // Awaiting the enqueues bounds memory; the uploads themselves finish in the background.
    const { stored } = await this.upload(keys, serialized);
    recorder.manifest.addArtifact({ kind: 'checkpoint', key, epoch: request.epoch });
    const best = request.best;
    if (!best) return;
    const candidate: NonNullable<SchemaBestCheckpoint> = {
      epoch: request.epoch,
      path: request.path,
      key,
      monitor: best.monitor,
      value: Number.isFinite(best.value) ? best.value : String(best.value),
      savedAt: new Date().toISOString(),
    };
    const seq = parseCheckpointVersion(keys.version)!.seq;
    this.bestChain = this.bestChain.then(async () => {
      await stored;
      if (!beats(candidate, this.bestFloor, best.mode)) return;
      recorder.manifest.best = candidate;
      await (await this.opts.uploader.enqueue(layout.bestPointer, JSON.stringify(candidate), { contentType: 'application/json' })).stored;
      void notifier?.notify(job, 'checkpoint.improved', { best: candidate }, { seq: `${layout.attempt}_${seq}_${candidate.epoch}` });
    });
    // Surface a failed pointer write at flush time rather than as an unhandled rejection now.
    this.bestChain.catch(() => undefined);
  };

  /** Training is over: the pending best.json moves are stored, then the final model beside the checkpoints. */
  override async onTrainEnd(): Promise<void> {
    await this.bestChain;
    const epoch = this.opts.recorder.lastEpoch;
    if (epoch === null) return;
    // The model as fit() leaves it (with EarlyStopping's restored weights, as Keras would save it
    // after fit), beside the best checkpoint. Not counted as a save: it is version 1 of each attempt.
    const { layout, recorder } = this.opts;
    const keys = checkpointKeys(layout.tenant, layout.runId, 'final', checkpointVersion(layout.attempt, 1));
    const { stored } = await this.upload(keys, await this.opts.serializeFinal());
    // run.json names the final model only once it is stored (uploads may finish out of order).
    await stored;
    recorder.manifest.addArtifact({ kind: 'checkpoint', key: folder(keys), epoch });
    recorder.manifest.finalKey = folder(keys);
  }

  /**
   * Queues a checkpoint's two files; resolves once the uploader took both, with `stored`: both are
   * in the store (wrapped, so awaiting this does not wait for it).
   */
  private async upload(keys: CheckpointKeys, serialized: SerializedModel): Promise<{ stored: Promise<unknown> }> {
    const { uploader } = this.opts;
    const model = await uploader.enqueue(keys.modelJson, JSON.stringify(serialized.modelJson), { contentType: 'application/json' });
    const weights = await uploader.enqueue(keys.weightsBin, serialized.weights, { contentType: 'application/octet-stream' });
    const stored = Promise.all([model.stored, weights.stored]);
    // A failed upload is reported by the uploader's flush(); unobserved here (a checkpoint no best.json
    // move waits on) it would be an unhandled rejection that kills the training process (ENAMETOOLONG).
    stored.catch(() => undefined);
    return { stored };
  }
}

/**
 * The run's best checkpoint when resuming: best.json as stored (it may already name a checkpoint
 * saved after the backup, by the interrupted attempt), else the backup's.
 */
export async function resumedBest(store: ArtifactStore, layout: RunLayout, backedUp: SchemaBestCheckpoint): Promise<SchemaBestCheckpoint> {
  const raw = await store.get(layout.bestPointer);
  return raw ? (JSON.parse(raw.toString('utf8')) as SchemaBestCheckpoint) : backedUp;
}

/** `…/checkpoints/<path>/<version>` (the key prefix without its slash), as run.json and best.json name it. */
function folder(keys: CheckpointKeys): string {
  return keys.prefix.replace(/\/$/, '');
}

/** Whether a candidate best checkpoint is strictly better than `floor` on the same monitor. */
function beats(candidate: NonNullable<SchemaBestCheckpoint>, floor: SchemaBestCheckpoint, mode: 'min' | 'max'): boolean {
  if (!floor || floor.monitor !== candidate.monitor) return true;
  const c = typeof candidate.value === 'number' ? candidate.value : Number(candidate.value);
  const f = typeof floor.value === 'number' ? floor.value : Number(floor.value);
  if (Number.isNaN(f)) return !Number.isNaN(c);
  return mode === 'min' ? c < f : c > f;
}
