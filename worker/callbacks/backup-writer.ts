import type { SchemaBackupAndRestoreSpec, SchemaBestCheckpoint, SchemaJobSpec, SchemaRun } from '../../core/api.gen';
import type { JsonValue } from '../../core/callbacks/callback-state';
import type { CallbackEvent } from '../../core/callbacks/events';
import type { SchemaMetricLogs } from '../../core/api.gen';
import type { ArtifactStore, ObjectInfo } from '../../store/artifact-store';
import { backupKeys, backupPointerKey, backupPrefix, backupVersion, parseBackupVersion, type BackupKeys } from '../../store/run-layout';
import type { Uploader } from '../../store/uploader';

/**
 * Kiln's BackupAndRestore (Keras `keras/src/callbacks/backup_and_restore.py`, on by default): the
 * whole training state at an epoch end, stored under the run's `backup/<version>/`, and
 * `backup/latest.json` naming the newest complete version. See core/callbacks/README.md for where
 * it differs from Keras. The callback that uses it is backup-and-restore.ts.
 */

/** The job's `callbacks.backupAndRestore` with defaults filled in. */
export interface BackupSettings {
  enabled: boolean;
  /** Back up after every `everyEpochs`-th epoch (1 = `'epoch'`). */
  everyEpochs: number;
  /** Also back up at an epoch end when this many seconds passed since the last backup; null = never. */
  everySeconds: number | null;
  /** Delete every backup when training ends. */
  deleteCheckpoint: boolean;
}

export function backupSettings(spec: SchemaJobSpec): BackupSettings {
  const b: SchemaBackupAndRestoreSpec = spec.callbacks?.backupAndRestore ?? {};
  return {
    enabled: b.enabled ?? true,
    everyEpochs: b.saveFreq === undefined || b.saveFreq === 'epoch' ? 1 : b.saveFreq,
    everySeconds: b.saveEverySeconds ?? null,
    deleteCheckpoint: b.deleteCheckpoint ?? true,
  };
}

/** `state.json` of a backup: everything but the tensors. */
export interface BackupState {
  version: 1;
  jobId: string;
  runId: string;
  /** The attempt that wrote it. */
  attempt: number;
  /** The last completed epoch (0-based); a resumed run starts at `epoch + 1`. */
  epoch: number;
  savedAt: string;
  /** The optimizer's learning rate after the epoch (what the next epoch starts with). */
  learningRate: number;
  /** Training was stopped at this epoch (EarlyStopping, TerminateOnNaN): a resume only finishes it. */
  stopTraining: boolean;
  /** `CallbackList.state()`. */
  callbacks: JsonValue;
  /** Whether `best-weights.bin` was written (EarlyStopping with restoreBestWeights). */
  hasBestWeights: boolean;
  /** The run's best checkpoint at the time. */
  best: SchemaBestCheckpoint;
  /** Saves per formatted checkpoint path so far (checkpoint version numbers). */
  saveCounts: Record<string, number>;
  /** The epoch's logs on the wire (non-finite numbers as strings). */
  lastLogs: SchemaMetricLogs;
  /** The last epoch whose `job.epoch` webhook was queued. */
  lastNotifiedEpoch: number | null;
  /** The run manifest's growing parts. */
  run: {
    history: SchemaRun['history'];
    events: CallbackEvent[];
    artifacts: SchemaRun['artifacts'];
  };
}

/** `backup/latest.json`. */
export interface BackupPointer {
  version: string;
  attempt: number;
  epoch: number;
  savedAt: string;
}

/** A backup read back from the store. */
export interface LoadedBackup {
  pointer: BackupPointer;
  state: BackupState;
  weights: Buffer;
  optimizer: Buffer;
  bestWeights: Buffer | null;
}

/**
 * Reads the backup `backup/latest.json` names, or null when the run has none. Throws when the
 * pointer names files that are missing (the pointer is written last, so that means the store lost
 * them) — the job then fails rather than silently starting over.
 */
export async function readLatestBackup(store: ArtifactStore, tenant: string, runId: string, jobId: string): Promise<LoadedBackup | null> {
  const raw = await store.get(backupPointerKey(tenant, runId));
  if (!raw) return null;
  const pointer = JSON.parse(raw.toString('utf8')) as BackupPointer;
  const keys = backupKeys(tenant, runId, pointer.version);
  const [state, weights, optimizer] = await Promise.all([store.get(keys.state), store.get(keys.weights), store.get(keys.optimizer)]);
  if (!state || !weights || !optimizer) throw new Error(`backup ${pointer.version} is incomplete in the store`);
  const parsed = JSON.parse(state.toString('utf8')) as BackupState;
  if (parsed.version !== 1 || parsed.jobId !== jobId) throw new Error(`backup ${pointer.version} belongs to another job`);
  const bestWeights = parsed.hasBestWeights ? await store.get(keys.bestWeights) : null;
  if (parsed.hasBestWeights && !bestWeights) throw new Error(`backup ${pointer.version} is missing its best weights`);
  return { pointer, state: parsed, weights, optimizer, bestWeights };
}

/**
 * Writes one attempt's backups through the run's ordered uploader: the files of a version, then
 * (once they are all stored) `latest.json`, then deletes versions older than the newest two.
 * Writing never blocks training beyond the uploader's memory bound.
 */
export class BackupWriter {
  private chain: Promise<void> = Promise.resolve();
  /** Deletions of old versions, kept off `chain` so the next pointer does not wait for them. */
  private pruning: Promise<void> = Promise.resolve();
  private lastSavedAt: number;
  private lastEpoch: number | null = null;
  /** Versions known to be in the store, oldest first. */
  private readonly versions: string[] = [];
  /** The keys of each version this writer wrote: pruning those needs no listing. */
  private readonly written = new Map<string, string[]>();
  /**
   * Where listing and deleting run: the store's write thread when it has one (a prune every
   * epoch is a list and a delete per file, whose signing and HTTP then stay off the training
   * thread), else the store itself. Null when the store cannot delete.
   */
  private readonly remover: { list(prefix: string): Promise<ObjectInfo[]>; delete(key: string): Promise<void> } | null;

  constructor(
    private readonly store: ArtifactStore,
    private readonly uploader: Uploader,
    private readonly tenant: string,
    private readonly runId: string,
    /** The attempt writing (part of every version it writes). */
    readonly attempt: number,
    readonly settings: BackupSettings,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void,
    now: number = Date.now(),
  ) {
    this.lastSavedAt = now;
    const del = store.delete?.bind(store);
    this.remover = del === undefined ? null : store.writeThread?.() ?? { list: (prefix) => store.list(prefix), delete: del };
  }

  /** Whether the end of `epoch` (0-based) is due for a backup under saveFreq / saveEverySeconds. */
  due(epoch: number, now: number = Date.now()): boolean {
    if (!this.settings.enabled) return false;
    if ((epoch + 1) % this.settings.everyEpochs === 0) return true;
    return this.settings.everySeconds !== null && now - this.lastSavedAt >= this.settings.everySeconds * 1000;
  }

  /** The epoch of the last backup this writer made, or null. */
  get lastBackedUpEpoch(): number | null {
    return this.lastEpoch;
  }

  /** Lists the versions already in the store (a resumed run prunes them too). */
  async discover(): Promise<void> {
    const prefix = backupPrefix(this.tenant, this.runId);
    const found = new Set<string>();
    for (const o of await this.store.list(prefix)) {
      const version = o.key.slice(prefix.length).split('/')[0];
      if (parseBackupVersion(version)) found.add(version);
    }
    this.versions.push(...[...found].sort(compareVersions));
  }

  /**
   * Queues a backup of the end of `epoch`; resolves once its files are admitted by the uploader.
   * `after` is work that must be stored before latest.json names this backup although it is not
   * queued yet (best.json's pending moves, which wait for their checkpoints): a resume from this
   * backup reads best.json from the store and would otherwise lose a move the backup's manifest
   * already counts on.
   */
  async write(epoch: number, state: BackupState, blobs: { weights: Buffer; optimizer: Buffer; bestWeights: Buffer | null }, after: Promise<unknown> = Promise.resolve()): Promise<void> {
    const keys: BackupKeys = backupKeys(this.tenant, this.runId, backupVersion(this.attempt, epoch));
    this.written.set(keys.version, [keys.weights, keys.optimizer, ...(blobs.bestWeights ? [keys.bestWeights] : []), keys.state]);
    const uploads = [
      await this.uploader.enqueue(keys.weights, blobs.weights, { contentType: 'application/octet-stream' }),
      await this.uploader.enqueue(keys.optimizer, blobs.optimizer, { contentType: 'application/octet-stream' }),
      ...(blobs.bestWeights ? [await this.uploader.enqueue(keys.bestWeights, blobs.bestWeights, { contentType: 'application/octet-stream' })] : []),
      await this.uploader.enqueue(keys.state, JSON.stringify(state), { contentType: 'application/json' }),
    ];
    // Everything queued before this backup (TensorBoard event files, checkpoints of the same
    // epoch) must be stored before latest.json names it: a resume only rewinds files, it cannot
    // bring back bytes that never reached the store.
    const earlier = this.uploader.storedSoFar();
    earlier.catch(() => undefined);
    this.lastSavedAt = Date.now();
    this.lastEpoch = epoch;
    const pointer: BackupPointer = { version: keys.version, attempt: this.attempt, epoch, savedAt: state.savedAt };
    // latest.json moves only after every file of its version is stored, and in backup order.
    this.chain = this.chain.then(async () => {
      await Promise.all([...uploads.map((u) => u.stored), earlier, after]);
      await (await this.uploader.enqueue(backupPointerKey(this.tenant, this.runId), JSON.stringify(pointer), { contentType: 'application/json' })).stored;
      if (!this.versions.includes(keys.version)) this.versions.push(keys.version);
      this.pruning = this.pruning.then(() => this.prune(2));
    });
    // A failed upload surfaces at flush(); this keeps it from being an unhandled rejection now.
    this.chain.catch(() => undefined);
  }

  /** Resolves once every queued backup's pointer is written (rejects if one failed). */
  async settled(): Promise<void> {
    await this.chain;
  }

  /** Training is over: with deleteCheckpoint, removes the pointer and then every version. */
  async finish(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.pruning;
    const remover = this.remover;
    if (!this.settings.enabled || !this.settings.deleteCheckpoint || remover === null) return;
    const del = (key: string) => remover.delete(key);
    const prefix = backupPrefix(this.tenant, this.runId);
    // Deletes are idempotent, so a store fault (an error, or a reset after the delete happened) is
    // answered by listing again and deleting what is still there, a few rounds, with backoff after
    // a failed one.
    for (let round = 1; round <= FINISH_DELETE_ROUNDS; round++) {
      try {
        await del(backupPointerKey(this.tenant, this.runId));
        const left = await remover.list(prefix);
        if (left.length === 0) return;
        await Promise.all(left.map((o) => del(o.key)));
      } catch (err) {
        if (round === FINISH_DELETE_ROUNDS) this.log('could not delete the backup', { err: (err as Error).message });
        else await new Promise((r) => setTimeout(r, 200 * 2 ** round));
      }
    }
  }

  private async prune(keep: number): Promise<void> {
    const remover = this.remover;
    if (remover === null) return;
    while (this.versions.length > keep) {
      const version = this.versions.shift()!;
      const prefix = backupKeys(this.tenant, this.runId, version).prefix;
      try {
        // Versions of earlier attempts are listed; in parallel: one request's latency per version
        // rather than one per file.
        const known = this.written.get(version);
        this.written.delete(version);
        const keys = known ?? (await remover.list(prefix)).map((o) => o.key);
        await Promise.all(keys.map((key) => remover.delete(key)));
      } catch (err) {
        this.log('could not delete an old backup', { version, err: (err as Error).message });
      }
    }
  }
}

/** Rounds of list-and-delete `finish()` makes before it leaves a backup behind (and logs it). */
const FINISH_DELETE_ROUNDS = 5;

/** Orders versions by epoch, then attempt. */
function compareVersions(a: string, b: string): number {
  const x = parseBackupVersion(a)!;
  const y = parseBackupVersion(b)!;
  return x.epoch - y.epoch || x.attempt - y.attempt;
}
