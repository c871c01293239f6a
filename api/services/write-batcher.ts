import type { Redis } from 'ioredis';

/**
 * Lets the commands that concurrent requests send on one Redis connection in the same turn of the
 * event loop leave in one socket write: {@link hold} corks the connection's socket until the
 * event loop's check phase (`setImmediate`), when every command written meanwhile goes out in one
 * `writev`. Requests read from several sockets in one poll phase thus share one write to Redis.
 *
 * Not ioredis's `enableAutoPipelining`: that builds an ioredis Pipeline per batch (copying every
 * script BullMQ defines on the connection into it) and wraps each command in more promises, and on
 * the submission path it cost the API more CPU per POST than the writes it saved (measured with
 * bench/api.ts; see the README's Performance section). Here each
 * command is sent exactly as without batching (same replies, same errors, same order); only the
 * moment the bytes reach the kernel moves, by at most one event-loop turn.
 */
export class WriteBatcher {
  private static readonly byConnection = new WeakMap<Redis, WriteBatcher>();
  private held = false;

  private constructor(private readonly redis: Redis) {}

  /** The connection's batcher (one per connection, so modules sharing it share the held write). */
  static of(redis: Redis): WriteBatcher {
    let batcher = WriteBatcher.byConnection.get(redis);
    if (!batcher) WriteBatcher.byConnection.set(redis, (batcher = new WriteBatcher(redis)));
    return batcher;
  }

  /** Holds the connection's writes until the check phase of this event-loop turn. */
  hold(): void {
    if (this.held || this.redis.status !== 'ready') return;
    const socket = this.redis.stream;
    this.held = true;
    socket.cork();
    setImmediate(() => {
      this.held = false;
      socket.uncork();
    });
  }
}
