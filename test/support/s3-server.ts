import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of s3rver's API this fixture uses (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (opts: Record<string, unknown>) => S3rverInstance;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as S3rverConstructor;

/** s3rver's built-in account; it rejects requests signed with any other key pair. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A running S3-protocol server on loopback with one empty bucket of its own. */
export interface TestS3Server {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  bucket: string;
  /** `s3://<bucket>`, ready for `createStore`. */
  uri: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The `opts.s3` to pass to `createStore` so it talks to this server. */
  s3Options: {
    endpoint: string;
    forcePathStyle: true;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Stops the server and deletes everything it stored. */
  close(): Promise<void>;
}

/**
 * Starts s3rver in this process on 127.0.0.1 with a random free port, storing objects in a fresh
 * temporary directory, and creates a uniquely named bucket.
 *
 * Listing with continuation tokens needs `node --openssl-legacy-provider` (s3rver encrypts tokens
 * with a cipher OpenSSL 3 only offers there); `scripts/run-tests.js` passes it.
 */
export async function startS3Server(): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'kiln-s3rver-'));
  const bucket = `kiln-test-${randomBytes(6).toString('hex')}`;
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (e) {
    await rm(directory, { recursive: true, force: true });
    throw e;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  let closed = false;
  return {
    endpoint,
    bucket,
    uri: `s3://${bucket}`,
    credentials: { ...CREDENTIALS },
    s3Options: { endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { ...CREDENTIALS } },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}
