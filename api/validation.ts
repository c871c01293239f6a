import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { editDistance } from '../core/edit-distance';
import { pointerToken, specInvalid, type FieldProblem } from '../core/errors';
import { MAX_JSON_DEPTH, tooDeepPointer } from '../core/json-depth';

/**
 * Validators for request parts, compiled from the OpenAPI document's schemas (JSON Schema 2020-12,
 * as OpenAPI 3.1 uses). Bodies are validated strictly: no type coercion, no defaults filled in, and
 * unknown properties are errors, never silently removed (a typo like `paitence` is a 400).
 * Query strings and path parameters arrive as text, so those validators coerce types.
 */
export function makeValidatorCompiler() {
  const common = { allErrors: true, strict: false, verbose: true, removeAdditional: false as const, useDefaults: false };
  const strictAjv = addFormats(new Ajv2020({ ...common, coerceTypes: false }));
  const coercingAjv = addFormats(new Ajv2020({ ...common, coerceTypes: true }));
  // Stops at the first error and keeps no error details: ~8× cheaper on a valid job (the common case).
  const verdictAjv = addFormats(new Ajv2020({ ...common, allErrors: false, verbose: false, coerceTypes: false }));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    httpPart === 'body' ? depthFirst(verdictThenDetails(verdictAjv.compile(schema), () => strictAjv.compile(schema))) : coercingAjv.compile(schema);
}

/**
 * Refuses a body nested deeper than MAX_JSON_DEPTH before Ajv (or anything after it: the model
 * checks, JSON.stringify, the queue's serialiser) recurses into it: 10,000 nested arrays in
 * `units` would otherwise overflow the stack somewhere down the line. Fastify turns the thrown
 * error into the response through the one error handler.
 */
function depthFirst(validate: ReturnType<typeof verdictThenDetails>) {
  const checked = (data: unknown): boolean => {
    const at = tooDeepPointer(data, MAX_JSON_DEPTH);
    if (at !== null) {
      throw specInvalid([{ pointer: at, detail: `nested more than ${MAX_JSON_DEPTH} levels deep; Kiln accepts at most ${MAX_JSON_DEPTH} levels of arrays and objects` }]);
    }
    const valid = validate(data);
    checked.errors = validate.errors;
    return valid;
  };
  checked.errors = null as ValidateFunction['errors'];
  return checked;
}

/**
 * A body validator in two steps: `verdict` decides, and only a body it refuses is validated again by
 * the detailed validator (same schema, every error, with data) so the problem lists every offending
 * field. That one is compiled on the first refused body, not at start-up. Bodies are never coerced
 * or given defaults, so validating one twice sees the same data.
 */
function verdictThenDetails(verdict: ValidateFunction, compileDetails: () => ValidateFunction) {
  let details: ValidateFunction | null = null;
  const validate = (data: unknown): boolean => {
    if (verdict(data)) return true;
    details ??= compileDetails();
    const valid = details(data);
    validate.errors = details.errors;
    return valid;
  };
  validate.errors = null as ValidateFunction['errors'];
  return validate;
}

/**
 * Turns Ajv's errors into field problems with JSON pointers and a fix. For `oneOf`, only the
 * alternative the caller evidently meant is reported (the one whose required fields are present,
 * else the one with the fewest errors), not every alternative's complaints.
 */
export function ajvErrorsToProblems(errors: ErrorObject[], part: string): FieldProblem[] {
  let kept = [...errors];
  const oneOfs = kept.filter((e) => e.keyword === 'oneOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const one of oneOfs) {
    if (!kept.includes(one)) continue;
    const prefix = one.schemaPath + '/';
    const byBranch = new Map<number, ErrorObject[]>();
    for (const e of kept) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const branch = Number(e.schemaPath.slice(prefix.length).split('/')[0]);
      byBranch.set(branch, [...(byBranch.get(branch) ?? []), e]);
    }
    if (byBranch.size === 0) continue; // several alternatives matched: keep the oneOf error itself
    const branches = [...byBranch.entries()];
    const intended = branches.filter(([, errs]) => !errs.some((e) => e.keyword === 'required' && e.instancePath === one.instancePath));
    const pool = intended.length > 0 ? intended : branches;
    pool.sort((a, b) => a[1].length - b[1].length);
    const winner = pool[0][0];
    kept = kept.filter((e) => e !== one && !(e.schemaPath.startsWith(prefix) && !e.schemaPath.startsWith(`${prefix}${winner}/`)));
  }
  // Pointers into the request: the body's own, else /query/…, /path/… or /header/….
  const base = part === 'body' ? '' : `/${({ querystring: 'query', params: 'path', headers: 'header' } as Record<string, string>)[part] ?? part}`;
  const seen = new Set<string>();
  const problems: FieldProblem[] = [];
  for (const e of kept) {
    const p = describe(e, base);
    const k = p.pointer + '\u0000' + p.detail;
    if (!seen.has(k)) {
      seen.add(k);
      problems.push(p);
    }
  }
  return problems;
}

function describe(e: ErrorObject, base: string): FieldProblem {
  const at = base + e.instancePath;
  const params = e.params as Record<string, any>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((e.parentSchema as any)?.properties ?? {});
      const name = params.additionalProperty as string;
      const close = allowed.find((a) => similar(a, name));
      return {
        pointer: `${at}/${pointerToken(name)}`,
        detail: `unknown field '${name}'; ${close ? `did you mean '${close}'? ` : ''}remove it${allowed.length ? ` or use one of: ${allowed.join(', ')}` : ''}`,
      };
    }
    case 'required':
      return { pointer: `${at}/${pointerToken(params.missingProperty)}`, detail: `'${params.missingProperty}' is required` };
    case 'type':
      return { pointer: at, detail: `must be ${[].concat(params.type).join(' or ')}, got ${jsonType(e.data)}` };
    case 'enum':
      return { pointer: at, detail: `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; got ${JSON.stringify(e.data)}` };
    case 'const':
      return { pointer: at, detail: `must be ${JSON.stringify(params.allowedValue)}` };
    case 'pattern': {
      const description = (e.parentSchema as any)?.description;
      return { pointer: at, detail: `does not have the expected form (pattern ${params.pattern})${description ? `: ${firstSentence(description)}` : ''}` };
    }
    case 'oneOf':
      return { pointer: at, detail: 'matches more than one of the accepted forms; remove the fields of all but one' };
    default:
      return { pointer: at, detail: `${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? `; got ${JSON.stringify(e.data)}` : ''}` };
  }
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function firstSentence(s: string): string {
  const line = s.trim().split('\n').join(' ');
  const i = line.indexOf('. ');
  return i > 0 ? line.slice(0, i + 1) : line;
}

/** True when two names differ by at most two single-character edits (for "did you mean"). */
function similar(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  return editDistance(a.toLowerCase(), b.toLowerCase()) <= 2;
}
