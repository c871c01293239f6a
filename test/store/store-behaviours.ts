import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isKilnError } from '../../core/errors';
import type { ArtifactStore, ByteRange, ListedObject } from '../../store/artifact-store';

/** Reads a stream to the end. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** Asserts `promise` rejects with a KilnError of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isKilnError(e), `expected a KilnError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message !== undefined) assert.match(e.message, message);
    return true;
  });
}

export const BAD_KEYS: Array<[string, string]> = [
  ['empty', ''],
  ['absolute', '/abs/key'],
  ['parent segment', 'a/../b'],
  ['leading parent', '../escape'],
  ['dot segment', 'a/./b'],
  ['empty segment', 'a//b'],
  ['trailing slash', 'a/b/'],
  ['backslash', 'a\\b'],
  ['control character', 'a/b\nc'],
  ['reserved segment', 'a/.kiln-tmp/x'],
  ['too long', 'k'.repeat(1025)],
];

/**
 * The behaviours every ArtifactStore driver must share, as one table run against each driver.
 * `open()` returns the store under test; it must list in pages of at most 7 keys where the
 * driver pages at all, so the paging test crosses page boundaries with few objects.
 */
export function describeStoreBehaviours(name: string, open: () => ArtifactStore): void {
  describe(`${name}: ArtifactStore behaviours`, () => {
    // Each case writes under its own prefix so cases never see each other's objects.
    const ns = () => `t-${randomBytes(4).toString('hex')}`;

    it('stores and reads back Buffer, string and Uint8Array bodies byte for byte', async () => {
      const store = open();
      const p = ns();
      const bytes = randomBytes(70_000);
      const backing = new Uint8Array(16);
      backing.set([9, 9, 1, 2, 3, 4, 9, 9]);
      await store.put(`${p}/buf.bin`, bytes, { contentType: 'application/octet-stream' });
      await store.put(`${p}/text.json`, '{"ü":"ß"}', { contentType: 'application/json' });
      await store.put(`${p}/view.bin`, backing.subarray(2, 6));
      assert.deepEqual(await store.get(`${p}/buf.bin`), bytes);
      assert.equal((await store.get(`${p}/text.json`))?.toString('utf8'), '{"ü":"ß"}');
      assert.deepEqual([...(await store.get(`${p}/view.bin`))!], [1, 2, 3, 4]);
    });

    it('stores an empty object', async () => {
      const store = open();
      const key = `${ns()}/empty`;
      await store.put(key, Buffer.alloc(0));
      assert.deepEqual(await store.get(key), Buffer.alloc(0));
      assert.deepEqual(await store.head(key), { key, size: 0 });
    });

    it('replaces an object put again under the same key', async () => {
      const store = open();
      const key = `${ns()}/a/b/c.txt`;
      await store.put(key, 'first version, longer');
      await store.put(key, 'second');
      assert.equal((await store.get(key))?.toString(), 'second');
      assert.deepEqual(await store.head(key), { key, size: 6 });
    });

    it('answers null for a missing object from get, getStream and head', async () => {
      const store = open();
      const p = ns();
      await store.put(`${p}/present`, 'x');
      for (const key of [`${p}/absent`, `${p}/present/below`, `${p}`]) {
        assert.equal(await store.get(key), null, key);
        assert.equal(await store.getStream(key), null, key);
        assert.equal(await store.head(key), null, key);
      }
    });

    it('streams an object with its size', async () => {
      const store = open();
      const key = `${ns()}/stream.bin`;
      const bytes = randomBytes(300_000);
      await store.put(key, bytes);
      const opened = await store.getStream(key);
      assert.ok(opened);
      assert.equal(opened.size, bytes.length);
      assert.deepEqual(await readAll(opened.stream), bytes);
    });

    it('streams a byte range and reports the whole size; a range past the end is not satisfiable', async () => {
      const store = open();
      const key = `${ns()}/range.bin`;
      const bytes = randomBytes(1000);
      await store.put(key, bytes);
      const cases: Array<[ByteRange, number, number]> = [
        [{ start: 0, end: 1 }, 0, 1], [{ start: 10, end: 19 }, 10, 19], [{ start: 999, end: 999 }, 999, 999], [{ start: 990 }, 990, 999],
        [{ start: 900, end: 5000 }, 900, 999], [{ suffix: 5 }, 995, 999], [{ suffix: 5000 }, 0, 999],
      ];
      for (const [range, start, end] of cases) {
        const opened = await store.getStream(key, { range });
        assert.ok(opened);
        assert.equal(opened.size, 1000, JSON.stringify(range));
        assert.deepEqual(opened.range, { start, end }, JSON.stringify(range));
        assert.deepEqual(await readAll(opened.stream), bytes.subarray(start, end + 1), JSON.stringify(range));
      }
      for (const range of [{ start: 1000 }, { start: 5000, end: 6000 }, { suffix: 0 }]) {
        await rejectsWithCode(store.getStream(key, { range }), 'RANGE_NOT_SATISFIABLE');
      }
      await store.put(`${key}.empty`, '');
      await rejectsWithCode(store.getStream(`${key}.empty`, { range: { start: 0 } }), 'RANGE_NOT_SATISFIABLE');
      await rejectsWithCode(store.getStream(key, { range: { start: 5, end: 4 } }), 'BAD_REQUEST');
      assert.equal(await store.getStream(`${key}.missing`, { range: { start: 0 } }), null);
      const whole = await store.getStream(key);
      assert.equal(whole?.range, undefined);
      whole?.stream.resume();
    });

    it('keeps non-ASCII keys intact', async () => {
      const store = open();
      const key = `${ns()}/résumé ü/数据 1.csv`;
      await store.put(key, 'a,b');
      assert.equal((await store.get(key))?.toString(), 'a,b');
      assert.deepEqual((await store.list(key.slice(0, key.indexOf('/') + 1))).map((o) => o.key), [key]);
    });

    it('lists by plain string prefix, sorted, with sizes', async () => {
      const store = open();
      const p = ns();
      await store.put(`${p}/a/b/2`, 'bb');
      await store.put(`${p}/a/b/1`, 'b');
      await store.put(`${p}/a/bc`, 'ccc');
      await store.put(`${p}/a/x`, 'x');
      await store.put(`${p}/ab`, 'ab');
      assert.deepEqual(await store.list(`${p}/a/b`), [
        { key: `${p}/a/b/1`, size: 1 }, { key: `${p}/a/b/2`, size: 2 }, { key: `${p}/a/bc`, size: 3 },
      ]);
      assert.deepEqual((await store.list(`${p}/a/b/`)).map((o) => o.key), [`${p}/a/b/1`, `${p}/a/b/2`]);
      assert.deepEqual((await store.list(`${p}/a`)).map((o) => o.key), [`${p}/a/b/1`, `${p}/a/b/2`, `${p}/a/bc`, `${p}/a/x`, `${p}/ab`]);
      assert.deepEqual(await store.list(`${p}/nothing/`), []);
      const all = (await store.list('')).map((o) => o.key);
      assert.ok(all.includes(`${p}/ab`) && all.includes(`${p}/a/b/1`));
    });

    it('lists every page when there are more keys than one page holds', async () => {
      const store = open();
      const p = ns();
      const keys = Array.from({ length: 23 }, (_, i) => `${p}/k${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, k)));
      const listed = await store.list(`${p}/`);
      assert.deepEqual(listed.map((o) => o.key), keys);
      assert.ok(listed.every((o) => o.size === o.key.length));
    });

    it('lists one page at a time after a key, with sizes and last-modified times', async () => {
      const store = open();
      const p = ns();
      const keys = Array.from({ length: 12 }, (_, i) => `${p}/r/k${String(i).padStart(2, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, k)));
      await store.put(`${p}/rx`, 'beside the folder, not in it');
      const seen: ListedObject[] = [];
      const sizes: number[] = [];
      let startAfter: string | undefined;
      do {
        const page = await store.listPage(`${p}/r/`, { limit: 5, startAfter });
        sizes.push(page.objects.length);
        seen.push(...page.objects);
        startAfter = page.next ?? undefined;
        if (startAfter !== undefined) assert.equal(startAfter, page.objects[page.objects.length - 1].key);
      } while (startAfter !== undefined);
      assert.deepEqual(sizes, [5, 5, 2]);
      assert.deepEqual(seen.map((o) => o.key), keys);
      assert.ok(seen.every((o) => o.size === o.key.length));
      for (const o of seen) {
        assert.ok(o.lastModified instanceof Date, `${o.key} has a last-modified time`);
        assert.ok(Math.abs(o.lastModified.getTime() - Date.now()) < 60_000, `${o.key} was modified just now: ${o.lastModified.toISOString()}`);
      }
      const whole = await store.listPage(`${p}/r/`, { limit: 12 });
      assert.deepEqual([whole.objects.length, whole.next], [12, null], 'a page that holds the rest is the last');
      assert.deepEqual((await store.listPage(`${p}/r/`)).objects.map((o) => o.key), keys, 'the default page holds 1000');
      assert.deepEqual(await store.listPage(`${p}/r/`, { startAfter: keys[11] }), { objects: [], next: null });
      assert.deepEqual(await store.listPage(`${p}/none/`), { objects: [], next: null });
      for (const limit of [0, 1001, 2.5]) await rejectsWithCode(store.listPage(`${p}/r/`, { limit }), 'BAD_REQUEST', /limit/);
      await rejectsWithCode(store.listPage(`${p}/r/`, { startAfter: '../x' }), 'BAD_REQUEST');
    });

    for (const [label, key] of BAD_KEYS) {
      it(`rejects a key with ${label} in every operation, before touching the store`, async () => {
        const store = open();
        await rejectsWithCode(store.put(key, 'x'), 'BAD_REQUEST', /key/);
        await rejectsWithCode(store.get(key), 'BAD_REQUEST');
        await rejectsWithCode(store.getStream(key), 'BAD_REQUEST');
        await rejectsWithCode(store.head(key), 'BAD_REQUEST');
        if (key !== '' && key !== 'a/b/') {
          await rejectsWithCode(store.list(key), 'BAD_REQUEST', /prefix/);
          await rejectsWithCode(store.listPage(key), 'BAD_REQUEST', /prefix/);
        }
      });
    }

    it('answers ping when reachable', async () => {
      await open().ping();
    });
  });
}
