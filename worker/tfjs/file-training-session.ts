import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { releaseModelCaches } from './memory';
import { epochLogs, relayBatches, validationLogs, type BatchHooks, type TrainingSession, type ValidationPredictions } from './training-session';

/** One batch of rows as typed arrays (row-major), ready to become tensors. */
export interface ArrayBatch {
  x: Float32Array;
  y: Float32Array;
  count: number;
}

/** Rows read batch by batch (worker/data/spilled-split.ts's `SpilledSplit`). */
export interface BatchSource {
  readonly count: number;
  /**
   * The rows in batches of `batchSize` (the last may be smaller): in an order that is a pure
   * function of `(seed, epoch)`, or stored order when `seed` is null. Each batch has new arrays.
   */
  batches(batchSize: number, seed: number | null, epoch: number): AsyncIterable<ArrayBatch>;
}

/** The structural dataset `fitDataset` / `evaluateDataset` accept (tfjs-layers' dataset_stub). */
interface BatchDataset {
  size: number;
  iterator(): Promise<{ next(): Promise<IteratorResult<{ xs: tf.Tensor; ys: tf.Tensor }>> }>;
}

/**
 * A {@link TrainingSession} whose rows stay out of memory: each batch is read, standardised and
 * encoded by a {@link BatchSource} and becomes a pair of tensors only for its training step
 * (`model.fitDataset`, which disposes them after the step). tfjs runs the epoch as `fit` would:
 * the same batch hooks, `stopTraining` honoured after every batch, and epoch logs that are the
 * sample-weighted means of the batch logs (its BaseLogger). Validation is streamed the same way
 * (`evaluateDataset`: sample-weighted means over the batches, equal to `evaluate` on the whole
 * side up to float rounding). Live tensors: the model's, plus one batch at a time.
 */
export class FileTrainingSession implements TrainingSession {
  private readonly yShape: number[];
  /** The latest batch's tensors: tfjs disposes them after the step, but not when the step throws. */
  private batchTensors: tf.Tensor[] = [];

  constructor(
    readonly model: LayersModel,
    private readonly train: BatchSource,
    private readonly validation: BatchSource | null,
    private readonly featureShape: number[],
    labelShape: number[],
  ) {
    this.yShape = labelShape.length === 0 ? [1] : labelShape;
  }

  get hasValidation(): boolean {
    return this.validation !== null;
  }

  async trainEpoch(epoch: number, batchSize: number, shuffleSeed: number | null, hooks: BatchHooks): Promise<Record<string, number>> {
    try {
      const history = await this.model.fitDataset(this.dataset(this.train, batchSize, shuffleSeed, epoch) as never, {
        epochs: epoch + 1,
        initialEpoch: epoch,
        verbose: 0,
        callbacks: relayBatches(hooks),
      });
      return epochLogs(history);
    } finally {
      this.releaseBatch();
    }
  }

  async evaluateValidation(batchSize: number): Promise<Record<string, number>> {
    if (!this.validation) return {};
    try {
      const out = await this.model.evaluateDataset(this.dataset(this.validation, batchSize, null, 0) as never, {});
      return validationLogs(this.model, out);
    } finally {
      this.releaseBatch();
    }
  }

  /**
   * Holds `rows × classes` predicted values and `rows × label width` targets of the validation
   * side (what the extra metrics need) — small while the classes are few, but not bounded by the
   * dataset memory.
   */
  async predictValidation(batchSize: number): Promise<ValidationPredictions | null> {
    if (!this.validation) return null;
    let yPred: Float32Array | null = null;
    let yTrue: Float32Array | null = null;
    let classes = 1;
    let at = 0;
    for await (const batch of this.validation.batches(batchSize, null, 0)) {
      const values = tf.tidy(() => {
        const xs = tf.tensor(batch.x, [batch.count, ...this.featureShape], 'float32');
        return this.model.predict(xs) as tf.Tensor;
      });
      const predicted = values.dataSync() as Float32Array;
      if (yPred === null || yTrue === null) {
        classes = values.shape[values.shape.length - 1] ?? 1;
        yPred = new Float32Array(this.validation.count * classes);
        yTrue = new Float32Array(this.validation.count * (batch.y.length / batch.count));
      }
      values.dispose();
      yPred.set(predicted, at * classes);
      yTrue.set(batch.y, at * (batch.y.length / batch.count));
      at += batch.count;
    }
    if (yPred === null || yTrue === null) return null;
    return { yTrue, yPred, classes };
  }

  dispose(): void {
    // compileModel marks the optimizer as the model's, so this frees its slots (Adam moments, …) too.
    this.model.dispose();
    // tfjs-layers' executor caches would otherwise keep this model's layer graph alive.
    releaseModelCaches();
  }

  private releaseBatch(): void {
    for (const t of this.batchTensors) if (!t.isDisposed) t.dispose();
    this.batchTensors = [];
  }

  /** A source's batches as a tfjs dataset of tensor pairs, made one batch at a time. */
  private dataset(source: BatchSource, batchSize: number, seed: number | null, epoch: number): BatchDataset {
    return {
      size: Math.ceil(source.count / batchSize),
      iterator: async () => {
        const batches = source.batches(batchSize, seed, epoch)[Symbol.asyncIterator]();
        return {
          next: async () => {
            const step = await batches.next();
            if (step.done) return { done: true, value: undefined };
            const { x, y, count } = step.value;
            const xs = tf.tensor(x, [count, ...this.featureShape], 'float32');
            const ys = tf.tensor(y, [count, ...this.yShape], 'float32');
            this.batchTensors = [xs, ys];
            return { done: false, value: { xs, ys } };
          },
        };
      },
    };
  }
}
