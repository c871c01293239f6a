import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { dereference, loadOpenApiDocument, operationRoutes } from '../../api/openapi-document';
import { startApi, auth, validJob } from '../support/api-app';

describe('the API follows its OpenAPI document', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  const doc = loadOpenApiDocument();
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  const responseSchema = (path: string, method: string, status: number, type = 'application/json') =>
    dereference(doc, doc.paths[path][method].responses[String(status)]?.content?.[type]?.schema
      ?? doc.components.responses.Problem.content['application/problem+json'].schema);

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
});
