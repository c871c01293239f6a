import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { BUILTIN_DATASETS } from '../../../core/builtin-datasets';
import { isKilnError } from '../../../core/errors';
import { loadDataset, type LoadDatasetOptions } from '../../../worker/data/load-dataset';

const STORE = 's3://bucket/kiln';

/** Options whose store holds `objects` (key → CSV text), each served as a `Readable.from` of `chunk`-byte pieces. */
function from(objects: Record<string, string>, loss = 'categorical_crossentropy', chunk = 7): LoadDatasetOptions {
  return {
    loss,
    seed: 42,
    tenant: 'acme',
    storeUri: STORE,
    readObject: async (key: string) => {
      const text = objects[key];
      if (text === undefined) return null;
      const bytes = Buffer.from(text);
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
      return Readable.from(pieces);
    },
  };
}

const csv = (spec: Record<string, unknown>) => ({ labelColumn: 'label', ...spec }) as any;
const rows = (x: Float32Array, width: number) => Array.from({ length: x.length / width }, (_, r) => Array.from(x.subarray(r * width, (r + 1) * width)));

describe('loadDataset: built-ins', () => {
  for (const [name, facts] of Object.entries(BUILTIN_DATASETS)) {
    test(`built-in ${name} matches the facts the API checks against`, async () => {
      const d = await loadDataset({ builtin: name as any }, from({}));
      assert.equal(d.train.count, facts.rows);
      assert.equal(d.train.x.length, facts.rows * facts.features);
      assert.deepEqual(d.featureShape, [facts.features]);
      assert.deepEqual(d.classes, [...facts.classes]);
      assert.deepEqual(d.featureColumns, [...facts.featureColumns]);
      assert.equal(d.labelColumn, facts.labelColumn);
      assert.deepEqual(d.labelShape, [facts.classes.length]);
      assert.equal(d.validation, null);
      assert.equal(d.standardization, null);
    });
  }

  test('iris first row and label as in the file', async () => {
    const d = await loadDataset({ builtin: 'iris' }, from({}, 'sparse_categorical_crossentropy'));
    assert.deepEqual(Array.from(d.train.x.subarray(0, 4)), [5.1, 3.5, 1.4, 0.2].map(Math.fround));
    assert.equal(d.train.y[0], 0); // setosa
    assert.equal(d.train.y[149], 2); // virginica
  });

  test('digits reshape to 8x8x1 and a shape of the wrong size is refused', async () => {
    const d = await loadDataset({ builtin: 'digits', reshape: [8, 8, 1] }, from({}));
    assert.deepEqual(d.featureShape, [8, 8, 1]);
    // Digit labels are numbers: class i is the digit i, not the i-th label in the file.
    assert.deepEqual(d.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    await assert.rejects(loadDataset({ builtin: 'digits', reshape: [8, 8, 2] }, from({})),
      /data\.reshape \[8, 8, 2\] holds 128 values but each row has 64 features; choose a shape whose product is 64/);
  });
});

describe('loadDataset: labels follow the loss', () => {
  const text = 'a,b,label\n1,2,dog\n3,4,cat\n5,6,dog\n';
  const spec = csv({ uri: 'd.csv' });
  const expected: Array<[string, number[], number[], string[] | null]> = [
    ['categorical_crossentropy', [0, 1, 1, 0, 0, 1], [2], ['cat', 'dog']],
    ['sparse_categorical_crossentropy', [1, 0, 1], [], ['cat', 'dog']],
    ['binary_crossentropy', [1, 0, 1], [], ['cat', 'dog']],
    ['hinge', [1, -1, 1], [], ['cat', 'dog']],
  ];
  for (const [loss, y, labelShape, classes] of expected) {
    test(loss, async () => {
      const d = await loadDataset(spec, from({ 'acme/d.csv': text }, loss));
      assert.deepEqual(Array.from(d.train.y), y);
      assert.deepEqual(d.labelShape, labelShape);
      assert.deepEqual(d.classes, classes);
      assert.deepEqual(Array.from(d.train.x), [1, 2, 3, 4, 5, 6]);
    });
  }

  for (const loss of ['mse', 'mean_squared_error', 'mae', 'mean_absolute_error', 'huber']) {
    test(`${loss}: the numeric label itself`, async () => {
      const d = await loadDataset(spec, from({ 'acme/d.csv': 'a,b,label\n1,2,0.5\n3,4,-2e1\n' }, loss));
      assert.deepEqual(Array.from(d.train.y), [0.5, -20]);
      assert.deepEqual(d.labelShape, []);
      assert.equal(d.classes, null);
    });
  }

  test('binary 0/1 labels written as floats stay 0/1; numeric classes sort by value', async () => {
    const bin = await loadDataset(spec, from({ 'acme/d.csv': 'a,b,label\n1,2,1.0\n3,4,0.0\n5,6,1\n' }, 'binary_crossentropy'));
    assert.deepEqual(Array.from(bin.train.y), [1, 0, 1]);
    assert.deepEqual(bin.classes, ['0', '1']);
    const multi = await loadDataset(spec, from({ 'acme/d.csv': 'a,b,label\n1,2,10\n3,4,9\n5,6,2\n' }, 'sparse_categorical_crossentropy'));
    assert.deepEqual(multi.classes, ['2', '9', '10']);
    assert.deepEqual(Array.from(multi.train.y), [2, 1, 0]);
  });
});

describe('loadDataset: CSV reading', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-load-dataset-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A store backed by real files under `dir`, opened as fs read streams with a tiny highWaterMark. */
  async function fileStore(files: Record<string, string | Buffer>, loss = 'categorical_crossentropy'): Promise<LoadDatasetOptions> {
    for (const [key, body] of Object.entries(files)) {
      await mkdir(dirname(join(dir, key)), { recursive: true });
      await writeFile(join(dir, key), body);
    }
    return {
      loss,
      tenant: 'acme',
      storeUri: `file://${dir}`,
      readObject: async (key) => createReadStream(join(dir, key), { highWaterMark: 5 }),
    };
  }

  test('RFC 4180 quoting, CRLF, BOM and UTF-8 from a real file stream', async () => {
    const text = '\uFEFF"x, one","y ""quoted""",label\r\n"1","2","a, b"\r\n3,4,"c\r\nd"\r\n5,6,é\r\n';
    const opts = await fileStore({ 'acme/datasets/q.csv': text });
    const d = await loadDataset(csv({ uri: 'datasets/q.csv' }), opts);
    assert.deepEqual(d.featureColumns, ['x, one', 'y "quoted"']);
    assert.deepEqual(Array.from(d.train.x), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(d.classes, ['a, b', 'c\r\nd', 'é']);
    // The full store URI names the same object.
    const full = await loadDataset(csv({ uri: `file://${dir}/acme/datasets/q.csv` }), opts);
    assert.deepEqual(full.train.x, d.train.x);
  });

  test('chunk boundaries anywhere give the same result', async () => {
    const text = '"x, one","y ""quoted""",label\r\n"1","2","a, b"\r\n3,4,"c\nd"\r\n';
    for (const chunk of [1, 2, 3, 5, 64]) {
      const d = await loadDataset(csv({ uri: 'q.csv' }), from({ 'acme/q.csv': text }, 'categorical_crossentropy', chunk));
      assert.deepEqual(Array.from(d.train.x), [1, 2, 3, 4]);
      assert.deepEqual(d.classes, ['a, b', 'c\nd']);
    }
  });

  test('featureColumns picks and orders the features', async () => {
    const d = await loadDataset(csv({ uri: 'd.csv', featureColumns: ['c', 'a'] }), from({ 'acme/d.csv': 'a,label,b,c\n1,x,2,3\n4,y,5,6\n' }));
    assert.deepEqual(d.featureColumns, ['c', 'a']);
    assert.deepEqual(Array.from(d.train.x), [3, 1, 6, 4]);
  });

  test('a validation file may order its columns differently and uses the training classes', async () => {
    const d = await loadDataset(
      csv({ uri: 't.csv', validation: { uri: 'v.csv' } }),
      from({ 'acme/t.csv': 'a,b,label\n1,2,x\n3,4,y\n5,6,z\n', 'acme/v.csv': 'label,b,a\nz,20,10\nx,40,30\n' }),
    );
    assert.equal(d.validation!.count, 2);
    assert.deepEqual(Array.from(d.validation!.x), [10, 20, 30, 40]);
    assert.deepEqual(Array.from(d.validation!.y), [0, 0, 1, 1, 0, 0]);
  });
});

describe('loadDataset: validation split and standardisation', () => {
  const n = 20;
  const text = 'f,label\n' + Array.from({ length: n }, (_, i) => `${i},${i % 2 ? 'odd' : 'even'}`).join('\n') + '\n';
  const objects = { 'acme/d.csv': text };

  test('the split is seeded, Keras-sized, disjoint, complete, and keeps file order', async () => {
    const spec = csv({ uri: 'd.csv', validationSplit: 0.25 });
    const a = await loadDataset(spec, from(objects));
    const b = await loadDataset(spec, from(objects));
    const c = await loadDataset(spec, { ...from(objects), seed: 43 });
    assert.equal(a.train.count, 15); // floor(20 × 0.75)
    assert.equal(a.validation!.count, 5);
    assert.deepEqual(a.validation!.x, b.validation!.x);
    assert.notDeepEqual(a.validation!.x, c.validation!.x);
    const t = Array.from(a.train.x);
    const v = Array.from(a.validation!.x);
    assert.deepEqual([...t, ...v].sort((p, q) => p - q), Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(t, [...t].sort((p, q) => p - q));
    assert.deepEqual(v, [...v].sort((p, q) => p - q));
    // Labels travel with their rows.
    for (let i = 0; i < v.length; i++) assert.deepEqual(Array.from(a.validation!.y.subarray(2 * i, 2 * i + 2)), v[i] % 2 ? [0, 1] : [1, 0]);
  });

  test('iris: 0.2 holds out 30 rows, the same ones for the same seed', async () => {
    const a = await loadDataset({ builtin: 'iris', validationSplit: 0.2 }, from({}));
    const b = await loadDataset({ builtin: 'iris', validationSplit: 0.2 }, from({}));
    assert.equal(a.train.count, 120);
    assert.equal(a.validation!.count, 30);
    assert.deepEqual(a.validation!.y, b.validation!.y);
  });

  test('standardisation: training statistics (population std), applied to both sides; a constant feature gets std 1', async () => {
    const raw = await loadDataset({ builtin: 'wine', validationSplit: 0.25 }, from({}));
    const std = await loadDataset({ builtin: 'wine', validationSplit: 0.25, standardize: true }, from({}));
    const s = std.standardization!;
    const w = 13;
    for (let c = 0; c < w; c++) {
      const col = rows(raw.train.x, w).map((r) => r[c]);
      const mean = col.reduce((p, q) => p + q, 0) / col.length;
      const sd = Math.sqrt(col.reduce((p, q) => p + (q - mean) ** 2, 0) / col.length);
      assert.ok(Math.abs(s.mean[c] - mean) < 1e-9 * Math.max(1, Math.abs(mean)), `mean of column ${c}`);
      assert.ok(Math.abs(s.std[c] - sd) < 1e-9 * Math.max(1, sd), `std of column ${c}`);
      const expectVal = (raw.validation!.x[c] - mean) / sd;
      assert.ok(Math.abs(std.validation!.x[c] - expectVal) < 1e-4, `validation uses training statistics (column ${c})`);
    }
    const flat = await loadDataset(csv({ uri: 'k.csv', standardize: true }), from({ 'acme/k.csv': 'k,v,label\n5,1,x\n5,3,y\n' }));
    assert.deepEqual(flat.standardization, { mean: [5, 2], std: [1, 1] });
    assert.deepEqual(Array.from(flat.train.x), [0, -1, 0, 1]);
  });
});

describe('loadDataset: errors name the problem and the fix', () => {
  const X = 'acme/x.csv';
  const errors: Array<[string, string | undefined, any, string, RegExp]> = [
    ['a missing object', undefined, { uri: 'nope.csv' }, 'categorical_crossentropy', /data\.uri 'nope\.csv': there is no object 'acme\/nope\.csv' in the store; upload/],
    ['an empty file', '', { uri: 'x.csv' }, 'categorical_crossentropy', /data\.uri 'x\.csv': the file is empty; it needs a header row/],
    ['a header without rows', 'a,label\n', { uri: 'x.csv' }, 'categorical_crossentropy', /has a header but no data rows/],
    ['a missing label column', 'a,b\n1,2\n', { uri: 'x.csv' }, 'categorical_crossentropy', /no label column 'label'; set data\.labelColumn to one of the available columns: 'a', 'b'/],
    ['missing feature columns', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', featureColumns: ['a', 'zz', 'yy'] }, 'categorical_crossentropy', /feature columns 'zz', 'yy' not in the header; fix data\.featureColumns; available columns: 'a', 'label'/],
    ['the label among the features', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', featureColumns: ['a', 'label'] }, 'categorical_crossentropy', /data\.featureColumns includes the label column 'label'/],
    ['a duplicate header', 'a,a,label\n1,2,x\n', { uri: 'x.csv' }, 'categorical_crossentropy', /names column 'a' twice/],
    ['only a label column', 'label\nx\ny\n', { uri: 'x.csv' }, 'categorical_crossentropy', /no feature columns besides the label 'label'/],
    ['a non-numeric feature', 'a,label\n1,x\nhello,y\n', { uri: 'x.csv' }, 'categorical_crossentropy', /row 2 \(line 3\), column 'a': "hello" is not a number/],
    ['an empty feature', 'a,label\n1,x\n,y\n', { uri: 'x.csv' }, 'categorical_crossentropy', /row 2 \(line 3\), column 'a': "" is not a number/],
    ['a hex feature', 'a,label\n0x1F,x\n', { uri: 'x.csv' }, 'categorical_crossentropy', /row 1 \(line 2\), column 'a': "0x1F" is not a number/],
    ['a feature beyond float32', 'a,label\n1e39,x\n', { uri: 'x.csv' }, 'categorical_crossentropy', /"1e39" is not a number/],
    ['a row with too few fields', 'a,b,label\n1,2,x\n3,y\n', { uri: 'x.csv' }, 'categorical_crossentropy', /row 2 \(line 3\) has 2 fields but the header has 3/],
    ['one class', 'a,label\n1,x\n2,x\n', { uri: 'x.csv' }, 'categorical_crossentropy', /label column 'label' has a single class \('x'\); loss categorical_crossentropy needs at least two/],
    ['an empty label', 'a,label\n1,x\n2,\n', { uri: 'x.csv' }, 'sparse_categorical_crossentropy', /row 2 \(line 3\): label column 'label' is empty/],
    ['three classes for binary', 'a,label\n1,x\n2,y\n3,z\n', { uri: 'x.csv' }, 'binary_crossentropy', /has 3 classes \('x', 'y', 'z'\) but loss binary_crossentropy needs exactly two/],
    ['three classes for hinge', 'a,label\n1,x\n2,y\n3,z\n', { uri: 'x.csv' }, 'hinge', /needs exactly two/],
    ['a text label for regression', 'a,label\n1,2\n2,big\n', { uri: 'x.csv' }, 'mse', /row 2 \(line 3\), label column 'label': "big" is not a number; a regression loss needs numeric labels/],
    ['an unclosed quote', 'a,label\n1,"x\n', { uri: 'x.csv' }, 'categorical_crossentropy', /quoted field opened on line 2 is never closed/],
    ["another tenant's object", 'a,label\n1,x\n', { uri: `${STORE}/globex/x.csv` }, 'categorical_crossentropy', /^data\.uri: .*outside your tenant's area/],
    ['another bucket', 'a,label\n1,x\n', { uri: 's3://other/kiln/acme/x.csv' }, 'categorical_crossentropy', /^data\.uri: .*not in this Kiln's artifact store/],
    ['a path with ..', 'a,label\n1,x\n', { uri: 'datasets/../../globex/x.csv' }, 'categorical_crossentropy', /^data\.uri: .*'\.\.' segment/],
    ['a split leaving no validation rows', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', validationSplit: 1e-17 }, 'categorical_crossentropy', /validationSplit 1e-17 of 2 rows leaves 2 for training and 0 for validation/],
    ['a split leaving no training rows', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', validationSplit: 0.9 }, 'categorical_crossentropy', /leaves 0 for training and 2 for validation/],
    ['both kinds of validation', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', validationSplit: 0.5, validation: { uri: 'x.csv' } }, 'categorical_crossentropy', /validationSplit and data\.validation are both set/],
    ['a validation file without a column', 'a,b,label\n1,2,x\n3,4,y\n', { uri: 'x.csv', validation: { uri: 'v.csv' } }, 'categorical_crossentropy', /data\.validation\.uri 'v\.csv': feature column 'b' not in the header; add them to this file \(it must have the same columns as data\.uri 'x\.csv'\)/],
    ['a validation class unseen in training', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', validation: { uri: 'w.csv' } }, 'categorical_crossentropy', /data\.validation\.uri 'w\.csv', line 3: label 'q' in column 'label' is not a class of the training data \('x', 'y'\)/],
  ];
  const extra: Record<string, string> = { 'acme/v.csv': 'a,label\n1,x\n', 'acme/w.csv': 'a,label\n1,x\n2,q\n' };
  for (const [name, text, spec, loss, message] of errors) {
    test(name, async () => {
      const objects: Record<string, string> = text === undefined ? {} : { [X]: text, ...extra };
      await assert.rejects(loadDataset(csv(spec), from(objects, loss)), (err: unknown) => {
        assert.ok(isKilnError(err) && err.code === 'DATASET_INVALID', String(err));
        assert.match((err as Error).message, message);
        return true;
      });
    });
  }

  test('too many distinct labels for a classification loss suggests a regression loss', async () => {
    const text = 'a,label\n' + Array.from({ length: 10_001 }, (_, i) => `1,${i}`).join('\n');
    await assert.rejects(loadDataset(csv({ uri: 'x.csv' }), from({ [X]: text }, 'sparse_categorical_crossentropy', 1 << 16)),
      /more than 10000 distinct values; .*use a regression loss/);
  });

  test('a store fault is rethrown as is, so the job is retried', async () => {
    const opts = { ...from({}), readObject: async () => { throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }); } };
    await assert.rejects(loadDataset(csv({ uri: 'x.csv' }), opts), (err: unknown) => !isKilnError(err) && /ECONNREFUSED/.test(String(err)));
  });
});

describe('loadDataset: NDJSON', () => {
  const nd = (spec: Record<string, unknown>) => csv({ format: 'ndjson', ...spec });
  const text = [
    '{"a": 1, "b": "2.5", "label": "dog"}',
    '{"b": 4, "label": "cat", "a": 3}',
    '',
    '{"a": 5, "b": -6e0, "label": "dog"}',
  ].join('\n');

  test('features by key (numbers or numeric strings, any key order), categorical string labels', async () => {
    for (const chunk of [1, 4, 1 << 16]) {
      const d = await loadDataset(nd({ uri: 'd.ndjson' }), from({ 'acme/d.ndjson': text }, 'categorical_crossentropy', chunk));
      assert.deepEqual(d.featureColumns, ['a', 'b'], 'the first object names the features, in its key order');
      assert.deepEqual(Array.from(d.train.x), [1, 2.5, 3, 4, 5, -6]);
      assert.deepEqual(d.classes, ['cat', 'dog']);
      assert.deepEqual(Array.from(d.train.y), [0, 1, 1, 0, 0, 1]);
      assert.deepEqual(d.labelShape, [2]);
    }
  });

  test('the same rows as CSV and as NDJSON load identically (sparse labels, split, standardisation)', async () => {
    const rowsOf = Array.from({ length: 30 }, (_, i) => ({ x: i * 0.5, y: (i * 7) % 11, label: ['red', 'green', 'blue'][i % 3] }));
    const asCsv = 'x,y,label\n' + rowsOf.map((r) => `${r.x},${r.y},${r.label}`).join('\n');
    const asNd = rowsOf.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const common = { validationSplit: 0.3, standardize: true, stratify: true };
    const a = await loadDataset(csv({ uri: 'd.csv', ...common }), from({ 'acme/d.csv': asCsv }, 'sparse_categorical_crossentropy'));
    const b = await loadDataset(nd({ uri: 'd.ndjson', ...common }), from({ 'acme/d.ndjson': asNd }, 'sparse_categorical_crossentropy'));
    assert.deepEqual(b.train, a.train);
    assert.deepEqual(b.validation, a.validation);
    assert.deepEqual(b.classes, ['blue', 'green', 'red']);
    assert.deepEqual(b.standardization, a.standardization);
  });

  test('featureColumns picks keys; other keys, even unseen in the first object, are ignored', async () => {
    const body = '{"a":1,"b":2,"note":"x","label":0}\n{"a":3,"b":4,"label":1,"extra":[1,2]}\n';
    const d = await loadDataset(nd({ uri: 'd.ndjson', featureColumns: ['b', 'a'] }), from({ 'acme/d.ndjson': body }, 'binary_crossentropy'));
    assert.deepEqual(Array.from(d.train.x), [2, 1, 4, 3]);
    assert.deepEqual(Array.from(d.train.y), [0, 1]);
  });

  test('a validation object in NDJSON too; regression labels may be numeric strings', async () => {
    const d = await loadDataset(nd({ uri: 't.ndjson', validation: { uri: 'v.ndjson' } }), from({
      'acme/t.ndjson': '{"a":1,"label":"0.5"}\n{"a":2,"label":1.5}\n',
      'acme/v.ndjson': '{"label":2,"a":3}\n',
    }, 'mse'));
    assert.deepEqual(Array.from(d.train.y), [0.5, 1.5]);
    assert.deepEqual(Array.from(d.validation!.x), [3]);
  });

  const errors: Array<[string, string, Record<string, unknown>, string, RegExp]> = [
    ['an empty file', '\n\n', {}, 'categorical_crossentropy', /data\.uri 'x\.ndjson': the file is empty; NDJSON needs one JSON object per line/],
    ['no label key', '{"a":1,"lbl":"x"}\n', {}, 'categorical_crossentropy', /no label key 'label' in the first object \(line 1\); set data\.labelColumn to one of the available keys: 'a', 'lbl'/],
    ['a feature key not in the first object', '{"a":1,"label":"x"}\n', { featureColumns: ['a', 'z'] }, 'categorical_crossentropy', /feature key 'z' not in the first object \(line 1\); fix data\.featureColumns/],
    ['a later object without a feature key', '{"a":1,"b":2,"label":"x"}\n{"a":1,"label":"y"}\n', {}, 'categorical_crossentropy', /row 2 \(line 2\) has no key 'b'; every object needs the label key 'label' and each feature key/],
    ['a later object without the label', '{"a":1,"label":"x"}\n\n{"a":1}\n', {}, 'categorical_crossentropy', /row 2 \(line 3\) has no key 'label'/],
    ['a later object with a key the first lacks', '{"a":1,"label":"x"}\n{"a":1,"b":2,"label":"y"}\n', {}, 'categorical_crossentropy', /row 2 \(line 2\) has key 'b' that the first object lacks; .*data\.featureColumns/],
    ['a non-numeric feature', '{"a":1,"label":"x"}\n{"a":"n/a","label":"y"}\n', {}, 'categorical_crossentropy', /row 2 \(line 2\), key 'a': "n\/a" is not a number/],
    ['a null feature', '{"a":null,"label":"x"}\n', {}, 'categorical_crossentropy', /row 1 \(line 1\), key 'a': null is not a number/],
    ['a nested feature', '{"a":[1,2],"label":"x"}\n', {}, 'categorical_crossentropy', /key 'a': \[1,2\] is not a number/],
    ['a feature nested 100,000 levels deep', `{"a":${'['.repeat(100_000)}1${']'.repeat(100_000)},"label":"x"}\n`, {}, 'categorical_crossentropy', /line 1 nests arrays or objects more than 64 levels deep/],
    ['an object as label', '{"a":1,"label":{"k":1}}\n', {}, 'categorical_crossentropy', /row 1 \(line 1\): label key 'label' holds \{"k":1\}; a class label must be a string or a number/],
    ['one class', '{"a":1,"label":"x"}\n{"a":2,"label":"x"}\n', {}, 'categorical_crossentropy', /label column 'label' has a single class \('x'\)/],
    ['a broken line', '{"a":1,"label":"x"}\n{"a":1,"label":"x"\n', {}, 'categorical_crossentropy', /line 2 is not valid JSON/],
    ['a text label for regression', '{"a":1,"label":"big"}\n', {}, 'mse', /label key 'label': "big" is not a number; a regression loss needs numeric labels/],
  ];
  for (const [name, body, extra, loss, message] of errors) {
    test(`refuses ${name}`, async () => {
      await assert.rejects(loadDataset(nd({ uri: 'x.ndjson', ...extra }), from({ 'acme/x.ndjson': body }, loss)), (err: unknown) => {
        assert.ok(isKilnError(err) && err.code === 'DATASET_INVALID', String(err));
        assert.match((err as Error).message, message);
        return true;
      });
    });
  }
});

describe('loadDataset: stratified split', () => {
  /** 100 rows: 70 'a', 20 'b', 10 'c', interleaved so file order says nothing about class. */
  const labels = Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? 'c' : i % 10 < 3 ? 'b' : 'a'));
  const text = 'f,label\n' + labels.map((l, i) => `${i},${l}`).join('\n');
  const count = (y: Float32Array, k: number) => Array.from(y).filter((v) => v === k).length;

  test('each class gives up its share of the held-out rows, seeded; the plain split does not', async () => {
    const spec = csv({ uri: 'd.csv', validationSplit: 0.2, stratify: true });
    let plainOff = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const d = await loadDataset(spec, { ...from({ 'acme/d.csv': text }, 'sparse_categorical_crossentropy'), seed });
      assert.equal(d.validation!.count, 20);
      assert.deepEqual([0, 1, 2].map((k) => count(d.validation!.y, k)), [14, 4, 2], `seed ${seed}: 20% of 70, 20 and 10`);
      assert.deepEqual([0, 1, 2].map((k) => count(d.train.y, k)), [56, 16, 8]);
      const again = await loadDataset(spec, { ...from({ 'acme/d.csv': text }, 'sparse_categorical_crossentropy'), seed });
      assert.deepEqual(again.validation!.x, d.validation!.x, 'the same rows for the same seed');
      const v = Array.from(d.validation!.x);
      assert.deepEqual(v, [...v].sort((p, q) => p - q), 'file order kept');
      const plain = await loadDataset(csv({ uri: 'd.csv', validationSplit: 0.2 }), { ...from({ 'acme/d.csv': text }, 'sparse_categorical_crossentropy'), seed });
      if (count(plain.validation!.y, 2) !== 2 || count(plain.validation!.y, 1) !== 4) plainOff++;
    }
    assert.ok(plainOff > 0, 'without stratify some seed misses the proportions (so the test can tell them apart)');
    const other = await loadDataset(spec, { ...from({ 'acme/d.csv': text }, 'sparse_categorical_crossentropy'), seed: 99 });
    const first = await loadDataset(spec, { ...from({ 'acme/d.csv': text }, 'sparse_categorical_crossentropy'), seed: 1 });
    assert.notDeepEqual(other.validation!.x, first.validation!.x, 'another seed holds out other rows');
  });

  test('iris stratified: 10 of each species held out', async () => {
    const d = await loadDataset({ builtin: 'iris', validationSplit: 0.2, stratify: true }, from({}, 'sparse_categorical_crossentropy'));
    assert.deepEqual([0, 1, 2].map((k) => count(d.validation!.y, k)), [10, 10, 10]);
  });

  test('stratify needs a split and a classification loss', async () => {
    await assert.rejects(loadDataset(csv({ uri: 'd.csv', stratify: true }), from({ 'acme/d.csv': text })), /data\.stratify needs data\.validationSplit/);
    await assert.rejects(loadDataset(csv({ uri: 'd.csv', validationSplit: 0.2, stratify: true }), from({ 'acme/d.csv': 'f,label\n1,2\n3,4\n' }, 'mse')),
      /data\.stratify keeps class proportions, but loss mse is a regression loss with no classes/);
  });
});
