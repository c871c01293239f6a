import { Callback } from '../../core/callbacks/callback';
import type { Logs } from '../../core/callbacks/model-handle';
import type { SchemaTensorBoardSpec } from '../../core/api.gen';
import { TensorBoardLogger, type WeightValues } from '../tensorboard/tensorboard-logger';

/**
 * Keras's TensorBoard callback for Kiln: feeds the run's logs to the event-file writer and hands
 * each event file's bytes to `upload` at every epoch end. Store objects cannot be appended to, so
 * each upload carries the file's whole content so far (event files stay small: scalars per epoch and
 * compact histograms). An observer: a failure is counted and reported, never fatal.
 */
export class TensorBoard extends Callback {
  override readonly name = 'TensorBoard';
  override readonly role = 'observer' as const;
  private readonly logger: TensorBoardLogger;
  private readonly files = new Map<string, Buffer[]>();
  private readonly dirty = new Set<string>();
  private globalStep = 0;

  constructor(
    spec: SchemaTensorBoardSpec,
    getWeights: () => WeightValues[],
    private readonly upload: (relativePath: string, content: Buffer) => Promise<void>,
  ) {
    super();
    this.logger = new TensorBoardLogger({
      histogramFreq: spec.histogramFreq ?? 0,
      updateFreq: spec.updateFreq ?? 'epoch',
      sink: (path, bytes) => {
        const parts = this.files.get(path) ?? [];
        parts.push(bytes);
        this.files.set(path, parts);
        this.dirty.add(path);
      },
    }, getWeights);
  }

  override async onTrainBegin(): Promise<void> {
    this.globalStep = 0;
    this.logger.onTrainBegin();
  }

  override async onBatchEnd(_batch: number, logs?: Logs): Promise<void> {
    this.globalStep += 1;
    this.logger.onBatchEnd(this.globalStep, logs ?? {});
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    const l = logs ?? {};
    this.logger.onEpochEnd(epoch, l, l.learning_rate ?? this.model.getLearningRate());
    for (const path of [...this.dirty]) {
      this.dirty.delete(path);
      await this.upload(path, Buffer.concat(this.files.get(path) ?? []));
    }
  }
}
