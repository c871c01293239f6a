import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RunService } from '../services/run-service';

type RunParams = { runId: string; file?: string };

export function runHandlers(runs: RunService) {
  return {
    getRun: async (request: FastifyRequest) => runs.getRun(request.tenant, (request.params as RunParams).runId),
    getModelFile: async (request: FastifyRequest, reply: FastifyReply) => {
      const { runId, file } = request.params as Required<RunParams>;
      const object = await runs.getModelFile(request.tenant, runId, file);
      return reply
        .type(file.endsWith('.json') ? 'application/json' : 'application/octet-stream')
        .header('content-length', object.size)
        .send(object.stream);
    },
    getRunLog: async (request: FastifyRequest, reply: FastifyReply) => {
      const object = await runs.getLog(request.tenant, (request.params as RunParams).runId);
      return reply.type('text/csv; charset=utf-8').header('content-length', object.size).send(object.stream);
    },
  };
}
