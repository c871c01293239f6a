import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const compose = parse(readFileSync(join(__dirname, '..', '..', 'compose.yaml'), 'utf8'), { merge: true });
const services = compose.services as Record<string, any>;

describe('compose.yaml', () => {
  it('runs redis, an S3-compatible store, the API and a CPU worker', () => {
    assert.deepEqual(Object.keys(services).sort(), ['api', 'minio', 'minio-setup', 'redis', 'worker']);
    assert.equal(services.api.build.target, 'api');
    assert.equal(services.worker.build.target, 'worker-cpu');
  });

  it('keeps Redis durable and never evicting', () => {
    const cmd: string[] = services.redis.command;
    const flag = (name: string) => cmd[cmd.indexOf(name) + 1];
    assert.equal(flag('--appendonly'), 'yes');
    assert.equal(flag('--maxmemory-policy'), 'noeviction');
  });

  it('points API and worker at the same Redis, bucket and queue prefix', () => {
    for (const name of ['api', 'worker']) {
      const env = services[name].environment;
      assert.equal(env.REDIS_URL, 'redis://redis:6379', name);
      assert.match(env.KILN_STORE, /^s3:\/\/kiln-artifacts\//, name);
      assert.equal(env.KILN_S3_ENDPOINT, 'http://minio:9000', name);
      assert.equal(env.KILN_S3_FORCE_PATH_STYLE, 'true', name);
      assert.equal(env.KILN_QUEUE_PREFIX, '{kiln}', name);
    }
    assert.match(services['minio-setup'].entrypoint.join(' '), /mc mb --ignore-existing local\/kiln-artifacts/);
  });

  it('gives the worker longer to stop than its grace period', () => {
    const grace = Number(services.worker.environment.KILN_SHUTDOWN_GRACE_SECONDS);
    const stop = Number(/^(\d+)s$/.exec(services.worker.stop_grace_period)![1]);
    assert.ok(stop > grace, `${stop} > ${grace}`);
    assert.equal(services.worker.environment.KILN_BACKEND, 'wasm');
  });
});
