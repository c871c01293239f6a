import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { BUILTIN_DATASETS } from '../../../core/builtin-datasets';
import { isKilnError } from '../../../core/errors';
import { loadDataset, shuffledIndices, sortClasses } from '../../../worker/training/load-dataset';

const STORE = 's3://bucket/kiln';

/** Options whose store holds `objects` (key → CSV text), each served in `chunk`-byte pieces. */
function from(objects: Record<string, string>, loss = 'categorical_crossentropy', chunk = 7) {
  return {
    loss,
    seed: 42,
    tenant: 'acme',
    storeUri: STORE,
    readObject: async (key: string) => {
      const text = objects[key];
      if (text === undefined) return null;
      const pieces: Buffer[] = [];
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
      return Readable.from(pieces);
    },
  };
}

describe('loadDataset', () => {
  for (const [name, facts] of Object.entries(BUILTIN_DATASETS)) {
    test(`built-in ${name} matches the facts the API checks against`, async () => {
      const d = await loadDataset({ builtin: name as any }, from({}));
      assert.equal(d.train.count, facts.rows);
      assert.deepEqual(d.featureShape, [facts.features]);
      assert.deepEqual(d.classes, [...facts.classes]);
      assert.deepEqual(d.featureColumns, [...facts.featureColumns]);
      assert.deepEqual(d.labelShape, [facts.classes.length]);
    });
  }

  test('labels follow the loss: one-hot, class index, 0/1, ±1, regression', async () => {
    const csv = 'a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n';
    const key = 'acme/d.csv';
    const spec = { uri: 'd.csv', labelColumn: 'label' } as any;
    const oneHot = await loadDataset(spec, from({ [key]: csv }));
    assert.deepEqual(Array.from(oneHot.train.y), [1, 0, 0, 1, 1, 0]);
    assert.deepEqual(oneHot.labelShape, [2]);
    const sparse = await loadDataset(spec, from({ [key]: csv }, 'sparse_categorical_crossentropy'));
    assert.deepEqual(Array.from(sparse.train.y), [0, 1, 0]);
    assert.deepEqual(sparse.labelShape, []);
    const binary = await loadDataset(spec, from({ [key]: csv }, 'binary_crossentropy'));
    assert.deepEqual(Array.from(binary.train.y), [0, 1, 0]);
    const hinge = await loadDataset(spec, from({ [key]: csv }, 'hinge'));
    assert.deepEqual(Array.from(hinge.train.y), [-1, 1, -1]);
    const regression = await loadDataset(spec, from({ [key]: 'a,b,label\n1,2,0.5\n3,4,-2\n' }, 'mse'));
    assert.deepEqual(Array.from(regression.train.y), [0.5, -2]);
    assert.equal(regression.classes, null);
  });

  test('classes sort numerically when every label is a number', () => {
    assert.deepEqual(sortClasses(['10', '9', '2']), ['2', '9', '10']);
    assert.deepEqual(sortClasses(['b', 'a', 'B']), ['B', 'a', 'b']);
  });

  test('RFC 4180 quoting, CRLF and chunk boundaries anywhere', async () => {
    const csv = '"x, one","y ""quoted""",label\r\n"1","2","a, b"\r\n3,4,"c\nd"\r\n';
    for (const chunk of [1, 2, 3, 5, 64]) {
      const d = await loadDataset({ uri: 'q.csv', labelColumn: 'label' } as any, from({ 'acme/q.csv': csv }, 'categorical_crossentropy', chunk));
      assert.deepEqual(d.featureColumns, ['x, one', 'y "quoted"']);
      assert.deepEqual(Array.from(d.train.x), [1, 2, 3, 4]);
      assert.deepEqual(d.classes, ['a, b', 'c\nd']);
    }
  });

  test('the validation split is seeded: the same seed gives the same rows, another seed others', async () => {
    const spec = { builtin: 'iris', validationSplit: 0.2 } as any;
    const a = await loadDataset(spec, from({}));
    const b = await loadDataset(spec, from({}));
    const c = await loadDataset(spec, { ...from({}), seed: 43 });
    assert.equal(a.validation!.count, 30);
    assert.equal(a.train.count, 120);
    assert.deepEqual(a.validation!.x, b.validation!.x);
    assert.notDeepEqual(a.validation!.x, c.validation!.x);
  });

  test('standardisation uses the training rows only and is saved', async () => {
    const d = await loadDataset({ builtin: 'wine', validationSplit: 0.25, standardize: true } as any, from({}));
    const s = d.standardization!;
    assert.equal(s.mean.length, 13);
    for (let c = 0; c < 13; c++) {
      let sum = 0;
      for (let r = 0; r < d.train.count; r++) sum += d.train.x[r * 13 + c];
      assert.ok(Math.abs(sum / d.train.count) < 1e-4, `column ${c} has mean 0 on the training rows`);
    }
  });

  test('reshape changes the sample shape', async () => {
    const d = await loadDataset({ builtin: 'digits', reshape: [8, 8, 1] } as any, from({}));
    assert.deepEqual(d.featureShape, [8, 8, 1]);
  });

  test('epoch orders are permutations that depend only on (count, seed, epoch)', () => {
    const a = shuffledIndices(50, 7, 3);
    assert.deepEqual(a, shuffledIndices(50, 7, 3));
    assert.notDeepEqual(a, shuffledIndices(50, 7, 4));
    assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  });

  const errors: Array<[string, string | undefined, any, RegExp]> = [
    ['a missing object', undefined, { uri: 'nope.csv', labelColumn: 'label' }, /no object 'nope\.csv'/],
    ['an empty file', '', { uri: 'x.csv', labelColumn: 'label' }, /is empty/],
    ['a header without rows', 'a,label\n', { uri: 'x.csv', labelColumn: 'label' }, /no data rows/],
    ['a missing label column', 'a,b\n1,2\n', { uri: 'x.csv', labelColumn: 'label' }, /no label column 'label'; its columns are: a, b/],
    ['missing feature columns', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', labelColumn: 'label', featureColumns: ['a', 'zz'] }, /no column 'zz'/],
    ['a non-numeric feature', 'a,label\n1,x\nhello,y\n', { uri: 'x.csv', labelColumn: 'label' }, /line 3, column 'a': 'hello' is not a number/],
    ['a row with too few fields', 'a,b,label\n1,2,x\n3,y\n', { uri: 'x.csv', labelColumn: 'label' }, /line 3: 2 fields where the header has 3/],
    ['one class', 'a,label\n1,x\n2,x\n', { uri: 'x.csv', labelColumn: 'label' }, /only one class \('x'\)/],
    ['an unclosed quote', 'a,label\n1,"x\n', { uri: 'x.csv', labelColumn: 'label' }, /inside a quoted field/],
    ['another tenant\'s object', 'a,label\n1,x\n', { uri: `${STORE}/globex/x.csv`, labelColumn: 'label' }, /outside your tenant's area/],
    ['a split leaving no validation rows', 'a,label\n1,x\n2,y\n', { uri: 'x.csv', labelColumn: 'label', validationSplit: 0.2 }, /leaves no validation rows/],
  ];
  for (const [name, text, spec, message] of errors) {
    test(`fails clearly on ${name}`, async () => {
      const objects: Record<string, string> = text === undefined ? {} : { 'acme/x.csv': text };
      await assert.rejects(loadDataset(spec, from(objects)), (err: unknown) => {
        assert.ok(isKilnError(err) && err.code === 'DATASET_INVALID', String(err));
        assert.match((err as Error).message, message);
        return true;
      });
    });
  }
});
