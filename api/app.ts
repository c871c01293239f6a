import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Redis } from 'ioredis';
import { createStore } from '../store/create-store';
import type { ApiConfig } from './config';
import { loadOpenApiDocument, withServer } from './openapi-document';
import { publicOrigin } from './public-origin';
import { ApiKeyAuth } from './plugins/auth';
import { registerOperations } from './plugins/openapi-routes';
import { answerUnsupportedExpectation, clientErrorProblem, frameworkErrorProblem, registerProblemDetails } from './plugins/problem-details';
import { makeValidatorCompiler } from './validation';
import { jobHandlers } from './routes/jobs';
import { runHandlers } from './routes/runs';
import { artifactHandlers } from './routes/artifacts';
import { callbackHandlers } from './routes/callbacks';
import { healthHandlers } from './routes/health';
import { deliveryHandlers } from './routes/deliveries';
import { uiHandlers } from './routes/ui';
import { registerRunPage } from './routes/run-page';
import { registerOperatorRoutes } from './routes/operator';
import { AdminAuth } from './plugins/admin-auth';
import { AdminQueues } from './services/admin-queue';
import { MetricsService } from './services/metrics-service';
import { eventHandlers } from './routes/events';
import { DeliveryService } from './services/delivery-service';
import { WebhookQueue } from './services/webhook-queue';
import { JobService } from './services/job-service';
import { RunService } from './services/run-service';
import { ArtifactService } from './services/artifact-service';
import { TrainingQueue } from './services/training-queue';
import { JobStreamService } from './services/job-stream-service';
import { QueueEventFeed } from './services/event-feed-queue';

/**
 * Builds the API: external plugins (docs), then Kiln's (errors, auth), then the contract's routes.
 * Owns its Redis connection and closes it with the app.
 */
export async function buildApp(config: ApiConfig, opts: { logger?: boolean | object } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    // Closing answers 503 from problem-details (Fastify's own 503 is plain JSON).
    return503OnClosing: false,
    // Every error is a problem document, the router's and the HTTP parser's included.
    frameworkErrors: frameworkErrorProblem,
    clientErrorHandler: clientErrorProblem,
    // A missing Host is refused by problem-details as a problem document, not by Node with an empty 400.
    http: { requireHostHeader: false },
  });
  app.server.on('checkExpectation', answerUnsupportedExpectation);
  app.setValidatorCompiler(makeValidatorCompiler());
  // JSON only: a text body is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  registerProblemDetails(app);

  const doc = loadOpenApiDocument();
  await app.register(swagger, { mode: 'static', specification: { document: doc as any } });
  // Both copies of the document name the origin the client reached, so "Try it out" works on any port or host.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    transformSpecificationClone: false,
    transformSpecification: (spec, request) => withServer(spec, publicOrigin(request, config.publicUrl)),
  });
  app.get('/openapi.json', { schema: { hide: true } as any }, async (request) => withServer(app.swagger(), publicOrigin(request, config.publicUrl)));

  // API side of Redis: fail fast (503) instead of queueing commands while disconnected.
  const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
  // Give the first connection a moment, so requests right after start-up are not refused; if Redis
  // is down the API still starts and answers 503 until it is back.
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3000);
    redis.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const store = createStore(config.store);
  const queue = new TrainingQueue(redis, config.queuePrefix);
  const jobs = new JobService(redis, queue, config.queuePrefix, config.store.uri, config.outbound, {
    submissionsPerMinute: config.submissionsPerMinute,
    maxEpochRows: config.maxEpochRows,
    cost: { maxModelParams: config.maxModelParams, workerMemoryBytes: config.workerMemoryBytes },
  });
  const runs = new RunService(store, jobs);
  const webhookQueue = new WebhookQueue(redis, config.queuePrefix);
  const deliveries = new DeliveryService(redis, webhookQueue, config.queuePrefix, jobs);
  const adminQueues = new AdminQueues(redis, config.queuePrefix);
  app.addHook('onClose', async () => {
    await adminQueues.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    await webhookQueue.close().catch(() => undefined);
    await store.close?.().catch(() => undefined);
    redis.disconnect();
  });

  registerOperations(app, doc, {
    ...jobHandlers(jobs),
    ...runHandlers(runs),
    ...artifactHandlers(new ArtifactService(store, runs)),
    ...callbackHandlers(),
    ...healthHandlers({ redis, store }),
    ...deliveryHandlers(deliveries),
    ...uiHandlers(runs),
    ...eventHandlers(app, new JobStreamService(new QueueEventFeed(redis, config.queuePrefix, (m, f) => app.log.warn(f, m)), jobs, runs, { log: (m, f) => app.log.warn(f, m) })),
  }, new ApiKeyAuth(config.apiKeys));
  // Outside the contract: the run page for people, /metrics and /admin/queues for operators.
  registerRunPage(app);
  await registerOperatorRoutes(app, { metrics: new MetricsService(redis, config.queuePrefix, adminQueues), queues: adminQueues, auth: new AdminAuth(config.adminKey) });
  return app;
}
