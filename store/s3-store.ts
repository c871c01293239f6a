import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { ConfigProblems } from '../core/config-parse';
import { KilnError } from '../core/errors';
import {
  assertValidKey, assertValidPrefix, compareKeys, listPageOptions, resolveByteRange, toBuffer,
  type ArtifactStore, type GetStreamOptions, type ListPageOptions, type ObjectBody, type ObjectInfo, type ObjectPage,
  type OpenedObject, type PutOptions,
} from './artifact-store';
import { StoreThread } from './store-thread';

const MiB = 1024 * 1024;
/** S3 allows at most this many parts in one multipart upload. */
const MAX_PARTS = 10_000;

/** Static credentials; without them the SDK's default provider chain (instance role, profile, …) is used. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Connection and tuning options for {@link S3Store}. All of it is passed in; nothing is read from the environment here. */
export interface S3StoreOptions {
  /**
   * Endpoint of an S3-compatible service (MinIO, s3rver, R2, …), e.g. `http://127.0.0.1:9000`.
   * @defaultValue AWS S3 for `region`
   */
  endpoint?: string;
  /**
   * Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`; most
   * S3-compatible services need it.
   * @defaultValue true when `endpoint` is set, else false
   */
  forcePathStyle?: boolean;
  /** @defaultValue `us-east-1` */
  region?: string;
  /** @defaultValue the SDK's default credential provider chain */
  credentials?: S3Credentials;
  /**
   * When the SDK adds request checksums and validates response checksums. S3-compatible services
   * often mishandle the newer flexible checksums (s3rver stores streamed bodies corrupted), hence
   * `WHEN_REQUIRED` for a custom endpoint.
   * @defaultValue `WHEN_REQUIRED` when `endpoint` is set, else `WHEN_SUPPORTED`
   */
  checksums?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /**
   * Sign object bodies (SigV4 with the body's SHA-256) rather than send them as `UNSIGNED-PAYLOAD`.
   * Hashing every byte on the client is what signing a body costs; where the connection itself
   * protects the bytes — HTTPS, or a loopback address — that hash adds nothing (the AWS SDK for
   * Java skips it over HTTPS by default), and the request itself stays signed. Over plain HTTP to
   * another host the hash is what keeps a body from being altered on the way, so it stays on
   * there. Turn it on for a service that refuses unsigned bodies.
   * @defaultValue false for AWS, an `https:` endpoint or a loopback `http:` endpoint; else true
   */
  signPayload?: boolean;
  /**
   * Attempts per request, including the SDK's own retries of throttling and 5xx answers.
   * @defaultValue 3
   */
  maxAttempts?: number;
  /**
   * Bodies larger than this many bytes go up as a multipart upload.
   * @defaultValue 16 MiB
   */
  multipartThreshold?: number;
  /**
   * Bytes per part of a multipart upload. AWS rejects parts under 5 MiB (except the last); it is
   * raised automatically when a body would need more than 10,000 parts.
   * @defaultValue 8 MiB
   */
  partSize?: number;
  /**
   * Parts of one multipart upload in flight at once.
   * @defaultValue 4
   */
  partConcurrency?: number;
  /**
   * Keys asked for per ListObjectsV2 page (S3 caps it at 1000).
   * @defaultValue 1000
   */
  listPageSize?: number;
  /**
   * Milliseconds to wait for a TCP connection before the request fails as unavailable.
   * @defaultValue 5000
   */
  connectionTimeoutMs?: number;
  /**
   * Milliseconds a request's socket may sit idle before it fails as unavailable.
   * @defaultValue 60000
   */
  requestTimeoutMs?: number;
}

/** The parts of an SDK error this driver looks at. */
interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(e: unknown): SdkErrorShape {
  return typeof e === 'object' && e !== null ? (e as SdkErrorShape) : {};
}

function statusOf(e: unknown): number | undefined {
  return shape(e).$metadata?.httpStatusCode;
}

/** Commands that carry an object body, whose hash {@link S3StoreOptions.signPayload} decides on. */
const BODY_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

/** Whether bodies sent to `endpoint` need a signed hash by default (see {@link S3StoreOptions.signPayload}). */
export function signsPayloadByDefault(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return true;
  }
  if (url.protocol === 'https:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host));
}

/** S3 error names that mean "try again later" even without a 5xx status. */
const TRANSIENT_NAMES = new Set(['SlowDown', 'RequestTimeout', 'TimeoutError', 'ThrottlingException', 'NetworkingError']);

/**
 * The artifact store on S3 or an S3-compatible service: `s3://bucket/prefix`. Keys are stored as
 * `prefix/key`; the prefix never appears in keys this class returns.
 *
 * Missing objects read as `null`. Network failures, throttling and 5xx answers become
 * `KilnError('STORE_UNAVAILABLE')` (retryable), other failures (access denied, bad request)
 * `KilnError('INTERNAL')`. Bodies above `multipartThreshold` are uploaded in parts; a failed
 * multipart upload is aborted so its parts do not linger.
 */
export class S3Store implements ArtifactStore {
  readonly uri: string;
  readonly bucket: string;
  /** Key prefix inside the bucket, without trailing `/`; `''` for the bucket root. */
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly listPageSize: number;
  private readonly options: S3StoreOptions;
  private thread: StoreThread | undefined;

  /** @param uri `s3://bucket` or `s3://bucket/some/prefix` */
  constructor(uri: string, opts: S3StoreOptions = {}) {
    this.options = opts;
    const { bucket, prefix } = parseS3Uri(uri);
    this.bucket = bucket;
    this.prefix = prefix;
    this.uri = prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
    this.multipartThreshold = positive(opts.multipartThreshold ?? 16 * MiB, 'multipartThreshold');
    this.partSize = positive(opts.partSize ?? 8 * MiB, 'partSize');
    this.partConcurrency = positive(opts.partConcurrency ?? 4, 'partConcurrency');
    this.listPageSize = Math.min(1000, positive(opts.listPageSize ?? 1000, 'listPageSize'));
    const custom = opts.endpoint !== undefined;
    const checksums = opts.checksums ?? (custom ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED');
    const config: S3ClientConfig = {
      region: opts.region ?? 'us-east-1',
      forcePathStyle: opts.forcePathStyle ?? custom,
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
      requestHandler: {
        connectionTimeout: opts.connectionTimeoutMs ?? 5000,
        requestTimeout: opts.requestTimeoutMs ?? 60_000,
      },
    };
    if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
    if (opts.credentials !== undefined) config.credentials = opts.credentials;
    if (opts.maxAttempts !== undefined) config.maxAttempts = positive(opts.maxAttempts, 'maxAttempts');
    this.client = new S3Client(config);
    if (!(opts.signPayload ?? signsPayloadByDefault(opts.endpoint))) {
      // The signer uses an x-amz-content-sha256 header it finds instead of hashing the body.
      this.client.middlewareStack.add(
        (next, context) => async (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if (BODY_COMMANDS.has(context.commandName ?? '') && request.headers !== undefined) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
          return next(args);
        },
        { step: 'build', name: 'kilnUnsignedPayload' },
      );
    }
  }

  /** This store on a thread of its own for the uploader's writes (see {@link ArtifactStore.writeThread}). */
  writeThread(): StoreThread {
    this.thread ??= new StoreThread({ uri: this.uri, options: { s3: this.options } });
    return this.thread;
  }

  async put(key: string, body: ObjectBody, opts: PutOptions = {}): Promise<void> {
    const fullKey = this.fullKey(key);
    const bytes = toBuffer(body);
    if (bytes.length > this.multipartThreshold) {
      await this.putMultipart(key, fullKey, bytes, opts);
      return;
    }
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.bucket, Key: fullKey, Body: bytes, ContentLength: bytes.length, ContentType: opts.contentType,
      }));
    } catch (e) {
      throw this.wrap(e, `store ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    const fullKey = this.fullKey(key);
    try {
      // S3 answers 204 whether or not the object existed.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey }));
    } catch (e) {
      throw this.wrap(e, `delete ${key}`);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    const fullKey = this.fullKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      if (out.Body === undefined) return Buffer.alloc(0);
      const bytes = await out.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (e) {
      if (isMissingObject(e)) return null;
      throw this.wrap(e, `read ${key}`);
    }
  }

  async getStream(key: string, opts: GetStreamOptions = {}): Promise<OpenedObject | null> {
    const fullKey = this.fullKey(key);
    const { range } = opts;
    if (range === undefined) {
      const out = await this.getObject(key, fullKey, undefined);
      return out === null ? null : { stream: out.stream, size: out.size };
    }
    // Checks the numbers; only an empty suffix selects nothing whatever the size.
    if (resolveByteRange(range, Number.MAX_SAFE_INTEGER) === null) {
      throw new KilnError('RANGE_NOT_SATISFIABLE', `The range asked for of ${key} selects no bytes.`);
    }
    const first = await this.getObject(key, fullKey, 'suffix' in range ? `bytes=-${range.suffix}` : `bytes=${range.start}-${range.end ?? ''}`);
    if (first === null) return null;
    // Without a Content-Range the server ignored the range and sends the whole object.
    if (first.served === null) return { stream: first.stream, size: first.size };
    const wanted = resolveByteRange(range, first.size);
    if (wanted === null) {
      destroy(first.stream);
      throw new KilnError('RANGE_NOT_SATISFIABLE', `${key} has ${first.size} bytes; the range asked for selects none of them.`);
    }
    if (first.served.start === wanted.start && first.served.end === wanted.end) return { stream: first.stream, size: first.size, range: wanted };
    // Some S3-compatible servers read suffix or `0-0` ranges differently; ask once more in plain numbers.
    destroy(first.stream);
    const second = await this.getObject(key, fullKey, `bytes=${wanted.start}-${wanted.end}`);
    if (second === null) return null;
    if (second.served?.start === wanted.start && second.served.end === wanted.end) return { stream: second.stream, size: second.size, range: wanted };
    destroy(second.stream);
    throw new KilnError('INTERNAL', `S3 store ${this.uri} answered bytes ${second.served?.start ?? 0}-${second.served?.end ?? second.size - 1} of ${key} when asked for ${wanted.start}-${wanted.end}.`);
  }

  /** One GetObject; `served` is the answer's Content-Range, `null` when it has none. */
  private async getObject(key: string, fullKey: string, rangeHeader: string | undefined)
    : Promise<{ stream: Readable; size: number; served: { start: number; end: number } | null } | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey, Range: rangeHeader }));
      // In Node the SDK's body is the HTTP response itself (an IncomingMessage), so it streams.
      const stream = out.Body as unknown as Readable | undefined;
      if (stream === undefined) throw new KilnError('INTERNAL', `S3 answered GetObject ${key} without a body.`);
      const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange ?? '');
      return served === null
        ? { stream, size: out.ContentLength ?? 0, served: null }
        : { stream, size: Number(served[3]), served: { start: Number(served[1]), end: Number(served[2]) } };
    } catch (e) {
      if (isMissingObject(e)) return null;
      if (rangeHeader !== undefined && (shape(e).name === 'InvalidRange' || statusOf(e) === 416)) {
        throw new KilnError('RANGE_NOT_SATISFIABLE', `${key} has no bytes in the range asked for (${rangeHeader}).`, { cause: e });
      }
      throw this.wrap(e, `read ${key}`);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const fullKey = this.fullKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      return { key, size: out.ContentLength ?? 0 };
    } catch (e) {
      // HEAD answers carry no body, so a missing object shows only as a bare 404.
      if (isMissingObject(e) || statusOf(e) === 404) return null;
      throw this.wrap(e, `stat ${key}`);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    assertValidPrefix(prefix);
    const root = this.prefix === '' ? '' : `${this.prefix}/`;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({
          Bucket: this.bucket, Prefix: root + prefix, MaxKeys: this.listPageSize, ContinuationToken: token,
        }));
      } catch (e) {
        throw this.wrap(e, `list ${prefix === '' ? 'all keys' : prefix}`);
      }
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined) continue;
        out.push({ key: obj.Key.slice(root.length), size: obj.Size ?? 0 });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async listPage(prefix: string, opts: ListPageOptions = {}): Promise<ObjectPage> {
    assertValidPrefix(prefix);
    const { startAfter, limit } = listPageOptions(opts);
    const root = this.prefix === '' ? '' : `${this.prefix}/`;
    let page;
    try {
      page = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: root + prefix,
        MaxKeys: limit,
        StartAfter: startAfter === undefined ? undefined : root + startAfter,
      }));
    } catch (e) {
      throw this.wrap(e, `list ${prefix === '' ? 'all keys' : prefix}`);
    }
    const objects = (page.Contents ?? [])
      .filter((obj) => obj.Key !== undefined)
      .map((obj) => ({ key: obj.Key!.slice(root.length), size: obj.Size ?? 0, lastModified: obj.LastModified ?? null }))
      .sort((a, b) => compareKeys(a.key, b.key));
    const last = objects[objects.length - 1];
    return { objects, next: page.IsTruncated === true && last !== undefined ? last.key : null };
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      const status = statusOf(e);
      const why = status === 404 ? 'the bucket does not exist'
        : status === 403 ? 'access to the bucket is denied'
          : describe(e);
      throw new KilnError('STORE_UNAVAILABLE', `S3 store ${this.uri} is not usable: ${why}.`, { cause: e });
    }
  }

  async close(): Promise<void> {
    await this.thread?.close();
    this.client.destroy();
  }

  private async putMultipart(key: string, fullKey: string, bytes: Buffer, opts: PutOptions): Promise<void> {
    const partSize = Math.max(this.partSize, Math.ceil(bytes.length / MAX_PARTS));
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({
        Bucket: this.bucket, Key: fullKey, ContentType: opts.contentType,
      }));
      uploadId = created.UploadId;
      if (uploadId === undefined) throw new KilnError('INTERNAL', `S3 started a multipart upload of ${key} without an upload id.`);
      const id = uploadId;
      const count = Math.ceil(bytes.length / partSize);
      const parts: CompletedPart[] = new Array(count);
      let next = 0;
      const uploadParts = async (): Promise<void> => {
        while (next < count) {
          const index = next++;
          const chunk = bytes.subarray(index * partSize, Math.min(bytes.length, (index + 1) * partSize));
          const res = await this.client.send(new UploadPartCommand({
            Bucket: this.bucket, Key: fullKey, UploadId: id, PartNumber: index + 1, Body: chunk, ContentLength: chunk.length,
          }));
          parts[index] = { PartNumber: index + 1, ETag: res.ETag };
        }
      };
      // A failing worker makes the others stop at their next part; abort only after all have
      // settled, so no part lands after the abort.
      const workers = Array.from({ length: Math.min(this.partConcurrency, count) }, () =>
        uploadParts().catch((partError: unknown) => {
          next = count;
          throw partError;
        }));
      const failed = (await Promise.allSettled(workers)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await this.client.send(new CompleteMultipartUploadCommand({
        Bucket: this.bucket, Key: fullKey, UploadId: id, MultipartUpload: { Parts: parts },
      }));
    } catch (e) {
      const failure = this.wrap(e, `store ${key} (multipart)`);
      if (uploadId === undefined) throw failure;
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, UploadId: uploadId }));
      } catch (abortError) {
        // The upload itself failed either way; say that its parts may linger, keep both causes.
        throw new KilnError(failure.code,
          `${failure.message} Aborting multipart upload ${uploadId} also failed (${describe(abortError)}); its parts stay until a bucket lifecycle rule removes them.`,
          { cause: new AggregateError([e, abortError]) });
      }
      throw failure;
    }
  }

  private fullKey(key: string): string {
    assertValidKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private wrap(e: unknown, what: string): KilnError {
    if (e instanceof KilnError) return e;
    const { name } = shape(e);
    const status = statusOf(e);
    const where = `S3 store ${this.uri} could not ${what}`;
    if (name === 'NoSuchBucket') {
      return new KilnError('STORE_UNAVAILABLE', `${where}: bucket ${this.bucket} does not exist.`, { cause: e });
    }
    // No status means the request never got an answer: refused, reset, DNS or timeout.
    if (status === undefined || status >= 500 || status === 429 || (name !== undefined && TRANSIENT_NAMES.has(name))) {
      return new KilnError('STORE_UNAVAILABLE', `${where}: ${describe(e)}.`, { cause: e });
    }
    return new KilnError('INTERNAL', `${where}: ${describe(e)}.`, { cause: e });
  }
}

/** Drops a response body we will not read, so its socket goes back to the pool or closes. */
function destroy(stream: Readable): void {
  stream.destroy();
}

/** A short description of an SDK or network error for a detail string. */
function describe(e: unknown): string {
  const { name, code, message } = shape(e);
  const status = statusOf(e);
  const label = [code ?? name, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean).join(', ');
  const text = message !== undefined && message !== '' && message !== name ? message : 'no message';
  return label === '' ? text : `${label}: ${text}`;
}

function isMissingObject(e: unknown): boolean {
  const { name } = shape(e);
  return name === 'NoSuchKey' || name === 'NotFound';
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new KilnError('BAD_REQUEST', `S3 store option ${name} must be a positive integer, got ${n}.`);
  return n;
}

/** Splits `s3://bucket/prefix` into its parts; the prefix loses surrounding slashes. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  if (match === null) throw new KilnError('BAD_REQUEST', `S3 store URI ${JSON.stringify(uri)} must look like s3://bucket or s3://bucket/prefix.`);
  const bucket = match[1];
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '') assertValidPrefix(prefix);
  return { bucket, prefix };
}

/**
 * Why `bucket` is not a bucket name S3 accepts (3 to 63 lowercase letters, digits, dots and
 * hyphens, starting and ending with a letter or digit), or `null`.
 */
export function s3BucketProblem(bucket: string): string | null {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)
    ? null
    : `S3 bucket name ${JSON.stringify(bucket)} must be 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.`;
}

/**
 * The S3 driver's options from an entry point's environment: `KILN_S3_ENDPOINT` (an http(s) URL
 * of an S3-compatible store), `KILN_S3_FORCE_PATH_STYLE` (on with an endpoint) and
 * `AWS_REGION`/`AWS_DEFAULT_REGION` (`us-east-1`). Credentials stay with the SDK's own chain.
 */
export function parseS3StoreOptions(env: Record<string, string | undefined>, p: ConfigProblems): S3StoreOptions {
  const endpoint = env.KILN_S3_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) p.add('KILN_S3_ENDPOINT', `must be an http(s) URL, got '${endpoint}'`);
  return {
    endpoint,
    // A custom endpoint is nearly always an S3-compatible store that wants path-style URLs.
    forcePathStyle: p.bool(env, 'KILN_S3_FORCE_PATH_STYLE', endpoint !== undefined),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
  };
}
