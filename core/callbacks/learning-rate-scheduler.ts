import type { SchemaLearningRateSchedulerSpec } from '../api.gen';
import { Callback } from './callback';
import type { Logs } from './model-handle';
import { pyFloatRepr } from './python-format';

type Schedule = SchemaLearningRateSchedulerSpec['schedule'];
type Warmup = NonNullable<SchemaLearningRateSchedulerSpec['warmup']>;

/**
 * The learning rate for a 0-based epoch under a declarative schedule (the contract's formulas).
 * With a warm-up of W epochs, epochs 0..W-1 ramp linearly from `startLr` (at epoch 0) towards
 * `lr0`, and the schedule then runs on `epoch - W`, so it starts from `lr0` at epoch W.
 * `piecewise` follows Keras `PiecewiseConstantDecay`: values[0] while epoch <= boundaries[0],
 * values[i] while boundaries[i-1] < epoch <= boundaries[i], the last value after.
 */
export function scheduledRate(schedule: Schedule, warmup: Warmup | undefined, lr0: number, epoch: number): number {
  const w = warmup?.epochs ?? 0;
  if (warmup && epoch < w) {
    const start = warmup.startLr ?? 0;
    return start + ((lr0 - start) * epoch) / w;
  }
  const e = epoch - w;
  switch (schedule.type) {
    case 'step':
      return lr0 * Math.pow(schedule.gamma ?? 0.1, Math.floor(e / schedule.stepSize));
    case 'exponential': {
      const p = e / (schedule.decayEpochs ?? 1);
      return lr0 * Math.pow(schedule.decayRate, schedule.staircase ? Math.floor(p) : p);
    }
    case 'cosine': {
      const alpha = schedule.alpha ?? 0;
      const d = schedule.decayEpochs;
      return lr0 * (((1 - alpha) * (1 + Math.cos((Math.PI * Math.min(e, d)) / d))) / 2 + alpha);
    }
    case 'piecewise': {
      let i = 0;
      while (i < schedule.boundaries.length && e > schedule.boundaries[i]) i++;
      return schedule.values[i];
    }
  }
}

/** LearningRateScheduler options. */
export interface LearningRateSchedulerOptions {
  schedule: Schedule;
  /** @defaultValue no warm-up */
  warmup?: Warmup;
  /** The compiled learning rate (`lr0` in the formulas). */
  initialLearningRate: number;
  /** > 0 prints Keras's "setting learning rate" message at each epoch begin. @defaultValue `0` */
  verbose?: number;
}

/**
 * Keras `keras/src/callbacks/learning_rate_scheduler.py` with a declarative schedule instead of
 * user code: sets the rate at each epoch begin, logs `learning_rate` (float32) at each epoch end.
 */
export class LearningRateScheduler extends Callback {
  override readonly name = 'LearningRateScheduler';
  readonly schedule: Schedule;
  readonly warmup?: Warmup;
  readonly initialLearningRate: number;
  readonly verbose: number;

  constructor(opts: LearningRateSchedulerOptions) {
    super();
    this.verbose = opts.verbose ?? 0;
    this.schedule = opts.schedule;
    this.warmup = opts.warmup;
    this.initialLearningRate = opts.initialLearningRate;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const lr = scheduledRate(this.schedule, this.warmup, this.initialLearningRate, epoch);
    if (!Number.isFinite(lr) || lr < 0) {
      throw new RangeError(`LearningRateScheduler produced learning rate ${lr} at epoch ${epoch}`);
    }
    const from = Math.fround(this.model.getLearningRate());
    this.model.setLearningRate(lr);
    // Keras prints the schedule's own (float64) value, not the float32 variable.
    if (this.verbose > 0) this.log.print(`\nEpoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${pyFloatRepr(lr)}.`);
    if (Math.fround(lr) !== from) {
      this.emit({ type: 'learning_rate_changed', epoch, by: 'LearningRateScheduler', from, to: Math.fround(lr) });
    }
  }

  override async onEpochEnd(_epoch: number, logs: Logs = {}): Promise<void> {
    logs.learning_rate = Math.fround(this.model.getLearningRate());
  }
}
