import type { ModelHandle, SaveRequest, WeightsSnapshot } from '../../../core/callbacks/model-handle';

/**
 * A ModelHandle over plain numbers for hook tests: its "weights" are the epoch they were set at
 * (as Keras's own tests do with a DummyModel), snapshots are counted so leaks show.
 */
export class FakeModel implements ModelHandle {
  stopTraining = false;
  weights = -1;
  lr: number;
  readonly saves: SaveRequest[] = [];
  liveSnapshots = 0;
  lrSets: number[] = [];

  constructor(lr = 0.01) {
    this.lr = lr;
  }

  getLearningRate(): number {
    return this.lr;
  }

  setLearningRate(lr: number): void {
    this.lr = Math.fround(lr);
    this.lrSets.push(this.lr);
  }

  snapshotWeights(): WeightsSnapshot & { value: number } {
    this.liveSnapshots++;
    let disposed = false;
    return {
      value: this.weights,
      dispose: () => {
        if (!disposed) this.liveSnapshots--;
        disposed = true;
      },
    };
  }

  restoreWeights(snapshot: WeightsSnapshot): void {
    this.weights = (snapshot as WeightsSnapshot & { value: number }).value;
  }

  async save(request: SaveRequest): Promise<void> {
    this.saves.push(request);
  }
}
