import type { FastifyRequest } from 'fastify';
import type { SchemaSimulateRequest } from '../../core/api.gen';
import { simulate } from '../../core/callbacks/simulate';

export function callbackHandlers() {
  return {
    simulateCallbacks: async (request: FastifyRequest) => simulate(request.body as SchemaSimulateRequest),
  };
}
