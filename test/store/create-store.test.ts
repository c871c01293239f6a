import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isKilnError } from '../../core/errors';
import { createStore } from '../../store/create-store';
import { FileStore } from '../../store/file-store';
import { S3Store } from '../../store/s3-store';

describe('createStore', () => {
  it('opens an S3Store for s3:// URIs, with or without a prefix', async () => {
    const a = createStore('s3://bucket-a', { s3: { endpoint: 'http://127.0.0.1:1', region: 'eu-west-1' } });
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
