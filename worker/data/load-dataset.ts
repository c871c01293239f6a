import type { SchemaDataSpec, SchemaStoreDataSpec } from '../../core/api.gen';
import { checkDataSplit } from '../../core/check-data-spec';
import { KilnError } from '../../core/errors';
import { encodeTargets, trainingClasses } from './classes';
import { isClassification, labelEncodingForLoss, labelWidth } from './label-encoding';
import { formatChoices, readerFor } from './readers';
import { readTable } from './read-table';
import type { ScratchFiles } from './scratch-files';
import { builtinSource, storeSource, type StoreAccess, type TableSource } from './sources';
import { spilledSides, type SpillPlan } from './spill';
import { splitRows, type Split } from './split';
import type { SpilledSplit } from './spilled-split';
import { standardize, type Standardization } from './standardize';
import { tableBytes } from './table';

/**
 * A job's dataset, from its spec to what training reads: sources.ts opens each file, the format's
 * reader (readers.ts) parses it, read-table.ts checks the cells, classes.ts and split.ts make the
 * targets and the validation side, standardize.ts the statistics, and spill.ts takes over past
 * the memory budget. This file only puts them in order.
 */

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
  standardization: Standardization | null;
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
export interface LoadDatasetOptions extends StoreAccess {
  /** The job's `compile.loss`; it decides the label encoding. */
  loss: string;
  /**
   * Seed of the validation split. A fixed default rather than a random one, so a resumed run
   * (another process) holds out the same rows. @defaultValue 0
   */
  seed?: number;
  /**
   * Folder holding `<name>.csv` for built-in datasets.
   * @defaultValue `builtin/` beside sources.ts, else the source tree's `worker/data/builtin/`
   */
  builtinDir?: string;
}

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
  const format: string = store?.format ?? 'csv';
  const reader = readerFor(format);
  if (reader === null) {
    throw new KilnError('DATASET_INVALID', `data.format '${String(format)}' is not supported; use ${formatChoices()}.`);
  }
  const [split] = checkDataSplit(spec, opts.loss);
  if (split) throw new KilnError('DATASET_INVALID', split.detail, { errors: [split] });

  const trainSource: TableSource = store
    ? storeSource(store.uri, 'data.uri', reader, opts)
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
  const valSource = store?.validation ? storeSource(store.validation.uri, 'data.validation.uri', reader, opts) : null;
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
