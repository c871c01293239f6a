import * as tf from '@tensorflow/tfjs-core';
import type { History, LayersModel } from '@tensorflow/tfjs-layers';
import { shuffledIndices } from '../data/seeded-random';
import { releaseModelCaches } from './memory';

/** Rows of one split as typed arrays (what dataset loading produces). */
export interface ArraySplit {
  x: Float32Array;
  y: Float32Array;
  count: number;
}

export interface BatchHooks {
  onBatchBegin(batch: number): Promise<void>;
  onBatchEnd(batch: number, logs: Record<string, number>): Promise<void>;
}

/** What a validation pass predicted, for the metrics tfjs lacks (worker/training/extra-metrics.ts, used by fit-loop.ts). */
export interface ValidationPredictions {
  /** `rows × label width` targets. */
  yTrue: Float32Array;
  /** `rows × classes` model outputs. */
  yPred: Float32Array;
  classes: number;
}

/**
 * Runs one job's model over its data one epoch at a time. Each epoch is its own `fit` (or
 * `fitDataset`) call, so Kiln controls the epoch boundary: its own seeded shuffle, its own
 * validation pass, and resuming at any epoch. Everything it allocates is released by `dispose()`
 * (the sandbox process is reused). {@link ArrayTrainingSession} holds the data as tensors;
 * `FileTrainingSession` (file-training-session.ts) reads it batch by batch from scratch files.
 */
export interface TrainingSession {
  readonly model: LayersModel;
  readonly hasValidation: boolean;
  /**
   * Trains one epoch and returns its training logs with tfjs's metric names (sample-weighted means
   * over the batches, as `fit` reports them). With a `shuffleSeed` the row order is a pure
   * function of `(shuffleSeed, epoch)`, so a resumed run replays it; null keeps stored order.
   * `hooks` run around every batch; setting `model.stopTraining` in one ends the epoch there.
   */
  trainEpoch(epoch: number, batchSize: number, shuffleSeed: number | null, hooks: BatchHooks): Promise<Record<string, number>>;
  /** Loss and compiled metrics on the validation side, with tfjs names prefixed `val_`; {} without one. */
  evaluateValidation(batchSize: number): Promise<Record<string, number>>;
  /** The model's outputs on the validation side and the true labels; null without one. */
  predictValidation(batchSize: number): Promise<ValidationPredictions | null>;
  dispose(): void;
}

/**
 * A {@link TrainingSession} over data held in memory: tensors of both sides made once, and every
 * shuffled epoch a gathered copy of the training tensors in `shuffledIndices(count, seed, epoch)`
 * order.
 */
export class ArrayTrainingSession implements TrainingSession {
  private readonly x: tf.Tensor;
  private readonly y: tf.Tensor;
  private readonly xVal: tf.Tensor | null;
  private readonly yVal: tf.Tensor | null;

  constructor(
    readonly model: LayersModel,
    train: ArraySplit,
    validation: ArraySplit | null,
    featureShape: number[],
    labelShape: number[],
  ) {
    const yShape = labelShape.length === 0 ? [1] : labelShape;
    // All four or none: a shape that does not fit (or wasm memory running out) on a later tensor
    // must not leave the earlier ones behind in the reused sandbox.
    const made: tf.Tensor[] = [];
    const make = (values: Float32Array, shape: number[]) => {
      const t = tf.tensor(values, shape, 'float32');
      made.push(t);
      return t;
    };
    try {
      this.x = make(train.x, [train.count, ...featureShape]);
      this.y = make(train.y, [train.count, ...yShape]);
      this.xVal = validation ? make(validation.x, [validation.count, ...featureShape]) : null;
      this.yVal = validation ? make(validation.y, [validation.count, ...yShape]) : null;
    } catch (err) {
      for (const t of made) t.dispose();
      throw err;
    }
  }

  get hasValidation(): boolean {
    return this.xVal !== null;
  }

  async trainEpoch(epoch: number, batchSize: number, shuffleSeed: number | null, hooks: BatchHooks): Promise<Record<string, number>> {
    const order = shuffleSeed === null ? null : shuffledIndices(this.x.shape[0], shuffleSeed, epoch);
    const [xs, ys] = order
      ? tf.tidy(() => {
          const idx = tf.tensor1d(Int32Array.from(order), 'int32');
          return [tf.gather(this.x, idx), tf.gather(this.y, idx)];
        })
      : [this.x, this.y];
    try {
      const history = await this.model.fit(xs, ys, {
        epochs: epoch + 1,
        initialEpoch: epoch,
        batchSize,
        shuffle: false,
        verbose: 0,
        callbacks: relayBatches(hooks),
      });
      return epochLogs(history);
    } finally {
      if (order) {
        xs.dispose();
        ys.dispose();
      }
    }
  }

  async evaluateValidation(batchSize: number): Promise<Record<string, number>> {
    if (!this.xVal || !this.yVal) return {};
    return validationLogs(this.model, this.model.evaluate(this.xVal, this.yVal, { batchSize, verbose: 0 }));
  }

  async predictValidation(batchSize: number): Promise<ValidationPredictions | null> {
    if (!this.xVal || !this.yVal) return null;
    const pred = this.model.predict(this.xVal, { batchSize }) as tf.Tensor;
    const yPred = pred.dataSync() as Float32Array;
    const classes = pred.shape[pred.shape.length - 1] ?? 1;
    pred.dispose();
    return { yTrue: this.yVal.dataSync() as Float32Array, yPred, classes };
  }

  dispose(): void {
    for (const t of [this.x, this.y, this.xVal, this.yVal]) t?.dispose();
    // compileModel marks the optimizer as the model's, so this frees its slots (Adam moments, …) too.
    this.model.dispose();
    // tfjs-layers' executor caches would otherwise keep this model's layer graph alive.
    releaseModelCaches();
  }
}

/** The epoch's logs from a one-epoch `fit` / `fitDataset` history. */
export function epochLogs(history: History): Record<string, number> {
  const logs: Record<string, number> = {};
  for (const [name, values] of Object.entries(history.history)) {
    const last = values[values.length - 1];
    logs[name] = typeof last === 'number' ? last : (last as tf.Tensor).dataSync()[0];
  }
  return logs;
}

/** `val_`-prefixed logs from what `evaluate` / `evaluateDataset` returned; disposes the scalars. */
export function validationLogs(model: LayersModel, out: tf.Scalar | tf.Scalar[]): Record<string, number> {
  const scalars = Array.isArray(out) ? out : [out];
  const logs: Record<string, number> = {};
  model.metricsNames.forEach((name, i) => {
    logs[`val_${name}`] = scalars[i].dataSync()[0];
  });
  scalars.forEach((s) => s.dispose());
  return logs;
}

/** Batch logs as plain numbers, without tfjs's `batch` and `size` entries. */
/**
 * The tfjs callbacks of one epoch's `fit`/`fitDataset`: Kiln runs the epoch-level callbacks itself
 * after its validation pass, so tfjs only relays batches.
 */
export function relayBatches(hooks: BatchHooks) {
  return {
    onBatchBegin: async (batch: number) => hooks.onBatchBegin(batch),
    onBatchEnd: async (batch: number, logs?: Record<string, unknown>) => hooks.onBatchEnd(batch, numericLogs(logs)),
  };
}

export function numericLogs(logs?: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(logs ?? {})) {
    if (k === 'batch' || k === 'size') continue;
    if (typeof v === 'number') out[k] = v;
    else if (v instanceof tf.Tensor) out[k] = v.dataSync()[0];
  }
  return out;
}
