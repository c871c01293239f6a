import { pointer, type FieldProblem } from '../errors';

/** The JSON Schema (2020-12) subset the contract's callback schemas use. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: readonly unknown[];
  const?: unknown;
  oneOf?: readonly JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  minProperties?: number;
  maxProperties?: number;
  [other: string]: unknown;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOk(v: unknown, t: string): boolean {
  switch (t) {
    case 'null': return v === null;
    case 'boolean': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'array': return Array.isArray(v);
    case 'object': return isObj(v);
    default: return false;
  }
}

const TYPE_WORDS: Record<string, string> = { null: 'null', boolean: 'true or false', string: 'a string', number: 'a number', integer: 'an integer', array: 'an array', object: 'an object' };
const patterns = new Map<string, RegExp>();

/**
 * Validates a value against a schema of `schemas` (by component name), reporting each problem at
 * its JSON pointer with the fix, in the words the API uses. For `oneOf`, only the alternative the
 * value evidently meant is reported: the one whose `const` discriminator or JSON type matches.
 */
export function checkSchema(schemas: Readonly<Record<string, JsonSchema>>, name: string, value: unknown, ptr: string): FieldProblem[] {
  const out: FieldProblem[] = [];
  const resolve = (s: JsonSchema): JsonSchema => (s.$ref ? { ...resolve(schemas[s.$ref.replace('#/components/schemas/', '')]), ...withoutRef(s) } : s);
  const check = (raw: JsonSchema, v: unknown, p: string): void => {
    const s = resolve(raw);
    if (s.oneOf) return checkOneOf(s.oneOf.map(resolve), v, p);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? s.type : [s.type];
      if (!types.some((t) => typeOk(v, t))) {
        out.push({ pointer: p, detail: `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}` });
        return;
      }
    }
    if (s.const !== undefined && v !== s.const) out.push({ pointer: p, detail: `must be ${JSON.stringify(s.const)}` });
    if (s.enum && !s.enum.includes(v)) out.push({ pointer: p, detail: `must be one of: ${s.enum.map((x) => JSON.stringify(x)).join(', ')}` });
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < s.minimum) out.push({ pointer: p, detail: `must be >= ${s.minimum}` });
      if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) out.push({ pointer: p, detail: `must be > ${s.exclusiveMinimum}` });
      if (s.maximum !== undefined && v > s.maximum) out.push({ pointer: p, detail: `must be <= ${s.maximum}` });
      if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) out.push({ pointer: p, detail: `must be < ${s.exclusiveMaximum}` });
    }
    if (typeof v === 'string') {
      // Code points, as JSON Schema (and Ajv) count them.
      const n = [...v].length;
      if (s.minLength !== undefined && n < s.minLength) out.push({ pointer: p, detail: `must have at least ${s.minLength} character(s)` });
      if (s.maxLength !== undefined && n > s.maxLength) out.push({ pointer: p, detail: `must have at most ${s.maxLength} characters` });
      if (s.pattern !== undefined) {
        let re = patterns.get(s.pattern);
        if (!re) patterns.set(s.pattern, (re = new RegExp(s.pattern, 'u')));
        if (!re.test(v)) out.push({ pointer: p, detail: `must match ${s.pattern}${typeof s.description === 'string' ? ` (${s.description})` : ''}` });
      }
    }
    if (Array.isArray(v)) {
      if (s.minItems !== undefined && v.length < s.minItems) out.push({ pointer: p, detail: `must have at least ${s.minItems} item(s)` });
      if (s.maxItems !== undefined && v.length > s.maxItems) out.push({ pointer: p, detail: `must have at most ${s.maxItems} items` });
      if (s.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) out.push({ pointer: p, detail: 'must not repeat an item' });
      if (s.items) v.forEach((x, i) => check(s.items as JsonSchema, x, p + pointer(i)));
    }
    if (isObj(v)) {
      const props = s.properties ?? {};
      const n = Object.keys(v).length;
      if (s.minProperties !== undefined && n < s.minProperties) out.push({ pointer: p, detail: `must have at least ${s.minProperties} field(s)` });
      if (s.maxProperties !== undefined && n > s.maxProperties) out.push({ pointer: p, detail: `must have at most ${s.maxProperties} field(s)` });
      for (const r of s.required ?? []) if (!(r in v)) out.push({ pointer: p + pointer(r), detail: 'is required' });
      for (const [k, x] of Object.entries(v)) {
        // Own entries only: a field named "constructor" is unknown, not Object's constructor.
        const ps = Object.hasOwn(props, k) ? props[k] : undefined;
        if (ps) check(ps, x, p + pointer(k));
        else if (s.additionalProperties === false) out.push({ pointer: p + pointer(k), detail: `unknown field '${k}'; remove it or use one of: ${Object.keys(props).join(', ')}` });
        else if (isObj(s.additionalProperties)) check(s.additionalProperties, x, p + pointer(k));
      }
    }
  };
  const checkOneOf = (branches: JsonSchema[], v: unknown, p: string): void => {
    // A discriminated union (every branch an object with the same `const` property).
    const disc = branches.every((b) => b.properties) ? Object.keys(branches[0].properties ?? {}).find((k) => branches.every((b) => b.properties?.[k]?.const !== undefined)) : undefined;
    if (disc !== undefined && isObj(v)) {
      const hit = branches.find((b) => b.properties?.[disc]?.const === v[disc]);
      if (hit) return check(hit, v, p);
      return void out.push({ pointer: p + pointer(disc), detail: `must be one of: ${branches.map((b) => String(b.properties?.[disc]?.const)).join(', ')}` });
    }
    // Otherwise the branch whose JSON type the value has; if several, the first without problems.
    const candidates = branches.filter((b) => b.type === undefined || (Array.isArray(b.type) ? b.type : [b.type]).some((t) => typeOk(v, t) || (t === 'number' && typeof v === 'number')));
    if (candidates.length === 0) {
      const types = [...new Set(branches.flatMap((b) => (Array.isArray(b.type) ? b.type : b.type ? [b.type] : [])))];
      return void out.push({ pointer: p, detail: `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}` });
    }
    let best: FieldProblem[] | null = null;
    for (const b of candidates) {
      const before = out.length;
      check(b, v, p);
      const found = out.splice(before);
      if (found.length === 0) return;
      if (best === null) best = found;
    }
    out.push(...(best ?? []));
  };
  check({ $ref: `#/components/schemas/${name}` }, value, ptr);
  return out;
}

function withoutRef(s: JsonSchema): JsonSchema {
  const { $ref: _ref, ...rest } = s;
  return rest;
}
