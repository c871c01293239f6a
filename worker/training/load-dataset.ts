import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SchemaDataSpec } from '../../core/api.gen';
import { resolveDatasetKey } from '../../core/dataset-uri';
import { KilnError } from '../../core/errors';
import { SPLIT_STREAM, seededRandom, shuffleInPlace } from './seeded-random';

export { shuffledIndices } from './seeded-random';

/** Rows of one split as typed arrays: `x` is count × features, `y` count × label width. */
export interface Split {
  x: Float32Array;
  y: Float32Array;
  count: number;
}

export interface LoadedDataset {
  train: Split;
  validation: Split | null;
  /** One sample after reshape, e.g. [4] or [8, 8, 1]. */
  featureShape: number[];
  /** [numClasses] for one-hot labels, [] for class indices, 0/1, ±1 and regression targets. */
  labelShape: number[];
  /** Label names in class-index order; null for regression. */
  classes: string[] | null;
  featureColumns: string[];
  labelColumn: string;
  /** Training-row statistics used to standardise, saved with the model. */
  standardization: { mean: number[]; std: number[] } | null;
}

export interface LoadOptions {
  /** The compiled loss: decides how labels are encoded. */
  loss: string;
  seed?: number;
  tenant: string;
  storeUri: string;
  /** Opens an object of the artifact store; null when it does not exist. */
  readObject: (key: string) => Promise<NodeJS.ReadableStream | null>;
}

const REGRESSION_LOSSES = new Set(['mean_squared_error', 'mse', 'mean_absolute_error', 'mae', 'huber']);
/** The shipped CSVs: beside this module in the sources, at the same path from the repo root under dist/. */
const BUILTIN_DIR = [join(__dirname, 'builtin'), join(__dirname, '../../../worker/training/builtin')].find((d) => existsSync(join(d, 'iris.csv'))) ?? join(__dirname, 'builtin');

/** A CSV table read column-wise into typed features and string labels. */
interface Table {
  features: Float32Array;
  labels: string[];
  count: number;
  featureColumns: string[];
}

/**
 * Loads a job's data into typed arrays: built-in datasets from the files shipped beside this module,
 * CSV objects from the tenant's area of the artifact store. Parses as a stream (the text is never
 * held whole), encodes labels as the loss needs them, splits off validation rows with a seeded
 * shuffle, standardises with the training rows' statistics and reshapes samples.
 * Problems with the data are `KilnError('DATASET_INVALID')` naming the file, row, column and value.
 */
export async function loadDataset(spec: SchemaDataSpec, opts: LoadOptions): Promise<LoadedDataset> {
  let source: { name: string; stream: NodeJS.ReadableStream };
  let labelColumn: string;
  let featureColumns: string[] | undefined;
  let validationSource: { name: string; stream: NodeJS.ReadableStream } | null = null;
  if ('builtin' in spec) {
    source = { name: `built-in ${spec.builtin}`, stream: createReadStream(join(BUILTIN_DIR, `${spec.builtin}.csv`)) };
    labelColumn = 'label';
  } else {
    source = await openObject(spec.uri, 'data.uri', opts);
    labelColumn = spec.labelColumn;
    featureColumns = spec.featureColumns;
    if (spec.validation) validationSource = await openObject(spec.validation.uri, 'data.validation.uri', opts);
  }

  const table = await readTable(source, labelColumn, featureColumns);
  const validationTable = validationSource ? await readTable(validationSource, labelColumn, table.featureColumns) : null;
  const width = table.featureColumns.length;
  const encoding = labelEncoding(opts.loss, table.labels.concat(validationTable?.labels ?? []), source.name, labelColumn);

  let trainRows: Uint32Array;
  let validationRows: Uint32Array | null = null;
  const all = Uint32Array.from({ length: table.count }, (_, i) => i);
  if (spec.validationSplit !== undefined && !validationTable) {
    shuffleInPlace(all, seededRandom(opts.seed ?? 0, SPLIT_STREAM));
    const nVal = Math.floor(table.count * spec.validationSplit);
    if (nVal < 1 || table.count - nVal < 1) {
      throw new KilnError('DATASET_INVALID', `${source.name} has ${table.count} rows: validationSplit ${spec.validationSplit} leaves no ${nVal < 1 ? 'validation' : 'training'} rows; use more data or another split`);
    }
    trainRows = all.slice(0, table.count - nVal);
    validationRows = all.slice(table.count - nVal);
  } else {
    trainRows = all;
  }

  const train = gather(table, trainRows, width, encoding);
  const validation = validationTable
    ? gather(validationTable, Uint32Array.from({ length: validationTable.count }, (_, i) => i), width, encoding)
    : validationRows ? gather(table, validationRows, width, encoding) : null;

  let standardization: LoadedDataset['standardization'] = null;
  if (spec.standardize) {
    standardization = statistics(train.x, train.count, width);
    applyStandardization(train.x, standardization);
    if (validation) applyStandardization(validation.x, standardization);
  }

  let featureShape = [width];
  if (spec.reshape) {
    const product = spec.reshape.reduce((a, b) => a * b, 1);
    if (product !== width) {
      throw new KilnError('DATASET_INVALID', `data.reshape ${JSON.stringify(spec.reshape)} holds ${product} values but ${source.name} has ${width} features per row; use a shape whose product is ${width}`);
    }
    featureShape = [...spec.reshape];
  }
  return {
    train,
    validation,
    featureShape,
    labelShape: encoding.oneHot ? [encoding.classes!.length] : [],
    classes: encoding.classes,
    featureColumns: table.featureColumns,
    labelColumn,
    standardization,
  };
}

async function openObject(uri: string, field: string, opts: LoadOptions): Promise<{ name: string; stream: NodeJS.ReadableStream }> {
  let key: string;
  try {
    key = resolveDatasetKey(uri, opts.tenant, opts.storeUri);
  } catch (err) {
    throw new KilnError('DATASET_INVALID', `${field}: ${(err as Error).message}`);
  }
  const stream = await opts.readObject(key);
  if (!stream) throw new KilnError('DATASET_INVALID', `${field}: no object '${uri}' in the artifact store (looked for key ${key}); upload it first or fix the name`);
  return { name: `'${uri}'`, stream };
}

interface LabelEncoding {
  classes: string[] | null;
  oneHot: boolean;
  encode(label: string, row: number): number | null;
}

/** Sorts class labels: numbers ascending when every label is numeric, else by code unit. */
export function sortClasses(labels: Iterable<string>): string[] {
  const distinct = [...new Set(labels)];
  if (distinct.every((l) => l.trim() !== '' && Number.isFinite(Number(l)))) return distinct.sort((a, b) => Number(a) - Number(b));
  return distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function labelEncoding(loss: string, labels: string[], name: string, column: string): LabelEncoding {
  if (REGRESSION_LOSSES.has(loss)) {
    return {
      classes: null,
      oneHot: false,
      encode(label, row) {
        const v = label.trim() === '' ? NaN : Number(label);
        if (!Number.isFinite(v)) throw new KilnError('DATASET_INVALID', `${name}, row ${row + 1}, column '${column}': '${label}' is not a number, and ${loss} needs numeric targets`);
        return v;
      },
    };
  }
  const classes = sortClasses(labels);
  if (classes.length < 2) {
    throw new KilnError('DATASET_INVALID', `${name}: label column '${column}' has ${classes.length === 0 ? 'no values' : `only one class ('${classes[0]}')`}; a classifier needs at least two`);
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  if (loss === 'binary_crossentropy' || loss === 'hinge') {
    if (classes.length !== 2) {
      throw new KilnError('DATASET_INVALID', `${name}: ${loss} needs exactly two classes in '${column}', found ${classes.length} (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', …' : ''}); use categorical_crossentropy`);
    }
    const [neg] = loss === 'hinge' ? [-1] : [0];
    return { classes, oneHot: false, encode: (label) => (index.get(label) === 1 ? 1 : neg) };
  }
  return {
    classes,
    oneHot: loss === 'categorical_crossentropy',
    encode: (label) => index.get(label)!,
  };
}

function gather(table: Table, rows: Uint32Array, width: number, encoding: LabelEncoding): Split {
  const x = new Float32Array(rows.length * width);
  const classes = encoding.oneHot ? encoding.classes!.length : 1;
  const y = new Float32Array(rows.length * classes);
  rows.forEach((r, i) => {
    x.set(table.features.subarray(r * width, (r + 1) * width), i * width);
    const v = encoding.encode(table.labels[r], r)!;
    if (encoding.oneHot) y[i * classes + v] = 1;
    else y[i] = v;
  });
  return { x, y, count: rows.length };
}

function statistics(x: Float32Array, count: number, width: number): { mean: number[]; std: number[] } {
  const mean = new Array<number>(width).fill(0);
  const sq = new Array<number>(width).fill(0);
  for (let r = 0; r < count; r++) for (let c = 0; c < width; c++) mean[c] += x[r * width + c];
  for (let c = 0; c < width; c++) mean[c] /= count;
  for (let r = 0; r < count; r++) for (let c = 0; c < width; c++) sq[c] += (x[r * width + c] - mean[c]) ** 2;
  // Population standard deviation; a constant feature keeps its scale (std 1) instead of dividing by 0.
  const std = sq.map((s) => Math.sqrt(s / count) || 1);
  return { mean, std };
}

function applyStandardization(x: Float32Array, s: { mean: number[]; std: number[] }): void {
  const width = s.mean.length;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - s.mean[i % width]) / s.std[i % width];
}

/**
 * Reads a CSV stream (RFC 4180: quoted fields, doubled quotes, embedded separators and newlines,
 * CRLF or LF) into typed features and string labels, row by row, without holding the text.
 */
async function readTable(source: { name: string; stream: NodeJS.ReadableStream }, labelColumn: string, featureColumns?: string[]): Promise<Table> {
  let header: string[] | null = null;
  let featureIdx: number[] = [];
  let labelIdx = -1;
  let features = new Float32Array(1024);
  const labels: string[] = [];
  let count = 0;
  let names: string[] = [];

  const onRow = (fields: string[], line: number) => {
    if (!header) {
      header = fields.map((f) => f.trim());
      labelIdx = header.indexOf(labelColumn);
      if (labelIdx < 0) throw new KilnError('DATASET_INVALID', `${source.name} has no label column '${labelColumn}'; its columns are: ${header.join(', ')}`);
      names = featureColumns ?? header.filter((_, i) => i !== labelIdx);
      featureIdx = names.map((n) => header!.indexOf(n));
      const missing = names.filter((_, i) => featureIdx[i] < 0);
      if (missing.length) throw new KilnError('DATASET_INVALID', `${source.name} has no column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}; its columns are: ${header.join(', ')}`);
      if (names.length === 0) throw new KilnError('DATASET_INVALID', `${source.name} has no feature columns besides '${labelColumn}'`);
      return;
    }
    if (fields.length === 1 && fields[0] === '') return; // a blank line
    if (fields.length !== header.length) {
      throw new KilnError('DATASET_INVALID', `${source.name}, line ${line}: ${fields.length} fields where the header has ${header.length}; fix the row or the quoting`);
    }
    const width = names.length;
    if ((count + 1) * width > features.length) {
      const grown = new Float32Array(Math.max(features.length * 2, (count + 1) * width));
      grown.set(features);
      features = grown;
    }
    for (let c = 0; c < width; c++) {
      const raw = fields[featureIdx[c]];
      const v = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(v)) {
        throw new KilnError('DATASET_INVALID', `${source.name}, line ${line}, column '${names[c]}': '${raw}' is not a number; features must be numeric (encode categories as numbers, or leave the column out with featureColumns)`);
      }
      features[count * width + c] = v;
    }
    labels.push(fields[labelIdx].trim());
    count++;
  };

  await parseCsv(source.stream, onRow);
  if (!header) throw new KilnError('DATASET_INVALID', `${source.name} is empty; it needs a header row and at least one data row`);
  if (count === 0) throw new KilnError('DATASET_INVALID', `${source.name} has a header but no data rows`);
  return { features: features.slice(0, count * names.length), labels, count, featureColumns: names };
}

async function parseCsv(stream: NodeJS.ReadableStream, onRow: (fields: string[], line: number) => void): Promise<void> {
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  let afterQuote = false;
  let pendingCR = false;
  let line = 1;
  let rowLine = 1;
  let any = false;
  const endRow = () => {
    fields.push(field);
    onRow(fields, rowLine);
    fields = [];
    field = '';
    any = false;
    rowLine = line;
  };
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (pendingCR) {
        pendingCR = false;
        if (ch === '\n') continue;
      }
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else {
            // Closing quote, or the first half of a doubled quote split across chunks: the next
            // character decides (see afterQuote below).
            quoted = false;
            afterQuote = true;
          }
        } else {
          if (ch === '\n') line++;
          field += ch;
        }
        continue;
      }
      if (afterQuote && ch === '"') {
        // The doubled quote was split across chunks.
        field += '"';
        quoted = true;
        afterQuote = false;
        continue;
      }
      afterQuote = false;
      if (ch === '"' && field === '') {
        quoted = true;
        any = true;
      } else if (ch === ',') {
        fields.push(field);
        field = '';
        any = true;
      } else if (ch === '\n' || ch === '\r') {
        line++;
        if (ch === '\r') pendingCR = true;
        endRow();
      } else {
        field += ch;
        any = true;
      }
    }
  }
  if (quoted) throw new KilnError('DATASET_INVALID', `the CSV ends inside a quoted field that starts on line ${rowLine}; close the quote`);
  if (any || field !== '' || fields.length > 0) endRow();
}
