import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ScratchFiles } from '../../../worker/data/scratch-files';
import { openFilesLike } from '../../support/open-files';

describe('ScratchFiles and RowFile', () => {
  test('rows written value by value read back by range, across the write buffer', async () => {
    const prefix = join(tmpdir(), `kiln-test-${process.pid}-rows-`);
    const scratch = new ScratchFiles(prefix);
    const file = scratch.createRowFile(3);
    const rows = 200_000; // 600k values: the 1 MiB write buffer fills twice
    for (let r = 0; r < rows; r++) {
      file.push(r);
      file.push(-r);
      file.push(r + 0.5);
    }
    assert.equal(file.rows, rows);
    file.endWrites();
    assert.equal(file.bytes, rows * 12);
    const got = new Float32Array(4 * 3);
    await file.read(131_070, 4, got);
    assert.deepEqual(Array.from(got), [131070, -131070, 131070.5, 131071, -131071, 131071.5, 131072, -131072, 131072.5, 131073, -131073, 131073.5]);
    await assert.rejects(file.read(rows - 1, 2, got), /outside row file/);
    await scratch.release();
  });

  test('a file is unlinked as soon as it is created and its descriptor closed by release', async () => {
    const prefix = join(tmpdir(), `kiln-test-${process.pid}-unlink-`);
    const scratch = new ScratchFiles(prefix);
    const a = scratch.createRowFile(2);
    scratch.createRowFile(5);
    assert.ok(a.path.startsWith(prefix) && a.path.endsWith('.rows'));
    assert.deepEqual(readdirSync(tmpdir()).filter((f) => f.startsWith(basename(prefix))), [], 'no directory entry while in use');
    const open = openFilesLike(basename(prefix));
    assert.equal(open.length, 2, `two open scratch descriptors: ${open.join(', ')}`);
    assert.ok(open.every((t) => t.endsWith('(deleted)')));
    assert.equal(scratch.open, 2);
    await scratch.release();
    assert.equal(scratch.open, 0);
    assert.deepEqual(openFilesLike(basename(prefix)), []);
    await scratch.release(); // twice is fine
    assert.throws(() => a.flush(), /closed/);
  });
});
