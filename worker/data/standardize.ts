import type { Split } from './split';

/** Per-feature statistics of the training rows (`data.standardize`), saved with the model. */
export interface Standardization {
  mean: number[];
  std: number[];
}

/**
 * Standardises in place with the training rows' mean and population standard deviation
 * (accumulated in float64, two passes); a constant feature gets std 1 so it becomes 0, not NaN.
 */
export function standardize(train: Split, validation: Split | null, width: number): Standardization {
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
