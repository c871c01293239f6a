/**
 * The fault suite's verifier: reads what a run left behind (run.json, the CSV log, the TensorBoard
 * event files, best.json and the checkpoints, the webhook deliveries a real receiver got) and
 * counts what fault tolerance must prevent: lost runs, epochs recorded twice or not at all, and a
 * best pointer naming an incomplete checkpoint or a worse one than the run stored.
 *
 * Every check reads the artifacts independently of the worker's code (its own CSV split, the
 * tests' protobufjs tfevents reader, weight sizes from model.json), so a bug in the worker's
 * bookkeeping cannot hide itself.
 */
import { splitRow } from '../../core/callbacks/csv-logger';
import type { ArtifactStore } from '../../store/artifact-store';
import { readEvents, summaryValues } from '../worker/tensorboard/tfevents-reader';

/** What the verifier needs to know about one submitted run. */
export interface RunToVerify {
  jobId: string;
  runId: string;
  tenant: string;
  /** `fit.epochs` of the job. */
  epochs: number;
  /** Terminal status seen from the API; null when the run never ended (lost). */
  status: string | null;
  /** The last job view (GET /v1/jobs/{jobId}), when there is one. */
  view: any;
  /** ms since epoch: first seen running, and ended. */
  firstRunningAt: number | null;
  endedAt: number | null;
  /** Faults injected into the run. */
  interruptions: number;
}

/** One webhook delivery as the receiver got it. */
export interface Delivery {
  /** The `webhook-id` header. */
  id: string;
  type: string;
  data: any;
}

/** Where an epoch is recorded. */
export type EpochSource = 'history' | 'csv' | `tensorboard:${string}` | 'webhook';

export interface RunVerdict {
  jobId: string;
  runId: string;
  status: string | null;
  /** Accepted, never ended. */
  lost: boolean;
  /** Ended, but not succeeded. */
  failed: boolean;
  /** Extra records of an epoch, summed over sources. */
  duplicatedEpochs: number;
  /** Epochs a source lacks, summed over sources. */
  missingEpochs: number;
  /** best.json is missing, names an incomplete checkpoint, or a worse one than the run stored. */
  badBestPointer: boolean;
  /** Per source: duplicated and missing epoch numbers. */
  epochsBySource: Partial<Record<EpochSource, { duplicated: number[]; missing: number[] }>>;
  /** Human-readable findings (empty when the run is clean). */
  problems: string[];
  /** Deliveries of an already received webhook-id (allowed by at-least-once delivery; reported, not counted). */
  webhookRedeliveries: number;
  interruptions: number;
  /** Interruptions the job itself recorded (job view `interruptions`). */
  recordedInterruptions: number;
  /** From first running to the end, in seconds. */
  wallSeconds: number | null;
}

/** The suite's report. */
export interface FaultReport {
  runsAttempted: number;
  runsCompleted: number;
  lostRuns: number;
  failedRuns: number;
  duplicatedEpochs: number;
  missingEpochs: number;
  badBestPointers: number;
  interruptions: number;
  recordedInterruptions: number;
  webhookRedeliveries: number;
  baselineSeconds: number | null;
  meanExtraSecondsPerInterruption: number | null;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Duplicated and missing epochs of `seen` against `expected` (0..n-1). */
export function epochAudit(seen: number[], expected: number[]): { duplicated: number[]; missing: number[] } {
  const counts = new Map<number, number>();
  for (const e of seen) counts.set(e, (counts.get(e) ?? 0) + 1);
  const duplicated: number[] = [];
  for (const [e, n] of [...counts].sort((a, b) => a[0] - b[0])) for (let i = 1; i < n; i++) duplicated.push(e);
  const missing = expected.filter((e) => !counts.has(e));
  // Epochs beyond the expected range are recorded but should not exist: count them as duplicates
  // of nothing (they are reported as problems by the caller through `duplicated`).
  for (const e of counts.keys()) if (!expected.includes(e)) duplicated.push(e);
  return { duplicated, missing };
}

/** Epoch numbers of a Kiln CSV log (Keras CSVLogger: header row, `epoch` column). */
export function csvEpochs(text: string): number[] {
  const rows = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (rows.length === 0) return [];
  const header = splitRow(rows[0], ',');
  const col = header.indexOf('epoch');
  if (col < 0) throw new Error(`CSV log has no epoch column (header: ${rows[0]})`);
  return rows.slice(1).map((r) => Number(splitRow(r, ',')[col]));
}

/** Bytes a tfjs weights manifest says weights.bin holds. */
export function expectedWeightBytes(modelJson: any): number {
  const size: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, string: NaN };
  let total = 0;
  for (const group of modelJson.weightsManifest ?? []) {
    for (const w of group.weights ?? []) {
      const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
      total += n * (size[w.dtype ?? 'float32'] ?? NaN);
    }
  }
  return total;
}

/** `0-7,9,12-15` */
export function compactRanges(values: number[]): string {
  const out: string[] = [];
  let start: number | null = null;
  let prev: number | null = null;
  const close = () => {
    if (start !== null) out.push(start === prev ? `${start}` : `${start}-${prev}`);
  };
  for (const v of values) {
    if (prev !== null && v === prev + 1) {
      prev = v;
      continue;
    }
    close();
    start = v;
    prev = v;
  }
  close();
  return out.join(',') || '(none)';
}

/** Whether `a` is strictly better than `b` on a monitor, with a little float tolerance. */
function strictlyBetter(a: number, b: number, mode: 'min' | 'max'): boolean {
  const tol = 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return mode === 'min' ? a < b - tol : a > b + tol;
}

/** Keras's direction for the monitors a run's best pointer may use. */
export function monitorMode(monitor: string): 'min' | 'max' {
  return /(acc|accuracy|auc|precision|recall|f1)$/.test(monitor) ? 'max' : 'min';
}

/**
 * Checks one run. For a run that never ended only `lost` is set; for a failed run only `failed`
 * (its artifacts are legitimately partial). For a succeeded run every source must hold each epoch
 * 0..last exactly once (and `last` must be the final epoch when the run says it completed), and
 * best.json must name a complete checkpoint no worse than any other the run stored.
 */
export async function verifyRun(store: ArtifactStore, run: RunToVerify, deliveries: Delivery[]): Promise<RunVerdict> {
  const verdict: RunVerdict = {
    jobId: run.jobId,
    runId: run.runId,
    status: run.status,
    lost: run.status === null,
    failed: run.status !== null && run.status !== 'succeeded',
    duplicatedEpochs: 0,
    missingEpochs: 0,
    badBestPointer: false,
    epochsBySource: {},
    problems: [],
    webhookRedeliveries: 0,
    interruptions: run.interruptions,
    recordedInterruptions: (run.view?.interruptions ?? []).length,
    wallSeconds: run.firstRunningAt !== null && run.endedAt !== null ? (run.endedAt - run.firstRunningAt) / 1000 : null,
  };
  if (verdict.lost) {
    verdict.problems.push(`never ended (last seen ${run.view?.status ?? 'nowhere'} at epoch ${run.view?.progress?.epoch ?? '-'})`);
    return verdict;
  }
  if (verdict.failed) {
    verdict.problems.push(`ended ${run.status}: ${JSON.stringify(run.view?.error)}`);
    return verdict;
  }
  const prefix = `${run.tenant}/runs/${run.runId}/`;
  const audit = (source: EpochSource, seen: number[], expected: number[]) => {
    const a = epochAudit(seen, expected);
    verdict.epochsBySource[source] = a;
    verdict.duplicatedEpochs += a.duplicated.length;
    verdict.missingEpochs += a.missing.length;
    if (a.duplicated.length) verdict.problems.push(`${source}: epochs recorded more than once or out of range: ${a.duplicated.join(',')}`);
    if (a.missing.length) verdict.problems.push(`${source}: epochs missing: ${a.missing.join(',')}`);
  };

  const manifestRaw = await store.get(`${prefix}run.json`);
  if (!manifestRaw) {
    verdict.problems.push('run.json missing');
    verdict.missingEpochs += run.epochs;
    verdict.badBestPointer = true;
    return verdict;
  }
  const manifest = JSON.parse(manifestRaw.toString('utf8'));
  // The expected epochs: 0..last, where last is what the job reports; a run that says it completed
  // must have reached the final epoch.
  const last: number | null = run.view?.progress?.epoch ?? null;
  const stopReason: string | null = run.view?.stopReason ?? manifest.stopReason ?? null;
  let expectedCount = last === null ? 0 : last + 1;
  if (stopReason === 'completed' && expectedCount !== run.epochs) {
    verdict.problems.push(`completed but the job's last epoch is ${last}, not ${run.epochs - 1}`);
    expectedCount = run.epochs;
  }
  const expected = range(expectedCount);
  if (manifest.status !== 'succeeded') verdict.problems.push(`run.json status is ${manifest.status}, the job ${run.status}`);

  // run.json history
  const history: Array<{ epoch: number; logs: Record<string, number | string> }> = manifest.history ?? [];
  audit('history', history.map((h) => h.epoch), expected);

  // CSV log
  const csvName = manifest.spec?.callbacks?.csvLogger?.filename ?? 'training_log.csv';
  const csv = await store.get(`${prefix}logs/${csvName}`);
  if (!csv) {
    verdict.problems.push('CSV log missing');
    audit('csv', [], expected);
  } else {
    try {
      audit('csv', csvEpochs(csv.toString('utf8')), expected);
    } catch (err) {
      verdict.problems.push(`CSV log unreadable: ${(err as Error).message}`);
      audit('csv', [], expected);
    }
  }

  // TensorBoard: every event file of each folder (train/, validation/), `epoch_loss` steps.
  if (manifest.spec?.callbacks?.tensorBoard) {
    const files = await store.list(`${prefix}tensorboard/`);
    const byDir = new Map<string, number[]>();
    const perFile: string[] = [];
    for (const f of files) {
      const rel = f.key.slice(`${prefix}tensorboard/`.length);
      const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '.';
      const steps = byDir.get(dir) ?? [];
      byDir.set(dir, steps);
      try {
        const events = readEvents((await store.get(f.key))!);
        const own = summaryValues(events).filter((v) => v.tag === 'epoch_loss').map((v) => v.step);
        steps.push(...own);
        perFile.push(`${rel} (${f.size} B): ${compactRanges(own)}`);
      } catch (err) {
        verdict.problems.push(`TensorBoard file ${rel} unreadable: ${(err as Error).message}`);
      }
    }
    const before = verdict.problems.length;
    for (const dir of ['train', 'validation']) {
      if (!byDir.has(dir)) verdict.problems.push(`TensorBoard ${dir}/ has no event file`);
      audit(`tensorboard:${dir}`, byDir.get(dir) ?? [], expected);
    }
    if (verdict.problems.length > before) verdict.problems.push(`TensorBoard files: ${perFile.join('; ')}`);
  }

  // Webhook job.epoch events, de-duplicated by webhook-id as the contract tells receivers to.
  if ((manifest.spec?.webhook?.events ?? []).includes('job.epoch')) {
    const epochs = deliveries.filter((d) => d.type === 'job.epoch');
    const ids = new Map<string, number>();
    for (const d of epochs) if (!ids.has(d.id)) ids.set(d.id, d.data.epoch);
    verdict.webhookRedeliveries = epochs.length - ids.size;
    audit('webhook', [...ids.values()], expected);
  }

  await checkBestPointer(store, prefix, manifest, history, verdict);
  const leftover = await store.list(`${prefix}backup/`);
  if (leftover.length > 0 && manifest.spec?.callbacks?.backupAndRestore?.deleteCheckpoint !== false) {
    verdict.problems.push(`${leftover.length} backup objects left after the run ended (deleteCheckpoint is on)`);
  }
  return verdict;
}

async function checkBestPointer(store: ArtifactStore, prefix: string, manifest: any, history: Array<{ epoch: number; logs: Record<string, number | string> }>, verdict: RunVerdict): Promise<void> {
  const bad = (why: string) => {
    verdict.badBestPointer = true;
    verdict.problems.push(`best.json: ${why}`);
  };
  const raw = await store.get(`${prefix}best.json`);
  if (!raw) return bad('missing (every run keeps a best checkpoint)');
  let best: any;
  try {
    best = JSON.parse(raw.toString('utf8'));
  } catch {
    return bad('not JSON');
  }
  const key: string = best.key;
  if (typeof key !== 'string' || !key.startsWith(prefix)) return bad(`key ${JSON.stringify(key)} is not inside the run`);
  // Complete: model.json parses and weights.bin is exactly as large as its manifest says.
  const modelRaw = await store.get(`${key}/model.json`);
  const weights = await store.head(`${key}/weights.bin`);
  if (!modelRaw) return bad(`${key}/model.json missing`);
  if (!weights) return bad(`${key}/weights.bin missing`);
  let expectedBytes: number;
  try {
    expectedBytes = expectedWeightBytes(JSON.parse(modelRaw.toString('utf8')));
  } catch {
    return bad(`${key}/model.json is not JSON`);
  }
  if (expectedBytes !== weights.size) return bad(`${key}/weights.bin is ${weights.size} bytes, its manifest says ${expectedBytes}`);
  // Not worse than any other checkpoint the run stored for the same monitor: each checkpoint of
  // best.path listed in run.json is valued by the history at its epoch, and the history's optimum
  // always has one (best-only saves happen at every improvement).
  const monitor: string = best.monitor;
  const mode = monitorMode(monitor);
  const value = typeof best.value === 'number' ? best.value : Number(best.value);
  const at = new Map(history.map((h) => [h.epoch, Number(h.logs[monitor])]));
  const own = at.get(best.epoch);
  if (own !== undefined && Number.isFinite(own) && Number.isFinite(value) && Math.abs(own - value) > 1e-6 * Math.max(1, Math.abs(value))) {
    bad(`names epoch ${best.epoch} with ${monitor}=${value}, but the history has ${own} there`);
  }
  const checkpoints: Array<{ key: string; epoch: number }> = (manifest.artifacts ?? []).filter((a: any) => a.kind === 'checkpoint' && typeof a.key === 'string' && a.key.startsWith(`${prefix}checkpoints/${best.path}/`));
  for (const c of checkpoints) {
    const v = at.get(c.epoch);
    if (v !== undefined && Number.isFinite(v) && strictlyBetter(v, value, mode)) {
      return bad(`names ${monitor}=${value} (epoch ${best.epoch}) but checkpoint ${c.key} (epoch ${c.epoch}) has ${v}`);
    }
  }
  const values = [...at.values()].filter(Number.isFinite);
  if (values.length > 0 && Number.isFinite(value)) {
    const optimum = mode === 'min' ? Math.min(...values) : Math.max(...values);
    if (strictlyBetter(optimum, value, mode)) bad(`names ${monitor}=${value} but the run reached ${optimum}`);
  }
}

/**
 * Sums verdicts into the suite's report. `baselineSeconds` is an uninterrupted run's wall time
 * (same spec shape, same harness); the extra time of an interrupted run is spread over its
 * interruptions.
 */
export function summarize(verdicts: RunVerdict[], baselineSeconds: number | null): FaultReport {
  let extra = 0;
  let counted = 0;
  for (const v of verdicts) {
    if (v.status !== 'succeeded' || v.interruptions === 0 || v.wallSeconds === null || baselineSeconds === null) continue;
    extra += v.wallSeconds - baselineSeconds;
    counted += v.interruptions;
  }
  return {
    runsAttempted: verdicts.length,
    runsCompleted: verdicts.filter((v) => v.status === 'succeeded').length,
    lostRuns: verdicts.filter((v) => v.lost).length,
    failedRuns: verdicts.filter((v) => v.failed).length,
    duplicatedEpochs: verdicts.reduce((n, v) => n + v.duplicatedEpochs, 0),
    missingEpochs: verdicts.reduce((n, v) => n + v.missingEpochs, 0),
    badBestPointers: verdicts.filter((v) => v.badBestPointer).length,
    interruptions: verdicts.reduce((n, v) => n + v.interruptions, 0),
    recordedInterruptions: verdicts.reduce((n, v) => n + v.recordedInterruptions, 0),
    webhookRedeliveries: verdicts.reduce((n, v) => n + v.webhookRedeliveries, 0),
    baselineSeconds,
    meanExtraSecondsPerInterruption: counted > 0 ? Math.round((extra / counted) * 100) / 100 : null,
  };
}
