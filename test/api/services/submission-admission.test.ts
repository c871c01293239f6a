import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { SubmissionAdmission } from '../../../api/services/submission-admission';
import { kilnKeys } from '../../../core/queue-contract';
import { parseTenantLimit } from '../../../core/tenant-limits';
import { REDIS_URL, uniquePrefix } from '../../support/redis';

describe('SubmissionAdmission', () => {
  let redis: Redis;
  let prefix: string;
  let cleanup: () => Promise<void>;
  let admission: SubmissionAdmission;
  before(async () => {
    ({ prefix, cleanup } = uniquePrefix('admission'));
    redis = new Redis(REDIS_URL);
    admission = new SubmissionAdmission(redis, prefix, parseTenantLimit('2,free=0', 0).limit, 60);
  });
  after(async () => {
    redis.disconnect();
    await cleanup();
  });

  const index = (tenant: string) => redis.zrange(kilnKeys.tenantJobs(prefix, tenant), 0, -1);
  const log = (tenant: string) => redis.zrange(kilnKeys.tenantSubmissions(prefix, tenant), 0, -1);
  const idem = (tenant: string, key: string) => kilnKeys.idempotency(prefix, tenant, key);

  test('an unlimited tenant without a key: indexed, nothing counted', async () => {
    assert.deepEqual(await admission.admit({ tenant: 'free', jobId: 'job_1' }, ''), { kind: 'admitted' });
    assert.deepEqual(await index('free'), ['job_1']);
    assert.deepEqual(await log('free'), []);
  });

  test('a limited tenant: counted up to the limit, then refused with the wait, nothing recorded for the refusal', async () => {
    assert.equal((await admission.admit({ tenant: 'acme', jobId: 'job_a' }, '')).kind, 'admitted');
    assert.equal((await admission.admit({ tenant: 'acme', jobId: 'job_b', idempotencyKey: idem('acme', 'kb') }, 'record-b')).kind, 'admitted');
    const refused = await admission.admit({ tenant: 'acme', jobId: 'job_c', idempotencyKey: idem('acme', 'kc') }, 'record-c');
    assert.equal(refused.kind, 'refused');
    if (refused.kind === 'refused') {
      assert.equal(refused.max, 2);
      assert.ok(refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 60, String(refused.retryAfterSeconds));
    }
    assert.deepEqual(await index('acme'), ['job_a', 'job_b']);
    assert.deepEqual(new Set(await log('acme')), new Set(['job_a', 'job_b']));
    assert.equal(await redis.get(idem('acme', 'kc')), null);
    assert.equal(await redis.get(idem('acme', 'kb')), 'record-b');
    assert.ok((await redis.ttl(idem('acme', 'kb'))) > 0, 'the key expires');
  });

  test('a bound key is a replay whatever the limit says, and records nothing', async () => {
    const replay = await admission.admit({ tenant: 'acme', jobId: 'job_d', idempotencyKey: idem('acme', 'kb') }, 'record-d');
    assert.deepEqual(replay, { kind: 'replay', record: 'record-b' });
    assert.deepEqual(await index('acme'), ['job_a', 'job_b']);
  });

  test('release undoes an admission: index entry, slot and key', async () => {
    await admission.release({ tenant: 'acme', jobId: 'job_b', idempotencyKey: idem('acme', 'kb') });
    assert.deepEqual(await index('acme'), ['job_a']);
    assert.deepEqual(await log('acme'), ['job_a']);
    assert.equal(await redis.get(idem('acme', 'kb')), null);
    assert.equal((await admission.admit({ tenant: 'acme', jobId: 'job_e', idempotencyKey: idem('acme', 'kb') }, 'record-e')).kind, 'admitted', 'the freed slot and key are usable again');
  });
});
