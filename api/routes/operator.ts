import type { FastifyInstance } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import type { AdminAuth } from '../plugins/admin-auth';
import type { AdminQueues } from '../services/admin-queue';
import type { MetricsService } from '../services/metrics-service';

/** Where the bull-board dashboard is mounted. */
export const ADMIN_QUEUES_PATH = '/admin/queues';

/**
 * Operator endpoints, outside `/v1` and the OpenAPI contract (registered beside
 * registerOperations, never in it): `GET /metrics` for Prometheus, guarded by the operator key
 * when one is configured, and the bull-board dashboard at `/admin/queues`, mounted only when an
 * operator key is configured (it can retry, promote and delete jobs).
 */
export async function registerOperatorRoutes(app: FastifyInstance, deps: { metrics: MetricsService; queues: AdminQueues; auth: AdminAuth }): Promise<void> {
  app.get('/metrics', { schema: { hide: true } as object, onRequest: deps.auth.hook() }, async (_request, reply) => {
    const text = await deps.metrics.render();
    return reply.type(deps.metrics.contentType).header('cache-control', 'no-store').send(text);
  });

  if (!deps.auth.enabled) return;
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({ queues: deps.queues.boardAdapters(), serverAdapter, options: { uiConfig: { boardTitle: 'Kiln queues' } } });
  await app.register(async (scope) => {
    scope.addHook('onRequest', deps.auth.hook());
    await scope.register(serverAdapter.registerPlugin() as never, { prefix: ADMIN_QUEUES_PATH });
  });
}
