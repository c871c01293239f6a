import type { FastifyReply, FastifyRequest } from 'fastify';
import type { operations } from '../../core/api.gen';
import type { ArtifactService, KerasModelQuery } from '../services/artifact-service';

type RunParams = { runId: string };
type ListQuery = NonNullable<operations['listRunArtifacts']['parameters']['query']>;

/** `attachment` with the name as ASCII and, when it is not plain ASCII, also as RFC 8187 UTF-8. */
function attachment(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return ascii === fileName
    ? `attachment; filename="${fileName}"`
    : `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

export function artifactHandlers(artifacts: ArtifactService) {
  return {
    listRunArtifacts: async (request: FastifyRequest) =>
      artifacts.listRunArtifacts(request.tenant, (request.params as RunParams).runId, request.query as ListQuery),
    downloadRunArtifact: async (request: FastifyRequest, reply: FastifyReply) => {
      const { runId } = request.params as RunParams;
      const { path } = request.query as { path: string };
      const range = request.headers.range;
      const object = await artifacts.downloadRunArtifact(request.tenant, runId, path, typeof range === 'string' ? range : undefined);
      reply.header('accept-ranges', 'bytes');
      if ('unsatisfiable' in object) {
        reply.header('content-range', `bytes */${object.size}`);
        throw object.unsatisfiable;
      }
      reply
        .type(object.contentType)
        .header('content-disposition', attachment(object.fileName))
        .header('x-content-type-options', 'nosniff');
      if (object.range === undefined) return reply.header('content-length', object.size).send(object.stream);
      const { start, end } = object.range;
      return reply
        .code(206)
        .header('content-range', `bytes ${start}-${end}/${object.size}`)
        .header('content-length', end - start + 1)
        .send(object.stream);
    },
    getRunModelArchive: async (request: FastifyRequest, reply: FastifyReply) => {
      const archive = await artifacts.getRunModelArchive(request.tenant, (request.params as RunParams).runId);
      return reply
        .type('application/x-tar')
        .header('content-length', archive.size)
        .header('content-disposition', attachment(archive.fileName))
        .send(archive.stream);
    },
    getRunKerasModel: async (request: FastifyRequest, reply: FastifyReply) => {
      const model = await artifacts.getRunKerasModel(request.tenant, (request.params as RunParams).runId, request.query as KerasModelQuery);
      return reply
        .type(model.contentType)
        .header('content-length', model.size)
        .header('content-disposition', attachment(model.fileName))
        .send(model.stream);
    },
  };
}
