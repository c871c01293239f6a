import type { FastifyReply, FastifyRequest } from 'fastify';
import type { operations, SchemaJobSpec } from '../../core/api.gen';
import type { JobService } from '../services/job-service';

type ListQuery = NonNullable<operations['listJobs']['parameters']['query']>;

export function jobHandlers(jobs: JobService) {
  return {
    createJob: async (request: FastifyRequest, reply: FastifyReply) => {
      const key = request.headers['idempotency-key'];
      const { accepted, replayed } = await jobs.createJob(request.tenant, request.body as SchemaJobSpec, typeof key === 'string' ? key : undefined);
      if (replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(202).header('location', accepted.links.self).send(accepted);
    },
    listJobs: async (request: FastifyRequest) => jobs.listJobs(request.tenant, request.query as ListQuery),
    getJob: async (request: FastifyRequest) => jobs.getJob(request.tenant, (request.params as { jobId: string }).jobId),
    cancelJob: async (request: FastifyRequest, reply: FastifyReply) =>
      reply.code(202).send(await jobs.cancelJob(request.tenant, (request.params as { jobId: string }).jobId)),
  };
}
