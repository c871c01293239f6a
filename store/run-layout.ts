import { KilnError } from '../core/errors';
import { assertValidKey, isValidKey } from './artifact-store';

/**
 * Where a run's artifacts live in the store. Everything a run writes sits under
 * `<tenant>/runs/<runId>/`:
 *
 * ```
 * run.json                                         the run manifest
 * best.json                                        pointer to the best checkpoint
 * logs/<file>                                      CSV logs (training_log.csv by default)
 * tensorboard/<path>                               TensorBoard event files
 * checkpoints/<formatted path>/<version>/model.json
 * checkpoints/<formatted path>/<version>/weights.bin
 * backup/latest.json                               pointer to the newest complete backup
 * backup/<a<attempt>-e<epoch>>/state.json          BackupAndRestore: epoch, callbacks, manifest
 * backup/<a<attempt>-e<epoch>>/weights.bin         … model weights
 * backup/<a<attempt>-e<epoch>>/optimizer.bin       … optimizer state
 * backup/<a<attempt>-e<epoch>>/best-weights.bin    … EarlyStopping's best weights (when held)
 * ```
 *
 * Checkpoints are never overwritten: `<version>` is `a<attempt>-<seq>`, where `attempt` is the
 * worker's attempt number and `seq` counts that attempt's saves to the same formatted path. Two
 * workers running the same job at once (a stalled job picked up again) or a retried attempt
 * therefore never write the same key, and a reader following `best.json` never sees a checkpoint
 * change under it. Both numbers are zero-padded so keys sort chronologically.
 */

/** Keys of one saved checkpoint. */
export interface CheckpointKeys {
  /** `…/checkpoints/<formatted path>/<version>/`, with the trailing slash. */
  prefix: string;
  /** The checkpoint folder relative to the run prefix (what `best.json` should record). */
  runRelative: string;
  /** `a<attempt>-<seq>`. */
  version: string;
  modelJson: string;
  weightsBin: string;
}

/** Identifies a run and the attempt writing it. */
export interface RunLayoutOptions {
  tenant: string;
  runId: string;
  /**
   * The worker's attempt at the job, from 1. Use BullMQ's `job.attemptsStarted`: it grows every
   * time a worker takes the job, including after a stall, whereas `attemptsMade` does not count
   * stalls and two workers could share it.
   * @defaultValue 1
   */
  attempt?: number;
}

/** Default CSV log file name (Keras `CSVLogger`'s usual `training_log.csv`). */
export const DEFAULT_LOG_FILE = 'training_log.csv';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ATTEMPT_DIGITS = 3;
const SEQ_DIGITS = 6;
const VERSION_PATTERN = /^a(\d+)-(\d+)$/;

function assertId(kind: string, value: string): void {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new KilnError('BAD_REQUEST', `${kind} ${JSON.stringify(value)} must be 1-128 characters of letters, digits, ".", "_" or "-", starting with a letter or digit.`);
  }
}

function assertRelative(kind: string, path: string): void {
  if (!isValidKey(path)) {
    throw new KilnError('BAD_REQUEST', `${kind} ${JSON.stringify(path)} must be a relative path without "..", "." or empty segments.`);
  }
}

function assertCount(kind: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new KilnError('BAD_REQUEST', `${kind} must be an integer ≥ 1, got ${n}.`);
}

/** `<tenant>/runs/<runId>/`: the prefix every artifact of the run shares. */
export function runPrefix(tenant: string, runId: string): string {
  assertId('Tenant', tenant);
  assertId('Run id', runId);
  return `${tenant}/runs/${runId}/`;
}

/** `<tenant>/runs/<runId>/run.json`. */
export function runManifestKey(tenant: string, runId: string): string {
  return `${runPrefix(tenant, runId)}run.json`;
}

/** `<tenant>/runs/<runId>/best.json`. */
export function bestPointerKey(tenant: string, runId: string): string {
  return `${runPrefix(tenant, runId)}best.json`;
}

/** `<tenant>/runs/<runId>/logs/<fileName>`. */
export function logKey(tenant: string, runId: string, fileName: string = DEFAULT_LOG_FILE): string {
  assertRelative('Log file name', fileName);
  return `${runPrefix(tenant, runId)}logs/${fileName}`;
}

/** `<tenant>/runs/<runId>/tensorboard/` (with the trailing slash), for listing or syncing. */
export function tensorboardPrefix(tenant: string, runId: string): string {
  return `${runPrefix(tenant, runId)}tensorboard/`;
}

/** `<tenant>/runs/<runId>/tensorboard/<path>`, e.g. `train/events.out.tfevents.1700000000.host`. */
export function tensorboardKey(tenant: string, runId: string, path: string): string {
  assertRelative('TensorBoard path', path);
  return `${tensorboardPrefix(tenant, runId)}${path}`;
}

/** `a<attempt>-<seq>`, both zero-padded, e.g. `a001-000003`. */
export function checkpointVersion(attempt: number, seq: number): string {
  assertCount('Attempt', attempt);
  assertCount('Checkpoint sequence number', seq);
  return `a${String(attempt).padStart(ATTEMPT_DIGITS, '0')}-${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** The numbers in a checkpoint version, or `null` when `version` is not one. */
export function parseCheckpointVersion(version: string): { attempt: number; seq: number } | null {
  const m = VERSION_PATTERN.exec(version);
  return m === null ? null : { attempt: Number(m[1]), seq: Number(m[2]) };
}

/**
 * Keys of checkpoint `version` saved under `formattedPath` (a ModelCheckpoint filepath template
 * after formatting, e.g. `weights.03-0.41.keras` or `best/model`).
 */
export function checkpointKeys(tenant: string, runId: string, formattedPath: string, version: string): CheckpointKeys {
  assertRelative('Checkpoint path', formattedPath);
  if (parseCheckpointVersion(version) === null) {
    throw new KilnError('BAD_REQUEST', `Checkpoint version ${JSON.stringify(version)} must look like a001-000001.`);
  }
  const runRelative = `checkpoints/${formattedPath}/${version}/`;
  const prefix = `${runPrefix(tenant, runId)}${runRelative}`;
  return { prefix, runRelative, version, modelJson: `${prefix}model.json`, weightsBin: `${prefix}weights.bin` };
}

/** Keys of one BackupAndRestore backup. */
export interface BackupKeys {
  /** `…/backup/<version>/`, with the trailing slash. */
  prefix: string;
  version: string;
  state: string;
  weights: string;
  optimizer: string;
  bestWeights: string;
}

const BACKUP_VERSION_PATTERN = /^a(\d+)-e(\d+)$/;
const EPOCH_DIGITS = 6;

/**
 * `a<attempt>-e<epoch>` (0-based epoch), zero-padded, e.g. `a002-e000007`: the attempt keeps two
 * workers that run the same job at once from writing the same keys.
 */
export function backupVersion(attempt: number, epoch: number): string {
  assertCount('Attempt', attempt);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new KilnError('BAD_REQUEST', `Epoch must be an integer ≥ 0, got ${epoch}.`);
  return `a${String(attempt).padStart(ATTEMPT_DIGITS, '0')}-e${String(epoch).padStart(EPOCH_DIGITS, '0')}`;
}

/** The numbers in a backup version, or `null` when `version` is not one. */
export function parseBackupVersion(version: string): { attempt: number; epoch: number } | null {
  const m = BACKUP_VERSION_PATTERN.exec(version);
  return m === null ? null : { attempt: Number(m[1]), epoch: Number(m[2]) };
}

/** `<tenant>/runs/<runId>/backup/` (with the trailing slash). */
export function backupPrefix(tenant: string, runId: string): string {
  return `${runPrefix(tenant, runId)}backup/`;
}

/** `<tenant>/runs/<runId>/backup/latest.json`: written only once every file of the version it names is stored. */
export function backupPointerKey(tenant: string, runId: string): string {
  return `${backupPrefix(tenant, runId)}latest.json`;
}

/** Keys of backup `version` (see {@link backupVersion}). */
export function backupKeys(tenant: string, runId: string, version: string): BackupKeys {
  if (parseBackupVersion(version) === null) {
    throw new KilnError('BAD_REQUEST', `Backup version ${JSON.stringify(version)} must look like a001-e000003.`);
  }
  const prefix = `${backupPrefix(tenant, runId)}${version}/`;
  return {
    prefix,
    version,
    state: `${prefix}state.json`,
    weights: `${prefix}weights.bin`,
    optimizer: `${prefix}optimizer.bin`,
    bestWeights: `${prefix}best-weights.bin`,
  };
}

/**
 * The store key of `path` inside a run, for serving any artifact by its run-relative path (what
 * `GET /v1/runs/{runId}/artifacts/...` receives). Throws `KilnError('BAD_REQUEST')` for a path
 * that could leave the run's folder.
 */
export function runArtifactKey(tenant: string, runId: string, path: string): string {
  assertRelative('Artifact path', path);
  const key = `${runPrefix(tenant, runId)}${path}`;
  assertValidKey(key);
  return key;
}

/** `key` relative to its run's prefix, or `null` when the key is not inside that run. */
export function runRelativePath(tenant: string, runId: string, key: string): string | null {
  const prefix = runPrefix(tenant, runId);
  return key.startsWith(prefix) && key.length > prefix.length ? key.slice(prefix.length) : null;
}

/**
 * The layout of one run as seen by one attempt: the key helpers above bound to a tenant, run and
 * attempt, plus the per-path save counter that makes checkpoint versions unique.
 */
export class RunLayout {
  readonly tenant: string;
  readonly runId: string;
  readonly attempt: number;
  /** `<tenant>/runs/<runId>/`. */
  readonly prefix: string;
  private readonly saves = new Map<string, number>();

  constructor(opts: RunLayoutOptions) {
    this.prefix = runPrefix(opts.tenant, opts.runId);
    this.tenant = opts.tenant;
    this.runId = opts.runId;
    this.attempt = opts.attempt ?? 1;
    assertCount('Attempt', this.attempt);
  }

  /** Saves per formatted path so far: what a backup keeps, so a resumed attempt continues the counts. */
  saveCounts(): Record<string, number> {
    return Object.fromEntries(this.saves);
  }

  /** Continues the save counts of {@link saveCounts} (a resumed attempt's backup). */
  resumeSaves(counts: Readonly<Record<string, number>>): void {
    for (const [path, n] of Object.entries(counts)) this.saves.set(path, n);
  }

  get manifest(): string {
    return runManifestKey(this.tenant, this.runId);
  }

  get bestPointer(): string {
    return bestPointerKey(this.tenant, this.runId);
  }

  log(fileName: string = DEFAULT_LOG_FILE): string {
    return logKey(this.tenant, this.runId, fileName);
  }

  tensorboard(path: string): string {
    return tensorboardKey(this.tenant, this.runId, path);
  }

  /**
   * Keys for the next save to `formattedPath` in this attempt: `seq` is 1 for the first save to
   * that path, then 2, 3, … Each call returns new keys, even when ModelCheckpoint formats the same
   * path twice (a template without `{epoch}`).
   */
  nextCheckpoint(formattedPath: string): CheckpointKeys {
    assertRelative('Checkpoint path', formattedPath);
    const seq = (this.saves.get(formattedPath) ?? 0) + 1;
    const keys = checkpointKeys(this.tenant, this.runId, formattedPath, checkpointVersion(this.attempt, seq));
    this.saves.set(formattedPath, seq);
    return keys;
  }
}
