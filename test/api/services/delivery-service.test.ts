import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { dereference, loadOpenApiDocument, type OpenApiDocument } from '../../../api/openapi-document';
import { ApiKeyAuth } from '../../../api/plugins/auth';
import { registerOperations } from '../../../api/plugins/openapi-routes';
import { registerProblemDetails } from '../../../api/plugins/problem-details';
import { deliveryHandlers } from '../../../api/routes/deliveries';
import { DeliveryService } from '../../../api/services/delivery-service';
import { JobService } from '../../../api/services/job-service';
import { TrainingQueue } from '../../../api/services/training-queue';
import { WebhookQueue } from '../../../api/services/webhook-queue';
import { makeValidatorCompiler } from '../../../api/validation';
import { parseOutboundAllow } from '../../../core/outbound-policy';
import { messageIdFor, webhookKeys, type DeliverySummary, type WebhookEvent } from '../../../core/webhook-contract';
import { QueueWebhookSender, startWebhookDeliveryWorker, type WebhookDeliveryWorker } from '../../../worker/webhooks/delivery-queue';
import { KEYS, validJob } from '../../support/api-app';
import { REDIS_URL, uniquePrefix } from '../../support/redis';
import { startScriptedReceiver } from '../../support/scripted-receiver';

describe('deliveries API: list and retry, scoped by tenant', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const doc: OpenApiDocument = loadOpenApiDocument();
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  let prefix: string;
  let cleanup: () => Promise<void>;
  let redis: Redis;
  let workerRedis: Redis;
  let trainingQueue: TrainingQueue;
  let webhookQueue: WebhookQueue;
  let sender: QueueWebhookSender;
  let worker: WebhookDeliveryWorker;
  let app: FastifyInstance;
  let receiver: Awaited<ReturnType<typeof startScriptedReceiver>>;
  let answer: (n: number) => number = (n) => (n === 0 ? 503 : 204);
  let jobId: string;
  let summary: (id: string) => Promise<DeliverySummary | null>;

  before(async () => {
    ({ prefix, cleanup } = uniquePrefix('deliveries'));
    redis = new Redis(REDIS_URL);
    workerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    trainingQueue = new TrainingQueue(redis, prefix);
    webhookQueue = new WebhookQueue(redis, prefix);
    const jobs = new JobService(redis, trainingQueue, prefix, 'file:///tmp/kiln-deliveries-test', parseOutboundAllow('127.0.0.1').allow);
    const deliveries = new DeliveryService(redis, webhookQueue, prefix, jobs);
    sender = new QueueWebhookSender({ connection: workerRedis, prefix });
    worker = startWebhookDeliveryWorker({ connection: workerRedis, prefix, schedule: [50], jitter: 0, outbound: parseOutboundAllow('127.0.0.1').allow });
    receiver = await startScriptedReceiver((n) => ({ status: answer(n) }));

    // Only the two operations of the fragment are routed here; the full app is the lead's wiring.
    const routesDoc = { ...doc, paths: { '/v1/jobs/{jobId}/deliveries': doc.paths['/v1/jobs/{jobId}/deliveries'], '/v1/jobs/{jobId}/deliveries/{deliveryId}/retry': doc.paths['/v1/jobs/{jobId}/deliveries/{deliveryId}/retry'] } };
    app = Fastify({ logger: false });
    app.setValidatorCompiler(makeValidatorCompiler());
    registerProblemDetails(app);
    registerOperations(app, routesDoc, deliveryHandlers(deliveries) as never, new ApiKeyAuth(new Map([[KEYS.acme, 'acme'], [KEYS.globex, 'globex']])));
    await app.ready();

    const spec = { ...validJob(), webhook: { url: receiver.url, secret, events: ['job.started', 'job.succeeded'] } };
    jobId = (await jobs.createJob('acme', spec)).accepted.jobId;
    summary = async (id) => {
      const raw = await redis.hget(webhookKeys.deliveries(prefix, jobId), id);
      return raw ? JSON.parse(raw) : null;
    };
  });
  after(async () => {
    await app.close();
    await worker.close();
    await sender.close();
    await webhookQueue.close();
    await trainingQueue.close();
    await receiver.close();
    await cleanup();
    redis.disconnect();
    workerRedis.disconnect();
  });

  const get = (tenant: keyof typeof KEYS, url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEYS[tenant]}` } });
  const post = (tenant: keyof typeof KEYS, url: string) => app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${KEYS[tenant]}` } });
  const schemaOf = (path: string, method: string, status: number) => dereference(doc, doc.paths[path][method].responses[String(status)].content['application/json'].schema);
  const until = async (what: string, cond: () => Promise<boolean>) => {
    const deadline = Date.now() + 10000;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const event = (type: WebhookEvent['type']): WebhookEvent => ({ type, timestamp: new Date().toISOString(), data: { jobId } });

  test('the fragment: every operation has an example that fits its schema; WebhookSpec takes events', () => {
    for (const [path, method, status, example] of [
      ['/v1/jobs/{jobId}/deliveries', 'get', 200, 'retriedThenDelivered'],
      ['/v1/jobs/{jobId}/deliveries/{deliveryId}/retry', 'post', 202, 'requeued'],
    ] as const) {
      const value = doc.paths[path][method].responses[String(status)].content['application/json'].examples[example].value;
      assert.ok(ajv.validate(schemaOf(path, method, status), value), `${method} ${path}: ${JSON.stringify(ajv.errors)}`);
    }
    const jobSpec = dereference(doc, doc.components.schemas.JobSpec);
    const hook = { url: 'https://hooks.example.com/kiln', secret };
    assert.ok(ajv.validate(jobSpec, { ...validJob(), webhook: { ...hook, events: ['job.epoch', 'alert.triggered'] } }), JSON.stringify(ajv.errors));
    assert.ok(ajv.validate(jobSpec, { ...validJob(), webhook: hook }));
    assert.equal(ajv.validate(jobSpec, { ...validJob(), webhook: { ...hook, events: ['job.finished'] } }), false);
    assert.equal(ajv.validate(jobSpec, { ...validJob(), webhook: { ...hook, events: [] } }), false);
  });

  test('lists each delivery with every attempt, in the documented shape', async () => {
    const id = messageIdFor(jobId, 'job.started');
    await sender.send({ url: receiver.url, secret }, id, event('job.started'));
    await until('delivery', async () => (await summary(id))?.state === 'delivered');

    const res = await get('acme', `/v1/jobs/${jobId}/deliveries`);
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(ajv.validate(schemaOf('/v1/jobs/{jobId}/deliveries', 'get', 200), res.json()), JSON.stringify(ajv.errors));
    const [d] = res.json().items;
    assert.equal(d.deliveryId, id);
    assert.equal(d.state, 'delivered');
    assert.deepEqual(d.attemptLog.map((a: any) => [a.attempt, a.statusCode, a.outcome]), [[1, 503, 'retrying'], [2, 204, 'delivered']]);
    assert.equal(d.links.retry, `/v1/jobs/${jobId}/deliveries/${id}/retry`);
  });

  test("another tenant's job is a 404 for list and retry, as a problem document", async () => {
    const id = messageIdFor(jobId, 'job.started');
    for (const res of [await get('globex', `/v1/jobs/${jobId}/deliveries`), await post('globex', `/v1/jobs/${jobId}/deliveries/${id}/retry`)]) {
      assert.equal(res.statusCode, 404, res.body);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json().code, 'NOT_FOUND');
    }
    assert.equal((await get('acme', `/v1/jobs/job_00000000000000000000000000/deliveries`)).statusCode, 404);
  });

  test('an unknown or malformed delivery id is a 404 / 400', async () => {
    assert.equal((await post('acme', `/v1/jobs/${jobId}/deliveries/${messageIdFor(jobId, 'job.failed')}/retry`)).statusCode, 404);
    assert.equal((await post('acme', `/v1/jobs/${jobId}/deliveries/not-a-delivery/retry`)).statusCode, 400);
  });

  test('retry sends a delivered message again with the same webhook-id; attempt numbers continue', async () => {
    const id = messageIdFor(jobId, 'job.started');
    const before = receiver.received.length;
    const res = await post('acme', `/v1/jobs/${jobId}/deliveries/${id}/retry`);
    assert.equal(res.statusCode, 202, res.body);
    assert.ok(ajv.validate(schemaOf('/v1/jobs/{jobId}/deliveries/{deliveryId}/retry', 'post', 202), res.json()), JSON.stringify(ajv.errors));
    assert.equal(res.json().state, 'pending');
    await until('redelivery', async () => (await summary(id))?.attempts === 3 && (await summary(id))?.state === 'delivered');
    assert.equal(receiver.received.length, before + 1);
    assert.equal(receiver.received.at(-1)!.headers['webhook-id'], id);
    const list = (await get('acme', `/v1/jobs/${jobId}/deliveries`)).json();
    assert.deepEqual(list.items.find((d: any) => d.deliveryId === id).attemptLog.map((a: any) => a.attempt), [1, 2, 3]);
  });

  test('retry of a delivery that hit 410 enables the endpoint again and delivers', async () => {
    answer = () => 410;
    const id = messageIdFor(jobId, 'job.succeeded');
    await sender.send({ url: receiver.url, secret }, id, event('job.succeeded'));
    await until('410', async () => (await summary(id))?.state === 'failed');
    assert.equal(await redis.sismember(webhookKeys.disabled(prefix), new URL(receiver.url).href), 1);

    answer = () => 200;
    const res = await post('acme', `/v1/jobs/${jobId}/deliveries/${id}/retry`);
    assert.equal(res.statusCode, 202, res.body);
    await until('redelivery', async () => (await summary(id))?.state === 'delivered');
    assert.equal(await redis.sismember(webhookKeys.disabled(prefix), new URL(receiver.url).href), 0);
  });
});
