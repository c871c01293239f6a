import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochHeader, epochSummaryVerbose1, epochSummaryVerbose2, estimateStepSeconds } from '../../../core/callbacks/progbar';

// keras/src/callbacks/progbar_logger.py on_epoch_begin: `if self.verbose and self.epochs > 1:
// io_utils.print_msg(f"Epoch {epoch + 1}/{self.epochs}")`.
test('epochHeader: "Epoch 3/40", nothing for a single epoch', () => {
  assert.equal(epochHeader(2, 40), 'Epoch 3/40');
  assert.equal(epochHeader(0, 1), null);
});

// keras/src/utils/progbar.py update(), `elif self.verbose == 2:` branch with finalize: count as
// `%{numdigits}d/%d`, `{now - self._start:.0f}s`, ` -` + _format_time, then ` - {k}: ` with
// `{avg:.4f}` if `avg > 1e-3` else `{avg:.4e}`.
const V2: Array<[string, Parameters<typeof epochSummaryVerbose2>[0], string]> = [
  ['a typical epoch', { steps: 32, elapsedSeconds: 1.2, secondsPerStep: 0.0031, logs: { accuracy: 0.8563, loss: 0.4919 } }, '32/32 - 1s - 3ms/step - accuracy: 0.8563 - loss: 0.4919'],
  // .0f rounds half to even (Python format), so 0.5 s shows as 0s and 2.5 ms as 2ms.
  ['half-even rounding of times', { steps: 4, elapsedSeconds: 0.5, secondsPerStep: 0.0025, logs: {} }, '4/4 - 0s - 2ms/step'],
  // _format_time: `>= 1 or == 0` -> s/step; `>= 1e-3` -> ms/step; else us/step.
  ['seconds per step', { steps: 2, elapsedSeconds: 3, secondsPerStep: 1.4, logs: {} }, '2/2 - 3s - 1s/step'],
  ['zero time per step shows 0s/step', { steps: 1, elapsedSeconds: 0, secondsPerStep: 0, logs: {} }, '1/1 - 0s - 0s/step'],
  ['microseconds per step', { steps: 100, elapsedSeconds: 0.04, secondsPerStep: 0.0004, logs: {} }, '100/100 - 0s - 400us/step'],
  // Small and negative values take the `e` branch (verbose 2 compares avg, not abs(avg)).
  ['small, negative and non-finite values', { steps: 8, elapsedSeconds: 1, secondsPerStep: 0.01, logs: [['loss', 0.0009], ['r2_score', -0.25], ['val_loss', NaN], ['x', Infinity]] }, '8/8 - 1s - 10ms/step - loss: 9.0000e-04 - r2_score: -2.5000e-01 - val_loss: nan - x: inf'],
];
for (const [name, s, line] of V2) test(`epochSummaryVerbose2: ${name}`, () => assert.equal(epochSummaryVerbose2(s), line));

// progbar.py `if self.verbose == 1:` with a non-dynamic display and finalize: bold count, the
// bar `\33[32m` + '━' * 20 + `\x1b[0m` then `\33[37m` + '' + `\x1b[0m`, ` \x1b[1m{elapsed:.0f}s\x1b[0m`,
// _format_time, metrics with `abs(avg) > 1e-3`.
test('epochSummaryVerbose1: the final line with and without ANSI escapes', () => {
  const s = { steps: 469, elapsedSeconds: 2.2, secondsPerStep: 0.0042, logs: { accuracy: 0.8563, loss: -0.5 } };
  assert.equal(epochSummaryVerbose1(s), '\x1b[1m469/469\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m \x1b[1m2s\x1b[0m 4ms/step - accuracy: 0.8563 - loss: -0.5000');
  assert.equal(epochSummaryVerbose1(s, { ansi: false }), '469/469 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - accuracy: 0.8563 - loss: -0.5000');
});

// progbar.py _estimate_step_duration: (now - time_after_first_step) / (current - 1) once past the
// first step, else (now - start) / current.
test('estimateStepSeconds leaves the first step out', () => {
  assert.equal(estimateStepSeconds({ start: 0, afterFirstStep: 1, now: 3, steps: 5 }), 0.5);
  assert.equal(estimateStepSeconds({ start: 0, afterFirstStep: 1, now: 1, steps: 1 }), 1);
  assert.equal(estimateStepSeconds({ start: 0, afterFirstStep: null, now: 0, steps: 0 }), 0);
});
