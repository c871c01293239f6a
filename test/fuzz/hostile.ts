/**
 * Hand-made hostile cases the contract cannot describe: every case issue 14 reported (cyclic and
 * self-fed Functional models, a 1e9-unit layer, 10,000 layers, arrays 10,000 deep in `units` and
 * `kernelSize`, format specs of absurd width and precision, prototype names as activation,
 * initializer, optimizer and loss, a checkpoint path segment no file system stores, more label
 * classes than outputs, NDJSON nested 100,000 deep, a 50 MB single-line CSV), absurd layer
 * arguments, and framing errors sent as raw bytes (bad Content-Length, chunked garbage, oversized
 * headers and URLs, invalid request lines).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nestedArrays, PROTOTYPE_NAMES, RawJson, toJson, type FuzzCase } from './cases';
import { mulberry32 } from '../../core/random';

const KERAS_FUNCTIONAL = () => JSON.parse(readFileSync(join(__dirname, '../fixtures/keras/keras2-functional.json'), 'utf8'));

/** A small valid iris job without webhooks or callbacks, for the model and callback cases. */
export function irisJob(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 2, batchSize: 16, seed: 3 },
    maxRuntimeSeconds: 20,
    ...overrides,
  };
}

function jobCase(id: string, category: string, body: unknown, extra: Partial<FuzzCase> = {}): FuzzCase {
  return {
    id, category, operation: 'createJob', job: true,
    request: { kind: 'http', method: 'POST', path: '/v1/jobs', headers: { 'content-type': 'application/json' }, body: toJson(body) },
    ...extra,
  };
}

/** A Functional model whose `wide` layer is fed by `deep` and `deep` by `wide` (or `wide` by itself). */
function functionalWith(rewire: (byName: Record<string, any>) => void): Record<string, unknown> {
  const keras = KERAS_FUNCTIONAL();
  const byName = Object.fromEntries((keras.config.layers as any[]).map((l) => [l.name, l]));
  rewire(byName);
  return { keras };
}

/** A Keras 2 Sequential document with `n` dense layers. */
function sequentialOf(n: number): Record<string, unknown> {
  const layers: unknown[] = [{ class_name: 'InputLayer', config: { batch_input_shape: [null, 4], dtype: 'float32', name: 'in' } }];
  for (let i = 0; i < n; i++) layers.push({ class_name: 'Dense', config: { name: `d${i}`, units: i === n - 1 ? 3 : 4, activation: i === n - 1 ? 'softmax' : 'relu' } });
  return { keras: { class_name: 'Sequential', config: { name: 's', layers }, keras_version: '2.15.0', backend: 'tensorflow' } };
}

export interface HostileOptions {
  /** Bytes of the single-line CSV dataset case; 0 leaves it out. @defaultValue 50 MiB */
  bigCsvBytes?: number;
  seed: number;
}

/** The cases issue 14 reported, each a job (they run one at a time, each followed by a canary). */
export function reportedCases(opts: HostileOptions): FuzzCase[] {
  const out: FuzzCase[] = [];
  const r = (id: string, body: unknown, extra: Partial<FuzzCase> = {}) => out.push(jobCase(`reported:${id}`, 'reported', body, { reported: true, ...extra }));
  r('cyclic-functional-model', irisJob({ model: functionalWith((l) => {
    l.wide.inbound_nodes = [[['deep', 0, 0, {}]]];
    l.deep.inbound_nodes = [[['wide', 0, 0, {}]]];
  }) }));
  r('self-fed-layer', irisJob({ model: functionalWith((l) => {
    l.wide.inbound_nodes = [[['wide', 0, 0, {}]]];
  }) }));
  r('dense-1e9-units', irisJob({ model: { inputShape: [4], layers: [{ type: 'dense', units: 1e9, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] } }));
  r('10000-layers', irisJob({ model: sequentialOf(10_000) }));
  r('units-nested-10000', irisJob({ model: { inputShape: [4], layers: [{ type: 'dense', units: nestedArrays(10_000, '8') }, { type: 'dense', units: 3, activation: 'softmax' }] } }));
  r('kernel-size-nested-10000', irisJob({
    model: { inputShape: [8, 8, 1], layers: [{ type: 'conv2d', filters: 4, kernelSize: nestedArrays(10_000, '3') }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }] },
    data: { builtin: 'digits', reshape: [8, 8, 1], validationSplit: 0.2 },
  }));
  r('filepath-epoch-width-0999999999', irisJob({ callbacks: { modelCheckpoint: { filepath: 'm-{epoch:0999999999d}' } } }));
  r('filepath-val-loss-precision-9999999', irisJob({ callbacks: { modelCheckpoint: { filepath: 'e{val_loss:.9999999f}', monitor: 'val_loss' } } }));
  out.push({
    id: 'reported:simulate-precision-99999999e', category: 'reported', operation: 'simulateCallbacks', reported: true,
    request: { kind: 'http', method: 'POST', path: '/v1/callbacks/simulate', headers: { 'content-type': 'application/json' }, body: toJson({
      callbacks: { modelCheckpoint: { filepath: 'e{loss:.99999999e}', monitor: 'loss' } }, history: [{ loss: 1 }, { loss: 0.5 }],
    }) },
  });
  for (const name of ['constructor', '__proto__', 'toString']) {
    r(`activation-${name}`, irisJob({ model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: name }, { type: 'dense', units: 3, activation: 'softmax' }] } }));
    r(`kernel-initializer-${name}`, irisJob({ model: { inputShape: [4], layers: [{ type: 'dense', units: 8, kernelInitializer: name }, { type: 'dense', units: 3, activation: 'softmax' }] } }));
    r(`optimizer-${name}`, irisJob({ compile: { optimizer: { name }, loss: 'categorical_crossentropy' } }));
    r(`loss-${name}`, irisJob({ compile: { optimizer: { name: 'adam' }, loss: name } }));
  }
  r('checkpoint-segment-300-chars', irisJob({ callbacks: { modelCheckpoint: { filepath: 'a'.repeat(300) + '-{epoch}' } } }));
  r('checkpoint-segment-256-chars-nested', irisJob({ callbacks: { modelCheckpoint: { filepath: 'ok/' + 'b'.repeat(256) } } }));
  const classes = ['a', 'b', 'c', 'd', 'e'];
  const fiveClassCsv = () => 'x1,x2,x3,x4,label\n' + Array.from({ length: 100 }, (_v, i) => `${i % 7},${i % 3},${i % 5},${i % 11},${classes[i % 5]}`).join('\n') + '\n';
  r('label-classes-exceed-outputs', irisJob({ data: { uri: 'datasets/five-classes.csv', labelColumn: 'label', validationSplit: 0.2 } }), {
    objects: [{ key: 'datasets/five-classes.csv', body: fiveClassCsv }],
  });
  const deepNdjson = () => [
    JSON.stringify({ x1: 1, x2: 2, x3: 3, x4: 4, label: 'a' }),
    `{"x1":${'['.repeat(100_000)}1${']'.repeat(100_000)},"x2":2,"x3":3,"x4":4,"label":"b"}`,
    JSON.stringify({ x1: 1, x2: 2, x3: 3, x4: 4, label: 'c' }),
  ].join('\n') + '\n';
  r('ndjson-100000-deep-array', irisJob({ data: { uri: 'datasets/deep.ndjson', format: 'ndjson', labelColumn: 'label' }, compile: { optimizer: { name: 'adam' }, loss: 'sparse_categorical_crossentropy' } }), {
    objects: [{ key: 'datasets/deep.ndjson', body: deepNdjson }],
  });
  const bigCsvBytes = opts.bigCsvBytes ?? 50 * 1024 * 1024;
  if (bigCsvBytes > 0) {
    const random = mulberry32(opts.seed ^ 0x51ce);
    const bigLine = () => {
      // One header line of comma-separated numeric-looking column names, no newline at all.
      const parts: string[] = [];
      let size = 0;
      while (size < bigCsvBytes) {
        const p = `c${Math.floor(random() * 1e9)}`;
        parts.push(p);
        size += p.length + 1;
      }
      return parts.join(',');
    };
    r('csv-single-line-50mb', irisJob({ data: { uri: 'datasets/one-line.csv', labelColumn: 'label' } }), {
      objects: [{ key: 'datasets/one-line.csv', body: bigLine }],
    });
  }
  return out;
}

/** Layer arguments no model should be built with (absurd sizes, wrong types, prototype names). */
export function absurdModelCases(): FuzzCase[] {
  const out: FuzzCase[] = [];
  const layer = (id: string, first: Record<string, unknown>, inputShape: unknown = [4], data?: unknown) =>
    out.push(jobCase(`absurd-model:${id}`, 'absurd-model', irisJob({
      model: { inputShape, layers: [first, { type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }] },
      ...(data ? { data } : {}),
    }), { job: false }));
  for (const [label, units] of [['zero', 0], ['negative', -8], ['fraction', 2.5], ['string', '8'], ['null', null], ['bool', true], ['array', [8]], ['object', { value: 8 }], ['1e308', 1e308], ['infinity-literal', new RawJson('1e400')], ['2^31', 2 ** 31], ['1e6', 1e6]] as const) {
    layer(`dense-units-${label}`, { type: 'dense', units });
  }
  for (const name of PROTOTYPE_NAMES) {
    layer(`type-${name}`, { type: name, units: 8 });
    layer(`bias-initializer-${name}`, { type: 'dense', units: 8, biasInitializer: name });
    layer(`regularizer-${name}`, { type: 'dense', units: 8, kernelRegularizer: name });
    layer(`argument-named-${name}`, { type: 'dense', units: 8, [name]: 1 });
  }
  for (const type of ['lambda', 'Lambda', 'model', 'Sequential', 'Functional', 'input_layer', 'TFOpLambda', '']) layer(`type-${type || 'empty'}`, { type, units: 8 });
  const digits = { builtin: 'digits', reshape: [8, 8, 1], validationSplit: 0.2 };
  for (const [label, kernelSize] of [['zero', 0], ['1e9', 1e9], ['pair-1e9', [1e9, 1e9]], ['negative', -3], ['three-d', [3, 3, 3, 3, 3]], ['string', '3']] as const) {
    layer(`conv-kernel-${label}`, { type: 'conv2d', filters: 4, kernelSize }, [8, 8, 1], digits);
  }
  layer('conv-filters-1e7', { type: 'conv2d', filters: 1e7, kernelSize: 3 }, [8, 8, 1], digits);
  layer('conv-strides-zero', { type: 'conv2d', filters: 4, kernelSize: 3, strides: 0 }, [8, 8, 1], digits);
  layer('pool-size-1e9', { type: 'max_pooling2d', poolSize: 1e9 }, [8, 8, 1], digits);
  for (const rate of [-1, 1, 2, 'half']) layer(`dropout-rate-${rate}`, { type: 'dropout', rate });
  layer('reshape-target-1e9', { type: 'reshape', targetShape: [1e9] });
  layer('embedding-input-dim-1e9', { type: 'embedding', inputDim: 1e9, outputDim: 1e3 });
  layer('lstm-units-1e6', { type: 'lstm', units: 1e6 }, [4, 1], { builtin: 'iris', reshape: [4, 1] });
  out.push(jobCase('absurd-model:200-dense-4096', 'absurd-model', irisJob({
    model: { inputShape: [4], layers: [...Array.from({ length: 199 }, () => ({ type: 'dense', units: 4096, activation: 'relu' })), { type: 'dense', units: 3, activation: 'softmax' }] },
  }), { job: false }));
  out.push(jobCase('absurd-model:input-shape-huge', 'absurd-model', irisJob({
    model: { inputShape: [100000, 100000, 100000, 100000], layers: [{ type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }] },
  }), { job: false }));
  out.push(jobCase('absurd-model:batch-65536-digits-wide', 'absurd-model', irisJob({
    model: { inputShape: [64], layers: [{ type: 'dense', units: 65536, activation: 'relu' }, { type: 'dense', units: 10, activation: 'softmax' }] },
    data: { builtin: 'digits' }, fit: { epochs: 1, batchSize: 65536 },
  }), { job: false }));
  // Keras documents: prototype names as class names and layer names, inbound nodes naming nothing.
  out.push(jobCase('absurd-model:keras-class-constructor', 'absurd-model', irisJob({ model: { keras: { class_name: 'constructor', config: { layers: [] } } } }), { job: false }));
  out.push(jobCase('absurd-model:keras-layer-named-proto', 'absurd-model', irisJob({ model: functionalWith((l) => {
    l.wide.name = '__proto__';
    l.wide.config.name = '__proto__';
    l.concatenate.inbound_nodes = [[['__proto__', 0, 0, {}], ['deep', 0, 0, {}]]];
  }) }), { job: false }));
  out.push(jobCase('absurd-model:keras-inbound-missing', 'absurd-model', irisJob({ model: functionalWith((l) => {
    l.concatenate.inbound_nodes = [[['nowhere', 0, 0, {}], ['deep', 0, 0, {}]]];
  }) }), { job: false }));
  out.push(jobCase('absurd-model:keras-node-index-1e9', 'absurd-model', irisJob({ model: functionalWith((l) => {
    l.species.inbound_nodes = [[['batch_normalization', 1e9, 1e9, {}]]];
  }) }), { job: false }));
  out.push(jobCase('absurd-model:keras-disconnected-output', 'absurd-model', irisJob({ model: functionalWith((l) => {
    l.species.inbound_nodes = [[['species', 0, 0, {}]]];
  }) }), { job: false }));
  // Format specs and templates beyond the reported ones.
  for (const [label, filepath] of [
    ['fill-width-huge', '{epoch:x>999999999}'], ['nested-field', '{epoch:{epoch}}'], ['attribute', '{epoch.__class__}'], ['index', '{epoch[0]}'],
    ['proto-field', '{__proto__}'], ['constructor-field', '{constructor}'], ['many-fields', '{epoch}'.repeat(70)], ['unbalanced', '{epoch'],
    ['precision-comma', '{val_loss:,.100000f}'], ['exp-precision', '{val_loss:.5000e}'], ['percent', '{val_loss:.999999%}'],
  ] as const) {
    out.push(jobCase(`format-spec:job-${label}`, 'format-spec', irisJob({ callbacks: { modelCheckpoint: { filepath } } }), { job: false }));
    out.push({
      id: `format-spec:simulate-${label}`, category: 'format-spec', operation: 'simulateCallbacks',
      request: { kind: 'http', method: 'POST', path: '/v1/callbacks/simulate', headers: { 'content-type': 'application/json' }, body: toJson({
        callbacks: { modelCheckpoint: { filepath, monitor: 'val_loss' } }, history: [{ loss: 1, val_loss: 0.9 }, { loss: 0.5, val_loss: 0.4 }],
      }) },
    });
  }
  // Alert conditions that are expensive to parse.
  for (const [label, when] of [['parens-250', '('.repeat(250) + 'loss < 1' + ')'.repeat(250)], ['and-chain', Array.from({ length: 40 }, () => 'loss < 1').join(' and ')], ['proto-metric', '__proto__ > 0'], ['constructor-metric', 'constructor < 1']] as const) {
    out.push(jobCase(`alert:${label}`, 'alert-condition', irisJob({ callbacks: { alerts: [{ when }] } }), { job: false }));
  }
  return out;
}

/** Raw-socket framing cases: what HTTP clients will not send, so a client library cannot be used. */
export function framingCases(): FuzzCase[] {
  const out: FuzzCase[] = [];
  const body = toJson(irisJob());
  const raw = (id: string, bytes: (ctx: { auth: string; host: string }) => string | Buffer, end = false) => out.push({
    id: `framing:${id}`, category: 'framing', operation: 'raw',
    request: { kind: 'raw', end, bytes: (ctx) => { const b = bytes(ctx); return typeof b === 'string' ? Buffer.from(b, 'latin1') : b; } },
  });
  const head = (ctx: { auth: string; host: string }, extra: string) => `POST /v1/jobs HTTP/1.1\r\nHost: ${ctx.host}\r\nAuthorization: ${ctx.auth}\r\nContent-Type: application/json\r\nConnection: close\r\n${extra}\r\n`;
  raw('content-length-too-small', (c) => head(c, `Content-Length: 10\r\n`) + body);
  raw('content-length-too-large-then-close', (c) => head(c, `Content-Length: ${body.length + 100}\r\n`) + body, true);
  raw('content-length-not-a-number', (c) => head(c, 'Content-Length: abc\r\n') + body);
  raw('content-length-negative', (c) => head(c, 'Content-Length: -1\r\n') + body);
  raw('content-length-huge', (c) => head(c, 'Content-Length: 99999999999999999999\r\n') + body);
  raw('content-length-twice-differing', (c) => head(c, `Content-Length: ${body.length}\r\nContent-Length: 5\r\n`) + body);
  raw('content-length-and-chunked', (c) => head(c, `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`) + body);
  raw('content-length-over-limit-no-body', (c) => head(c, 'Content-Length: 3000000\r\n') + '{', true);
  raw('chunked-size-not-hex', (c) => head(c, 'Transfer-Encoding: chunked\r\n') + 'zz\r\n{}\r\n0\r\n\r\n');
  raw('chunked-size-overflow', (c) => head(c, 'Transfer-Encoding: chunked\r\n') + 'ffffffffffffffffff\r\n{}\r\n0\r\n\r\n');
  raw('chunked-missing-crlf', (c) => head(c, 'Transfer-Encoding: chunked\r\n') + `${body.length.toString(16)}\r\n${body}0\r\n\r\n`);
  raw('chunked-truncated-then-close', (c) => head(c, 'Transfer-Encoding: chunked\r\n') + `ff\r\n{"model"`, true);
  raw('chunked-extension-garbage', (c) => head(c, 'Transfer-Encoding: chunked\r\n') + `2;${'x'.repeat(20000)}\r\n{}\r\n0\r\n\r\n`);
  raw('chunked-body-invalid-json', (c) => head(c, 'Transfer-Encoding: chunked\r\n') + '5\r\n{"a":\r\n0\r\n\r\n');
  raw('transfer-encoding-unknown', (c) => head(c, 'Transfer-Encoding: gzip\r\n') + body);
  raw('content-encoding-gzip-not-gzip', (c) => head(c, `Content-Length: ${body.length}\r\nContent-Encoding: gzip\r\n`) + body);
  raw('header-20k', (c) => head(c, `X-Fuzz: ${'h'.repeat(20_000)}\r\nContent-Length: 2\r\n`) + '{}');
  raw('cookie-64k', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nCookie: ${'c=1; '.repeat(13_000)}\r\nConnection: close\r\n\r\n`);
  raw('headers-3000', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\n${Array.from({ length: 3000 }, (_v, i) => `X-H${i}: v`).join('\r\n')}\r\nConnection: close\r\n\r\n`);
  raw('url-9k', (c) => `GET /v1/jobs/job_${'A'.repeat(9000)} HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nConnection: close\r\n\r\n`);
  raw('url-20k', (c) => `GET /v1/jobs?cursor=${'A'.repeat(20_000)} HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nConnection: close\r\n\r\n`);
  raw('url-100k', (c) => `GET /v1/runs/run_${'B'.repeat(100_000)} HTTP/1.1\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('method-unknown', (c) => `FUZZ /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('method-lowercase', (c) => `get /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('version-unknown', (c) => `GET /v1/jobs HTTP/1.7\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('version-2-over-1', (c) => `GET /v1/jobs HTTP/2.0\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('http2-preface', () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  raw('no-host', (c) => `GET /v1/jobs HTTP/1.1\r\nAuthorization: ${c.auth}\r\nConnection: close\r\n\r\n`);
  raw('header-no-colon', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nNoColonHere\r\nConnection: close\r\n\r\n`);
  raw('header-nul', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n`);
  raw('header-obs-fold', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\n folded\r\nConnection: close\r\n\r\n`);
  raw('header-name-space', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nX Bad: v\r\nConnection: close\r\n\r\n`);
  raw('url-space', (c) => `GET /v1/jobs /x HTTP/1.1\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('url-absolute-form', (c) => `GET http://evil.example/v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nConnection: close\r\n\r\n`);
  raw('url-asterisk', (c) => `OPTIONS * HTTP/1.1\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('url-control-chars', (c) => `GET /v1/jobs\u0001\u007f HTTP/1.1\r\nHost: ${c.host}\r\nConnection: close\r\n\r\n`);
  raw('url-bad-percent', (c) => `GET /v1/jobs/%zz%ff HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nConnection: close\r\n\r\n`);
  raw('bare-lf', (c) => `GET /v1/jobs HTTP/1.1\nHost: ${c.host}\nAuthorization: ${c.auth}\nConnection: close\n\n`);
  raw('empty-lines', () => '\r\n\r\n\r\n\r\n', true);
  raw('binary-garbage', () => Buffer.from(Array.from({ length: 512 }, (_v, i) => (i * 97 + 13) & 0xff)), true);
  raw('tls-client-hello', () => Buffer.from('16030100a5010000a10303' + '00'.repeat(80), 'hex'), true);
  raw('pipelined-valid-then-garbage', (c) => `GET /healthz HTTP/1.1\r\nHost: ${c.host}\r\n\r\nGARBAGE\r\n\r\n`);
  raw('expect-100-continue-then-close', (c) => head(c, `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n`), true);
  raw('expect-unknown', (c) => head(c, `Content-Length: ${body.length}\r\nExpect: 200-ok\r\n`) + body);
  raw('idempotency-key-non-ascii', (c) => head(c, `Content-Length: ${body.length}\r\nIdempotency-Key: \u00ff\u00fe\u00e9\r\n`) + body);
  raw('content-type-missing-with-body', (c) => `POST /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  raw('authorization-twice', (c) => `GET /v1/jobs HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: ${c.auth}\r\nAuthorization: Bearer other\r\nConnection: close\r\n\r\n`);
  raw('json-utf16', (c) => {
    const b = Buffer.from('\ufeff' + body, 'utf16le');
    return Buffer.concat([Buffer.from(head(c, `Content-Length: ${b.length}\r\n`), 'latin1'), b]);
  });
  raw('json-invalid-utf8', (c) => {
    const b = Buffer.concat([Buffer.from('{"tags":{"a":"'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('"}}')]);
    return Buffer.concat([Buffer.from(head(c, `Content-Length: ${b.length}\r\n`), 'latin1'), b]);
  });
  return out;
}
