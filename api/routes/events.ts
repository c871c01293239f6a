import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatSse, type JobStreamService } from '../services/job-stream-service';

/** How often an idle stream sends a comment line, so proxies and clients keep it open. */
export const KEEP_ALIVE_MS = 15_000;

/**
 * `GET /v1/jobs/{jobId}/events` as Server-Sent Events. Everything that can fail (auth, tenancy,
 * Redis, the store) fails before the first byte, as a problem document; after that the reply is
 * hijacked and written directly. Open streams end when the app closes.
 */
export function eventHandlers(app: FastifyInstance, events: JobStreamService, keepAliveMs = KEEP_ALIVE_MS) {
  app.addHook('preClose', async () => events.close());
  return {
    streamJobEvents: async (request: FastifyRequest, reply: FastifyReply) => {
      const { jobId } = request.params as { jobId: string };
      const lastEventId = request.headers['last-event-id'];
      const stream = await events.streamJobEvents(request.tenant, jobId, typeof lastEventId === 'string' ? lastEventId : undefined);
      // From here Fastify (and the problem-details handler) must not write to this response.
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      });
      const write = (text: string) => {
        if (!res.destroyed && !res.writableEnded) res.write(text);
      };
      const keepAlive = setInterval(() => write(': keep-alive\n\n'), keepAliveMs);
      res.on('close', () => {
        clearInterval(keepAlive);
        stream.close();
      });
      // A client that left while the history was read: its 'close' has already happened.
      if (res.destroyed || request.raw.socket?.destroyed) stream.close();
      await stream.run((m) => write(formatSse(m)));
      clearInterval(keepAlive);
      res.end();
    },
  };
}
