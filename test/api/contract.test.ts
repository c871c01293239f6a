import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { dereference, loadOpenApiDocument, operationRoutes } from '../../api/openapi-document';
import { problemDocument } from '../../api/plugins/problem-details';
import { ERROR_CODES, type ErrorCode } from '../../core/errors';
import { startApi, auth, validJob } from '../support/api-app';
import { RedisProcess } from '../support/redis-process';

describe('the API follows its OpenAPI document', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  const doc = loadOpenApiDocument();
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  const responseSchema = (path: string, method: string, status: number, type = 'application/json') =>
    dereference(doc, doc.paths[path][method].responses[String(status)]?.content?.[type]?.schema
      ?? doc.components.schemas.Problem);

  before(async () => {
    api = await startApi('contract');
  });
  after(async () => api.close());

  test('the routes are exactly the operations of the document', () => {
    const fromSpec = operationRoutes(doc).map((r) => `${r.method} ${r.url}`).sort();
    const registered: string[] = [];
    for (const r of operationRoutes(doc)) {
      if (api.app.hasRoute({ method: r.method as 'GET', url: r.url })) registered.push(`${r.method} ${r.url}`);
    }
    assert.deepEqual(registered.sort(), fromSpec);
    assert.ok(fromSpec.length >= 10);
  });

  test('every operation has an example', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of ['get', 'post', 'delete'] as const) {
        const op = (item as any)[method];
        if (!op) continue;
        const text = JSON.stringify(op);
        assert.ok(/"example"|"examples"/.test(text), `${method.toUpperCase()} ${path} has no example`);
      }
    }
  });

  test('the POST /v1/jobs example is itself an accepted job', async () => {
    const example = doc.paths['/v1/jobs'].post.requestBody.content['application/json'].examples.iris.value;
    const res = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: example });
    assert.equal(res.statusCode, 202, res.body);
    assert.ok(ajv.validate(responseSchema('/v1/jobs', 'post', 202), res.json()), JSON.stringify(ajv.errors));
    const job = await api.app.inject({ method: 'GET', url: `/v1/jobs/${res.json().jobId}`, headers: auth() });
    assert.ok(ajv.validate(responseSchema('/v1/jobs/{jobId}', 'get', 200), job.json()), JSON.stringify(ajv.errors));
    const run = await api.app.inject({ method: 'GET', url: `/v1/runs/${res.json().runId}`, headers: auth() });
    assert.ok(ajv.validate(responseSchema('/v1/runs/{runId}', 'get', 200), run.json()), JSON.stringify(ajv.errors));
    const list = await api.app.inject({ method: 'GET', url: '/v1/jobs', headers: auth() });
    assert.ok(ajv.validate(responseSchema('/v1/jobs', 'get', 200), list.json()), JSON.stringify(ajv.errors));
  });

  test('every error body is a problem document', async () => {
    const cases = [
      api.app.inject({ method: 'GET', url: '/v1/jobs/job_00000000000000000000000000', headers: auth() }),
      api.app.inject({ method: 'GET', url: '/v1/jobs/not-an-id', headers: auth() }),
      api.app.inject({ method: 'GET', url: '/v1/nothing-here', headers: auth() }),
      api.app.inject({ method: 'GET', url: '/v1/jobs' }),
      api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{' }),
      api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: { ...validJob(), fit: {} } }),
      api.app.inject({ method: 'POST', url: '/v1/callbacks/simulate', headers: { ...auth(), 'content-type': 'application/json' }, payload: { callbacks: { earlyStopping: { patience: -1 } }, history: [] } }),
    ];
    const problem = dereference(doc, doc.components.schemas.Problem);
    for (const res of await Promise.all(cases)) {
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.ok(ajv.validate(problem, res.json()), JSON.stringify(ajv.errors));
      assert.equal(res.json().status, res.statusCode);
    }
  });

  test('serves the document at /openapi.json and Swagger UI at /docs; health endpoints answer', async () => {
    const spec = await api.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(spec.statusCode, 200);
    assert.equal(spec.json().openapi, '3.1.0');
    assert.ok(spec.json().paths['/v1/jobs']);
    const docs = await api.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
    assert.deepEqual((await api.app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
    const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.deepEqual(ready.json().checks, { redis: 'ok', store: 'ok' });
  });

  test('the served document names the origin the client reached, not the file\'s localhost:8080', async () => {
    const servers = async (headers: Record<string, string>, url = '/openapi.json') =>
      (await api.app.inject({ method: 'GET', url, headers })).json().servers;
    assert.deepEqual(await servers({ host: 'kiln.internal:9123' }), [{ url: 'http://kiln.internal:9123' }]);
    // Swagger UI reads its own copy at /docs/json.
    assert.deepEqual(await servers({ host: 'kiln.internal:9123' }, '/docs/json'), [{ url: 'http://kiln.internal:9123' }]);
    assert.deepEqual(await servers({ host: '[::1]:8443' }), [{ url: 'http://[::1]:8443' }]);
    // Forwarding headers are anyone's to send; without KILN_PUBLIC_URL they are not believed.
    assert.deepEqual(await servers({ host: 'kiln.internal', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }), [{ url: 'http://kiln.internal' }]);
    // A Host that is no host name is not repeated: a relative server, which a browser resolves against the document.
    assert.deepEqual(await servers({ host: 'a b"<script>' }), [{ url: '/' }]);

    // Over a real socket on a port the OS picked.
    const address = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const doc = (await (await fetch(`${address}/openapi.json`)).json()) as { servers: unknown };
    assert.deepEqual(doc.servers, [{ url: address }]);
    assert.notEqual(address, 'http://localhost:8080');
  });

  test('KILN_PUBLIC_URL, when set, is the served server whatever the request says', async () => {
    const behindProxy = await startApi('contract-public-url', { KILN_PUBLIC_URL: 'https://kiln.example.com/ml/' });
    try {
      for (const url of ['/openapi.json', '/docs/json']) {
        const res = await behindProxy.app.inject({ method: 'GET', url, headers: { host: '10.0.0.7:8080' } });
        assert.deepEqual(res.json().servers, [{ url: 'https://kiln.example.com/ml' }]);
      }
    } finally {
      await behindProxy.close();
    }
  });

  /** Every problem example in the document, by the status it documents. */
  function problemExamples(): Array<{ where: string; status: number; name: string; value: any }> {
    const out: Array<{ where: string; status: number; name: string; value: any }> = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item as Record<string, any>)) {
        for (const [status, response] of Object.entries((op?.responses ?? {}) as Record<string, any>)) {
          if (Number(status) < 400) continue;
          const resolved = response.$ref ? doc.components.responses[response.$ref.split('/').pop()] : response;
          const media = resolved.content['application/problem+json'];
          assert.ok(media, `${method} ${path} ${status} is not a problem document`);
          const examples: Array<[string, any]> = media.examples ? Object.entries(media.examples).map(([name, e]: [string, any]) => [name, e.value]) : [['example', media.example]];
          for (const [name, value] of examples) out.push({ where: `${method.toUpperCase()} ${path} ${status} ${response.$ref ?? 'inline'} ${name}`, status: Number(status), name, value });
        }
      }
    }
    return out;
  }

  test('each error status documents a body of its own, with its own code, title and type', () => {
    const examples = problemExamples();
    assert.ok(examples.length > 40);
    const problem = dereference(doc, doc.components.schemas.Problem);
    for (const { where, status, value } of examples) {
      assert.notEqual(value, undefined, `${where}: no example`);
      assert.ok(ajv.validate(problem, value as unknown), `${where}: ${JSON.stringify(ajv.errors)}`);
      assert.equal(value.status, status, `${where}: the example is a ${value.status}`);
      const info = ERROR_CODES[value.code as ErrorCode];
      assert.ok(info, `${where}: unknown code ${value.code}`);
      assert.equal(info.status, status, `${where}: ${value.code} is answered with ${info.status}`);
      const rendered = problemDocument(value.code, value.detail, value.errors ?? [], value.instance);
      assert.deepEqual(value, rendered, `${where}: not what the API renders for ${value.code}`);
    }
    for (const status of [401, 404, 409, 413, 415, 422, 503]) {
      const codes = new Set(examples.filter((e) => e.status === status).map((e) => e.value.code));
      assert.ok(!codes.has('JOB_SPEC_INVALID'), `${status} shows the 400 body`);
      assert.ok(codes.size > 0, `no example for ${status}`);
    }
  });

  test('the error examples are the bodies the API really sends', async () => {
    const component = (name: string, example?: string) => {
      const media = doc.components.responses[name].content['application/problem+json'];
      return example ? media.examples[example].value : media.example;
    };
    const json = { ...auth(), 'content-type': 'application/json' };
    const typo = validJob();
    typo.callbacks.earlyStopping.paitence = 3;
    const exampleJob = 'job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C';
    const first = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...json, 'idempotency-key': 'contract-422' }, payload: validJob() });
    const jobId = first.json().jobId as string;
    const other = validJob();
    other.fit.epochs = 4;
    await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${jobId}`, headers: auth() });
    const cases: Array<[string, string | undefined, InjectOptions]> = [
      ['BadRequest', 'jobSpecInvalid', { method: 'POST', url: '/v1/jobs', headers: json, payload: typo }],
      ['BadRequest', 'badQuery', { method: 'GET', url: '/v1/jobs?status=done', headers: auth() }],
      ['Unauthorized', 'missingKey', { method: 'GET', url: '/v1/jobs' }],
      ['Unauthorized', 'unknownKey', { method: 'GET', url: '/v1/jobs', headers: { authorization: 'Bearer not-a-configured-key-123' } }],
      ['NotFound', 'noJob', { method: 'GET', url: `/v1/jobs/${exampleJob}`, headers: auth() }],
      ['NotFound', 'noRun', { method: 'GET', url: `/v1/runs/${exampleJob.replace('job_', 'run_')}`, headers: auth() }],
      ['Conflict', 'jobEnded', { method: 'DELETE', url: `/v1/jobs/${jobId}`, headers: auth() }],
      ['ContentTooLarge', undefined, { method: 'POST', url: '/v1/jobs', headers: json, payload: JSON.stringify({ pad: 'x'.repeat(70_000) }) }],
      ['UnsupportedMediaType', undefined, { method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'text/plain' }, payload: 'model: dense' }],
      ['UnprocessableContent', undefined, { method: 'POST', url: '/v1/jobs', headers: { ...json, 'idempotency-key': 'contract-422' }, payload: other }],
    ];
    for (const [name, example, request] of cases) {
      const res = await api.app.inject(request);
      const expected = component(name, example);
      assert.equal(res.statusCode, expected.status, `${name} ${example ?? ''}: ${res.body}`);
      assert.deepEqual(JSON.parse(res.body.replaceAll(jobId, exampleJob)), expected, `${name} ${example ?? ''}`);
    }

    // 503: an API whose Redis has gone away (its own redis-server, stopped).
    const server = await RedisProcess.start();
    const redisDown = await startApi('contract-503', { REDIS_URL: server.url });
    try {
      await server.stop('SIGKILL');
      const res = await redisDown.app.inject({ method: 'POST', url: '/v1/jobs', headers: json, payload: validJob() });
      assert.deepEqual(res.json(), component('ServiceUnavailable', 'queueUnavailable'));
      assert.equal(res.headers['retry-after'], '5');
    } finally {
      // The API's cleanup needs its Redis back.
      if (!server.running) await server.restart();
      await redisDown.close();
      await server.close();
    }
  });
});
