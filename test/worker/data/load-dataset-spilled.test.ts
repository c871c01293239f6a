import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadDataset, loadDatasetWithin, type LoadDatasetOptions, type LoadedDataset, type SpilledDataset } from '../../../worker/data/load-dataset';
import { ScratchFiles } from '../../../worker/data/scratch-files';
import type { SpilledSplit } from '../../../worker/data/spilled-split';

/**
 * A dataset past the worker's dataset memory is spilled to a scratch file; everything but the epoch
 * order must come out as on the in-memory path: the same held-out rows, values, targets, classes,
 * standardisation figures and error messages.
 */

const scratch = new ScratchFiles(join(tmpdir(), `kiln-test-${process.pid}-load-`));
after(() => scratch.release());

function from(objects: Record<string, string>, loss: string, seed = 42): LoadDatasetOptions {
  return {
    loss,
    seed,
    tenant: 'acme',
    storeUri: 's3://bucket/kiln',
    readObject: async (key: string) => (objects[key] === undefined ? null : Readable.from([Buffer.from(objects[key])])),
  };
}

/** All of a spilled side's rows in stored order, as one batch. */
async function whole(side: SpilledSplit): Promise<{ x: Float32Array; y: Float32Array }> {
  for await (const b of side.batches(side.count, null, 0)) return { x: b.x, y: b.y };
  throw new Error('no rows');
}

async function assertSame(spilled: LoadedDataset | SpilledDataset, memory: LoadedDataset): Promise<void> {
  assert.equal(spilled.storage, 'spilled');
  const s = spilled as SpilledDataset;
  for (const key of ['classes', 'featureColumns', 'featureShape', 'labelShape', 'labelColumn', 'standardization'] as const) {
    assert.deepEqual(s[key], memory[key], key);
  }
  assert.equal(s.train.count, memory.train.count);
  const train = await whole(s.train);
  assert.deepEqual(train.x, memory.train.x, 'training features (standardised alike)');
  assert.deepEqual(train.y, memory.train.y, 'training targets');
  assert.equal(s.validation?.count, memory.validation?.count);
  if (s.validation && memory.validation) {
    const val = await whole(s.validation);
    assert.deepEqual(val.x, memory.validation.x, 'the same held-out rows, in the same order');
    assert.deepEqual(val.y, memory.validation.y);
  }
  assert.ok(s.bytes > 0);
}

const SMALL = { memoryBytes: 1024, scratch };

describe('loadDatasetWithin: a spilled dataset equals the in-memory one', () => {
  const cases: Array<[string, any, string]> = [
    ['iris, sparse labels, validationSplit, standardize', { builtin: 'iris', validationSplit: 0.2, standardize: true }, 'sparse_categorical_crossentropy'],
    ['wine, one-hot, stratified split, standardize', { builtin: 'wine', validationSplit: 0.25, stratify: true, standardize: true }, 'categorical_crossentropy'],
    ['digits, reshape, no split', { builtin: 'digits', reshape: [8, 8, 1] }, 'categorical_crossentropy'],
  ];
  for (const [name, spec, loss] of cases) {
    test(name, async () => {
      const opts = from({}, loss, 5);
      const memory = await loadDataset(spec, opts);
      await assertSame(await loadDatasetWithin(spec, opts, SMALL), memory);
    });
  }

  const header = 'a,b,label\n';
  const train = header + Array.from({ length: 300 }, (_, r) => `${r % 17},${(r * 7) % 11 - 5},${['no', 'yes'][r % 2]}`).join('\n') + '\n';
  const val = header + Array.from({ length: 40 }, (_, r) => `${r % 5},${r - 20},${['yes', 'no'][r % 2]}`).join('\n') + '\n';
  const files = { 'acme/t.csv': train, 'acme/v.csv': val };
  const withFile = { uri: 't.csv', labelColumn: 'label', validation: { uri: 'v.csv' }, standardize: true } as any;

  test('a separate validation file: training rows spilled, validation rows in memory, both read from files', async () => {
    const opts = from(files, 'binary_crossentropy');
    // 300 rows × 3 values × 4 bytes = 3600: past 2 KB; the 480-byte validation file would fit.
    await assertSame(await loadDatasetWithin(withFile, opts, { memoryBytes: 2048, scratch }), await loadDataset(withFile, opts));
  });

  test('a training file that fits beside a validation file that does not: both spilled', async () => {
    const opts = from(files, 'hinge');
    await assertSame(await loadDatasetWithin(withFile, opts, { memoryBytes: 3800, scratch }), await loadDataset(withFile, opts));
  });

  test('a regression target, split and standardised', async () => {
    const spec = { uri: 't.csv', labelColumn: 'b', validationSplit: 0.3, standardize: true } as any;
    const opts = from({ 'acme/t.csv': train.replace(/,(no|yes)\n/g, (_, l) => `,${l === 'no' ? 0 : 1}\n`) }, 'mse', 9);
    await assertSame(await loadDatasetWithin(spec, opts, SMALL), await loadDataset(spec, opts));
  });

  test('within the budget the result is exactly loadDataset’s', async () => {
    const spec = { builtin: 'wine', validationSplit: 0.25, stratify: true, standardize: true } as any;
    const opts = from({}, 'categorical_crossentropy', 3);
    const within = await loadDatasetWithin(spec, opts, { memoryBytes: 1 << 20, scratch });
    assert.equal(within.storage, 'memory');
    assert.deepEqual(within, await loadDataset(spec, opts));
  });

  test('the same problems with the same messages', async () => {
    const cases: Array<[any, Record<string, string>, string]> = [
      [{ uri: 'one.csv', labelColumn: 'label' }, { 'acme/one.csv': header + '1,2,x\n'.repeat(50) }, 'sparse_categorical_crossentropy'],
      [{ uri: 'three.csv', labelColumn: 'label' }, { 'acme/three.csv': header + Array.from({ length: 60 }, (_, r) => `1,2,${'xyz'[r % 3]}\n`).join('') }, 'binary_crossentropy'],
      [withFile, { 'acme/t.csv': train, 'acme/v.csv': val.replace('yes', 'maybe') }, 'categorical_crossentropy'],
      [{ uri: 'few.csv', labelColumn: 'label', validationSplit: 0.5 }, { 'acme/few.csv': header + '1,2,x\n' }, 'mse'],
      [{ uri: 'bad.csv', labelColumn: 'label' }, { 'acme/bad.csv': train + '1,oops,yes\n' }, 'binary_crossentropy'],
    ];
    for (const [spec, objects, loss] of cases) {
      const opts = from(objects, loss);
      let expected = '';
      await assert.rejects(loadDataset(spec, opts), (err: Error) => ((expected = err.message), true));
      assert.ok(expected.length > 0);
      await assert.rejects(loadDatasetWithin(spec, opts, { memoryBytes: 8, scratch }), (err: Error) => {
        assert.equal(err.message, expected);
        return true;
      });
    }
  });
});
