import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScratchFiles } from '../../../worker/data/scratch-files';
import { SpilledSplit, copySelectedRows, type RowEncoding } from '../../../worker/data/spilled-split';

const scratch = new ScratchFiles(join(tmpdir(), `kiln-test-${process.pid}-split-`));
after(() => scratch.release());

const ROWS = 100;
/** Rows `[r, r², r % 3]`: feature 0 names the row, the label is a provisional class id. */
function rowFile() {
  const file = scratch.createRowFile(3);
  for (let r = 0; r < ROWS; r++) {
    file.push(r);
    file.push(r * r);
    file.push(r % 3);
  }
  file.endWrites();
  return file;
}
const file = rowFile();
// Every fourth row belongs to the other side.
const skip = Uint8Array.from({ length: ROWS }, (_, r) => (r % 4 === 1 ? 1 : 0));
const kept = Array.from({ length: ROWS }, (_, r) => r).filter((r) => !skip[r]);
// Provisional ids 0, 1, 2 are classes 2, 0, 1.
const oneHot: RowEncoding = { features: 2, classes: { encoding: 'one-hot', remap: Int32Array.from([2, 0, 1]), width: 3 }, standardization: null };
const layout = { blockRows: 7, windowBlocks: 3 };
const split = new SpilledSplit(file, skip, kept.length, oneHot, layout);

async function collect(s: SpilledSplit, batchSize: number, seed: number | null, epoch: number) {
  const sizes: number[] = [];
  const x: number[] = [];
  const y: number[] = [];
  for await (const b of s.batches(batchSize, seed, epoch)) {
    sizes.push(b.count);
    x.push(...b.x);
    y.push(...b.y);
  }
  return { sizes, x, y };
}

describe('SpilledSplit', () => {
  test('without a seed: this side’s rows in file order, encoded', async () => {
    assert.deepEqual(Array.from(split.visitOrder(null, 0)), kept);
    const { sizes, x, y } = await collect(split, 16, null, 0);
    assert.deepEqual(sizes, [16, 16, 16, 16, 11]);
    assert.deepEqual(x, kept.flatMap((r) => [r, r * r]));
    assert.deepEqual(y, kept.flatMap((r) => [[0, 0, 1], [1, 0, 0], [0, 1, 0]][r % 3]));
  });

  test('the epoch order is a pure function of (seed, epoch): a permutation of the side, windowed', async () => {
    const a = Array.from(split.visitOrder(7, 2));
    // Another instance (as in a resumed process) gives the same order.
    assert.deepEqual(Array.from(new SpilledSplit(file, skip, kept.length, oneHot, layout).visitOrder(7, 2)), a);
    assert.deepEqual([...a].sort((p, q) => p - q), kept, 'each row of the side once');
    assert.notDeepEqual(a, kept, 'shuffled');
    assert.notDeepEqual(Array.from(split.visitOrder(7, 3)), a, 'another epoch, another order');
    assert.notDeepEqual(Array.from(split.visitOrder(8, 2)), a, 'another seed, another order');
    // Windows: the order is a run of windows, each all the side's rows of 3 blocks (7 rows each).
    const keptOf = (block: number) => kept.filter((r) => Math.floor(r / 7) === block);
    let at = 0;
    let windows = 0;
    while (at < a.length) {
      const blocks = new Set<number>();
      let n = 0;
      while (at + n < a.length && (blocks.size < 3 || blocks.has(Math.floor(a[at + n] / 7)))) blocks.add(Math.floor(a[at + n++] / 7));
      const whole = [...blocks].flatMap(keptOf).sort((p, q) => p - q);
      assert.deepEqual(a.slice(at, at + n).sort((p, q) => p - q), whole, `window ${windows} holds whole blocks ${[...blocks]}`);
      at += n;
      windows++;
    }
    assert.equal(windows, Math.ceil(Math.ceil(ROWS / 7) / 3));
    // The batches follow the order exactly.
    const { sizes, x } = await collect(split, 16, 7, 2);
    assert.deepEqual(sizes, [16, 16, 16, 16, 11]);
    assert.deepEqual(x.filter((_, i) => i % 2 === 0), a);
  });

  test('feature statistics are float64 over the side in file order; standardized() applies them', async () => {
    const stats = await split.featureStats();
    const mean0 = kept.reduce((s, r) => s + r, 0) / kept.length;
    const mean1 = kept.reduce((s, r) => s + r * r, 0) / kept.length;
    assert.equal(stats.mean[0], mean0);
    assert.equal(stats.mean[1], mean1);
    assert.equal(stats.std[0], Math.sqrt(kept.reduce((s, r) => s + (r - mean0) ** 2, 0) / kept.length));
    const { x } = await collect(split.standardized(stats), 1000, null, 0);
    assert.equal(x[2], Math.fround((kept[1] - mean0) / stats.std[0]));
    assert.equal(x[3], Math.fround((kept[1] ** 2 - mean1) / stats.std[1]));
  });

  test('copySelectedRows copies the marked rows in order', async () => {
    const to = scratch.createRowFile(3);
    assert.equal(await copySelectedRows(file, to, skip), 25);
    const side = new SpilledSplit(to, null, 25, { features: 2, classes: null, standardization: null });
    const { x, y } = await collect(side, 25, null, 0);
    const picked = Array.from({ length: ROWS }, (_, r) => r).filter((r) => skip[r]);
    assert.deepEqual(x, picked.flatMap((r) => [r, r * r]));
    assert.deepEqual(y, picked.map((r) => r % 3), 'regression: the stored value is the target');
  });
});
