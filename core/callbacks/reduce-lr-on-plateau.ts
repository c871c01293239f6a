import { int, stateObject, type JsonValue } from './callback-state';
import type { Logs } from './model-handle';
import { MonitorCallback } from './monitor-callback';
import { pyFloatRepr } from './python-format';

/** ReduceLROnPlateau options (Keras arguments in camelCase). */
export interface ReduceLROnPlateauOptions {
  /** @defaultValue `'val_loss'` */
  monitor?: string;
  /** New rate = max(rate * factor, minLr); must be below 1 (0 sends the rate to minLr). @defaultValue `0.1` */
  factor?: number;
  /** @defaultValue `10` */
  patience?: number;
  /** `auto`, `min` or `max` (anything else: a warning and `auto`, as in Keras). @defaultValue `'auto'` */
  mode?: string;
  /** @defaultValue `1e-4` */
  minDelta?: number;
  /** @defaultValue `0` */
  cooldown?: number;
  /** @defaultValue `0` */
  minLr?: number;
  /** Compiled metric names, for `auto` mode. @defaultValue `[]` */
  compiledMetrics?: readonly string[];
  /** > 0 prints Keras's "reducing learning rate" message to the training log. @defaultValue `0` */
  verbose?: number;
}

/**
 * Keras `keras/src/callbacks/reduce_lr_on_plateau.py`. At each epoch end it first logs the rate
 * the epoch used as `learning_rate` (float32, as Keras reads the optimizer variable), then: in
 * cooldown it counts down and clears `wait`; an improvement resets `wait`; otherwise, outside
 * cooldown, `wait` grows and at `patience` the rate becomes `max(rate * factor, minLr)` (only if
 * the rate is still above float32(minLr)) and cooldown starts. The new rate applies from the next
 * epoch.
 */
export class ReduceLROnPlateau extends MonitorCallback {
  override readonly name = 'ReduceLROnPlateau';
  readonly factor: number;
  readonly patience: number;
  readonly cooldown: number;
  readonly minLr: number;
  wait = 0;
  cooldownCounter = 0;

  constructor(opts: ReduceLROnPlateauOptions = {}) {
    super({ monitor: opts.monitor, mode: opts.mode, minDelta: opts.minDelta ?? 1e-4, compiledMetrics: opts.compiledMetrics, verbose: opts.verbose });
    this.factor = opts.factor ?? 0.1;
    if (!(this.factor < 1)) throw new RangeError(`ReduceLROnPlateau does not support a factor >= 1.0. Received factor=${pyFloatRepr(this.factor)}`);
    this.patience = opts.patience ?? 10;
    this.cooldown = opts.cooldown ?? 0;
    this.minLr = opts.minLr ?? 0;
  }

  override async onTrainBegin(): Promise<void> {
    this.cooldownCounter = 0;
    this.wait = 0;
  }

  /** wait, cooldown and best; the current rate itself is the optimizer's (backed up with it). */
  override state(): JsonValue {
    return { ...this.monitorState(), wait: this.wait, cooldownCounter: this.cooldownCounter };
  }

  override restore(state: JsonValue): void {
    const s = stateObject(state, this.name);
    this.restoreMonitor(s);
    this.wait = int(s.wait, 'ReduceLROnPlateau.wait');
    this.cooldownCounter = int(s.cooldownCounter, 'ReduceLROnPlateau.cooldownCounter');
  }

  inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    if (this.monitorOp === null) this.setMonitorOp();
    logs.learning_rate = Math.fround(this.model.getLearningRate());
    const current = logs[this.monitor];
    if (current === undefined) {
      this.log.warn(`Learning rate reduction is conditioned on metric \`${this.monitor}\` which is not available. Available metrics are: ${Object.keys(logs).join(',')}.`);
      return;
    }
    if (this.inCooldown()) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.wait = 0;
    } else if (!this.inCooldown()) {
      this.wait += 1;
      if (this.wait >= this.patience) {
        const oldLr = Math.fround(this.model.getLearningRate());
        if (oldLr > Math.fround(this.minLr)) {
          // Keras multiplies the float32 rate read back as a Python float: a float64 product.
          const newLr = Math.max(oldLr * this.factor, this.minLr);
          this.model.setLearningRate(newLr);
          if (this.verbose > 0) this.log.print(`\nEpoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${pyFloatRepr(newLr)}.`);
          this.emit({ type: 'learning_rate_changed', epoch, by: 'ReduceLROnPlateau', from: oldLr, to: Math.fround(newLr) });
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}
