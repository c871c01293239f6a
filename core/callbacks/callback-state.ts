/**
 * Plain-JSON state of callbacks, for BackupAndRestore: what `Callback.state()` returns and
 * `Callback.restore()` takes. Numbers that JSON cannot carry (±Infinity, NaN — a monitor's initial
 * best is ±Infinity) are written as the strings `"Infinity"`, `"-Infinity"` and `"NaN"`.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A number as JSON can hold it: non-finite values become strings. */
export type JsonNumber = number | 'Infinity' | '-Infinity' | 'NaN';

export function encodeNumber(n: number): JsonNumber {
  if (Number.isFinite(n)) return n;
  return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
}

export function encodeNullableNumber(n: number | null): JsonNumber | null {
  return n === null ? null : encodeNumber(n);
}

/** Reads a number written by {@link encodeNumber}; throws TypeError on anything else. */
export function decodeNumber(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === 'NaN') return NaN;
  throw new TypeError(`callback state: ${what} is not a number (${JSON.stringify(v)})`);
}

export function decodeNullableNumber(v: unknown, what: string): number | null {
  return v === null || v === undefined ? null : decodeNumber(v, what);
}

/** The state as an object; throws TypeError when it is not one (a backup from another spec). */
export function stateObject(v: unknown, callback: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TypeError(`${callback}: the backed-up state is not one this callback wrote`);
  }
  return v as Record<string, unknown>;
}

export function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`callback state: ${what} is not an integer (${JSON.stringify(v)})`);
  return v;
}
