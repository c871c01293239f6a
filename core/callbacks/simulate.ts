import type { SchemaSimulateRequest, SchemaSimulateResponse } from '../api.gen';
import { KilnError, pointer, specInvalid, type FieldProblem } from '../errors';
import { checkCallbacks } from './check-spec';
import { CSVLogger, splitRow } from './csv-logger';
import { EarlyStopping } from './early-stopping';
import type { CallbackEvent } from './events';
import { buildCallbacks } from './from-spec';
import type { Logs, ModelHandle, SaveRequest, WeightsSnapshot } from './model-handle';
import { PyFormatError } from './python-format';

/** Learning rate when neither `compile.optimizer.learningRate` nor a logged `learning_rate` says. */
const DEFAULT_LEARNING_RATE = 0.001;

/** Metric names Kiln can compile; used to guess `compile.metrics` from a history. */
const COMPILABLE = ['accuracy', 'precision', 'recall', 'f1', 'auc', 'mse', 'mae'];

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

/**
 * Replays a metric history through a callback configuration with the code the worker runs
 * ({@link buildCallbacks}), over a model made of numbers. Each epoch is one batch whose batch
 * logs are the epoch's training metrics, so TerminateOnNaN stops at the epoch whose loss is
 * NaN/inf and `saveFreq: N` counts epochs as batches. Throws a 400 KilnError naming the field.
 */
export async function simulate(request: SchemaSimulateRequest): Promise<SchemaSimulateResponse> {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new KilnError('BAD_REQUEST', 'the simulation request must be a JSON object with callbacks and history');
  }
  const problems: FieldProblem[] = [];
  const known = ['callbacks', 'compile', 'epochs', 'history', 'historyCsv'];
  for (const k of Object.keys(request)) {
    if (!known.includes(k)) problems.push({ pointer: pointer(k), detail: `unknown field '${k}'; remove it or use one of: ${known.join(', ')}` });
  }
  if (request.callbacks === undefined) problems.push({ pointer: '/callbacks', detail: 'is required' });
  const history = readHistory(request, problems);
  if (problems.length > 0) throw new KilnError('BAD_REQUEST', `${problems[0].pointer}: ${problems[0].detail}`, { errors: problems });

  const epochs = request.epochs ?? history.length;
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > history.length) {
    const detail = `must be an integer from 1 to the history's length (${history.length})`;
    throw new KilnError('BAD_REQUEST', `/epochs: ${detail}`, { errors: [{ pointer: '/epochs', detail }] });
  }
  const metricNames = [...new Set(history.slice(0, epochs).flatMap((h) => Object.keys(h)))];
  const compiledMetrics = request.compile?.metrics
    ?? metricNames.filter((m) => COMPILABLE.includes(m) || (m.startsWith('val_') && COMPILABLE.includes(m.slice(4)))).map((m) => m.replace(/^val_/, ''));
  const uniqueCompiled = [...new Set(compiledMetrics)];
  const specProblems = checkCallbacks(request.callbacks, {
    metrics: metricNames.filter((m) => m !== 'learning_rate' || !(request.callbacks?.reduceLROnPlateau || request.callbacks?.learningRateScheduler)),
    epochs,
    compiledMetrics: uniqueCompiled,
  });
  if (specProblems.length > 0) throw specInvalid(specProblems);

  const lr0 = request.compile?.optimizer?.learningRate ?? history[0]?.learning_rate ?? DEFAULT_LEARNING_RATE;
  const model = new NumberModel(lr0);
  let current: CallbackEvent[] = [];
  let csv = '';
  const list = buildCallbacks(request.callbacks, {
    model,
    compiledMetrics: uniqueCompiled,
    initialLearningRate: lr0,
    epochs,
    csvSink: (text) => {
      csv = text;
    },
    emit: (e) => current.push(e),
  });

  const perEpoch: SchemaSimulateResponse['epochs'] = [];
  const learningRates: number[] = [];
  const epochsRun: number[] = [];
  let lastLogs: Logs = {};
  try {
    await list.onTrainBegin();
    for (let epoch = 0; epoch < epochs; epoch++) {
      current = [];
      model.weightsEpoch = epoch;
      await list.onEpochBegin(epoch);
      learningRates.push(model.getLearningRate());
      const logs: Logs = { ...history[epoch] };
      const batchLogs: Logs = {};
      for (const [k, v] of Object.entries(logs)) if (!k.startsWith('val_') && k !== 'learning_rate') batchLogs[k] = v;
      await list.onBatchBegin(0, { ...batchLogs });
      await list.onBatchEnd(0, batchLogs);
      await list.onEpochEnd(epoch, logs);
      lastLogs = logs;
      epochsRun.push(epoch);
      perEpoch.push({ epoch, logs: wireLogs(logs), events: current as never[] });
      if (model.stopTraining) break;
    }
    await list.onTrainEnd(lastLogs);
  } catch (e) {
    if (e instanceof PyFormatError) {
      const detail = `cannot format the filepath at epoch ${perEpoch.length}: ${e.message}`;
      throw new KilnError('BAD_REQUEST', `/callbacks/modelCheckpoint/filepath: ${detail}`, {
        errors: [{ pointer: '/callbacks/modelCheckpoint/filepath', detail }],
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
    earlyStopping: summary
      ? { bestEpoch: summary.bestEpoch, bestValue: summary.bestValue === null ? null : wire(summary.bestValue), wait: summary.wait, restoredWeightsFromEpoch: summary.restoredWeightsFromEpoch }
      : null,
    learningRates,
    checkpoints: model.saves.map((s) => ({ epoch: s.epoch, path: s.path })),
    alerts: allEvents.flatMap((e) => (e.type === 'alert_fired' ? [{ epoch: e.epoch, rule: e.rule }] : [])),
    csv: list.find(CSVLogger) ? csv : '',
    epochs: perEpoch,
  };
}
