import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { KilnError, type ErrorCode } from '../core/errors';
import type { ObjectInfo, PutOptions, RetryPolicy, WriteObserver, WriteThread } from './artifact-store';

/**
 * Which store a {@link StoreThread} opens on its thread: what `createStore` takes. Plain data, since
 * it is copied to the thread (credentials as values, not a provider function).
 */
export interface StoreThreadSpec {
  uri: string;
  /** `CreateStoreOptions` (typed loosely here: the drivers import this file). */
  options: object;
  /**
   * How many nice levels below the thread that starts it the store thread runs, on Linux, where
   * each thread has its own nice value (elsewhere the value is per process, so nothing changes).
   * Uploads are background work: when the machine is busy, the training thread goes first.
   * @defaultValue 10
   */
  niceOffset?: number;
}

/** An error as it crosses between threads (class instances arrive as plain objects). */
export type WireError =
  | { kiln: true; code: ErrorCode; message: string }
  | { kiln: false; name: string; message: string };

/** Main thread → store thread. */
export type StoreRequest =
  | { id: number; op: 'put'; key: string; body: Uint8Array; contentType: string | undefined; retry: RetryPolicy }
  | { id: number; op: 'delete'; key: string }
  | { id: number; op: 'list'; prefix: string };

/**
 * Store thread → main thread. `ms` is how long the try just finished took; `listed` is a list's
 * answer.
 */
export type StoreReply =
  | { id: number; kind: 'retry'; ms: number; retry: number; delayMs: number; error: WireError }
  | { id: number; kind: 'done'; ms: number; listed?: ObjectInfo[] }
  | { id: number; kind: 'failed'; ms: number; error: WireError };

export function toWireError(e: unknown): WireError {
  if (e instanceof KilnError) return { kiln: true, code: e.code, message: e.message };
  if (e instanceof Error) return { kiln: false, name: e.name, message: e.message };
  return { kiln: false, name: 'Error', message: String(e) };
}

function fromWireError(e: WireError): Error {
  if (e.kiln) return new KilnError(e.code, e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

interface Pending {
  resolve(listed: ObjectInfo[] | undefined): void;
  reject(e: unknown): void;
  observer: WriteObserver;
}

/**
 * A store's writes on a worker thread of its own ({@link ArtifactStore.writeThread}): the thread
 * opens the same store from its {@link StoreThreadSpec} and runs each put there, retries included,
 * so request signing, payload hashing and HTTP use another core while the caller's thread trains.
 * Deletes and lists (BackupAndRestore pruning old versions) run there too.
 *
 * Bodies move to the thread without a copy when they span their whole ArrayBuffer (what
 * `Buffer.concat` and `Buffer.from` return from 4 KiB up, and the backup encoder always); others
 * (small buffers from Node's shared pool, slices) are copied, which at those sizes costs less than
 * the message itself.
 *
 * The thread starts on the first request and holds a reference on the event loop only while
 * requests are in flight, so an idle thread never keeps the process alive, and the process cannot
 * exit under a write that has not settled. If the thread dies, its requests in flight reject with
 * `INTERNAL` and the next request starts a new thread. `close()` ends it.
 */
export class StoreThread implements WriteThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(private readonly spec: StoreThreadSpec) {}

  /** Requests in flight on the thread. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Whether a thread is running now (started and neither ended nor crashed). */
  get running(): boolean {
    return this.worker !== null;
  }

  async put(key: string, body: Buffer, opts: PutOptions | undefined, retry: RetryPolicy, observer: WriteObserver = {}): Promise<void> {
    const whole = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    // `new Uint8Array(body)` copies; a view of the whole buffer moves with it.
    const bytes = whole ? new Uint8Array(body.buffer) : new Uint8Array(body);
    await this.call(`store ${key}`, observer, (id) => ({ id, op: 'put', key, body: bytes, contentType: opts?.contentType, retry }), whole ? bytes.buffer as ArrayBuffer : undefined);
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, {}, (id) => ({ id, op: 'delete', key }));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    return (await this.call(`list ${prefix}`, {}, (id) => ({ id, op: 'list', prefix }))) ?? [];
  }

  /** Ends the thread; requests still in flight reject. A closed thread takes no more. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (worker === null) return;
    await worker.terminate();
  }

  /** Sends one request and settles with its reply; `movable` is transferred when it can be. */
  private call(what: string, observer: WriteObserver, request: (id: number) => StoreRequest, movable?: ArrayBuffer): Promise<ObjectInfo[] | undefined> {
    if (this.closed) {
      return Promise.reject(new KilnError('INTERNAL', `The write thread of ${this.spec.uri} was closed; could not ${what}.`));
    }
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, observer });
      if (this.pending.size === 1) worker.ref();
      const message = request(id);
      if (movable !== undefined) {
        try {
          worker.postMessage(message, [movable]);
          return;
        } catch {
          // Not every ArrayBuffer can move (wasm memory, some addons' buffers): it is copied instead.
        }
      }
      worker.postMessage(message);
    });
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(bootstrapCode(), { eval: true, workerData: this.spec });
    worker.unref();
    worker.on('message', (reply: StoreReply) => this.settle(reply));
    let crash: Error | null = null;
    worker.on('error', (err) => {
      crash = err;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      const why = crash !== null ? `failed: ${crash.message}` : this.closed ? 'was closed' : `exited with code ${code}`;
      const failure = new KilnError('INTERNAL', `The write thread of ${this.spec.uri} ${why}; the writes in flight on it were not confirmed.`, { cause: crash ?? undefined });
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(failure);
    });
    this.worker = worker;
    return worker;
  }

  private settle(reply: StoreReply): void {
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    p.observer.onTry?.(reply.ms, reply.kind === 'done');
    if (reply.kind === 'retry') {
      p.observer.onRetry?.(reply.retry, reply.delayMs, fromWireError(reply.error) as KilnError);
      return;
    }
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (reply.kind === 'done') p.resolve(reply.listed);
    else p.reject(fromWireError(reply.error));
  }
}

/**
 * What the thread runs: store-thread-worker beside this file. Under tsx (sources run as .ts) the
 * thread registers tsx's CommonJS hook itself first, because on Node 20 the `--import tsx` hooks
 * of the main thread do not reach worker threads.
 */
function bootstrapCode(): string {
  const ext = extname(__filename);
  const entry = join(__dirname, `store-thread-worker${ext}`);
  const preload = ext === '.ts' ? `require(${JSON.stringify(require.resolve('tsx/cjs'))});\n` : '';
  return `${preload}require(${JSON.stringify(entry)});\n`;
}
