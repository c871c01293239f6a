import { KilnError } from '../../core/errors';
import type { ColumnWords } from './dataset-reader';
import { Float32Builder } from './float32-builder';
import { DECIMAL, canonicalLabel, isClassification, type LabelEncoding } from './label-encoding';
import type { RowFile } from './row-file';
import type { TableSource } from './sources';
import type { SpillPlan } from './spill';
import { NO_VALUES, writeRows, type Table } from './table';

/** More distinct labels than this under a classification loss is almost surely a regression target. */
export const MAX_CLASSES = 10_000;

/** Which columns of a file {@link readTable} reads, and how. */
export interface TablePlan {
  labelColumn: string;
  /** Columns to read as features, in order; undefined = every column but the label, in file order. */
  featureColumns: readonly string[] | undefined;
  featureColumnsField: string;
  reshape: readonly number[] | undefined;
  encoding: LabelEncoding;
  /** For a validation file: the name of the training file whose columns it must have. */
  sameAs: string | null;
}

const FIRST_WORDS: ColumnWords = { header: 'the header', column: 'column', inHeader: '' };

/**
 * Reads one file through its format's reader into float32 features and per-row labels (numeric
 * values, or provisional class ids in first-seen order), checking every cell. With `spill`, the
 * row that takes the parsed values past `spill.limitBytes` moves every row so far, and each later
 * one, to a scratch file.
 */
export async function readTable(source: TableSource, plan: TablePlan, spill: SpillPlan | null): Promise<Table> {
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
  let words = FIRST_WORDS;
  let count = 0;

  const invalid = (detail: string): KilnError => new KilnError('DATASET_INVALID', `${source.name}: ${detail}`);
  const missing = (where: string, key: string): KilnError =>
    invalid(`${where} has no key '${key}'; every object needs the label key '${plan.labelColumn}' and each feature key.`);

  const onHeader = (header: string[], w: ColumnWords): void => {
    words = w;
    ({ featureIndex, featureColumns, labelIndex } = resolveColumns(header, plan, w, invalid));
  };
  const onRow = (cells: readonly unknown[], line: number): void => {
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
  };
  const hasRows = await source.reader.read(await source.open(), source.name, plan.featureColumns === undefined, { onHeader, onRow, invalid });

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

