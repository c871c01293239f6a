import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { FileStore } from '../../store/file-store';
import { describeStoreBehaviours, rejectsWithCode } from './store-behaviours';

let dir: string;
let store: FileStore;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-file-store-'));
  store = new FileStore(join(dir, 'root'), { fsync: false });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeStoreBehaviours('FileStore', () => store);

/** Every file under `root`, relative, including the driver's own. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(root.length + 1)).sort();
}

describe('FileStore', () => {
  it('names itself with an absolute file:// URI', () => {
    assert.equal(store.uri, pathToFileURL(join(dir, 'root')).href);
    assert.ok(store.uri.startsWith('file:///'));
  });

  it('never lets a reader see a partly written object while it is being replaced', async () => {
    const s = new FileStore(join(dir, 'atomic'), { fsync: false });
    const key = 'runs/r1/weights.bin';
    const size = 2 * 1024 * 1024;
    const versions = [Buffer.alloc(size, 'a'), Buffer.alloc(size, 'b'), Buffer.alloc(size / 2, 'c')];
    await s.put(key, versions[0]);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 30; i++) await s.put(key, versions[(i + 1) % versions.length]);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const got = await s.get(key);
      assert.ok(got, 'object vanished while being replaced');
      assert.ok(versions.some((v) => v.equals(got)), `read a mixed or truncated object of ${got.length} bytes`);
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    // Temporary files are gone and were never listed.
    assert.deepEqual(await s.list(''), [{ key, size: versions[30 % 3].length }]);
    assert.deepEqual((await filesUnder(s.root)).filter((f) => !f.startsWith('runs/')), []);
  });

  it('keeps keys inside the root', async () => {
    const s = new FileStore(join(dir, 'jail', 'root'), { fsync: false });
    await rejectsWithCode(s.put('../outside', 'x'), 'BAD_REQUEST');
    await rejectsWithCode(s.put('a/../../outside', 'x'), 'BAD_REQUEST');
    await rejectsWithCode(s.get('../../etc/passwd'), 'BAD_REQUEST');
    assert.deepEqual(await readdir(join(dir)).then((names) => names.includes('outside')), false);
    await assert.rejects(readdir(join(dir, 'jail', 'root')), /ENOENT/);
  });

  it('fails cleanly, leaving no temporary file, when a key collides with a folder of keys', async () => {
    const s = new FileStore(join(dir, 'collide'), { fsync: true });
    await s.put('a/b/c', 'deep');
    await rejectsWithCode(s.put('a/b', 'flat'), 'INTERNAL', /collide/);
    await rejectsWithCode(s.put('a/b/c/d', 'deeper'), 'INTERNAL', /collide/);
    assert.equal((await s.get('a/b/c'))?.toString(), 'deep');
    assert.deepEqual(await filesUnder(s.root), ['a/b/c']);
  });

  it('creates its root on ping and reports an unusable root as STORE_UNAVAILABLE', async () => {
    const fresh = new FileStore(join(dir, 'fresh', 'nested'));
    await fresh.ping();
    assert.deepEqual(await readdir(join(dir, 'fresh')), ['nested']);
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'not a directory');
    const broken = new FileStore(join(blocker, 'root'));
    await rejectsWithCode(broken.ping(), 'STORE_UNAVAILABLE', /not a writable directory/);
  });

  it('lists nothing, rather than failing, before anything was stored', async () => {
    assert.deepEqual(await new FileStore(join(dir, 'never-written')).list(''), []);
  });
});
