import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { operations } from '../../core/api.gen';
import { operationRoutes, type OpenApiDocument } from '../openapi-document';
import type { ApiKeyAuth } from './auth';

export type OperationId = keyof operations;
export type OperationHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
/** One handler per operation of the contract; a new operation does not compile until it has one. */
export type OperationHandlers = { [K in OperationId]: OperationHandler };

/**
 * Registers one route per operation of the OpenAPI document, with the request schemas taken from
 * the document, the handler of the same operationId, and API-key auth where the document asks for it.
 */
export function registerOperations(app: FastifyInstance, doc: OpenApiDocument, handlers: OperationHandlers, auth: ApiKeyAuth): void {
  const routes = operationRoutes(doc);
  const missing = Object.keys(handlers).filter((id) => !routes.some((r) => r.operationId === id));
  if (missing.length) throw new Error(`handlers for operations the contract does not have: ${missing.join(', ')}`);
  for (const route of routes) {
    const handler = handlers[route.operationId as OperationId];
    if (!handler) throw new Error(`the contract's operation ${route.operationId} has no handler`);
    app.route({
      method: route.method as 'GET',
      url: route.url,
      schema: route.schema,
      // Authenticate before validating, so an anonymous caller learns nothing about the body's shape.
      onRequest: route.secured
        ? async (request) => {
            request.tenant = auth.tenantFor(request);
          }
        : undefined,
      handler,
    });
  }
}
