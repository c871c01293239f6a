import type { SchemaBuiltinDataSpec } from './api.gen';

/** Name of a dataset shipped with Kiln (`data.builtin`). */
export type BuiltinDatasetName = SchemaBuiltinDataSpec['builtin'];

/**
 * What the API needs to know about a built-in dataset to check a job at submission (input shape,
 * output units, reshape products) without reading the file.
 */
export interface BuiltinDatasetFacts {
  /** Data rows (the header excluded). */
  readonly rows: number;
  /** Number of feature columns, i.e. the length of one sample before any `reshape`. */
  readonly features: number;
  /**
   * Label values in class-index order: the order the worker's loader assigns (numbers ascending,
   * then strings by code unit), so `classes[i]` is output unit / sparse index `i`.
   */
  readonly classes: readonly string[];
  /** Feature columns in file order. */
  readonly featureColumns: readonly string[];
  /** Column holding the label. */
  readonly labelColumn: string;
}

const pixelColumns: readonly string[] = Array.from({ length: 64 }, (_, i) => `pixel_${i}`);

/**
 * Facts about `worker/data/builtin/<name>.csv`, written down once from the files (a worker test
 * checks that they still agree). Kept here, free of I/O, because `core/` is shared with the API.
 */
export const BUILTIN_DATASETS: { readonly [N in BuiltinDatasetName]: BuiltinDatasetFacts } = {
  iris: {
    rows: 150,
    features: 4,
    classes: ['setosa', 'versicolor', 'virginica'],
    featureColumns: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
    labelColumn: 'label',
  },
  wine: {
    rows: 178,
    features: 13,
    classes: ['class_0', 'class_1', 'class_2'],
    featureColumns: [
      'alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids',
      'nonflavanoid_phenols', 'proanthocyanins', 'color_intensity', 'hue', 'od280_od315', 'proline',
    ],
    labelColumn: 'label',
  },
  digits: {
    rows: 1797,
    features: 64,
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    featureColumns: pixelColumns,
    labelColumn: 'label',
  },
};
