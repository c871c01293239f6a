import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startApi, auth, validJob, KEYS } from '../support/api-app';
import { REDIS_URL } from '../support/redis';
import { RedisProcess } from '../support/redis-process';

type Api = Awaited<ReturnType<typeof startApi>>;
type Tenant = keyof typeof KEYS;

const post = (api: Api, tenant: Tenant, body: unknown, key?: string) =>
  api.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { ...auth(tenant), 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    payload: JSON.stringify(body),
  });

/** Every Redis key under the API's prefix of one kind (`jobs` index, `submissions` log, `idem` records). */
async function kilnKeys(redis: Redis, prefix: string, pattern: string): Promise<string[]> {
  return redis.keys(`${prefix}:kiln:${pattern}`);
}

/** Job ids BullMQ holds in the training queue's wait list. */
async function waiting(redis: Redis, prefix: string): Promise<string[]> {
  return redis.lrange(`${prefix}:training:wait`, 0, -1);
}

function assertUnavailable(res: { statusCode: number; headers: Record<string, unknown>; body: string; json(): any }) {
  assert.equal(res.statusCode, 503, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(res.json().code, 'QUEUE_UNAVAILABLE');
  assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After');
}

describe('concurrent POST /v1/jobs: each request its own answer', () => {
  let api: Api;
  let redis: Redis;
  before(async () => {
    api = await startApi('concurrent-submissions', { KILN_TENANT_SUBMISSIONS_PER_MINUTE: '4,globex=0' });
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await api.close();
  });

  test('mixed new, rate-limited, replayed, reused-key and other-tenant submissions sent at once', async () => {
    const first = await post(api, 'acme', validJob(), 'k-first');
    assert.equal(first.statusCode, 202, first.body);
    const firstId = first.json().jobId;

    const changed = validJob();
    changed.fit.epochs = 5;
    // All in one turn, so their Redis commands share writes: acme has 3 of its 4 slots left.
    const [fresh, replays, reused, globex] = await Promise.all([
      Promise.all(Array.from({ length: 6 }, (_, i) => post(api, 'acme', validJob(), `k-${i}`))),
      Promise.all([post(api, 'acme', validJob(), 'k-first'), post(api, 'acme', validJob(), 'k-first')]),
      post(api, 'acme', changed, 'k-first'),
      Promise.all(Array.from({ length: 3 }, () => post(api, 'globex', validJob()))),
    ]);

    const accepted = fresh.filter((r) => r.statusCode === 202);
    const refused = fresh.filter((r) => r.statusCode === 429);
    assert.equal(accepted.length, 3, fresh.map((r) => r.statusCode).join(','));
    assert.equal(refused.length, 3);
    for (const r of refused) {
      assert.equal(r.json().code, 'RATE_LIMITED');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    const acceptedIds = accepted.map((r) => r.json().jobId);
    assert.equal(new Set(acceptedIds).size, 3, 'three distinct jobs');
    for (const r of replays) {
      assert.equal(r.statusCode, 202);
      assert.equal(r.headers['idempotent-replayed'], 'true');
      assert.equal(r.json().jobId, firstId);
    }
    assert.equal(reused.statusCode, 422);
    assert.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED');
    for (const r of globex) assert.equal(r.statusCode, 202, r.body);
    const globexIds = globex.map((r) => r.json().jobId);

    // Exactly the accepted jobs are queued and indexed, each once; refused keys are not bound.
    assert.deepEqual(new Set(await waiting(redis, api.prefix)), new Set([firstId, ...acceptedIds, ...globexIds]));
    assert.deepEqual(new Set(await redis.zrange(`${api.prefix}:kiln:tenant:acme:jobs`, 0, -1)), new Set([firstId, ...acceptedIds]));
    assert.deepEqual(new Set(await redis.zrange(`${api.prefix}:kiln:tenant:acme:submissions`, 0, -1)), new Set([firstId, ...acceptedIds]));
    assert.equal((await kilnKeys(redis, api.prefix, 'idem:acme:*')).length, 4, 'k-first and the three accepted keys');
    const accKeys = fresh.map((r, i) => (r.statusCode === 202 ? `k-${i}` : null)).filter((k): k is string => k !== null);
    for (const [i, key] of accKeys.entries()) {
      const again = await post(api, 'acme', validJob(), key);
      assert.equal(again.json().jobId, acceptedIds[i], `${key} replays its own job`);
    }
  });

  test('a batch whose queueing fails after admission: 503 for every request, nothing queued, indexed, counted or bound', async () => {
    const before = { wait: await waiting(redis, api.prefix), index: await redis.zcard(`${api.prefix}:kiln:tenant:globex:jobs`), idem: (await kilnKeys(redis, api.prefix, 'idem:globex:*')).length };
    // BullMQ's add script starts with INCR on the queue's id counter: a non-number there fails every
    // add inside Redis, after Kiln's admission has run for it.
    const counter = `${api.prefix}:training:id`;
    const saved = await redis.get(counter);
    await redis.set(counter, 'not-a-number');
    try {
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => post(api, 'globex', validJob(), `fail-${i}`)));
      for (const r of answers) assertUnavailable(r);
    } finally {
      if (saved === null) await redis.del(counter);
      else await redis.set(counter, saved);
    }
    assert.deepEqual(await waiting(redis, api.prefix), before.wait);
    assert.equal(await redis.zcard(`${api.prefix}:kiln:tenant:globex:jobs`), before.index);
    assert.equal((await kilnKeys(redis, api.prefix, 'idem:globex:*')).length, before.idem, 'no key bound to a job that does not exist');
    // The same keys work once the queue does.
    const retried = await post(api, 'globex', validJob(), 'fail-0');
    assert.equal(retried.statusCode, 202, retried.body);
    assert.equal(retried.headers['idempotent-replayed'], undefined);
  });
});

describe('concurrent POST /v1/jobs while Redis is down', () => {
  let server: RedisProcess;
  let api: Api;
  before(async () => {
    server = await RedisProcess.start();
    api = await startApi('submissions-redis-down', { REDIS_URL: server.url, KILN_TENANT_SUBMISSIONS_PER_MINUTE: '100' });
  });
  after(async () => {
    // The API's cleanup needs Redis; the test may have left it stopped.
    if (!server.running) await server.restart();
    await api.close();
    await server.close();
  });

  test('every request of the batch is a 503 problem, and none of them is queued once Redis is back', async () => {
    assert.equal((await post(api, 'acme', validJob(), 'before')).statusCode, 202);
    await server.stop('SIGKILL');
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => post(api, 'acme', validJob(), `down-${i}`)));
    for (const r of answers) assertUnavailable(r);

    await server.restart();
    const redis = new Redis(server.url);
    try {
      // Wait for the API's own connection to come back, then look at what Redis holds.
      for (let i = 0; i < 100 && (await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode !== 200; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal((await waiting(redis, api.prefix)).length, 1, 'only the job accepted before the outage');
      assert.equal(await redis.zcard(`${api.prefix}:kiln:tenant:acme:submissions`), 1);
      assert.equal((await kilnKeys(redis, api.prefix, 'idem:acme:*')).length, 1);
      const retried = await post(api, 'acme', validJob(), 'down-0');
      assert.equal(retried.statusCode, 202, retried.body);
    } finally {
      redis.disconnect();
    }
  });
});
