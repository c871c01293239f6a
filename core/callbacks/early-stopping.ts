import { decodeNullableNumber, encodeNullableNumber, int, stateObject, type JsonValue } from './callback-state';
import type { Logs, WeightsSnapshot } from './model-handle';
import { compare, MonitorCallback } from './monitor-callback';

/** EarlyStopping options (Keras arguments in camelCase, plus several monitors). */
export interface EarlyStoppingOptions {
  /** One metric or several. @defaultValue `'val_loss'` */
  monitor?: string | string[];
  /** @defaultValue `0` */
  minDelta?: number;
  /** @defaultValue `0` */
  patience?: number;
  /** `auto`, `min` or `max` (anything else: a warning and `auto`, as in Keras). @defaultValue `'auto'` */
  mode?: string;
  /** @defaultValue `null` */
  baseline?: number | null;
  /** @defaultValue `false` */
  restoreBestWeights?: boolean;
  /** @defaultValue `0` */
  startFromEpoch?: number;
  /** With several monitors: stop when all / any of them ran out of patience. @defaultValue `'all'` */
  stopWhen?: 'all' | 'any';
  /** Compiled metric names, for `auto` mode. @defaultValue `[]` */
  compiledMetrics?: readonly string[];
  /** > 0 prints Keras's "early stopping" / "Restoring model weights" messages at train end. @defaultValue `0` */
  verbose?: number;
}

/** Per-monitor state; with one monitor this is exactly Keras's wait/best/best_epoch. */
interface Tracker {
  monitor: string;
  op: 'min' | 'max';
  best: number | null;
  bestEpoch: number;
  wait: number;
}

/** What EarlyStopping decided, for reports (the simulator's `earlyStopping`). */
export interface EarlyStoppingSummary {
  bestEpoch: number | null;
  bestValue: number | null;
  wait: number;
  restoredWeightsFromEpoch: number | null;
}

/**
 * Keras `keras/src/callbacks/early_stopping.py`, decision for decision:
 * - the first monitored value is always an improvement (best starts unset, so a NaN first value
 *   becomes the best and nothing beats it afterwards, as in Keras);
 * - `wait` counts every monitored epoch and resets only when the value beats both the best and
 *   the baseline; training stops when `wait >= patience` at an epoch > 0 that did not improve;
 * - epochs before `startFromEpoch` and epochs without the metric are ignored;
 * - with restoreBestWeights, the best epoch's weights are restored at train end whether training
 *   stopped early, ran out of epochs or was stopped by another callback.
 *
 * Kiln additions: several monitors, each tracked as Keras tracks one, stopping when all (or any)
 * of them ran out of patience at the same epoch end; the restored weights follow the first monitor.
 */
export class EarlyStopping extends MonitorCallback {
  override readonly name = 'EarlyStopping';
  readonly monitors: string[];
  readonly patience: number;
  readonly baselineValue: number | null;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  readonly stopWhen: 'all' | 'any';
  stoppedEpoch = 0;
  private trackers: Tracker[] = [];
  private bestWeights: WeightsSnapshot | null = null;
  private bestWeightsEpoch = 0;
  private restoredFrom: number | null = null;
  private lastEpoch = -1;

  constructor(opts: EarlyStoppingOptions = {}) {
    const monitors = Array.isArray(opts.monitor) ? [...opts.monitor] : [opts.monitor ?? 'val_loss'];
    super({ monitor: monitors[0], mode: opts.mode, minDelta: opts.minDelta, compiledMetrics: opts.compiledMetrics, verbose: opts.verbose });
    this.monitors = monitors;
    this.patience = opts.patience ?? 0;
    this.baselineValue = opts.baseline ?? null;
    this.restoreBestWeights = opts.restoreBestWeights ?? false;
    this.startFromEpoch = opts.startFromEpoch ?? 0;
    this.stopWhen = opts.stopWhen ?? 'all';
  }

  override async onTrainBegin(): Promise<void> {
    this.stoppedEpoch = 0;
    this.bestWeights?.dispose();
    this.bestWeights = null;
    this.bestWeightsEpoch = 0;
    this.restoredFrom = null;
    this.lastEpoch = -1;
    this.trackers = [];
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.lastEpoch = epoch;
    if (this.trackers.length === 0) {
      this.trackers = this.monitors.map((monitor) => ({ monitor, op: this.resolveOp(monitor), best: null, bestEpoch: 0, wait: 0 }));
    }
    // Keras reads the monitor (and warns when it is missing) before looking at start_from_epoch.
    for (const t of this.trackers) {
      if (logs[t.monitor] === undefined) {
        this.log.warn(`Early stopping conditioned on metric \`${t.monitor}\` which is not available. Available metrics are: ${Object.keys(logs).join(',')}`);
      }
    }
    if (epoch < this.startFromEpoch) return;
    const exhausted: string[] = [];
    let judged = 0;
    for (const [i, t] of this.trackers.entries()) {
      const current = logs[t.monitor];
      if (current === undefined) continue;
      judged++;
      if (i === 0 && this.restoreBestWeights && this.bestWeights === null) {
        this.bestWeights = this.model.snapshotWeights();
        this.bestWeightsEpoch = epoch;
      }
      t.wait += 1;
      if (this.improves(t, current, t.best)) {
        t.best = current;
        t.bestEpoch = epoch;
        if (i === 0 && this.restoreBestWeights) {
          this.bestWeights?.dispose();
          this.bestWeights = this.model.snapshotWeights();
          this.bestWeightsEpoch = epoch;
        }
        if (this.baselineValue === null || this.improves(t, current, this.baselineValue)) t.wait = 0;
        continue;
      }
      if (t.wait >= this.patience && epoch > 0) exhausted.push(t.monitor);
    }
    const stop = this.stopWhen === 'any' || this.trackers.length === 1
      ? exhausted.length > 0
      : judged > 0 && exhausted.length === this.trackers.length;
    if (stop) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
      const primary = this.trackers[0];
      this.emit({
        type: 'early_stopping',
        epoch,
        monitors: exhausted,
        bestEpoch: primary.best === null ? null : primary.bestEpoch,
        bestValue: primary.best,
        wait: primary.wait,
      });
    }
  }

  override async onTrainEnd(): Promise<void> {
    if (this.stoppedEpoch > 0 && this.verbose > 0) this.log.print(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    if (this.restoreBestWeights && this.bestWeights !== null) {
      if (this.verbose > 0) this.log.print(`Restoring model weights from the end of the best epoch: ${this.bestWeightsEpoch + 1}.`);
      this.model.restoreWeights(this.bestWeights);
      this.restoredFrom = this.bestWeightsEpoch;
      this.emit({ type: 'weights_restored', epoch: this.lastEpoch, fromEpoch: this.bestWeightsEpoch });
      this.bestWeights.dispose();
      this.bestWeights = null;
    }
  }

  /**
   * Each monitor's wait/best/best epoch and the stop bookkeeping. The best weights are tensors, not
   * JSON: the caller backs them up from {@link bestWeightsSnapshot} and hands them back with
   * {@link adoptBestWeights}; `hasBestWeights` says whether there were any.
   */
  override state(): JsonValue {
    return {
      trackers: this.trackers.map((t) => ({ monitor: t.monitor, op: t.op, best: encodeNullableNumber(t.best), bestEpoch: t.bestEpoch, wait: t.wait })),
      stoppedEpoch: this.stoppedEpoch,
      bestWeightsEpoch: this.bestWeightsEpoch,
      hasBestWeights: this.bestWeights !== null,
      lastEpoch: this.lastEpoch,
    };
  }

  override restore(state: JsonValue): void {
    const s = stateObject(state, this.name);
    if (!Array.isArray(s.trackers) || typeof s.hasBestWeights !== 'boolean') throw new TypeError('EarlyStopping: the backed-up state is not one this callback wrote');
    this.trackers = s.trackers.map((raw, i) => {
      const t = stateObject(raw, this.name);
      if (t.monitor !== this.monitors[i] || (t.op !== 'min' && t.op !== 'max')) throw new TypeError('EarlyStopping: the backed-up monitors differ from the job\'s');
      return { monitor: t.monitor, op: t.op, best: decodeNullableNumber(t.best, 'EarlyStopping.best'), bestEpoch: int(t.bestEpoch, 'bestEpoch'), wait: int(t.wait, 'wait') };
    });
    this.stoppedEpoch = int(s.stoppedEpoch, 'stoppedEpoch');
    this.bestWeightsEpoch = int(s.bestWeightsEpoch, 'bestWeightsEpoch');
    this.lastEpoch = int(s.lastEpoch, 'lastEpoch');
    this.bestWeights?.dispose();
    this.bestWeights = null;
  }

  /** The best epoch's weights held for restoreBestWeights, or null; still owned by this callback. */
  get bestWeightsSnapshot(): WeightsSnapshot | null {
    return this.bestWeights;
  }

  /** Takes ownership of the best weights of a restored run (after {@link restore}). */
  adoptBestWeights(snapshot: WeightsSnapshot): void {
    this.bestWeights?.dispose();
    this.bestWeights = snapshot;
  }

  /** The first monitor's state (Keras's `best`, `best_epoch`, `wait`) and any restore. */
  summary(): EarlyStoppingSummary {
    const t = this.trackers[0];
    return {
      bestEpoch: t && t.best !== null ? t.bestEpoch : null,
      bestValue: t ? t.best : null,
      wait: t ? t.wait : 0,
      restoredWeightsFromEpoch: this.restoredFrom,
    };
  }

  private improves(t: Tracker, current: number, reference: number | null): boolean {
    if (reference === null) return true;
    const delta = t.op === 'min' ? -Math.abs(this.minDelta) : Math.abs(this.minDelta);
    return compare(t.op, current - delta, reference);
  }
}
