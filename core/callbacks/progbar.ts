import type { Logs } from './model-handle';
import { formatValue } from './python-format';

/**
 * Keras's per-epoch fit output as text, for the training log: `keras/src/callbacks/progbar_logger.py`
 * (`Epoch 3/40` at each epoch begin) and the final update of `keras/src/utils/progbar.py`
 * (`Progbar.update(target, logs, finalize=True)` at each epoch end). Pure formatting: the caller
 * measures the times.
 */

/** ProgbarLogger.on_epoch_begin: `Epoch {epoch + 1}/{epochs}`, printed only when `epochs > 1`. */
export function epochHeader(epoch: number, epochs: number): string | null {
  return epochs > 1 ? `Epoch ${epoch + 1}/${epochs}` : null;
}

/** What one epoch's summary line shows. */
export interface EpochSummary {
  /** Steps of the epoch (Keras's `target`; the progbar shows `steps/steps`). */
  steps: number;
  /** Seconds since the epoch's progbar started (`now - self._start`). */
  elapsedSeconds: number;
  /** Seconds per step, as {@link estimateStepSeconds} gives it. */
  secondsPerStep: number;
  /** The epoch-end logs, in the order Keras has them (each shown as-is: finalize sets `[v, 1]`). */
  logs: Logs | ReadonlyArray<readonly [string, number]>;
}

/**
 * Progbar `_estimate_step_duration` at the last step: after the first step, the time since the
 * first step ended over the steps after it (the first step, which compiles, is left out); with
 * one step, the whole time.
 */
export function estimateStepSeconds(t: { start: number; afterFirstStep: number | null; now: number; steps: number }): number {
  if (t.steps <= 0) return 0;
  if (t.afterFirstStep !== null && t.steps > 1) return (t.now - t.afterFirstStep) / (t.steps - 1);
  return (t.now - t.start) / t.steps;
}

const f = (x: number, spec: string): string => formatValue({ kind: 'float', value: x }, spec);

/** Progbar `_format_time` (with its leading space): `3ms/step`, `1s/step`, `850us/step`, `0s/step`. */
function formatTime(secondsPerStep: number): string {
  if (secondsPerStep >= 1 || secondsPerStep === 0) return ` ${f(secondsPerStep, '.0f')}s/step`;
  if (secondsPerStep >= 1e-3) return ` ${f(secondsPerStep * 1000, '.0f')}ms/step`;
  return ` ${f(secondsPerStep * 1000000, '.0f')}us/step`;
}

function entries(logs: EpochSummary['logs']): ReadonlyArray<readonly [string, number]> {
  return Array.isArray(logs) ? logs : Object.entries(logs);
}

/**
 * The epoch's summary line with `verbose=2` (what Keras writes when the output is a file or a
 * pipe and `verbose=2`): `32/32 - 1s - 3ms/step - accuracy: 0.8563 - loss: 0.4919`. A metric
 * shows as `{v:.4f}` when `v > 1e-3`, else `{v:.4e}` (this branch compares `v`, not `abs(v)`, so
 * a negative value shows in `e` notation, as in Keras).
 */
export function epochSummaryVerbose2(s: EpochSummary): string {
  const digits = Math.floor(Math.log10(s.steps)) + 1;
  let info = `${String(s.steps).padStart(digits, ' ')}/${s.steps} - ${f(s.elapsedSeconds, '.0f')}s`;
  info += ` -${formatTime(s.secondsPerStep)}`;
  for (const [k, v] of entries(s.logs)) info += ` - ${k}: ${v > 1e-3 ? f(v, '.4f') : f(v, '.4e')}`;
  return info;
}

/**
 * The final `verbose=1` update of an epoch as Keras prints it to a non-terminal (no `\b`/`\r`
 * redraw): the bold step count, a full 20-character bar of `━` in green, the bold elapsed
 * seconds, the time per step and each metric as `{v:.4f}` when `abs(v) > 1e-3`, else `{v:.4e}`.
 * With `ansi: false` the escape sequences are left out.
 */
export function epochSummaryVerbose1(s: EpochSummary, opts: { ansi?: boolean } = {}): string {
  const ansi = opts.ansi ?? true;
  const esc = (code: string, text: string) => (ansi ? `\x1b[${code}m${text}\x1b[0m` : text);
  const digits = Math.floor(Math.log10(s.steps)) + 1;
  let line = esc('1', `${String(s.steps).padStart(digits, ' ')}/${s.steps}`) + ' ';
  line += esc('32', '━'.repeat(20)) + esc('37', '');
  line += ' ' + esc('1', `${f(s.elapsedSeconds, '.0f')}s`);
  line += formatTime(s.secondsPerStep);
  for (const [k, v] of entries(s.logs)) line += ` - ${k}: ${Math.abs(v) > 1e-3 ? f(v, '.4f') : f(v, '.4e')}`;
  return line;
}
