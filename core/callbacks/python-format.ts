/**
 * Python's `str.format` mini-language and `repr(float)`, ported for what Keras does with strings:
 * ModelCheckpoint formats its filepath with `filepath.format(epoch=epoch + 1, **logs)` and
 * CSVLogger writes `str(value)` for every float. Digits come from the exact binary value of the
 * double with round-half-even, as CPython's `format()` does (`format(0.125, '.2f') == '0.12'`,
 * where JS `toFixed` gives `0.13`).
 *
 * Values are typed as Python would see them: `epoch` and `batch` are `int`, every logged metric is
 * a `float` (Keras 3 turns logs into Python floats, so a loss of exactly 1 prints as `1.0`).
 */

/** A value passed to {@link formatTemplate}: a Python `int` or a Python `float`. */
export type PyValue = { kind: 'int'; value: number } | { kind: 'float'; value: number };

/** One replacement field of a template. */
export interface TemplateField {
  /** The argument name, e.g. `val_loss`. */
  name: string;
  /** `r`, `s` or `a` after `!`, if any. */
  conversion?: string;
  /** The format spec after `:` (may be empty). */
  spec: string;
}

/** A parsed template: literal text and fields in order. */
export type TemplatePart = string | TemplateField;

/** Thrown for templates or specs Python would reject (message says why, in Python's terms). */
export class PyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PyFormatError';
  }
}

/**
 * Splits a `str.format` template into literal text and fields, rejecting what Python would reject
 * (single `}`, unclosed `{`) and what Kiln cannot supply (positional fields, attribute/index
 * access, nested fields in a spec).
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c === '{') {
      if (template[i + 1] === '{') {
        literal += '{';
        i += 2;
        continue;
      }
      const close = template.indexOf('}', i + 1);
      if (close < 0) throw new PyFormatError("Single '{' encountered in format string");
      const body = template.slice(i + 1, close);
      if (body.includes('{')) throw new PyFormatError('nested replacement fields are not supported');
      if (literal) parts.push(literal);
      literal = '';
      parts.push(parseField(body));
      i = close + 1;
      continue;
    }
    if (c === '}') {
      if (template[i + 1] === '}') {
        literal += '}';
        i += 2;
        continue;
      }
      throw new PyFormatError("Single '}' encountered in format string");
    }
    literal += c;
    i++;
  }
  if (literal) parts.push(literal);
  return parts;
}

function parseField(body: string): TemplateField {
  let rest = body;
  let spec = '';
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    spec = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  let conversion: string | undefined;
  const bang = rest.indexOf('!');
  if (bang >= 0) {
    conversion = rest.slice(bang + 1);
    rest = rest.slice(0, bang);
    if (!['r', 's', 'a'].includes(conversion)) {
      throw new PyFormatError(`Unknown conversion specifier ${conversion || '(empty)'}`);
    }
  }
  if (rest === '' || /^\d+$/.test(rest)) {
    throw new PyFormatError(`positional field '{${rest}}' has no value; name a metric, e.g. {epoch:02d}`);
  }
  if (/[.[\]]/.test(rest)) throw new PyFormatError(`attribute or index access in '{${rest}}' is not supported`);
  parseSpec(spec); // validates the syntax early
  return conversion === undefined ? { name: rest, spec } : { name: rest, conversion, spec };
}

interface Spec {
  fill?: string;
  align?: string;
  sign?: string;
  z: boolean;
  alt: boolean;
  zero: boolean;
  width?: number;
  grouping?: string;
  precision?: number;
  type?: string;
}

/**
 * Kiln's caps on a format spec's width and precision. Python accepts up to `sys.maxsize`, which
 * would let one field cost minutes of CPU and gigabytes of string (`{loss:.99999999e}`); these
 * keep every formatted field small and its cost bounded. A width past 255 cannot fit a path
 * segment anyway (no store accepts longer ones), and 100 digits is far past a float's 17
 * significant ones. Enforced wherever a spec is parsed, so at submission and when formatting.
 */
export const MAX_FORMAT_WIDTH = 255;
/** See {@link MAX_FORMAT_WIDTH}. */
export const MAX_FORMAT_PRECISION = 100;

const SPEC_RE = /^(?:([\s\S])?([<>=^]))?([-+ ])?(z)?(#)?(0)?(\d+)?([_,])?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/u;

function parseSpec(spec: string): Spec {
  const m = SPEC_RE.exec(spec);
  if (!m) throw new PyFormatError(`Invalid format specifier '${spec}'`);
  // Compared as digit strings first: Number('0999…') is exact here, but a 500-digit width is not.
  const width = m[7] === undefined ? undefined : boundedNumber(m[7], MAX_FORMAT_WIDTH, 'width', spec);
  const precision = m[9] === undefined ? undefined : boundedNumber(m[9], MAX_FORMAT_PRECISION, 'precision', spec);
  return {
    fill: m[1],
    align: m[2],
    sign: m[3],
    z: m[4] !== undefined,
    alt: m[5] !== undefined,
    zero: m[6] !== undefined,
    width,
    grouping: m[8],
    precision,
    type: m[10],
  };
}

function boundedNumber(digits: string, max: number, what: string, spec: string): number {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  const n = trimmed.length > 15 ? Number.POSITIVE_INFINITY : Number(trimmed);
  if (n > max) {
    const shown = trimmed.length > 20 ? `${trimmed.slice(0, 20)}…` : trimmed;
    throw new PyFormatError(`format ${what} ${shown} in '${spec.length > 40 ? `${spec.slice(0, 40)}…` : spec}' is above Kiln's limit of ${max}; use a ${what} of at most ${max}`);
  }
  return n;
}

/**
 * Checks that `spec` can format a value of `kind`, as Python would when formatting; returns the
 * Python error message, or null when fine.
 */
export function checkSpec(spec: string, kind: 'int' | 'float', conversion?: string): string | null {
  try {
    formatValue(kind === 'int' ? { kind, value: 1 } : { kind, value: 0.5 }, spec, conversion);
    return null;
  } catch (e) {
    if (e instanceof PyFormatError) return e.message;
    throw e;
  }
}

/**
 * Formats a template with named values. Throws {@link PyFormatError} with Python's wording for a
 * missing key (`KeyError`) or a spec that does not fit the value (`ValueError`).
 */
export function formatTemplate(template: string | TemplatePart[], values: Record<string, PyValue>): string {
  const parts = typeof template === 'string' ? parseTemplate(template) : template;
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    const v = Object.prototype.hasOwnProperty.call(values, p.name) ? values[p.name] : undefined;
    if (v === undefined) throw new PyFormatError(`KeyError: '${p.name}'`);
    out += formatValue(v, p.spec, p.conversion);
  }
  return out;
}

/** Python `format(value, spec)` (after an optional `!r`/`!s`/`!a` conversion). */
export function formatValue(v: PyValue, specText: string, conversion?: string): string {
  if (conversion !== undefined) return formatString(v.kind === 'int' ? intRepr(v.value) : pyFloatRepr(v.value), specText);
  const spec = parseSpec(specText);
  if (v.kind === 'int') return formatInt(v.value, spec);
  return formatFloat(v.value, spec);
}

function intRepr(n: number): string {
  return BigInt(n).toString();
}

function formatString(s: string, specText: string): string {
  const spec = parseSpec(specText);
  if (spec.type !== undefined && spec.type !== 's') {
    throw new PyFormatError(`Unknown format code '${spec.type}' for object of type 'str'`);
  }
  if (spec.sign !== undefined) throw new PyFormatError('Sign not allowed in string format specifier');
  if (spec.alt) throw new PyFormatError('Alternate form (#) not allowed in string format specifier');
  if (spec.grouping !== undefined) throw new PyFormatError(`Cannot specify '${spec.grouping}' with 's'.`);
  if (spec.align === '=') throw new PyFormatError("'=' alignment not allowed in string format specifier");
  const body = spec.precision === undefined ? s : s.slice(0, spec.precision);
  return pad('', body, spec, '<');
}

/** Applies fill/align/width to a sign and a body (the digits). */
function pad(sign: string, body: string, spec: Spec, defaultAlign: string): string {
  let fill = spec.fill ?? ' ';
  let align = spec.align ?? defaultAlign;
  if (spec.zero) {
    if (spec.fill === undefined) fill = '0';
    if (spec.align === undefined) align = '=';
  }
  const width = spec.width ?? 0;
  const len = [...sign].length + [...body].length;
  if (len >= width) return sign + body;
  const n = width - len;
  switch (align) {
    case '<':
      return sign + body + fill.repeat(n);
    case '^': {
      const left = Math.floor(n / 2);
      return fill.repeat(left) + sign + body + fill.repeat(n - left);
    }
    case '=':
      return sign + fill.repeat(n) + body;
    default:
      return fill.repeat(n) + sign + body;
  }
}

function signOf(negative: boolean, spec: Spec): string {
  if (negative) return '-';
  if (spec.sign === '+') return '+';
  if (spec.sign === ' ') return ' ';
  return '';
}

/** Inserts `,` or `_` every `every` digits of the integer part. */
function group(intPart: string, sep: string | undefined, every = 3): string {
  if (sep === undefined) return intPart;
  let out = '';
  for (let i = 0; i < intPart.length; i++) {
    if (i > 0 && (intPart.length - i) % every === 0) out += sep;
    out += intPart[i];
  }
  return out;
}

function formatInt(n: number, spec: Spec): string {
  const t = spec.type;
  if (t !== undefined && 'eEfFgG%'.includes(t)) return formatFloat(n, spec);
  if (t === 'n' || t === undefined || t === 'd' || t === 'b' || t === 'o' || t === 'x' || t === 'X' || t === 'c') {
    if (spec.precision !== undefined) throw new PyFormatError('Precision not allowed in integer format specifier');
    if (spec.z) throw new PyFormatError("Negative zero coercion (z) not allowed in integer format specifier");
    const big = BigInt(n);
    const neg = big < 0n;
    const abs = neg ? -big : big;
    if (t === 'c') {
      if (spec.sign !== undefined) throw new PyFormatError("Sign not allowed with integer format specifier 'c'");
      if (neg || abs > 0x10ffffn) throw new PyFormatError('%c arg not in range(0x110000)');
      return pad('', String.fromCodePoint(Number(abs)), spec, '<');
    }
    if (spec.grouping === ',' && t !== undefined && t !== 'd' && t !== 'n') {
      throw new PyFormatError(`Cannot specify ',' with '${t}'.`);
    }
    let digits: string;
    let prefix = '';
    switch (t) {
      case 'b':
        digits = group(abs.toString(2), spec.grouping, 4);
        prefix = spec.alt ? '0b' : '';
        break;
      case 'o':
        digits = group(abs.toString(8), spec.grouping, 4);
        prefix = spec.alt ? '0o' : '';
        break;
      case 'x':
        digits = group(abs.toString(16), spec.grouping, 4);
        prefix = spec.alt ? '0x' : '';
        break;
      case 'X':
        digits = group(abs.toString(16).toUpperCase(), spec.grouping, 4);
        prefix = spec.alt ? '0X' : '';
        break;
      default:
        digits = group(abs.toString(), spec.grouping);
    }
    return pad(signOf(neg, spec) + prefix, digits, spec, '>');
  }
  throw new PyFormatError(`Unknown format code '${t}' for object of type 'int'`);
}

function formatFloat(x: number, spec: Spec): string {
  const t = spec.type;
  if (t !== undefined && !'eEfFgGn%'.includes(t)) {
    throw new PyFormatError(`Unknown format code '${t}' for object of type 'float'`);
  }
  const upper = t === 'E' || t === 'F' || t === 'G';
  if (t === '%' && !Number.isFinite(x * 100)) {
    const special = Number.isNaN(x) ? 'nan%' : 'inf%';
    return pad(signOf(x * 100 < 0, spec), special, spec, '>');
  }
  if (Number.isNaN(x)) return pad(signOf(false, spec), upper ? 'NAN' : 'nan', spec, '>');
  const negative = x < 0 || Object.is(x, -0);
  if (!Number.isFinite(x)) return pad(signOf(negative, spec), upper ? 'INF' : 'inf', spec, '>');
  let abs = Math.abs(x);
  let body: string;
  let isZeroResult: boolean;
  switch (t) {
    case 'f':
    case 'F': {
      body = fixed(abs, spec.precision ?? 6, spec.alt);
      break;
    }
    case '%': {
      abs = Math.abs(x * 100);
      body = fixed(abs, spec.precision ?? 6, spec.alt) + '%';
      break;
    }
    case 'e':
    case 'E': {
      body = sci(abs, spec.precision ?? 6, spec.alt, upper);
      break;
    }
    case 'g':
    case 'G':
    case 'n': {
      body = general(abs, spec.precision ?? 6, spec.alt, upper, false);
      break;
    }
    default: {
      body = spec.precision === undefined ? pyFloatRepr(abs) : general(abs, spec.precision, spec.alt, false, true);
    }
  }
  isZeroResult = !/[1-9]/.test(body.replace(/e.*$/i, ''));
  const showNeg = negative && !(spec.z && isZeroResult);
  if (spec.grouping !== undefined) {
    const m = /^(\d+)(.*)$/s.exec(body);
    if (m) body = group(m[1], spec.grouping) + m[2];
  }
  return pad(signOf(showNeg, spec), body, spec, '>');
}

/** Splits a finite non-negative double into an exact rational `num / den`. */
function exact(abs: number): { num: bigint; den: bigint } {
  if (abs === 0) return { num: 0n, den: 1n };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, abs);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biasedExp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (biasedExp === 0) {
    exp = -1074;
  } else {
    mant |= 1n << 52n;
    exp = biasedExp - 1075;
  }
  return exp >= 0 ? { num: mant << BigInt(exp), den: 1n } : { num: mant, den: 1n << BigInt(-exp) };
}

/** Rounds num/den to an integer, ties to even. */
function roundHalfEven(num: bigint, den: bigint): bigint {
  const q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && q % 2n === 1n)) return q + 1n;
  return q;
}

/** `format(abs, '.{p}f')` for finite non-negative abs. */
function fixed(abs: number, p: number, alt: boolean): string {
  const { num, den } = exact(abs);
  const scaled = roundHalfEven(num * 10n ** BigInt(p), den).toString();
  if (p === 0) return scaled + (alt ? '.' : '');
  const padded = scaled.padStart(p + 1, '0');
  return padded.slice(0, padded.length - p) + '.' + padded.slice(padded.length - p);
}

/** Digits and decimal exponent of abs rounded to `p + 1` significant digits. */
function sigDigits(abs: number, p: number): { digits: string; exp: number } {
  if (abs === 0) return { digits: '0'.repeat(p + 1), exp: 0 };
  const { num, den } = exact(abs);
  let e = Math.floor(Math.log10(abs));
  // Fix the estimate exactly: 10^e <= num/den < 10^(e+1).
  const ge = (k: number): boolean => (k >= 0 ? num >= den * 10n ** BigInt(k) : num * 10n ** BigInt(-k) >= den);
  while (!ge(e)) e--;
  while (ge(e + 1)) e++;
  const shift = p - e;
  const n = shift >= 0 ? num * 10n ** BigInt(shift) : num;
  const d = shift >= 0 ? den : den * 10n ** BigInt(-shift);
  let r = roundHalfEven(n, d);
  if (r === 10n ** BigInt(p + 1)) {
    r /= 10n;
    e++;
  }
  return { digits: r.toString(), exp: e };
}

function expSuffix(exp: number, upper: boolean): string {
  return (upper ? 'E' : 'e') + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
}

/** `format(abs, '.{p}e')`. */
function sci(abs: number, p: number, alt: boolean, upper: boolean): string {
  const { digits, exp } = sigDigits(abs, p);
  const mant = digits[0] + (p > 0 || alt ? '.' : '') + digits.slice(1);
  return mant + expSuffix(exp, upper);
}

/**
 * `format(abs, '.{p}g')`, or with `noType` the spec with a precision but no type, which keeps at
 * least one fractional digit and switches to exponent notation from `exp >= p - 1`.
 */
function general(abs: number, precision: number, alt: boolean, upper: boolean, noType: boolean): string {
  const p = precision === 0 ? 1 : precision;
  const { digits, exp } = sigDigits(abs, p - 1);
  const useSci = exp < -4 || exp >= (noType ? p - 1 : p);
  let out: string;
  if (useSci) {
    let frac = digits.slice(1);
    if (!alt) frac = frac.replace(/0+$/, '');
    out = digits[0] + (frac || alt ? '.' : '') + frac + expSuffix(exp, upper);
  } else {
    let intPart: string;
    let frac: string;
    if (exp >= 0) {
      intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      frac = digits.slice(exp + 1);
    } else {
      intPart = '0';
      frac = '0'.repeat(-exp - 1) + digits;
    }
    if (!alt) frac = frac.replace(/0+$/, '');
    if (noType && frac === '') frac = '0';
    out = intPart + (frac || alt ? '.' : '') + frac;
  }
  return out;
}

/**
 * Python `repr(float)` / `str(float)`: the shortest digits that round-trip, fixed notation for
 * decimal exponents -4 <= e < 16 (with `.0` on integral values), otherwise `1e-05` / `1e+16`
 * style; `nan`, `inf`, `-inf`.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const abs = Math.abs(x);
  if (abs === 0) return sign + '0.0';
  // toExponential() without an argument yields the shortest round-trip digits, as Python's repr does.
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(abs.toExponential());
  if (!m) throw new Error(`unexpected toExponential output for ${abs}`);
  const digits = m[1] + (m[2] ?? '');
  const exp = Number(m[3]);
  const decpt = exp + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return sign + '0.' + '0'.repeat(-decpt) + digits;
    if (decpt >= digits.length) return sign + digits + '0'.repeat(decpt - digits.length) + '.0';
    return sign + digits.slice(0, decpt) + '.' + digits.slice(decpt);
  }
  const mant = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
  return sign + mant + expSuffix(exp, false);
}

/**
 * The fewest UTF-8 bytes each `/`-separated segment of a parsed template can format to: literal
 * text as it is, each field at least its width (a value prints at least one character). For
 * refusing at submission a path whose segment no store could hold, whatever the values.
 */
export function minSegmentBytes(parts: readonly TemplatePart[]): number[] {
  const segments = [0];
  for (const p of parts) {
    if (typeof p === 'string') {
      const pieces = p.split('/');
      segments[segments.length - 1] += Buffer.byteLength(pieces[0], 'utf8');
      for (const piece of pieces.slice(1)) segments.push(Buffer.byteLength(piece, 'utf8'));
      continue;
    }
    const spec = parseSpec(p.spec);
    // A '/' fill would split the field itself; count only what surely stays in this segment.
    segments[segments.length - 1] += spec.fill === '/' ? 1 : Math.max(spec.width ?? 0, 1);
  }
  return segments;
}
