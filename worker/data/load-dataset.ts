import { createReadStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SchemaDataSpec, SchemaStoreDataSpec } from '../../core/api.gen';
import { checkDataSplit } from '../../core/check-data-spec';
import { resolveDatasetKey } from '../../core/dataset-uri';
import { KilnError, isKilnError } from '../../core/errors';
import { parseCsvStream } from './csv-parser';
import { Float32Builder } from './float32-builder';
import { parseNdjsonStream } from './ndjson-parser';
import {
  DECIMAL,
  canonicalLabel,
  compareLabels,
  isClassification,
  labelEncodingForLoss,
  labelWidth,
  maxClassesFor,
  writeClassTarget,
  type LabelEncoding,
} from './label-encoding';
import type { RowFile } from './row-file';
import type { ScratchFiles } from './scratch-files';
import { SPLIT_STREAM, seededRandom, shuffleInPlace } from './seeded-random';
import { SpilledSplit, copySelectedRows, type RowEncoding } from './spilled-split';

export { shuffledIndices } from './seeded-random';

/** Rows of one side of the data, row-major. */
export interface Split {
  /** `count × product(featureShape)` feature values. */
  x: Float32Array;
  /** `count × product(labelShape)` targets. */
  y: Float32Array;
  count: number;
}

/** What the model and the run manifest need to know about a dataset, wherever its rows are. */
export interface DatasetDescription {
  /** Shape of one sample after `reshape`, e.g. `[4]` or `[8, 8, 1]`. */
  featureShape: number[];
  /** `[numClasses]` for one-hot targets; `[]` for sparse indices, binary, hinge and regression. */
  labelShape: number[];
  /** Label values in class-index order (see `LabelEncoding`); null for regression. */
  classes: string[] | null;
  featureColumns: string[];
  labelColumn: string;
  /** Per-feature statistics of the training rows, applied to both sides; save them with the model. */
  standardization: { mean: number[]; std: number[] } | null;
}

/** A dataset ready for training: typed arrays plus what the model and the run manifest need. */
export interface LoadedDataset extends DatasetDescription {
  storage: 'memory';
  train: Split;
  /** Held-out rows (`validationSplit` or `validation.uri`), or null when the job has none. */
  validation: Split | null;
}

/**
 * A dataset whose parsed values did not fit the worker's dataset memory: its rows are in local
 * scratch files and each side reads, standardises and encodes them batch by batch.
 */
export interface SpilledDataset extends DatasetDescription {
  storage: 'spilled';
  train: SpilledSplit;
  validation: SpilledSplit | null;
  /** Bytes of the scratch files. */
  bytes: number;
}

/** Where a dataset may keep its rows: {@link loadDatasetWithin}. */
export interface DatasetBudget {
  /**
   * Bytes of parsed values (4 per feature and label value) the dataset may hold in memory, all
   * files together (KILN_DATASET_MEMORY_BYTES). Past it the rows go to scratch files.
   */
  memoryBytes: number;
  /** Creates (and at the job's end closes) the scratch files. */
  scratch: ScratchFiles;
}

/** Everything {@link loadDataset} needs besides the spec. */
export interface LoadDatasetOptions {
  /** The job's `compile.loss`; it decides the label encoding. */
  loss: string;
  /**
   * Seed of the validation split. A fixed default rather than a random one, so a resumed run
   * (another process) holds out the same rows. @defaultValue 0
   */
  seed?: number;
  /** The job's tenant; store objects are read from its area only. */
  tenant: string;
  /** Opens a store object by key; resolves null when there is no such object. */
  readObject: (key: string) => Promise<NodeJS.ReadableStream | null>;
  /** Root URI of the configured store (`s3://bucket/prefix`, `file:///dir`), for full-URI datasets. */
  storeUri: string;
  /**
   * Folder holding `<name>.csv` for built-in datasets.
   * @defaultValue `builtin/` beside this module, else the source tree's `worker/data/builtin/`
   */
  builtinDir?: string;
}

/** More distinct labels than this under a classification loss is almost surely a regression target. */
export const MAX_CLASSES = 10_000;

const BUILTIN_LABEL_COLUMN = 'label';

/**
 * Loads a job's data as typed arrays, streaming each file (CSV, or NDJSON with `data.format:
 * ndjson`) so only the parsed float32 values are held. User mistakes (missing object, bad columns
 * or keys, non-numeric values, one class, a split that leaves a side empty, a wrong reshape) are
 * `DATASET_INVALID` errors whose detail names the file, row, column and value and says what to
 * change; store and stream faults are rethrown as they are, so the job is retried.
 *
 * Differs from Keras `fit(validation_split=…)`: the held-out rows are the last fraction after a
 * seeded shuffle (Keras takes the last rows as they are; its `floor` rounding is kept), and both
 * sides keep file order. `data.stratify` (no Keras equivalent; scikit-learn's
 * `train_test_split(stratify=y)`) holds out that fraction of each class instead.
 */
export async function loadDataset(spec: SchemaDataSpec, opts: LoadDatasetOptions): Promise<LoadedDataset> {
  return (await readDataset(spec, opts, null)) as LoadedDataset;
}

/**
 * {@link loadDataset} within a memory budget. While the parsed values of the data file(s) fit
 * `budget.memoryBytes`, the result is exactly loadDataset's (same arrays, split and order). A
 * dataset past it is spilled: its rows go to a scratch file as they are parsed (fixed-width float32
 * rows, labels as provisional class ids) and the result reads them from there. The spilled path
 * checks and reports everything as the in-memory one does, holds out the same rows for the same
 * seed (the held-out rows are copied to a file of their own; the training side skips them by a
 * one-byte-per-row mask) and computes the same standardisation figures (two float64 passes over
 * the training rows in file order). What it keeps in memory is a few bytes per row (the mask, and
 * with `stratify` each row's class id), never the rows. Its epoch order differs from the in-memory
 * one: see {@link SpilledSplit}.
 */
export async function loadDatasetWithin(spec: SchemaDataSpec, opts: LoadDatasetOptions, budget: DatasetBudget): Promise<LoadedDataset | SpilledDataset> {
  return readDataset(spec, opts, budget);
}

async function readDataset(spec: SchemaDataSpec, opts: LoadDatasetOptions, budget: DatasetBudget | null): Promise<LoadedDataset | SpilledDataset> {
  const encoding = labelEncodingForLoss(opts.loss);
  const store = 'uri' in spec ? (spec as SchemaStoreDataSpec) : null;
  const labelColumn = store ? store.labelColumn : BUILTIN_LABEL_COLUMN;
  const format: DataFormat = store?.format ?? 'csv';
  if (format !== 'csv' && format !== 'ndjson') {
    throw new KilnError('DATASET_INVALID', `data.format '${String(format)}' is not supported; use 'csv' or 'ndjson'.`);
  }
  const [split] = checkDataSplit(spec, opts.loss);
  if (split) throw new KilnError('DATASET_INVALID', split.detail, { errors: [split] });

  const trainSource: TableSource = store
    ? storeSource(store.uri, 'data.uri', format, opts)
    : builtinSource((spec as { builtin: string }).builtin, opts.builtinDir);
  // With stratify, a spilled table keeps each row's class id in memory: the split needs them.
  const spill = (used: number): SpillPlan | null =>
    budget ? { limitBytes: budget.memoryBytes - used, scratch: budget.scratch, keepLabels: spec.stratify === true } : null;
  const trainTable = await readTable(trainSource, {
    labelColumn,
    featureColumns: store?.featureColumns,
    featureColumnsField: 'data.featureColumns',
    reshape: spec.reshape,
    encoding,
    sameAs: null,
  }, spill(0));
  const classes = isClassification(encoding) ? trainingClasses(trainTable, encoding, labelColumn, trainSource.name, opts.loss) : null;
  const width = labelWidth(encoding, classes?.length ?? 0);
  const valSource = store?.validation ? storeSource(store.validation.uri, 'data.validation.uri', format, opts) : null;
  const valTable = valSource
    ? await readTable(valSource, {
      labelColumn,
      featureColumns: trainTable.featureColumns,
      featureColumnsField: 'data.featureColumns',
      reshape: undefined,
      encoding,
      sameAs: trainSource.name,
    }, spill(tableBytes(trainTable)))
    : null;
  const description = {
    featureShape: spec.reshape ? [...spec.reshape] : [trainTable.featureColumns.length],
    labelShape: encoding === 'one-hot' ? [width] : [],
    classes,
    featureColumns: trainTable.featureColumns,
    labelColumn,
  };
  if (budget && (trainTable.file || valTable?.file)) {
    const sides = await spilledSides(spec, opts.seed ?? 0, budget.scratch, encoding, classes, width, labelColumn,
      { table: trainTable, name: trainSource.name }, valTable && valSource ? { table: valTable, name: valSource.name } : null);
    return { storage: 'spilled', ...sides, ...description };
  }

  let train: Split = {
    x: trainTable.features,
    y: encodeTargets(trainTable, encoding, classes, width, labelColumn, trainSource.name),
    count: trainTable.count,
  };
  let validation: Split | null = null;
  if (valTable && valSource) {
    validation = {
      x: valTable.features,
      y: encodeTargets(valTable, encoding, classes, width, labelColumn, valSource.name),
      count: valTable.count,
    };
  } else if (spec.validationSplit !== undefined) {
    const strata = spec.stratify ? trainTable.labels : null;
    [train, validation] = splitRows(train, trainTable.featureColumns.length, width, spec.validationSplit, opts.seed ?? 0, trainSource.name, strata);
  }

  const standardization = spec.standardize ? standardize(train, validation, trainTable.featureColumns.length) : null;
  return { storage: 'memory', train, validation, ...description, standardization };
}

type DataFormat = 'csv' | 'ndjson';

interface TableSource {
  /** How messages name the file, e.g. `data.uri 'datasets/a.csv'`. */
  name: string;
  format: DataFormat;
  open(): Promise<AsyncIterable<string | Uint8Array>>;
}

function storeSource(uri: string, field: string, format: DataFormat, opts: LoadDatasetOptions): TableSource {
  const pointer = '/' + field.split('.').join('/');
  let key: string;
  try {
    key = resolveDatasetKey(uri, opts.tenant, opts.storeUri);
  } catch (err) {
    if (!isKilnError(err)) throw err;
    throw new KilnError('DATASET_INVALID', `${field}: ${err.message}`, { errors: [{ pointer, detail: err.message }], cause: err });
  }
  const name = `${field} '${uri}'`;
  return {
    name,
    format,
    async open() {
      const stream = await opts.readObject(key);
      if (stream === null) {
        throw new KilnError(
          'DATASET_INVALID',
          `${name}: there is no object '${key}' in the store; upload the ${format === 'csv' ? 'CSV' : 'NDJSON file'} there first or correct ${field}.`,
          { errors: [{ pointer, detail: `no object '${key}' in the store` }] },
        );
      }
      return stream as AsyncIterable<string | Uint8Array>;
    },
  };
}

function builtinSource(builtin: string, dir: string | undefined): TableSource {
  return {
    name: `built-in dataset '${builtin}'`,
    format: 'csv',
    async open() {
      return createReadStream(join(dir ?? defaultBuiltinDir(), `${builtin}.csv`));
    },
  };
}

/**
 * tsc does not copy the CSVs into dist/, so compiled code falls back to the source tree
 * (dist/worker/data → worker/data/builtin) unless the build copies them beside it.
 */
function defaultBuiltinDir(): string {
  const beside = join(__dirname, 'builtin');
  return existsSync(beside) ? beside : resolve(__dirname, '..', '..', '..', 'worker', 'data', 'builtin');
}

interface TablePlan {
  labelColumn: string;
  /** Columns to read as features, in order; undefined = every column but the label, in file order. */
  featureColumns: readonly string[] | undefined;
  featureColumnsField: string;
  reshape: readonly number[] | undefined;
  encoding: LabelEncoding;
  /** For a validation file: the name of the training file whose columns it must have. */
  sameAs: string | null;
}

interface Table {
  /** `count × features` values; empty when the rows are in {@link Table.file}. */
  features: Float32Array;
  count: number;
  featureColumns: string[];
  /**
   * Per row: the label's numeric value (regression) or its provisional class id (first-seen order).
   * Empty when the rows are in {@link Table.file}, unless the plan kept them (`keepLabels`).
   */
  labels: Float32Array;
  /** Provisional class id → canonical label. */
  labelNames: string[];
  /** Provisional class id → line of the first row with that label, for messages. */
  labelLines: number[];
  /** The rows (features, then the label value) once they went to a scratch file; else null. */
  file: RowFile | null;
}

/** When {@link readTable} moves rows from memory to a scratch file. */
interface SpillPlan {
  /** Bytes of parsed values the table may hold in memory; one row more and it spills. */
  limitBytes: number;
  scratch: ScratchFiles;
  /** Whether a spilled table still keeps each row's label value in memory. */
  keepLabels: boolean;
}

const NO_VALUES = new Float32Array(0);

/** Bytes of parsed values a table holds in memory. */
function tableBytes(table: Table): number {
  return table.features.byteLength + table.labels.byteLength;
}

/** Writes rows to a new scratch file: `features` values, then the label, per row. */
function writeRows(scratch: ScratchFiles, count: number, features: number, feature: (i: number) => number, label: (r: number) => number): RowFile {
  const file = scratch.createRowFile(features + 1);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < features; j++) file.push(feature(r * features + j));
    file.push(label(r));
  }
  return file;
}

/**
 * One data row as its format gives it: the cells in header order — strings from a CSV, JSON values
 * from NDJSON (undefined where an object lacks the key).
 */
type RowHandler = (cells: readonly unknown[], line: number) => void;

/** How a format names its columns in messages. */
interface ColumnWords {
  /** "the header" / "the first object (line 1)". */
  header: string;
  /** "column" / "key". */
  column: string;
  /** Where a missing label is looked for, when a message should say: "" / " in the first object (line 1)". */
  inHeader: string;
}

const CSV_WORDS: ColumnWords = { header: 'the header', column: 'column', inHeader: '' };

/**
 * Streams a file's rows: `onHeader` once with the column names, then `onRow` per data row. For a
 * CSV the header is the first record and every row must have one field per column; for NDJSON the
 * columns are the first object's keys, the first object is a data row too, and later objects are
 * read by key (with `strictKeys`, a key the first object lacks is an error: it would be ignored).
 */
async function readRows(
  source: TableSource,
  strictKeys: boolean,
  invalid: (detail: string) => KilnError,
  onHeader: (header: string[], words: ColumnWords) => void,
  onRow: RowHandler,
): Promise<boolean> {
  const input = await source.open();
  let header: string[] | null = null;
  if (source.format === 'csv') {
    let rows = 0;
    await parseCsvStream(input, source.name, (fields, line) => {
      if (header === null) {
        header = fields.map((f) => f.trim());
        onHeader(header, CSV_WORDS);
        return;
      }
      rows++;
      if (fields.length !== header.length) {
        throw invalid(
          `row ${rows} (line ${line}) has ${fields.length} fields but the header has ${header.length}; ` +
            'every row needs one value per column (quote values that contain commas).',
        );
      }
      onRow(fields, line);
    });
    if (header === null) throw invalid('the file is empty; it needs a header row naming the columns, then data rows.');
    return rows > 0;
  }
  let rows = 0;
  let known: Set<string> = new Set();
  await parseNdjsonStream(input, source.name, (record, line) => {
    if (header === null) {
      header = Object.keys(record);
      known = new Set(header);
      const first = `the first object (line ${line})`;
      onHeader(header, { header: first, column: 'key', inHeader: ` in ${first}` });
    } else if (strictKeys) {
      for (const key in record) {
        if (!known.has(key)) {
          throw invalid(
            `row ${rows + 1} (line ${line}) has key '${key}' that the first object lacks; every object needs the same keys ` +
              '(the first object names the features), or list the features in data.featureColumns.',
          );
        }
      }
    }
    rows++;
    const cells = new Array<unknown>(header.length);
    for (let i = 0; i < header.length; i++) cells[i] = record[header[i]];
    onRow(cells, line);
  });
  if (header === null) throw invalid('the file is empty; NDJSON needs one JSON object per line, e.g. {"x1": 0.5, "label": "cat"}.');
  return rows > 0;
}

async function readTable(source: TableSource, plan: TablePlan, spill: SpillPlan | null): Promise<Table> {
  const classification = isClassification(plan.encoding);
  let features = new Float32Builder();
  let labels = new Float32Builder();
  let file: RowFile | null = null;
  let keepLabels = true;
  const pushFeature = (value: number): void => {
    if (file) file.push(value);
    else features.push(value);
  };
  const pushLabel = (value: number): void => {
    if (file) file.push(value);
    if (keepLabels) labels.push(value);
  };
  const classIds = new Map<string, number>();
  const labelNames: string[] = [];
  const labelLines: number[] = [];
  let featureIndex: number[] = [];
  let featureColumns: string[] = [];
  let labelIndex = -1;
  let words = CSV_WORDS;
  let count = 0;

  const invalid = (detail: string): KilnError => new KilnError('DATASET_INVALID', `${source.name}: ${detail}`);
  const missing = (where: string, key: string): KilnError =>
    invalid(`${where} has no key '${key}'; every object needs the label key '${plan.labelColumn}' and each feature key.`);

  const onHeader = (header: string[], w: ColumnWords): void => {
    words = w;
    ({ featureIndex, featureColumns, labelIndex } = resolveColumns(header, plan, w, invalid));
  };
  const hasRows = await readRows(source, plan.featureColumns === undefined, invalid, onHeader, (cells, line) => {
    count++;
    const where = `row ${count} (line ${line})`;
    for (let j = 0; j < featureIndex.length; j++) {
      const raw = cells[featureIndex[j]];
      if (raw === undefined) throw missing(where, featureColumns[j]);
      const value = parseNumber(raw);
      if (value === null) {
        throw invalid(
          `${where}, ${words.column} '${featureColumns[j]}': ${shown(raw)} is not a number; features must be ` +
            `finite decimal numbers (fill in or drop missing values, encode categories as numbers, or leave the ${words.column} out of data.featureColumns).`,
        );
      }
      pushFeature(value);
    }
    const rawLabel = cells[labelIndex];
    if (rawLabel === undefined) throw missing(where, plan.labelColumn);
    if (classification) {
      const name = labelText(rawLabel);
      if (name === null) {
        throw invalid(`${where}: label ${words.column} '${plan.labelColumn}' holds ${shown(rawLabel)}; a class label must be a string or a number.`);
      }
      if (name === '') {
        throw invalid(`${where}: label ${words.column} '${plan.labelColumn}' is empty; give every row a label or drop the row.`);
      }
      let id = classIds.get(name);
      if (id === undefined) {
        id = labelNames.length;
        if (id >= MAX_CLASSES) {
          throw invalid(
            `label ${words.column} '${plan.labelColumn}' has more than ${MAX_CLASSES} distinct values; a classification loss ` +
              'needs class labels — for a numeric target use a regression loss (mse, mae, huber).',
          );
        }
        classIds.set(name, id);
        labelNames.push(name);
        labelLines.push(line);
      }
      pushLabel(id);
    } else {
      const value = parseNumber(rawLabel);
      if (value === null) {
        throw invalid(
          `${where}, label ${words.column} '${plan.labelColumn}': ${shown(rawLabel)} is not a number; a regression loss ` +
            'needs numeric labels — for class labels use a classification loss (e.g. sparse_categorical_crossentropy).',
        );
      }
      pushLabel(value);
    }
    if (spill && !file && (features.length + labels.length) * 4 > spill.limitBytes) {
      // Past the budget: the rows so far and every later one go to a scratch file instead.
      const held = features;
      const width = featureIndex.length;
      const heldLabels = labels;
      file = writeRows(spill.scratch, count, width, (i) => held.get(i), (r) => heldLabels.get(r));
      features = new Float32Builder(1);
      keepLabels = spill.keepLabels;
      if (!keepLabels) labels = new Float32Builder(1);
    }
  });

  if (!hasRows) throw invalid('the file has a header but no data rows.');
  // Assigned in the row callback, which TypeScript's narrowing does not follow.
  const spilled = file as RowFile | null;
  if (spilled) {
    spilled.endWrites();
    return { features: NO_VALUES, count, featureColumns, labels: keepLabels ? labels.toArray() : NO_VALUES, labelNames, labelLines, file: spilled };
  }
  return { features: features.toArray(), count, featureColumns, labels: labels.toArray(), labelNames, labelLines, file: null };
}

function resolveColumns(
  header: string[],
  plan: TablePlan,
  words: ColumnWords,
  invalid: (detail: string) => KilnError,
): { featureIndex: number[]; featureColumns: string[]; labelIndex: number } {
  const { column } = words;
  const available = `available ${column}s: ${header.map((h) => `'${h}'`).join(', ')}`;
  const index = new Map<string, number>();
  header.forEach((name, i) => {
    if (index.has(name)) throw invalid(`the header names column '${name}' twice; give every column a distinct name.`);
    index.set(name, i);
  });
  const mustMatch = plan.sameAs ? ` (it must have the same ${column}s as ${plan.sameAs})` : '';

  const labelIndex = index.get(plan.labelColumn);
  if (labelIndex === undefined) {
    throw invalid(`there is no label ${column} '${plan.labelColumn}'${words.inHeader}${mustMatch}; set data.labelColumn to one of the ${available}.`);
  }
  const featureColumns = plan.featureColumns ? [...plan.featureColumns] : header.filter((h) => h !== plan.labelColumn);
  if (plan.featureColumns?.includes(plan.labelColumn)) {
    throw invalid(`${plan.featureColumnsField} includes the label column '${plan.labelColumn}'; remove it from the features.`);
  }
  const absent = featureColumns.filter((c) => !index.has(c));
  if (absent.length > 0) {
    const fix = plan.sameAs ? `add them to this file${mustMatch}` : `fix ${plan.featureColumnsField}; ${available}`;
    throw invalid(`feature ${column}${absent.length > 1 ? 's' : ''} ${absent.map((c) => `'${c}'`).join(', ')} not in ${words.header}; ${fix}.`);
  }
  if (featureColumns.length === 0) {
    throw invalid(`there are no feature ${column}s besides the label '${plan.labelColumn}'; the file needs at least one feature.`);
  }
  if (plan.reshape) {
    const size = plan.reshape.reduce((a, b) => a * b, 1);
    if (size !== featureColumns.length) {
      throw invalid(
        `data.reshape [${plan.reshape.join(', ')}] holds ${size} values but each row has ${featureColumns.length} features; ` +
          `choose a shape whose product is ${featureColumns.length}.`,
      );
    }
  }
  return { featureIndex: featureColumns.map((c) => index.get(c) as number), featureColumns, labelIndex };
}

/** A cell as messages quote it: JSON, cut short so one huge value does not swamp the message. */
function shown(raw: unknown): string {
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The class name of a label cell (strings and finite numbers; JSON booleans as `true`/`false`), or null. */
function labelText(raw: unknown): string | null {
  if (typeof raw === 'string') return canonicalLabel(raw);
  if (typeof raw === 'number') return Number.isFinite(raw) ? canonicalLabel(String(raw)) : null;
  if (typeof raw === 'boolean') return String(raw);
  return null;
}

/** A finite float32 from a decimal cell (a CSV field, or a JSON number or numeric string), or null. */
function parseNumber(raw: unknown): number | null {
  let value: number;
  if (typeof raw === 'number') value = Math.fround(raw);
  else if (typeof raw === 'string' && DECIMAL.test(raw)) value = Math.fround(Number(raw));
  else return null;
  return Number.isFinite(value) ? value : null;
}

function trainingClasses(table: Table, encoding: LabelEncoding, labelColumn: string, source: string, loss: string): string[] {
  const classes = [...table.labelNames].sort(compareLabels);
  if (classes.length < 2) {
    throw new KilnError(
      'DATASET_INVALID',
      `${source}: label column '${labelColumn}' has a single class ('${classes[0]}'); loss ${loss} needs at least two ` +
        'classes — check labelColumn, or use a regression loss for a numeric target.',
    );
  }
  if (classes.length > maxClassesFor(encoding)) {
    const shown = classes.slice(0, 5).map((c) => `'${c}'`).join(', ') + (classes.length > 5 ? ', …' : '');
    throw new KilnError(
      'DATASET_INVALID',
      `${source}: label column '${labelColumn}' has ${classes.length} classes (${shown}) but loss ${loss} needs exactly two; ` +
        'use categorical_crossentropy or sparse_categorical_crossentropy for more classes.',
    );
  }
  return classes;
}

function encodeTargets(
  table: Table,
  encoding: LabelEncoding,
  classes: string[] | null,
  width: number,
  labelColumn: string,
  source: string,
): Float32Array {
  if (classes === null) return table.labels;
  const remap = classRemap(table, classes, labelColumn, source);
  const y = new Float32Array(table.count * width);
  for (let r = 0; r < table.count; r++) writeClassTarget(y, r * width, encoding, remap[table.labels[r]]);
  return y;
}

/** Provisional class id of `table` → index in `classes`; a label outside them is a DATASET_INVALID error. */
function classRemap(table: Table, classes: string[], labelColumn: string, source: string): Int32Array {
  const finalIndex = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(table.labelNames, (name, id) => {
    const index = finalIndex.get(name);
    if (index === undefined) {
      throw new KilnError(
        'DATASET_INVALID',
        `${source}, line ${table.labelLines[id]}: label '${name}' in column '${labelColumn}' is not a class of the training data ` +
          `(${classes.map((c) => `'${c}'`).join(', ')}); validation rows must use the training classes.`,
      );
    }
    return index;
  });
}

/** The two sides of a dataset whose rows (all or some) went to scratch files. */
async function spilledSides(
  spec: SchemaDataSpec,
  seed: number,
  scratch: ScratchFiles,
  encoding: LabelEncoding,
  classes: string[] | null,
  width: number,
  labelColumn: string,
  trainPart: { table: Table; name: string },
  valPart: { table: Table; name: string } | null,
): Promise<{ train: SpilledSplit; validation: SpilledSplit | null; standardization: { mean: number[]; std: number[] } | null; bytes: number }> {
  const features = trainPart.table.featureColumns.length;
  // A file that fitted while the other did not joins it on disk: one way of reading for both sides.
  const fileOf = ({ table }: { table: Table }): RowFile => {
    if (table.file) return table.file;
    const file = writeRows(scratch, table.count, features, (i) => table.features[i], (r) => table.labels[r]);
    file.endWrites();
    return file;
  };
  const rowEncoding = ({ table, name }: { table: Table; name: string }): RowEncoding => ({
    features,
    classes: classes ? { encoding, remap: classRemap(table, classes, labelColumn, name), width } : null,
    standardization: null,
  });
  const trainFile = fileOf(trainPart);
  const trainEncoding = rowEncoding(trainPart);
  const count = trainPart.table.count;
  let train: SpilledSplit;
  let validation: SpilledSplit | null = null;
  if (valPart) {
    const valEncoding = rowEncoding(valPart);
    train = new SpilledSplit(trainFile, null, count, trainEncoding);
    validation = new SpilledSplit(fileOf(valPart), null, valPart.table.count, valEncoding);
  } else if (spec.validationSplit !== undefined) {
    const [trainCount, valCount] = splitCounts(count, spec.validationSplit, trainPart.name);
    const held = spec.stratify ? stratifiedHoldOut(trainPart.table.labels, valCount, seed) : randomHoldOut(count, valCount, seed);
    // The held-out rows get a file of their own, so a validation pass reads only them.
    const valFile = scratch.createRowFile(features + 1);
    await copySelectedRows(trainFile, valFile, held);
    train = new SpilledSplit(trainFile, held, trainCount, trainEncoding);
    validation = new SpilledSplit(valFile, null, valCount, trainEncoding);
  } else {
    train = new SpilledSplit(trainFile, null, count, trainEncoding);
  }
  let standardization: { mean: number[]; std: number[] } | null = null;
  if (spec.standardize) {
    standardization = await train.featureStats();
    train = train.standardized(standardization);
    validation = validation ? validation.standardized(standardization) : null;
  }
  const bytes = trainFile.bytes + (validation ? validation.file.bytes : 0);
  return { train, validation, standardization, bytes };
}

/** Rows each side keeps under `validationSplit` (Keras's rounding); both must be at least one. */
function splitCounts(count: number, fraction: number, source: string): [number, number] {
  const trainCount = Math.floor(count * (1 - fraction));
  const valCount = count - trainCount;
  if (trainCount === 0 || valCount === 0) {
    throw new KilnError(
      'DATASET_INVALID',
      `${source}: data.validationSplit ${fraction} of ${count} rows leaves ${trainCount} for training and ${valCount} ` +
        'for validation; both need at least one row — add rows or change the fraction.',
    );
  }
  return [trainCount, valCount];
}

/**
 * Holds out the last `fraction` of a seeded permutation (Keras's rounding: training keeps
 * `floor(count × (1 − fraction))` rows), keeping file order within each side. With `strata` (a
 * class id per row) the same number of rows is held out, spread over the classes in proportion
 * to their sizes (see {@link stratifiedHoldOut}).
 */
function splitRows(
  all: Split,
  xWidth: number,
  yWidth: number,
  fraction: number,
  seed: number,
  source: string,
  strata: Float32Array | null,
): [Split, Split] {
  const [trainCount, valCount] = splitCounts(all.count, fraction, source);
  const held = strata ? stratifiedHoldOut(strata, valCount, seed) : randomHoldOut(all.count, valCount, seed);

  const train: Split = { x: new Float32Array(trainCount * xWidth), y: new Float32Array(trainCount * yWidth), count: trainCount };
  const val: Split = { x: new Float32Array(valCount * xWidth), y: new Float32Array(valCount * yWidth), count: valCount };
  let t = 0;
  let v = 0;
  for (let r = 0; r < all.count; r++) {
    const side = held[r] ? val : train;
    const at = held[r] ? v++ : t++;
    side.x.set(all.x.subarray(r * xWidth, (r + 1) * xWidth), at * xWidth);
    side.y.set(all.y.subarray(r * yWidth, (r + 1) * yWidth), at * yWidth);
  }
  return [train, val];
}

/** Marks `valCount` of `count` rows as held out: the last ones of a seeded permutation. */
function randomHoldOut(count: number, valCount: number, seed: number): Uint8Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  shuffleInPlace(order, seededRandom(seed, SPLIT_STREAM));
  const held = new Uint8Array(count);
  for (let i = count - valCount; i < count; i++) held[order[i]] = 1;
  return held;
}

/**
 * Marks `valCount` rows as held out so that each class (`strata[r]`, a small non-negative integer
 * per row) gives up its share: `n_c × valCount / count` rows rounded down, the rows left over going
 * to the classes with the largest remainders (ties to the larger class, then the lower id) — the
 * largest-remainder rule, so the shares add up to exactly `valCount`. Within a class the rows are
 * a seeded permutation's last ones, as in the plain split.
 */
export function stratifiedHoldOut(strata: ArrayLike<number>, valCount: number, seed: number): Uint8Array {
  const count = strata.length;
  let classes = 0;
  for (let r = 0; r < count; r++) classes = Math.max(classes, strata[r] + 1);
  const sizes = new Uint32Array(classes);
  for (let r = 0; r < count; r++) sizes[strata[r]]++;
  // Rows of each class, in file order, laid out class after class.
  const starts = new Uint32Array(classes + 1);
  for (let c = 0; c < classes; c++) starts[c + 1] = starts[c] + sizes[c];
  const rows = new Uint32Array(count);
  const fill = starts.slice(0, classes);
  for (let r = 0; r < count; r++) rows[fill[strata[r]]++] = r;

  // Exact integer shares (BigInt: sizes × valCount can pass 2^53 for very large files).
  const quota = new Uint32Array(classes);
  const remainder: bigint[] = [];
  let given = 0;
  for (let c = 0; c < classes; c++) {
    const product = BigInt(sizes[c]) * BigInt(valCount);
    quota[c] = Number(product / BigInt(count));
    remainder.push(product % BigInt(count));
    given += quota[c];
  }
  // The fractional parts add up to fewer than the number of classes, so one pass suffices.
  const byRemainder = Array.from({ length: classes }, (_, c) => c)
    .sort((a, b) => (remainder[b] > remainder[a] ? 1 : remainder[b] < remainder[a] ? -1 : 0) || sizes[b] - sizes[a] || a - b);
  for (let k = 0; given < valCount; k++, given++) quota[byRemainder[k]]++;

  const random = seededRandom(seed, SPLIT_STREAM);
  const held = new Uint8Array(count);
  for (let c = 0; c < classes; c++) {
    const members = shuffleInPlace(rows.subarray(starts[c], starts[c + 1]), random);
    for (let i = members.length - quota[c]; i < members.length; i++) held[members[i]] = 1;
  }
  return held;
}

/**
 * Standardises in place with the training rows' mean and population standard deviation
 * (accumulated in float64, two passes); a constant feature gets std 1 so it becomes 0, not NaN.
 */
function standardize(train: Split, validation: Split | null, width: number): { mean: number[]; std: number[] } {
  const mean = new Float64Array(width);
  const sq = new Float64Array(width);
  for (let r = 0; r < train.count; r++) for (let j = 0; j < width; j++) mean[j] += train.x[r * width + j];
  for (let j = 0; j < width; j++) mean[j] /= train.count;
  for (let r = 0; r < train.count; r++) {
    for (let j = 0; j < width; j++) {
      const d = train.x[r * width + j] - mean[j];
      sq[j] += d * d;
    }
  }
  const std = Array.from(sq, (s) => Math.sqrt(s / train.count) || 1);
  for (const side of validation ? [train, validation] : [train]) {
    for (let r = 0; r < side.count; r++) {
      for (let j = 0; j < width; j++) {
        const k = r * width + j;
        side.x[k] = (side.x[k] - mean[j]) / std[j];
      }
    }
  }
  return { mean: Array.from(mean), std };
}
