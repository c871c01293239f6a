import { KilnError } from '../errors';
import { Callback } from './callback';
import { decodeNullableNumber, decodeNumber, encodeNullableNumber, encodeNumber, type JsonValue } from './callback-state';
import { METRIC_DIRECTIONS } from './metric-directions';

/** `auto` infers the direction from the monitor's name and the compiled metrics. */
export type Mode = 'auto' | 'min' | 'max';

export { METRIC_DIRECTIONS };

/**
 * Keras `MonitorCallback.__init__`: a mode other than auto/min/max falls back to `auto`, with a
 * warning (monitor_callback.py, `if mode not in ["auto", "min", "max"]: warnings.warn(...)`).
 */
export function effectiveMode(mode: string | undefined): Mode {
  return mode === 'min' || mode === 'max' || mode === undefined ? (mode ?? 'auto') : 'auto';
}

/** Keras's warning text for an unknown mode, or null when the mode is known. */
export function unknownModeWarning(callbackName: string, mode: string | undefined): string | null {
  if (mode === undefined || mode === 'auto' || mode === 'min' || mode === 'max') return null;
  return `${callbackName} mode '${mode}' is unknown, fallback to auto mode.`;
}

/**
 * Keras 3 `MonitorCallback._set_monitor_op` in `auto` mode: strip one `val_` prefix; `loss` is
 * minimised; otherwise a compiled metric of that name with a `_direction` decides
 * ({@link METRIC_DIRECTIONS}). Returns null where Keras raises ("isn't able to automatically
 * determine whether that metric should be maximized or minimized").
 */
export function inferMode(monitor: string, compiledMetrics: readonly string[]): 'min' | 'max' | null {
  const name = monitor.startsWith('val_') ? monitor.slice(4) : monitor;
  let op: 'min' | 'max' | null = name === 'loss' ? 'min' : null;
  if (compiledMetrics.includes(name) && Object.hasOwn(METRIC_DIRECTIONS, name)) {
    const dir = METRIC_DIRECTIONS[name];
    if (dir !== undefined) op = dir === 'up' ? 'max' : 'min';
  }
  return op;
}

/** Options shared by the monitoring callbacks. */
export interface MonitorOptions {
  /** @defaultValue `'val_loss'` */
  monitor?: string;
  /** `auto`, `min` or `max`; anything else falls back to `auto` as in Keras. @defaultValue `'auto'` */
  mode?: string;
  /** Initial best value (Keras `baseline` / `initial_value_threshold`). @defaultValue `null` */
  baseline?: number | null;
  /** Keras takes its absolute value. @defaultValue `0` */
  minDelta?: number;
  /** Names of the compiled metrics, for `auto` mode. @defaultValue `[]` */
  compiledMetrics?: readonly string[];
  /** Keras `verbose`: 0 is silent, > 0 prints the callback's messages to the training log. @defaultValue `0` */
  verbose?: number;
}

/**
 * Keras `keras/src/callbacks/monitor_callback.py`: monitor, mode, min_delta, baseline and "is this
 * an improvement?".
 *
 * Comparisons are made in float32, as Keras's `ops.less`/`ops.greater` convert the Python floats
 * to `floatx` tensors: `current - min_delta` and the reference are rounded to float32 first, so a
 * difference below float32 resolution is a tie (no improvement), exactly as in Keras.
 */
export class MonitorCallback extends Callback {
  readonly monitor: string;
  readonly mode: Mode;
  /** Signed like Keras's after setup: negative in min mode. */
  protected minDelta: number;
  /** Best value so far; null until the first value (or the baseline). */
  best: number | null;
  /** Resolved direction; null until set up. */
  monitorOp: 'min' | 'max' | null = null;
  protected readonly compiledMetrics: readonly string[];
  /** Keras `verbose`. */
  readonly verbose: number;

  constructor(opts: MonitorOptions = {}) {
    super();
    this.monitor = opts.monitor ?? 'val_loss';
    this.mode = effectiveMode(opts.mode);
    this.best = opts.baseline ?? null;
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.compiledMetrics = opts.compiledMetrics ?? [];
    this.verbose = opts.verbose ?? 0;
  }

  /** Resolves the direction of `monitor`; throws where Keras raises. */
  protected resolveOp(monitor: string): 'min' | 'max' {
    if (this.mode === 'min' || this.mode === 'max') return this.mode;
    const op = inferMode(monitor, this.compiledMetrics);
    if (op === null) {
      throw new KilnError(
        'JOB_SPEC_INVALID',
        `${this.name} cannot tell whether '${monitor}' should be minimized or maximized; set mode to 'min' or 'max'`,
      );
    }
    return op;
  }

  /**
   * Keras 3.11+ `_set_monitor_op`: the direction and the signed min_delta. The best stays unset
   * (null) until the first monitored value, which `_is_improvement` always accepts - a NaN first
   * value included, which then nothing beats. (Keras <= 3.10 started from ±inf here.)
   */
  protected setMonitorOp(): void {
    this.monitorOp = this.resolveOp(this.monitor);
    if (this.monitorOp === 'min') this.minDelta = -Math.abs(this.minDelta);
  }

  /** The monitor's state (best, direction, signed min_delta) for a subclass's `state()`. */
  protected monitorState(): { [key: string]: JsonValue } {
    return { best: encodeNullableNumber(this.best), monitorOp: this.monitorOp, minDelta: encodeNumber(this.minDelta) };
  }

  /** Restores what {@link monitorState} saved. */
  protected restoreMonitor(s: Record<string, unknown>): void {
    if (s.monitorOp !== null && s.monitorOp !== 'min' && s.monitorOp !== 'max') throw new TypeError(`${this.name}: bad monitorOp in the backed-up state`);
    this.best = decodeNullableNumber(s.best, `${this.name}.best`);
    this.monitorOp = s.monitorOp as 'min' | 'max' | null;
    this.minDelta = decodeNumber(s.minDelta, `${this.name}.minDelta`);
  }

  /** Keras `_is_improvement`: true against a null reference. */
  isImprovement(current: number, reference: number | null): boolean {
    if (reference === null) return true;
    return compare(this.monitorOp ?? 'min', current - this.minDelta, reference);
  }
}

/** `ops.less` / `ops.greater` on float32 values. */
export function compare(op: 'min' | 'max', a: number, b: number): boolean {
  const x = Math.fround(a);
  const y = Math.fround(b);
  return op === 'min' ? x < y : x > y;
}
