import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { parseTenantLimit, limitFor, epochRowsProblem } from '../../core/tenant-limits';
import { auth, startApi, validJob } from '../support/api-app';
import { REDIS_URL } from '../support/redis';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { trainLocally } from '../support/run-locally';

describe('tenant limit settings', () => {
  it('reads a default and per-tenant overrides, 0 meaning unlimited', () => {
    const { limit, problems } = parseTenantLimit('4, acme=16,trial=0', 9);
    assert.deepEqual(problems, []);
    assert.equal(limitFor(limit, 'acme'), 16);
    assert.equal(limitFor(limit, 'trial'), 0);
    assert.equal(limitFor(limit, 'other'), 4);
    assert.equal(limitFor(parseTenantLimit(undefined, 9).limit, 'x'), 9);
  });

  it('names each malformed entry', () => {
    const { problems } = parseTenantLimit('four,Acme=2,beta=-1,3,5', 1);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0], /'four' is not a whole number/);
    assert.match(problems[1], /'Acme' is not a tenant name/);
    assert.match(problems[2], /'beta=-1'/);
    assert.match(problems[3], /more than one default/);
  });

  it('caps epochs × rows with a message that says how many epochs fit', () => {
    assert.equal(epochRowsProblem(10, 150, 0), null);
    assert.equal(epochRowsProblem(10, 150, 1500), null);
    assert.match(epochRowsProblem(11, 150, 1500)!, /fit\.epochs 11 × 150 dataset rows = 1650 .* cap of 1500 .* at most 10 epochs/);
  });
});

describe('POST /v1/jobs limits', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  let redis: Redis;
  before(async () => {
    api = await startApi('limits', { KILN_TENANT_SUBMISSIONS_PER_MINUTE: '2,globex=0', KILN_MAX_EPOCH_ROWS: '1500' });
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await api.close();
  });

  const post = (body: unknown, tenant: 'acme' | 'globex' = 'acme', headers: Record<string, string> = {}) =>
    api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(tenant), ...headers }, payload: body as object });

  it('answers 429 with Retry-After past the tenant\'s submissions per minute, queues nothing, and leaves other tenants alone', async () => {
    const first = await post(validJob(), 'acme', { 'idempotency-key': 'k1' });
    assert.equal(first.statusCode, 202, first.body);
    assert.equal((await post(validJob())).statusCode, 202);
    // A replay of an accepted submission is not a new submission.
    const replay = await post(validJob(), 'acme', { 'idempotency-key': 'k1' });
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.headers['idempotent-replayed'], 'true');

    const limited = await post(validJob(), 'acme', { 'idempotency-key': 'k2' });
    assert.equal(limited.statusCode, 429, limited.body);
    assert.equal(limited.headers['content-type'], 'application/problem+json; charset=utf-8');
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`);
    const problem = limited.json();
    assert.equal(problem.code, 'RATE_LIMITED');
    assert.match(problem.detail, /2 jobs per minute/);

    const list = await api.app.inject({ method: 'GET', url: '/v1/jobs?limit=50', headers: auth('acme') });
    assert.equal(list.json().items.length, 2, 'the refused submission was not queued');
    // The refused Idempotency-Key was freed: it is not bound to a job that does not exist.
    assert.equal(await redis.keys(`${api.prefix}:kiln:idem:acme:*`).then((k) => k.length), 1);

    for (let i = 0; i < 3; i++) assert.equal((await post(validJob(), 'globex')).statusCode, 202, 'globex is unlimited');
  });

  it('rejects at submission a job over the epochs × rows cap, naming fit.epochs', async () => {
    const job = validJob();
    job.fit.epochs = 11; // iris has 150 rows: 1650 > 1500
    const res = await post(job, 'globex');
    assert.equal(res.statusCode, 400, res.body);
    const problem = res.json();
    assert.equal(problem.code, 'LIMIT_EXCEEDED');
    assert.equal(problem.errors[0].pointer, '/fit/epochs');
    assert.match(problem.detail, /at most 10 epochs/);
    job.fit.epochs = 10;
    assert.equal((await post(job, 'globex')).statusCode, 202);
  });

  it('passes priority to BullMQ: prioritized jobs wait in its priority set, others in the wait list', async () => {
    const urgent = await post({ ...validJob(), priority: 1 }, 'globex');
    const plain = await post(validJob(), 'globex');
    assert.equal(urgent.statusCode, 202, urgent.body);
    const prioritized = `${api.prefix}:training:prioritized`;
    assert.notEqual(await redis.zscore(prioritized, urgent.json().jobId), null);
    assert.equal(await redis.zscore(prioritized, plain.json().jobId), null);
    assert.ok((await redis.lrange(`${api.prefix}:training:wait`, 0, -1)).includes(plain.json().jobId));
    const bad = await post({ ...validJob(), priority: 0 }, 'globex');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errors[0].pointer, '/priority');
  });
});

describe('running jobs per tenant', () => {
  let stack: KilnStack;
  before(async () => {
    stack = await startStack({ name: 'running-limit', env: { KILN_TENANT_MAX_RUNNING: '1', KILN_WORKER_CONCURRENCY: '2', KILN_MAX_EPOCH_ROWS: '100000' } });
  });
  after(async () => stack.close());

  it('trains one job of the tenant at a time although the worker could take two', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const job = validJob();
      job.fit.epochs = 8;
      const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: job });
      assert.equal(res.statusCode, 202, res.body);
      ids.push(res.json().jobId);
    }
    const done = await Promise.all(ids.map((id) => waitForJob(stack, id)));
    for (const job of done) assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const spans = done.map((job) => {
      const running = job.transitions.filter((t: any) => t.status === 'running').map((t: any) => Date.parse(t.at));
      const end = Date.parse(job.transitions.at(-1).at);
      return { start: Math.max(...running), end };
    }).sort((a, b) => a.start - b.start);
    assert.ok(spans[1].start >= spans[0].end - 50, `overlapping training: ${JSON.stringify(spans)}`);
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys('{kiln-test-running-limit-*}:kiln:tenant:acme:running');
      for (const key of keys) assert.equal(await redis.zcard(key), 0, 'slots released');
    } finally {
      redis.disconnect();
    }
  });
});

describe('epochs × rows cap in the worker', () => {
  it('fails a job whose stored dataset turns out too large for the cap, before building the model', async () => {
    const job = validJob();
    job.fit.epochs = 5;
    await assert.rejects(trainLocally(job, { maxEpochRows: 700 }), (err: any) => {
      assert.equal(err.code, 'LIMIT_EXCEEDED');
      assert.match(err.message, /fit\.epochs 5 × 150 dataset rows = 750 .* at most 4 epochs/);
      return true;
    });
  });
});
