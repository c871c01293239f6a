import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { WriteBatcher } from '../../../api/services/write-batcher';
import { REDIS_URL, uniquePrefix } from '../../support/redis';

/** Counts the socket writes (syscalls: one per `_write`, one per `_writev`) a connection makes. */
function countWrites(socket: Socket): { writes: number; chunks: number } {
  const seen = { writes: 0, chunks: 0 };
  const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], cb: unknown) => void };
  const write = s._write.bind(socket);
  const writev = s._writev.bind(socket);
  s._write = (...a: unknown[]) => {
    seen.writes++;
    seen.chunks++;
    write(...a);
  };
  s._writev = (chunks: unknown[], cb: unknown) => {
    seen.writes++;
    seen.chunks += chunks.length;
    writev(chunks, cb);
  };
  return seen;
}

describe('WriteBatcher', () => {
  let redis: Redis;
  let prefix: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ prefix, cleanup } = uniquePrefix('write-batcher'));
    redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    await redis.connect();
  });
  after(async () => {
    redis.disconnect();
    await cleanup();
  });

  test('commands sent in one turn while held leave in one write, with the replies they get unbatched', async () => {
    const seen = countWrites(redis.stream);
    WriteBatcher.of(redis).hold();
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => redis.incrby(`${prefix}:n`, i + 1)));
    assert.equal(seen.writes, 1, `${seen.writes} socket writes for 20 commands`);
    assert.equal(seen.chunks, 20);
    // INCRBY runs in the order sent: the running sums 1, 3, 6, …
    assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => ((i + 1) * (i + 2)) / 2));
  });

  test('without hold every command is its own write (what the batcher saves)', async () => {
    const seen = countWrites(redis.stream);
    await Promise.all(Array.from({ length: 5 }, () => redis.get(`${prefix}:n`)));
    assert.equal(seen.writes, 5);
  });

  test('callbacks of one event-loop phase share the write; a later turn gets its own', async () => {
    const seen = countWrites(redis.stream);
    // Like two HTTP requests read in one poll phase: two callbacks in the same phase, each holding.
    const request = () => new Promise<Array<string | null>>((resolve, reject) => setImmediate(() => {
      WriteBatcher.of(redis).hold();
      Promise.all([redis.set(`${prefix}:a`, '1'), redis.get(`${prefix}:a`), redis.get(`${prefix}:missing`)]).then(resolve, reject);
    }));
    assert.deepEqual(await Promise.all([request(), request()]), [['OK', '1', null], ['OK', '1', null]]);
    assert.equal(seen.writes, 1);
    assert.deepEqual(await request(), ['OK', '1', null]);
    assert.equal(seen.writes, 2);
  });

  test('one batcher per connection, and hold() does nothing on a connection that is not ready', async () => {
    assert.equal(WriteBatcher.of(redis), WriteBatcher.of(redis));
    const idle = new Redis(REDIS_URL, { enableOfflineQueue: false, lazyConnect: true });
    try {
      assert.doesNotThrow(() => WriteBatcher.of(idle).hold());
      // Still fails fast, as the API's connection must when Redis is away.
      await assert.rejects(idle.get(`${prefix}:a`), /enableOfflineQueue/);
    } finally {
      idle.disconnect();
    }
  });
});
