import type { ModelHandle, WeightsSnapshot } from '../../core/callbacks/model-handle';
import type { WeightValues } from '../tensorboard/tensorboard-logger';

/** A model serialised in the TensorFlow.js layers format: model.json plus one weights file. */
export interface SerializedModel {
  modelJson: Record<string, unknown>;
  weights: Buffer;
}

/** The model's whole training state as bytes: what a backup stores besides `state.json`. */
export interface EncodedTrainingState {
  weights: Buffer;
  optimizer: Buffer;
}

/**
 * The worker callbacks' view of the model: core's {@link ModelHandle} plus what only the worker
 * needs (bytes for backups, weight values for TensorBoard). worker/tfjs implements it
 * (`TfjsModelHandle`); this folder never imports tfjs, so its callbacks test on a fake.
 */
export interface TrainingModel extends ModelHandle {
  /** The weights and optimizer slots as bytes. */
  encodeTrainingState(): EncodedTrainingState;
  /** Puts back what {@link encodeTrainingState} encoded (same architecture and optimizer). */
  restoreTrainingState(state: EncodedTrainingState): void;
  /** A snapshot's values as bytes (EarlyStopping's best weights in a backup). */
  encodeSnapshot(snapshot: WeightsSnapshot): Buffer;
  /** A snapshot from {@link encodeSnapshot}'s bytes; the caller owns it. */
  decodeSnapshot(bytes: Buffer): WeightsSnapshot;
  /** Every weight's current values, by full name (TensorBoard histograms). */
  weightValues(): WeightValues[];
}
