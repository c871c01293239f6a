/**
 * Generates fuzz cases from the contract (openapi/openapi.yaml): for every operation, every path,
 * query and header parameter, and every field of the request bodies (walked from a valid base
 * document through the body schema, `$ref`s and `oneOf`s resolved), values that break the field's
 * schema — wrong JSON types, numbers past their bounds, huge and non-finite literals, NaN-ish
 * strings, lengths past their limits, pattern and enum violations (prototype names among them),
 * unknown and prototype-named properties, missing required fields, arrays nested thousands deep —
 * plus requests without or with bad credentials. The seeded PRNG (core/random.ts) picks the
 * nesting depth and the garbage strings of each field and the order cases are sent in, so a seed
 * names one exact run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOpenApiDocument, operationRoutes, type OperationRoute } from '../../api/openapi-document';
import { pointer } from '../../core/errors';
import { mulberry32 } from '../../core/random';
import { defineOwn, nestedArrays, nestedObjects, PROTOTYPE_NAMES, RawJson, toJson, type FuzzCase } from './cases';

/** A JSON Schema node as the contract writes them (dereferenced). */
type Schema = Record<string, any>;

/** Valid request documents the body mutations start from; each also says which subtree to mutate. */
export interface BodyBase {
  name: string;
  operationId: 'createJob' | 'simulateCallbacks';
  body: Record<string, unknown>;
  /** Only mutate under this path (the rest is covered by another base). @defaultValue the whole body */
  focus?: string[];
  /** Objects the base needs in the hostile tenant's store area (its dataset). */
  objects?: FuzzCase['objects'];
}

const IRIS_CSV = () => readFileSync(join(__dirname, '../../worker/data/builtin/iris.csv'), 'utf8');
const KERAS_FUNCTIONAL = () => JSON.parse(readFileSync(join(__dirname, '../fixtures/keras/keras2-functional.json'), 'utf8'));

/** A valid small iris job that sets every field the contract has (so every field gets mutated). */
export function fullIrisJob(webhookUrl: string, webhookSecret: string): Record<string, unknown> {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, stratify: true, standardize: true, reshape: [4] },
    fit: { epochs: 2, batchSize: 16, shuffle: true, seed: 1 },
    callbacks: {
      earlyStopping: { monitor: 'val_loss', minDelta: 0, patience: 1, mode: 'min', baseline: null, restoreBestWeights: true, startFromEpoch: 0, stopWhen: 'all' },
      modelCheckpoint: { filepath: 'epoch-{epoch:02d}', monitor: 'val_loss', mode: 'min', saveBestOnly: true, saveWeightsOnly: false, saveFreq: 'epoch', initialValueThreshold: null },
      reduceLROnPlateau: { monitor: 'val_loss', factor: 0.5, patience: 1, mode: 'min', minDelta: 0.0001, cooldown: 0, minLr: 0 },
      csvLogger: { filename: 'log.csv', separator: ',', append: false },
      terminateOnNaN: {},
      learningRateScheduler: { schedule: { type: 'step', stepSize: 1, gamma: 0.5 }, warmup: { epochs: 1, startLr: 0 } },
      tensorBoard: { histogramFreq: 1, updateFreq: 'epoch' },
      alerts: [{ name: 'low', when: 'val_loss < 0.01', fire: 'once', format: 'json' }],
      backupAndRestore: { enabled: true, saveFreq: 'epoch', saveEverySeconds: 60, deleteCheckpoint: true },
    },
    webhook: { url: webhookUrl, secret: webhookSecret, events: ['job.succeeded', 'job.failed'] },
    tags: { suite: 'fuzz' },
    priority: 100,
    // A hostile job that the API lets through still ends in bounded time when it trains normally.
    maxRuntimeSeconds: 20,
  };
}

/** The bases every body field is mutated from. */
export function bodyBases(webhookUrl: string, webhookSecret: string): BodyBase[] {
  const full = fullIrisJob(webhookUrl, webhookSecret);
  const withSchedule = (name: string, schedule: Record<string, unknown>): BodyBase => ({
    name, operationId: 'createJob', focus: ['callbacks', 'learningRateScheduler'],
    body: { ...full, callbacks: { ...(full.callbacks as object), learningRateScheduler: { schedule } } },
  });
  const features = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
  return [
    { name: 'layers-builtin', operationId: 'createJob', body: full },
    {
      name: 'keras-store', operationId: 'createJob', focus: ['data'],
      body: {
        model: { keras: KERAS_FUNCTIONAL() },
        compile: { optimizer: { name: 'sgd', learningRate: 0.05, momentum: 0.9 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
        data: { uri: 'datasets/iris.csv', format: 'csv', labelColumn: 'label', featureColumns: features, validation: { uri: 'datasets/iris-val.csv' }, stratify: false, standardize: true, reshape: [4] },
        fit: { epochs: 2, batchSize: 16 },
        maxRuntimeSeconds: 20,
      },
      objects: [
        { key: 'datasets/iris.csv', body: IRIS_CSV },
        { key: 'datasets/iris-val.csv', body: () => IRIS_CSV().split('\n').filter((_l, i) => i === 0 || i % 5 === 0).join('\n') },
      ],
    },
    { name: 'keras-model', operationId: 'createJob', focus: ['model'], body: { ...full, model: { keras: KERAS_FUNCTIONAL() } } },
    withSchedule('schedule-exponential', { type: 'exponential', decayRate: 0.9, decayEpochs: 1, staircase: true }),
    withSchedule('schedule-cosine', { type: 'cosine', decayEpochs: 2, alpha: 0.1 }),
    withSchedule('schedule-piecewise', { type: 'piecewise', boundaries: [1], values: [0.01, 0.005] }),
    {
      name: 'simulate-history', operationId: 'simulateCallbacks',
      body: {
        callbacks: {
          earlyStopping: { monitor: 'val_loss', patience: 1, restoreBestWeights: true },
          modelCheckpoint: { filepath: 'e{epoch:02d}-{val_loss:.3f}', monitor: 'val_loss', saveBestOnly: true },
          reduceLROnPlateau: { monitor: 'val_loss', patience: 1 },
          alerts: [{ when: 'val_loss < 0.5' }],
        },
        compile: { metrics: ['accuracy'], optimizer: { learningRate: 0.01 } },
        epochs: 3,
        history: [{ loss: 1, val_loss: 0.9 }, { loss: 0.8, val_loss: 0.95 }, { loss: 0.7, val_loss: 0.97 }],
      },
    },
    {
      name: 'simulate-csv', operationId: 'simulateCallbacks', focus: ['historyCsv'],
      body: { callbacks: { earlyStopping: { patience: 1 } }, historyCsv: 'epoch,loss,val_loss\r\n0,1,0.9\r\n1,0.8,0.95\r\n' },
    },
  ];
}

/** One change to a base document. */
interface Mutation {
  path: string[];
  /** `delete` removes the field. */
  value?: unknown;
  remove?: true;
  category: string;
  label: string;
}

const JSON_TYPES = ['null', 'boolean', 'integer', 'number', 'string', 'array', 'object'] as const;

function typesOf(schema: Schema): Set<string> {
  const out = new Set<string>();
  if (schema.type !== undefined) for (const t of [schema.type].flat()) out.add(t);
  else if ('const' in schema) out.add(jsonType(schema.const));
  else if (Array.isArray(schema.enum)) for (const v of schema.enum) out.add(jsonType(v));
  for (const branch of [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) for (const t of typesOf(branch)) out.add(t);
  if (out.has('number')) out.add('integer');
  return out;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** The `oneOf` branch a valid value belongs to (the first whose type, required fields and consts fit). */
function branchFor(schema: Schema, value: unknown): Schema | null {
  for (const b of schema.oneOf ?? schema.anyOf ?? []) {
    const types = typesOf(b);
    if (types.size && !types.has(jsonType(value))) continue;
    if (jsonType(value) === 'object') {
      const v = value as Record<string, unknown>;
      if ((b.required ?? []).some((k: string) => !(k in v))) continue;
      if (b.additionalProperties === false && b.properties && Object.keys(v).some((k) => !(k in b.properties))) continue;
      if (b.properties && Object.entries(b.properties as Record<string, Schema>).some(([k, s]) => 'const' in s && k in v && v[k] !== s.const)) continue;
    }
    return b;
  }
  return null;
}

/** Whether the number meets the schema's bounds (its type aside). */
function numberAllowed(schema: Schema, n: number): boolean {
  if (typeof schema.minimum === 'number' && n < schema.minimum) return false;
  if (typeof schema.exclusiveMinimum === 'number' && n <= schema.exclusiveMinimum) return false;
  if (typeof schema.maximum === 'number' && n > schema.maximum) return false;
  if (typeof schema.exclusiveMaximum === 'number' && n >= schema.exclusiveMaximum) return false;
  return true;
}

/** Strings that break a pattern (only those the pattern refuses are kept). */
const PATTERN_BREAKERS = ['', ' ', '../../etc/passwd', '/abs', 'a\u0000b', '\ud800', '💥💥', '%2e%2e', 'line\nbreak', 'ＡＢＣ'];
/** Strings where a number belongs. */
const NAN_ISH = ['NaN', 'Infinity', '-Infinity', '1e309', '0x1F', '1_000', ''];

class Generator {
  readonly cases: FuzzCase[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly random: () => number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  garbage(length: number): string {
    const alphabet = 'aZ9 _-./\\"\'{}[]:%$#@!\u00e9\u4e2d\u{1F4A5}\t';
    const chars = [...alphabet];
    let s = '';
    while (s.length < length) s += this.pick(chars);
    return s;
  }

  add(c: FuzzCase): void {
    if (this.seen.has(c.id)) return;
    this.seen.add(c.id);
    this.cases.push(c);
  }

  /** Values that break `schema` at one place (the place's current value, if any, is `current`). */
  invalidValues(schema: Schema, current: unknown, where: string[]): Array<Omit<Mutation, 'path'>> {
    const out: Array<Omit<Mutation, 'path'>> = [];
    const types = typesOf(schema);
    const add = (category: string, label: string, value: unknown) => out.push({ category, label, value });
    if (types.size) {
      const samples: Record<string, unknown> = { null: null, boolean: true, integer: 7, number: 1.5, string: 'fuzz', array: [], object: {} };
      for (const t of JSON_TYPES) if (!types.has(t) && !(t === 'integer' && types.has('number'))) add('wrong-type', t, samples[t]);
    }
    if (types.has('integer') || types.has('number')) {
      const intOnly = !types.has('number') && (schema.type === 'integer' || [schema.type].flat().includes('integer'));
      if (typeof schema.minimum === 'number') add('bounds', 'below-minimum', schema.minimum - 1);
      if (typeof schema.exclusiveMinimum === 'number') add('bounds', 'at-exclusive-minimum', schema.exclusiveMinimum);
      if (typeof schema.maximum === 'number') add('bounds', 'above-maximum', schema.maximum + 1);
      if (typeof schema.exclusiveMaximum === 'number') add('bounds', 'at-exclusive-maximum', schema.exclusiveMaximum);
      if (intOnly) add('bounds', 'fraction', 2.5);
      // Extremes the schema may allow are hostile anyway (a 1e308 minDelta); small values only
      // where the schema refuses them, or every zero-allowing field would queue a normal job.
      add('huge-number', '1e308', 1e308);
      add('huge-number', '-1e308', -1e308);
      add('huge-number', 'literal-1e400', new RawJson('1e400'));
      add('huge-number', 'literal--1e400', new RawJson('-1e400'));
      add('huge-number', 'negative-zero', new RawJson('-0'));
      if (intOnly) add('huge-number', '2^53+2', 2 ** 53 + 2);
      add('huge-number', 'digits-400', new RawJson('9'.repeat(400)));
      const nanIsh = this.pick(NAN_ISH);
      add('nan-ish', nanIsh || 'empty', nanIsh);
      for (const [label, n] of [['minus-one', -1], ['zero', 0], ['literal-1e-400', 0]] as const) {
        if (!numberAllowed(schema, n)) add('negative-zero-values', label, label === 'literal-1e-400' ? new RawJson('1e-400') : n);
      }
    }
    if (types.has('string')) {
      if (typeof schema.minLength === 'number' && schema.minLength > 0) add('bounds', 'below-min-length', 'x'.repeat(schema.minLength - 1));
      if (typeof schema.maxLength === 'number' && schema.maxLength < 200_000) add('bounds', 'above-max-length', 'x'.repeat(schema.maxLength + 1));
      add('huge-string', 'garbage-100k', this.garbage(100_000));
      if (typeof schema.pattern === 'string') {
        const re = new RegExp(schema.pattern, 'u');
        for (const s of PATTERN_BREAKERS) if (!re.test(s)) add('pattern', JSON.stringify(s), s);
      }
      if (Array.isArray(schema.enum) || 'const' in schema || typeof schema.pattern === 'string') {
        for (const name of PROTOTYPE_NAMES) add('prototype-name', name, name);
      }
      const enumValue = Array.isArray(schema.enum) ? schema.enum.find((v: unknown) => typeof v === 'string') : typeof schema.const === 'string' ? schema.const : undefined;
      if (typeof enumValue === 'string') {
        add('enum', 'upper-case', enumValue.toUpperCase() === enumValue ? enumValue.toLowerCase() + 'X' : enumValue.toUpperCase());
        add('enum', 'trailing-space', enumValue + ' ');
      }
      if (schema.format === 'uri') {
        for (const u of ['not a uri', 'javascript:alert(1)', 'file:///etc/passwd', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:1/', 'http://10.0.0.1/hook', 'gopher://127.0.0.1:6379/_FLUSHALL']) add('hostile-uri', u, u);
      }
      add('nan-ish', 'NaN-string', 'NaN');
    }
    if (types.has('array')) {
      const item = Array.isArray(current) && current.length ? current[0] : undefined;
      if (typeof schema.minItems === 'number' && schema.minItems > 0) add('bounds', 'below-min-items', []);
      if (typeof schema.maxItems === 'number' && item !== undefined && schema.maxItems < 200_000) add('bounds', 'above-max-items', Array.from({ length: schema.maxItems + 1 }, () => item));
      if (schema.uniqueItems && item !== undefined) add('bounds', 'duplicate-items', [item, item]);
    }
    // Deep nesting wherever a value goes: the depth comes from the seed.
    const depth = this.pick([1_000, 10_000, 100_000]);
    add('deep-nesting', `arrays-${depth}`, nestedArrays(depth));
    if (types.has('object') || where.length <= 1) add('deep-nesting', 'objects-10000', nestedObjects(10_000));
    return out;
  }

  /** Mutations of the value at `path` (schema `schema`), recursing into objects and arrays. */
  walk(schema: Schema, value: unknown, path: string[], out: Mutation[]): void {
    const present = value !== undefined;
    for (const m of this.invalidValues(schema, value, path)) out.push({ ...m, path });
    let s = schema;
    if ((schema.oneOf || schema.anyOf) && present) {
      const b = branchFor(schema, value);
      if (b) s = { ...b };
    }
    if (present && jsonType(value) === 'object' && (s.type === 'object' || s.properties || s.additionalProperties !== undefined)) {
      const v = value as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const [name, ps] of Object.entries(props)) this.walk(ps, v[name], [...path, name], out);
      for (const name of (s.required ?? []) as string[]) if (name in v) out.push({ path: [...path, name], remove: true, category: 'missing-required', label: name });
      if (s.additionalProperties === false) {
        const first = Object.keys(props)[0];
        const typo = first && first.length > 2 ? first[1] + first[0] + first.slice(2) : 'x';
        for (const name of [typo, ...PROTOTYPE_NAMES, '', 'x'.repeat(10_000)]) {
          if (name in props) continue;
          out.push({ path: [...path, name], value: 1, category: 'unknown-property', label: name.length > 40 ? `long-${name.length}` : name || 'empty' });
        }
      } else if (typeof s.additionalProperties === 'object') {
        for (const m of this.invalidValues(s.additionalProperties, undefined, path).slice(0, 6)) out.push({ ...m, path: [...path, 'fuzzKey'] });
        for (const name of PROTOTYPE_NAMES) out.push({ path: [...path, name], value: 'v', category: 'prototype-name', label: `key-${name}` });
        if (typeof s.maxProperties === 'number') {
          const many = Object.fromEntries(Array.from({ length: s.maxProperties + 1 }, (_v, i) => [`k${i}`, 'v']));
          out.push({ path, value: many, category: 'bounds', label: 'above-max-properties' });
        }
        if (s.propertyNames?.pattern) out.push({ path: [...path, 'bad key!'.repeat(20)], value: 'v', category: 'pattern', label: 'property-name' });
      }
    }
    if (present && Array.isArray(value) && s.items && value.length) this.walk(s.items, value[0], [...path, '0'], out);
  }

  bodyCases(route: OperationRoute, base: BodyBase): void {
    const mutations: Mutation[] = [];
    const schema = route.schema.body as Schema;
    // Walk to the focus, then mutate everything under it.
    let s: Schema = schema;
    let v: unknown = base.body;
    for (const token of base.focus ?? []) {
      if (s.oneOf || s.anyOf) s = branchFor(s, v) ?? s;
      s = (s.properties ?? {})[token];
      v = (v as Record<string, unknown>)?.[token];
      if (!s) throw new Error(`base ${base.name}: no schema at ${token}`);
    }
    this.walk(s, v, base.focus ?? [], mutations);
    for (const m of mutations) {
      const body = apply(base.body, m);
      this.add({
        id: `${m.category}:${route.operationId}:${base.name}:${pointer(...m.path) || '/'}:${m.label}`,
        category: m.category,
        operation: route.operationId,
        objects: base.objects,
        request: { kind: 'http', method: route.method, path: route.url, headers: { 'content-type': 'application/json' }, body: toJson(body) },
      });
    }
    this.add({
      id: `baseline:${route.operationId}:${base.name}`,
      category: 'baseline',
      operation: route.operationId,
      objects: base.objects,
      request: { kind: 'http', method: route.method, path: route.url, headers: { 'content-type': 'application/json' }, body: toJson(base.body) },
    });
  }

  /** Parameter mutations: path parameters, query strings and headers, each from its schema. */
  parameterCases(route: OperationRoute, fill: (name: string) => string): void {
    const pathParams = Object.keys((route.schema.params as Schema | undefined)?.properties ?? {});
    const build = (params: Record<string, string>, query = '') =>
      route.url.replace(/:(\w+)/g, (_m, name: string) => params[name] ?? fill(name)) + query;
    const baseParams = Object.fromEntries(pathParams.map((n) => [n, fill(n)]));
    const requiredQuery = (((route.schema.querystring as Schema | undefined)?.required ?? []) as string[]).map((n) => `${n}=${encodeURIComponent(fill(n))}`);
    const baseQuery = requiredQuery.length ? `?${requiredQuery.join('&')}` : '';
    const send = (category: string, label: string, path: string, headers: Record<string, string> = {}, auth: 'acme' | 'none' = 'acme') => {
      const body = route.schema.body ? toJson({}) : undefined;
      this.add({
        id: `${category}:${route.operationId}:${label}`,
        category, operation: route.operationId,
        request: { kind: 'http', method: route.method, path, headers: body ? { 'content-type': 'application/json', ...headers } : headers, body, auth },
      });
    };
    const asQueryValues = (schema: Schema): Array<[string, string, string]> => {
      const out: Array<[string, string, string]> = [];
      for (const m of this.invalidValues(schema, undefined, ['q'])) {
        if (m.category === 'deep-nesting') continue;
        const text = m.value instanceof RawJson ? m.value.text : typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
        if (text.length > 5000) continue;
        out.push([m.category, m.label, text]);
      }
      out.push(['huge-string', 'value-12k', 'y'.repeat(12_000)]);
      return out;
    };
    for (const name of pathParams) {
      const schema = (route.schema.params as Schema).properties[name];
      for (const [category, label, text] of asQueryValues(schema)) {
        send(category, `path:${name}:${label}`, build({ ...baseParams, [name]: encodeLoose(text) }, baseQuery));
      }
      for (const [label, raw] of [['dot-dot', '..%2F..%2Fetc%2Fpasswd'], ['bad-escape', '%zz'], ['nul', '%00'], ['long-200', 'job_' + 'A'.repeat(200)], ['long-9000', 'A'.repeat(9000)]]) {
        send('path-parameter', `path:${name}:${label}`, build({ ...baseParams, [name]: raw }, baseQuery));
      }
    }
    const query = route.schema.querystring as Schema | undefined;
    for (const [name, schema] of Object.entries((query?.properties ?? {}) as Record<string, Schema>)) {
      const others = requiredQuery.filter((q) => !q.startsWith(`${name}=`));
      for (const [category, label, text] of asQueryValues(schema)) {
        send(category, `query:${name}:${label}`, build(baseParams, `?${[...others, `${name}=${encodeLoose(text)}`].join('&')}`));
      }
      send('query-shape', `query:${name}:repeated`, build(baseParams, `?${[...others, `${name}=1`, `${name}=2`].join('&')}`));
      send('query-shape', `query:${name}:bracket`, build(baseParams, `?${[...others, `${name}[]=1`].join('&')}`));
    }
    send('unknown-property', 'query:unknown', build(baseParams, `${baseQuery ? baseQuery + '&' : '?'}paitence=1`));
    send('prototype-name', 'query:__proto__', build(baseParams, `${baseQuery ? baseQuery + '&' : '?'}__proto__[polluted]=1&constructor[prototype][x]=1`));
    const headers = route.schema.headers as Schema | undefined;
    for (const [name, schema] of Object.entries((headers?.properties ?? {}) as Record<string, Schema>)) {
      for (const [category, label, text] of asQueryValues(schema)) {
        // fetch only sends header values of visible ASCII without leading/trailing spaces.
        if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(text)) continue;
        send(category, `header:${name}:${label}`, build(baseParams, baseQuery), { [name]: text });
      }
    }
    if (route.secured) {
      send('auth', 'no-credentials', build(baseParams, baseQuery), {}, 'none');
      for (const [label, value] of [['wrong-key', 'Bearer acme_' + '0'.repeat(24)], ['empty-bearer', 'Bearer '], ['basic', 'Basic Zm9vOmJhcg=='], ['long-key', 'Bearer ' + 'k'.repeat(8000)], ['prototype', 'Bearer constructor'], ['lower-scheme', 'bearer x'], ['other-tenant-prefix', 'Bearer globex_']]) {
        send('auth', label, build(baseParams, baseQuery), { authorization: value }, 'none');
      }
    }
  }

  /** Requests no operation answers: unknown paths, methods, prototype-named segments. */
  routeCases(): void {
    const add = (label: string, method: string, path: string) => this.add({
      id: `unknown-route:${label}`, category: 'unknown-route', operation: 'unknown-route',
      request: { kind: 'http', method, path, headers: {}, auth: 'acme' },
    });
    for (const name of PROTOTYPE_NAMES) add(`segment-${name}`, 'GET', `/v1/${name}`);
    add('put-jobs', 'PUT', '/v1/jobs');
    add('patch-jobs', 'PATCH', '/v1/jobs');
    add('delete-jobs', 'DELETE', '/v1/jobs');
    add('options-jobs', 'OPTIONS', '/v1/jobs');
    add('v2', 'GET', '/v2/jobs');
    add('double-slash', 'GET', '//v1//jobs');
    add('encoded-slash', 'GET', '/v1%2Fjobs');
    add('dot-segments', 'GET', '/v1/jobs/../../../etc/passwd');
    add('trailing-slash', 'GET', '/v1/jobs/');
    add('unicode', 'GET', '/v1/%F0%9F%92%A5');
  }

  /** Body-level cases of the two body operations: not JSON, wrong media types, prototype pollution. */
  envelopeCases(route: OperationRoute, validBody: string): void {
    const add = (category: string, label: string, body: string | undefined, contentType: string | null) => this.add({
      id: `${category}:${route.operationId}:${label}`, category, operation: route.operationId,
      request: { kind: 'http', method: route.method, path: route.url, headers: contentType === null ? {} : { 'content-type': contentType }, body, auth: 'acme' },
    });
    for (const [label, body] of [
      ['truncated', validBody.slice(0, Math.floor(validBody.length / 2))], ['trailing-garbage', validBody + 'x'], ['single-quotes', "{'model':1}"],
      ['nan-literal', '{"fit":{"epochs":NaN}}'], ['infinity-literal', '{"fit":{"epochs":Infinity}}'], ['comment', '/* */' + validBody],
      ['bom', '\ufeff' + validBody], ['empty', ''], ['whitespace', '   '], ['null', 'null'], ['array', '[]'], ['string', '"job"'], ['number', '42'],
      ['proto-pollution', '{"__proto__":{"polluted":true},"model":{}}'], ['constructor-prototype', '{"constructor":{"prototype":{"polluted":true}}}'],
      ['duplicate-keys', validBody.replace(/^\{/, '{"fit":1,')], ['lone-surrogate', '{"tags":{"a":"\\ud800"}}'], ['nul-byte', '{"tags":{"a":"\u0000"}}'],
      ['deep-arrays-100k', '['.repeat(100_000) + ']'.repeat(100_000)], ['deep-objects-100k', '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)],
    ] as const) add('invalid-json', label, body, 'application/json');
    add('body-too-large', 'over-limit', `{"tags":{"a":"${'x'.repeat(3 * 1024 * 1024)}"}}`, 'application/json');
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-16', 'application/problem+json', 'APPLICATION/JSON', 'application/jsonx', '*/*', 'application/json, text/plain', 'constructor']) {
      add('content-type', ct, validBody, ct);
    }
    add('content-type', 'none', validBody, null);
  }
}

/** encodeURIComponent, except that a lone surrogate is sent as the bytes UTF-8 makes of it. */
function encodeLoose(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...Buffer.from(text, 'utf8')].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
  }
}

/** A copy of `base` with the mutation applied (prototype names become own properties). */
function apply(base: Record<string, unknown>, m: Mutation): unknown {
  const copy = structuredClone(base);
  if (m.path.length === 0) return m.value;
  let node: any = copy;
  for (const token of m.path.slice(0, -1)) {
    if (node[token] === null || typeof node[token] !== 'object' || !Object.prototype.hasOwnProperty.call(node, token)) defineOwn(node, token, {});
    node = node[token];
  }
  const last = m.path[m.path.length - 1];
  if (m.remove) delete node[last];
  else if (Array.isArray(node) && /^\d+$/.test(last)) node[Number(last)] = m.value;
  else defineOwn(node, last, m.value);
  return copy;
}

export interface GeneratedSuite {
  cases: FuzzCase[];
  /** Cases by category, before any sampling. */
  byCategory: Record<string, number>;
}

/**
 * Every schema-derived case for the contract, in a seeded order. `fill` gives a valid value for a
 * path or required query parameter (an id of the right shape, a path).
 */
export function generateFromContract(opts: { seed: number; webhookUrl: string; webhookSecret: string; fill: (name: string) => string }): GeneratedSuite {
  const doc = loadOpenApiDocument();
  const routes = operationRoutes(doc);
  const g = new Generator(mulberry32(opts.seed));
  const bases = bodyBases(opts.webhookUrl, opts.webhookSecret);
  for (const route of routes) {
    for (const base of bases.filter((b) => b.operationId === route.operationId)) g.bodyCases(route, base);
    const first = bases.find((b) => b.operationId === route.operationId);
    if (first) g.envelopeCases(route, toJson(first.body));
    g.parameterCases(route, opts.fill);
  }
  g.routeCases();
  const cases = shuffle(g.cases, mulberry32(opts.seed ^ 0x9e3779b9));
  const byCategory: Record<string, number> = {};
  for (const c of cases) byCategory[c.category] = (byCategory[c.category] ?? 0) + 1;
  return { cases, byCategory };
}

/** Fisher–Yates with the given generator (a copy). */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
