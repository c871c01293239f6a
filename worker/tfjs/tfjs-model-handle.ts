import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SaveRequest, WeightsSnapshot } from '../../core/callbacks/model-handle';
import type { EncodedTrainingState, SerializedModel, TrainingModel } from '../callbacks/training-model';
import { decodeTensors, encodeModelWeights, encodeOptimizer, encodeTensors, restoreModelWeights, restoreOptimizer } from './training-state';

class TensorSnapshot implements WeightsSnapshot {
  constructor(public tensors: tf.Tensor[] | null) {}
  dispose(): void {
    this.tensors?.forEach((t) => t.dispose());
    this.tensors = null;
  }
}

/**
 * The callbacks' view of a tfjs LayersModel. Snapshots are clones (getWeights() returns the live
 * variables); learning-rate changes go through `setLearningRate` where the optimizer has it, since
 * tfjs SGD and Momentum ignore assignments to `.learningRate`.
 */
export class TfjsModelHandle implements TrainingModel {
  constructor(
    private readonly model: LayersModel,
    private readonly saver: (request: SaveRequest, model: SerializedModel) => Promise<void>,
    private readonly metadata: Record<string, unknown> = {},
  ) {}

  get stopTraining(): boolean {
    return this.model.stopTraining;
  }

  set stopTraining(value: boolean) {
    this.model.stopTraining = value;
  }

  getLearningRate(): number {
    return (this.model.optimizer as unknown as { learningRate: number }).learningRate;
  }

  setLearningRate(lr: number): void {
    const opt = this.model.optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
    if (typeof opt.setLearningRate === 'function') opt.setLearningRate(lr);
    // SGD's setLearningRate also rebuilds its cached scalar; the plain field serves the others.
    opt.learningRate = lr;
  }

  snapshotWeights(): WeightsSnapshot {
    return new TensorSnapshot(this.model.getWeights().map((w) => w.clone()));
  }

  restoreWeights(snapshot: WeightsSnapshot): void {
    const tensors = (snapshot as TensorSnapshot).tensors;
    if (!tensors) throw new Error('restoreWeights: the snapshot was already disposed');
    this.model.setWeights(tensors);
  }

  encodeTrainingState(): EncodedTrainingState {
    return { weights: encodeModelWeights(this.model), optimizer: encodeOptimizer(this.model.optimizer) };
  }

  restoreTrainingState(state: EncodedTrainingState): void {
    restoreModelWeights(this.model, state.weights);
    restoreOptimizer(this.model.optimizer, state.optimizer);
  }

  /** A snapshot's values as bytes, for backups (EarlyStopping's best weights). */
  encodeSnapshot(snapshot: WeightsSnapshot): Buffer {
    const tensors = (snapshot as TensorSnapshot).tensors;
    if (!tensors) throw new Error('encodeSnapshot: the snapshot was already disposed');
    return encodeTensors(tensors);
  }

  /** A snapshot from {@link encodeSnapshot}'s bytes; the caller owns it. */
  decodeSnapshot(bytes: Buffer): WeightsSnapshot {
    return new TensorSnapshot(decodeTensors(bytes));
  }

  /** Every weight's current values, by full name (for TensorBoard histograms). */
  weightValues(): Array<{ name: string; values: Float32Array }> {
    return this.model.weights.map((w) => ({ name: w.originalName ?? w.name, values: w.read().dataSync() as Float32Array }));
  }

  async save(request: SaveRequest): Promise<void> {
    await this.saver(request, await serializeModel(this.model, this.metadata));
  }
}

/** Serialises a model to model.json + weights.bin (the weights are copied out before this resolves). */
export async function serializeModel(model: LayersModel, metadata: Record<string, unknown> = {}): Promise<SerializedModel> {
  let captured: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    captured = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const a = captured as unknown as tf.io.ModelArtifacts;
  const data = a.weightData;
  const parts: ArrayBuffer[] = data === undefined ? [] : Array.isArray(data) ? data : [data];
  const weights = Buffer.concat(parts.map((p) => Buffer.from(p)));
  const modelJson: Record<string, unknown> = {
    format: a.format ?? 'layers-model',
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
    ...(a.trainingConfig ? { trainingConfig: a.trainingConfig } : {}),
    userDefinedMetadata: { kiln: metadata },
  };
  return { modelJson, weights };
}
