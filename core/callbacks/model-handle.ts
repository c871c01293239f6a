/**
 * The narrow view of a model that callbacks get. The worker implements it over a tfjs LayersModel
 * (worker/tfjs/); the simulator and unit tests implement it over plain numbers. Callbacks never
 * import tfjs, so their decisions are pure and testable without it.
 */

/** Epoch- or batch-end logs with Keras metric names (`loss`, `val_accuracy`, `learning_rate`). */
export type Logs = Record<string, number>;

/** An owned copy of the model's weights. The holder must `dispose()` it when done. */
export interface WeightsSnapshot {
  /** Frees the copy. Calling it twice is harmless. */
  dispose(): void;
}

/** What a checkpoint save carries, besides the weights themselves. */
export interface SaveRequest {
  /** The formatted filepath template (relative, `/`-separated, already checked for `..`). */
  path: string;
  /** Save only the weights (Keras `save_weights_only`). */
  weightsOnly: boolean;
  /** 0-based epoch the save belongs to. */
  epoch: number;
  /** 0-based batch index for `saveFreq: <N batches>` saves; undefined for epoch-end saves. */
  batch?: number;
  /** The logs at the time of the save. */
  logs: Logs;
  /**
   * The monitored quantity when the save is a "best so far" save (saveBestOnly), so the run's
   * `best.json` can follow it. Absent for unconditional saves.
   */
  best?: { monitor: string; value: number; mode: 'min' | 'max' };
}

export interface ModelHandle {
  /** Set to true to stop training at the end of the current batch (Keras `model.stop_training`). */
  stopTraining: boolean;
  /** The optimizer's current learning rate. */
  getLearningRate(): number;
  /**
   * Sets the optimizer's learning rate; takes effect from the next optimizer step. Works for every
   * optimizer kind (SGD/Momentum need tfjs `setLearningRate()`; the others read the property).
   */
  setLearningRate(lr: number): void;
  /** Copies the current weights (the model keeps training on its own). */
  snapshotWeights(): WeightsSnapshot;
  /** Overwrites the model's weights with a snapshot's values. The snapshot stays owned by the caller. */
  restoreWeights(snapshot: WeightsSnapshot): void;
  /**
   * Saves a checkpoint through the artifact store. Resolves once the weights have been copied out
   * of the model; the upload itself continues in the background and never stalls training.
   */
  save(request: SaveRequest): Promise<void>;
}
