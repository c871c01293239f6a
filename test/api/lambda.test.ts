import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_URL, uniquePrefix } from '../support/redis';
import { KEYS, validJob } from '../support/api-app';
import { handler, shutdown } from '../../api/lambda';

const { prefix, cleanup } = uniquePrefix('lambda');
const storeDir = mkdtempSync(join(tmpdir(), 'kiln-lambda-'));
Object.assign(process.env, { REDIS_URL, KILN_QUEUE_PREFIX: prefix, KILN_STORE: 'file://' + storeDir, KILN_API_KEYS: `acme:${KEYS.acme},globex:${KEYS.globex}`, LOG_LEVEL: 'silent' });

/** An API Gateway HTTP API (payload format 2.0) event, as the service sends it. */
function event(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'user-agent': 'curl/8.5.0', 'x-forwarded-proto': 'https', ...(text ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } : {}), ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'curl/8.5.0' },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: '$default',
      stage: '$default',
      time: '28/Nov/2026:10:00:00 +0000',
      timeEpoch: 1795860000000,
    },
    body: text,
    isBase64Encoded: false,
  };
}
const context = { awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678', functionName: 'kiln-api', getRemainingTimeInMillis: () => 30000 };

after(async () => {
  await shutdown();
  await cleanup();
  rmSync(storeDir, { recursive: true, force: true });
});

test('the Lambda handler serves the same routes, bodies and errors as the server', async () => {
  const bearer = { authorization: `Bearer ${KEYS.acme}` };
  const created: any = await handler(event('POST', '/v1/jobs', validJob(), bearer), context);
  assert.equal(created.statusCode, 202, created.body);
  const accepted = JSON.parse(created.body);
  assert.match(accepted.jobId, /^job_/);
  assert.equal(created.headers.location, `/v1/jobs/${accepted.jobId}`);

  const got: any = await handler(event('GET', `/v1/jobs/${accepted.jobId}`, undefined, bearer), context);
  assert.equal(got.statusCode, 200);
  assert.equal(JSON.parse(got.body).status, 'queued');

  const bad = validJob();
  bad.fit.epochs = 0;
  const rejected: any = await handler(event('POST', '/v1/jobs', bad, bearer), context);
  assert.equal(rejected.statusCode, 400);
  assert.match(rejected.headers['content-type'], /^application\/problem\+json/);
  const problem = JSON.parse(rejected.body);
  assert.equal(problem.code, 'JOB_SPEC_INVALID');
  assert.equal(problem.errors[0].pointer, '/fit/epochs');

  const other: any = await handler(event('GET', `/v1/jobs/${accepted.jobId}`, undefined, { authorization: `Bearer ${KEYS.globex}` }), context);
  assert.equal(other.statusCode, 404);
  const anonymous: any = await handler(event('GET', '/v1/jobs'), context);
  assert.equal(anonymous.statusCode, 401);
});
