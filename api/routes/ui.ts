import type { FastifyReply, FastifyRequest } from 'fastify';
import type { operations } from '../../core/api.gen';
import { resolveOptimizer } from '../../core/compile-spec';
import { renderCurvesSvg } from '../../core/curves-svg';
import type { RunService } from '../services/run-service';

type CurvesQuery = NonNullable<operations['getRunCurves']['parameters']['query']>;

/** Human-facing views of a run. The SVG is re-rendered per request so it tracks a running job. */
export function uiHandlers(runs: RunService) {
  return {
    getRunCurves: async (request: FastifyRequest, reply: FastifyReply) => {
      const run = await runs.getRun(request.tenant, (request.params as { runId: string }).runId);
      const query = (request.query ?? {}) as CurvesQuery;
      const svg = renderCurvesSvg({
        history: run.history,
        events: run.events,
        // The rate training started with: the job's, or its optimizer's Keras default ("adam" alone is 0.001).
        initialLearningRate: run.spec?.compile?.optimizer ? resolveOptimizer(run.spec.compile.optimizer).learningRate : undefined,
        // The axis spans the planned epochs while the run goes on, the epochs that ran once it ended.
        plannedEpochs: run.spec?.fit?.epochs,
        status: run.status,
        stopReason: run.stopReason,
        width: query.width,
        height: query.height,
      });
      // A running job's curves change every epoch; a browser must not keep a stale copy.
      return reply.type('image/svg+xml; charset=utf-8').header('cache-control', 'no-store').send(svg);
    },
  };
}
