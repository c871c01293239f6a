import type { SchemaSimulateRequest, SchemaSimulateResponse } from '../api.gen';
import { KilnError, pointer, specInvalid, type FieldProblem } from '../errors';
import { checkCallbacks } from './check-spec';
import { CSVLogger, splitRow } from './csv-logger';
import { EarlyStopping } from './early-stopping';
import type { CallbackEvent } from './events';
import { buildCallbacks } from './from-spec';
import { METRIC_DIRECTIONS } from './metric-directions';
import { callbackEntries, callbackSpec } from './registry';
import type { RemoteMonitorRequest } from './remote-monitor';
import { TextTrainingLog } from './training-log';
import type { Logs, ModelHandle, SaveRequest, WeightsSnapshot } from './model-handle';
import { PyFormatError } from './python-format';

/** Learning rate when neither `compile.optimizer.learningRate` nor a logged `learning_rate` says. */
const DEFAULT_LEARNING_RATE = 0.001;

/**
 * Metric names taken as compiled when the request has no `compile.metrics`: every Keras metric
 * with a direction, so `auto` resolves for a history that logs one (`binary_crossentropy`, `r2_score`).
 */
const COMPILABLE = Object.keys(METRIC_DIRECTIONS);

/**
 * A model made of numbers: its "weights" are the epoch they come from, so snapshots and restores
 * are visible; the learning rate is kept in float32, as a Keras optimizer variable is.
 */
class NumberModel implements ModelHandle {
  stopTraining = false;
  /** The epoch whose end-of-epoch weights the model holds. */
  weightsEpoch = -1;
  restoredFrom: number | null = null;
  readonly saves: SaveRequest[] = [];
  private lr: number;

  constructor(lr: number) {
    this.lr = Math.fround(lr);
  }

  getLearningRate(): number {
    return this.lr;
  }

  setLearningRate(lr: number): void {
    this.lr = Math.fround(lr);
  }

  snapshotWeights(): WeightsSnapshot & { epoch: number } {
    return { epoch: this.weightsEpoch, dispose: () => {} };
  }

  restoreWeights(snapshot: WeightsSnapshot): void {
    const epoch = (snapshot as WeightsSnapshot & { epoch: number }).epoch;
    this.weightsEpoch = epoch;
    this.restoredFrom = epoch;
  }

  async save(request: SaveRequest): Promise<void> {
    this.saves.push(request);
  }
}

/** JSON-safe number: non-finite values as the strings the contract uses. */
function wire(v: number): number | 'NaN' | 'Infinity' | '-Infinity' {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

function wireLogs(logs: Logs): Record<string, number | 'NaN' | 'Infinity' | '-Infinity'> {
  const out: Record<string, number | 'NaN' | 'Infinity' | '-Infinity'> = {};
  for (const [k, v] of Object.entries(logs)) out[k] = wire(v);
  return out;
}

function wireDeep(value: unknown): unknown {
  if (typeof value === 'number') return wire(value);
  if (Array.isArray(value)) return value.map(wireDeep);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = wireDeep(v);
    return out;
  }
  return value;
}

function parseValue(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return undefined;
}

/** Parses a Keras CSVLogger file into per-epoch logs (`NA` cells are left out). */
function parseHistoryCsv(text: string, problems: FieldProblem[]): Logs[] {
  const ptr = '/historyCsv';
  const lines = text.split(/\r\n|\n|\r/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const header = lines[0] ?? '';
  if (!header.startsWith('epoch') || header.length < 6) {
    problems.push({ pointer: ptr, detail: "must be a Keras CSVLogger file: a header row starting with 'epoch' and a separator" });
    return [];
  }
  const sep = header[5];
  const cols = splitRow(header, sep);
  const history: Logs[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = splitRow(lines[i], sep);
    if (cells.length !== cols.length) {
      problems.push({ pointer: ptr, detail: `line ${i + 1} has ${cells.length} fields, the header has ${cols.length}` });
      continue;
    }
    if (Number(cells[0]) !== history.length) {
      problems.push({ pointer: ptr, detail: `line ${i + 1} is epoch ${cells[0]}, expected ${history.length}; give the log of one run, epochs from 0 in order` });
      break;
    }
    const logs: Logs = {};
    for (let c = 1; c < cols.length; c++) {
      const cell = cells[c];
      if (cell === 'NA') continue;
      const v = cell === 'nan' ? NaN : cell === 'inf' ? Infinity : cell === '-inf' ? -Infinity : cell.trim() === '' ? NaN : Number(cell);
      if (Number.isNaN(v) && cell !== 'nan') {
        problems.push({ pointer: ptr, detail: `line ${i + 1}, column '${cols[c]}': '${cell}' is not a number` });
        continue;
      }
      logs[cols[c]] = v;
    }
    history.push(logs);
  }
  if (history.length === 0 && problems.length === 0) problems.push({ pointer: ptr, detail: 'has no epoch rows' });
  return history;
}

function readHistory(req: SchemaSimulateRequest, problems: FieldProblem[]): Logs[] {
  if (req.history !== undefined && req.historyCsv !== undefined) {
    problems.push({ pointer: '/historyCsv', detail: 'give either history or historyCsv, not both' });
    return [];
  }
  if (req.historyCsv !== undefined) {
    if (typeof req.historyCsv !== 'string') {
      problems.push({ pointer: '/historyCsv', detail: 'must be a string' });
      return [];
    }
    return parseHistoryCsv(req.historyCsv, problems);
  }
  if (!Array.isArray(req.history) || req.history.length === 0) {
    problems.push({ pointer: '/history', detail: 'is required (one object of metrics per epoch), or give historyCsv' });
    return [];
  }
  return req.history.map((entry, i) => {
    const logs: Logs = {};
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push({ pointer: pointer('history', i), detail: 'must be an object of metric values' });
      return logs;
    }
    for (const [k, raw] of Object.entries(entry)) {
      if (k === 'epoch') continue;
      const v = parseValue(raw);
      if (v === undefined) problems.push({ pointer: pointer('history', i, k), detail: "must be a number or one of 'NaN', 'Infinity', '-Infinity'" });
      else logs[k] = v;
    }
    return logs;
  });
}

/** Reads `batchLogs`: one list of batch logs per simulated epoch, each with finite or wire numbers. */
function readBatchLogs(raw: unknown, epochsToRun: number, problems: FieldProblem[]): Logs[][] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length < epochsToRun) {
    problems.push({ pointer: '/batchLogs', detail: `must be an array with one list of batch logs per simulated epoch (${epochsToRun})` });
    return undefined;
  }
  return raw.slice(0, epochsToRun).map((epoch, e) => {
    if (!Array.isArray(epoch) || epoch.length === 0) {
      problems.push({ pointer: pointer('batchLogs', e), detail: 'must be a non-empty array of batch logs (objects of metric values)' });
      return [];
    }
    return epoch.map((entry, b) => {
      const logs: Logs = {};
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        problems.push({ pointer: pointer('batchLogs', e, b), detail: 'must be an object of metric values' });
        return logs;
      }
      for (const [k, rawValue] of Object.entries(entry)) {
        const v = parseValue(rawValue);
        if (v === undefined) problems.push({ pointer: pointer('batchLogs', e, b, k), detail: "must be a number or one of 'NaN', 'Infinity', '-Infinity'" });
        else logs[k] = v;
      }
      return logs;
    });
  });
}

/**
 * Replays a metric history through a callback configuration with the code the worker runs
 * ({@link buildCallbacks}), over a model made of numbers, calling the hooks as Keras's fit loop
 * does (`fit` in the backends' `trainer.py`, e.g. keras/src/backend/tensorflow/trainer.py): `on_train_begin`; per epoch `on_epoch_begin`,
 * per batch `on_train_batch_begin` / `on_train_batch_end` with a break as soon as
 * `stop_training` is set, then `on_epoch_end` and a break on `stop_training`; `on_train_end`.
 *
 * `history[i]` holds the epoch-end logs of epoch `initialEpoch + i` (Keras's `initial_epoch`).
 * Batches: `batchLogs[i]` when given, else one batch whose logs are the epoch's training metrics
 * (so TerminateOnNaN stops at the epoch whose loss is NaN/inf and `saveFreq: N` counts epochs).
 * A callback that raises (TerminateOnNaN with raiseError) ends the replay with `raised`, and, as in
 * Keras, neither that epoch's end nor the train end runs. Throws a 400 KilnError naming the field.
 */
export async function simulate(request: SchemaSimulateRequest): Promise<SchemaSimulateResponse> {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new KilnError('BAD_REQUEST', 'the simulation request must be a JSON object with callbacks and history');
  }
  const problems: FieldProblem[] = [];
  const known = ['callbacks', 'compile', 'epochs', 'initialEpoch', 'history', 'historyCsv', 'batchLogs'];
  for (const k of Object.keys(request)) {
    if (!known.includes(k)) problems.push({ pointer: pointer(k), detail: `unknown field '${k}'; remove it or use one of: ${known.join(', ')}` });
  }
  if (request.callbacks === undefined) problems.push({ pointer: '/callbacks', detail: 'is required' });
  const history = readHistory(request, problems);
  if (problems.length > 0) throw new KilnError('BAD_REQUEST', `${problems[0].pointer}: ${problems[0].detail}`, { errors: problems });

  const initialEpoch = request.initialEpoch ?? 0;
  if (!Number.isInteger(initialEpoch) || initialEpoch < 0) {
    const detail = 'must be an integer >= 0 (the first epoch the simulated fit runs, 0-based)';
    throw new KilnError('BAD_REQUEST', `/initialEpoch: ${detail}`, { errors: [{ pointer: '/initialEpoch', detail }] });
  }
  const epochs = request.epochs ?? initialEpoch + history.length;
  if (!Number.isInteger(epochs) || epochs <= initialEpoch || epochs - initialEpoch > history.length) {
    const detail = `must be an integer from initialEpoch + 1 (${initialEpoch + 1}) to initialEpoch + the history's length (${initialEpoch + history.length})`;
    throw new KilnError('BAD_REQUEST', `/epochs: ${detail}`, { errors: [{ pointer: '/epochs', detail }] });
  }
  const toRun = epochs - initialEpoch;
  const batchLogs = readBatchLogs((request as { batchLogs?: unknown }).batchLogs, toRun, problems);
  if (problems.length > 0) throw new KilnError('BAD_REQUEST', `${problems[0].pointer}: ${problems[0].detail}`, { errors: problems });

  const callbacks = request.callbacks;
  const rateLogged = callbackSpec(callbacks, 'reduceLROnPlateau') !== undefined || callbackSpec(callbacks, 'learningRateScheduler') !== undefined;
  const metricNames = [...new Set(history.slice(0, toRun).flatMap((h) => Object.keys(h)))];
  const compiledMetrics = request.compile?.metrics
    ?? metricNames.filter((m) => COMPILABLE.includes(m) || (m.startsWith('val_') && COMPILABLE.includes(m.slice(4)))).map((m) => m.replace(/^val_/, ''));
  const uniqueCompiled = [...new Set(compiledMetrics)];
  const specProblems = checkCallbacks(callbacks, {
    metrics: metricNames.filter((m) => m !== 'learning_rate' || !rateLogged),
    epochs,
    compiledMetrics: uniqueCompiled,
  });
  if (specProblems.length > 0) throw specInvalid(specProblems);

  const lr0 = request.compile?.optimizer?.learningRate ?? history[0]?.learning_rate ?? DEFAULT_LEARNING_RATE;
  const model = new NumberModel(lr0);
  const log = new TextTrainingLog();
  let current: CallbackEvent[] = [];
  let csv = '';
  // The simulator sends nothing: it returns the requests RemoteMonitor would have made.
  const remoteRequests: RemoteMonitorRequest[] = [];
  const list = buildCallbacks(callbacks, {
    remoteMonitorSender: { send: async (req) => void remoteRequests.push(req) },
    model,
    compiledMetrics: uniqueCompiled,
    initialLearningRate: lr0,
    epochs,
    csvSink: (text) => {
      csv = text;
    },
    emit: (e) => current.push(e),
    log,
  });

  const perEpoch: SchemaSimulateResponse['epochs'] = [];
  const learningRates: number[] = [];
  const epochsRun: number[] = [];
  let raised: SchemaSimulateResponse['raised'] = null;
  let lastLogs: Logs = {};
  try {
    await list.onTrainBegin();
    for (let i = 0; i < toRun; i++) {
      const epoch = initialEpoch + i;
      current = [];
      model.weightsEpoch = epoch;
      await list.onEpochBegin(epoch);
      learningRates.push(model.getLearningRate());
      const logs: Logs = { ...history[i] };
      const batches = batchLogs?.[i] ?? [trainingMetrics(logs)];
      let batch = 0;
      try {
        for (; batch < batches.length; batch++) {
          await list.onBatchBegin(batch);
          await list.onBatchEnd(batch, { ...batches[batch] });
          if (model.stopTraining) break;
        }
      } catch (e) {
        if (!(e instanceof KilnError && e.code === 'TRAINING_DIVERGED')) throw e;
        raised = { callback: 'TerminateOnNaN', epoch, batch, message: e.message };
        perEpoch.push({ epoch, logs: wireLogs(logs), events: current as never[] });
        break;
      }
      await list.onEpochEnd(epoch, logs);
      lastLogs = logs;
      epochsRun.push(epoch);
      perEpoch.push({ epoch, logs: wireLogs(logs), events: current as never[] });
      if (model.stopTraining) break;
    }
    if (raised === null) await list.onTrainEnd(lastLogs);
  } catch (e) {
    if (e instanceof PyFormatError) {
      const ptr = callbackEntries(callbacks).find((c) => c.key === 'modelCheckpoint')?.pointer ?? '/callbacks/modelCheckpoint';
      const detail = `cannot format the filepath at epoch ${initialEpoch + perEpoch.length}: ${e.message}`;
      throw new KilnError('BAD_REQUEST', `${ptr}/filepath: ${detail}`, {
        errors: [{ pointer: `${ptr}/filepath`, detail }],
        cause: e,
      });
    }
    throw e;
  }
  // Train-end events (weights restored) went into `current`, the last epoch's own event array.
  for (const e of perEpoch) e.events = e.events.map((ev) => wireDeep(ev)) as never[];

  const es = list.find(EarlyStopping);
  const summary = es?.summary();
  const allEvents = perEpoch.flatMap((e) => e.events as unknown as CallbackEvent[]);
  return {
    epochsRun,
    lastEpoch: epochsRun.length > 0 ? epochsRun[epochsRun.length - 1] : null,
    stoppedBy: list.stoppedBy,
    stoppedEpoch: list.stoppedEpoch,
    raised,
    earlyStopping: summary
      ? { bestEpoch: summary.bestEpoch, bestValue: summary.bestValue === null ? null : wire(summary.bestValue), wait: summary.wait, restoredWeightsFromEpoch: summary.restoredWeightsFromEpoch }
      : null,
    learningRates,
    checkpoints: model.saves.map((s) => ({ epoch: s.epoch, path: s.path })),
    alerts: allEvents.flatMap((e) => (e.type === 'alert_fired' ? [{ epoch: e.epoch, rule: e.rule }] : [])),
    csv: list.find(CSVLogger) ? csv : '',
    remoteMonitor: remoteRequests,
    log: log.text,
    epochs: perEpoch,
  };
}

/** The default single batch of an epoch: its training metrics (no val_*, no learning_rate). */
function trainingMetrics(logs: Logs): Logs {
  const out: Logs = {};
  for (const [k, v] of Object.entries(logs)) if (!k.startsWith('val_') && k !== 'learning_rate') out[k] = v;
  return out;
}
