import type { FastifyInstance } from 'fastify';
import { KilnError } from '../../core/errors';
import { loadPageDocument, type PageDocument } from './page-document';

/**
 * `GET /runs/{runId}`: the run page (api/pages/run-page/), one static document for every run: its
 * script reads the run id from the path. Outside `/v1` and the OpenAPI contract (it is a document
 * for people, not an API operation) and unauthenticated, because it carries no data: the browser
 * cannot send a Bearer key on navigation, so the script asks the API for everything with the
 * viewer's key.
 */
export function registerRunPage(app: FastifyInstance): void {
  // Read on first use, so an API started from an unbuilt tree still serves everything else.
  let page: PageDocument | undefined;
  app.get('/runs/:runId', { schema: { hide: true } as object }, async (request, reply) => {
    const { runId } = request.params as { runId: string };
    if (!/^run_[0-9A-Za-z]{10,40}$/.test(runId)) throw new KilnError('NOT_FOUND', `no run page for '${runId}': run ids look like run_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C`);
    page ??= loadPageDocument('run-page', 'Kiln run');
    return reply.headers(page.headers).send(page.html);
  });
}
