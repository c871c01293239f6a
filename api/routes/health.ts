import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { KilnError } from '../../core/errors';
import type { ArtifactStore } from '../../store/artifact-store';

export function healthHandlers(deps: { redis: Redis; store: ArtifactStore }) {
  return {
    getHealth: async () => ({ status: 'ok' }),
    getReadiness: async (_request: unknown, reply: FastifyReply) => {
      const [redis, store] = await Promise.all([
        deps.redis.ping().then(() => 'ok', (e: Error) => `unavailable: ${e.message}`),
        deps.store.ping().then(() => 'ok', (e: Error) => `unavailable: ${e.message}`),
      ]);
      if (redis !== 'ok' || store !== 'ok') {
        throw new KilnError(redis !== 'ok' ? 'QUEUE_UNAVAILABLE' : 'STORE_UNAVAILABLE', `not ready: redis ${redis}; store ${store}`, { retryAfter: 5 });
      }
      return reply.send({ status: 'ok', checks: { redis, store } });
    },
  };
}
