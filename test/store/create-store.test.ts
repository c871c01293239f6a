import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isKilnError } from '../../core/errors';
import { ConfigProblems } from '../../core/config-parse';
import { createStore, parseStoreConfig } from '../../store/create-store';
import { FileStore } from '../../store/file-store';
import { S3Store } from '../../store/s3-store';

describe('createStore', () => {
  it('opens an S3Store for s3:// URIs, with or without a prefix', async () => {
    const a = createStore({ uri: 's3://bucket-a', s3: { endpoint: 'http://127.0.0.1:1', region: 'eu-west-1' } });
    const b = createStore('s3://bucket-b/kiln/prod/');
    assert.ok(a instanceof S3Store && b instanceof S3Store);
    assert.equal(a.uri, 's3://bucket-a');
    assert.deepEqual([b.bucket, b.prefix, b.uri], ['bucket-b', 'kiln/prod', 's3://bucket-b/kiln/prod']);
    await a.close?.();
    await b.close?.();
  });

  it('opens a FileStore for absolute and relative file:// URIs', () => {
    const abs = createStore('file:///var/lib/kiln%20data');
    assert.ok(abs instanceof FileStore);
    assert.equal(abs.root, '/var/lib/kiln data');
    assert.equal(abs.uri, 'file:///var/lib/kiln%20data');
    assert.equal((createStore('file://localhost/srv/kiln') as FileStore).root, '/srv/kiln');
    assert.equal((createStore('file://./.kiln-data') as FileStore).root, resolve('.kiln-data'));
    const rel = createStore('file://data/artifacts') as FileStore;
    assert.equal(rel.root, resolve('data/artifacts'));
    assert.equal(rel.uri, pathToFileURL(resolve('data/artifacts')).href);
  });

  for (const bad of ['http://bucket', 'bucket/prefix', '', 'file://', 's3://', 'S3://bucket']) {
    it(`rejects ${JSON.stringify(bad)} naming the accepted forms`, () => {
      assert.throws(() => createStore(bad), (e: unknown) => isKilnError(e) && e.code === 'BAD_REQUEST' && /file:\/\/|s3:\/\//.test(e.message));
    });
  }
});

describe('parseStoreConfig', () => {
  const parse = (env: Record<string, string>) => {
    const p = new ConfigProblems();
    const config = parseStoreConfig(env, p, 'file:///var/lib/kiln');
    return { config, problems: p.problems };
  };

  // Issue 15: the config check rejected `file://./data`, a form createStore accepts.
  for (const uri of ['file://./data', 'file://data/artifacts', 'file:///abs/dir', 'file://localhost/srv/kiln', 's3://kiln-artifacts', 's3://kiln-artifacts/prod/']) {
    it(`accepts KILN_STORE=${uri}, as createStore does, and the store it names opens`, () => {
      const { config, problems } = parse({ KILN_STORE: uri });
      assert.deepEqual(problems, []);
      assert.equal(config.uri, uri);
      assert.ok(createStore(config));
    });
  }

  for (const uri of ['http://bucket', 'file://', 's3://', 's3://Upper_Case', 's3://ab', 's3://kiln/a/../b']) {
    it(`refuses KILN_STORE=${uri}, with the driver's reason`, () => {
      const { problems } = parse({ KILN_STORE: uri });
      assert.equal(problems.length, 1);
      assert.match(problems[0], /^KILN_STORE: .*(file:\/\/|s3:\/\/|bucket|prefix)/);
    });
  }

  it("gives the S3 driver its options from its own variables", () => {
    const { config, problems } = parse({ KILN_STORE: 's3://kiln-a', KILN_S3_ENDPOINT: 'http://127.0.0.1:9000', AWS_REGION: 'eu-west-1' });
    assert.deepEqual(problems, []);
    assert.deepEqual(config.s3, { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, region: 'eu-west-1' });
    assert.match(parse({ KILN_S3_ENDPOINT: 'ftp://x' }).problems.join(), /KILN_S3_ENDPOINT: must be an http\(s\) URL/);
  });
});
