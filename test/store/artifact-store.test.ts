import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKilnError } from '../../core/errors';
import { assertValidKey, assertValidPrefix, compareKeys, isValidKey, toBuffer } from '../../store/artifact-store';
import { BAD_KEYS } from './store-behaviours';

const badRequest = (e: unknown) => isKilnError(e) && e.code === 'BAD_REQUEST';

describe('artifact keys', () => {
  for (const key of ['a', 'acme/runs/r1/best.json', 'a/b.c/..d/e..', 'ü/数据 1.csv', '.hidden/x', 'k'.repeat(1024)]) {
    it(`accepts ${JSON.stringify(key.length > 40 ? `${key.slice(0, 10)}… (${key.length})` : key)}`, () => {
      assertValidKey(key);
      assert.equal(isValidKey(key), true);
    });
  }

  for (const [label, key] of BAD_KEYS) {
    it(`rejects a key with ${label}, saying what is wrong`, () => {
      assert.throws(() => assertValidKey(key), (e: unknown) => badRequest(e) && (e as Error).message.includes('Artifact key'));
      assert.equal(isValidKey(key), false);
    });
  }

  it('counts the 1024-byte limit in UTF-8 bytes, not characters', () => {
    assert.equal(isValidKey('é'.repeat(512)), true);
    assert.equal(isValidKey('é'.repeat(513)), false);
  });

  it('accepts listing prefixes that end with a slash, and the empty prefix', () => {
    for (const prefix of ['', 'a/', 'acme/runs/r1/', 'acme/runs/r']) assertValidPrefix(prefix);
    for (const prefix of ['/', '/a', 'a//', '../', 'a/../']) assert.throws(() => assertValidPrefix(prefix), badRequest, prefix);
  });
});

describe('toBuffer and compareKeys', () => {
  it('encodes strings as UTF-8 and wraps views without copying', () => {
    assert.deepEqual([...toBuffer('é')], [0xc3, 0xa9]);
    const backing = new Uint8Array([1, 2, 3, 4]);
    const view = toBuffer(backing.subarray(1, 3));
    assert.deepEqual([...view], [2, 3]);
    backing[1] = 9;
    assert.equal(view[0], 9);
  });

  it('orders keys by UTF-8 bytes as S3 does', () => {
    const keys = ['b', 'a/b', 'a', '\u{1F600}', '\uFF5E', 'a-b'];
    assert.deepEqual([...keys].sort(compareKeys), ['a', 'a-b', 'a/b', 'b', '\uFF5E', '\u{1F600}']);
  });
});
