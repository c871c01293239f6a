import type { FastifyReply, FastifyRequest } from 'fastify';
import { renderCurvesSvg } from '../../core/curves-svg';
import type { RunService } from '../services/run-service';

/** Human-facing views of a run. The SVG is re-rendered per request so it tracks a running job. */
export function uiHandlers(runs: RunService) {
  return {
    getRunCurves: async (request: FastifyRequest, reply: FastifyReply) => {
      const run = await runs.getRun(request.tenant, (request.params as { runId: string }).runId);
      const svg = renderCurvesSvg({
        history: run.history,
        events: run.events,
        initialLearningRate: run.spec?.compile?.optimizer?.learningRate,
      });
      // A running job's curves change every epoch; a browser must not keep a stale copy.
      return reply.type('image/svg+xml; charset=utf-8').header('cache-control', 'no-store').send(svg);
    },
  };
}
