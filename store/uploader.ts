import { KilnError } from '../core/errors';
import {
  assertValidKey, toBuffer, type ArtifactStore, type ObjectBody, type PutOptions, type RetryPolicy, type WriteObserver, type WriteThread,
} from './artifact-store';

/** How the uploader retries an upload the store could not take. */
export interface UploaderRetryOptions {
  /**
   * Retries after the first try; the upload fails for good after `retries + 1` tries.
   * @defaultValue 6
   */
  retries?: number;
  /**
   * Ceiling of the first backoff in milliseconds; it doubles each retry.
   * @defaultValue 250
   */
  baseDelayMs?: number;
  /**
   * Longest single backoff in milliseconds.
   * @defaultValue 8000
   */
  maxDelayMs?: number;
}

/** What {@link UploaderOptions.onRetry} is told. */
export interface UploadRetryEvent {
  key: string;
  /** The retry about to happen, from 1. */
  retry: number;
  delayMs: number;
  error: KilnError;
}

/** Options for {@link Uploader}. */
export interface UploaderOptions {
  /**
   * Bytes the queue may hold (waiting and in flight) before `enqueue` makes its caller wait. A
   * single object larger than the budget is still accepted, alone.
   * @defaultValue 64 MiB
   */
  maxQueuedBytes?: number;
  /**
   * Uploads in flight at once. With 1, objects are stored strictly in enqueue order. With more,
   * uploads start in enqueue order, except that a write waits for the earlier writes to its key
   * (so a key's writes land in enqueue order) while later keys go ahead; objects under different
   * keys may finish out of order, so a pointer must await the `stored` of what it names before it
   * is enqueued. Over a store with latency this is what keeps the uploader ahead of training (at
   * 200 ms a request, one at a time is 5 objects a second).
   * @defaultValue 1
   */
  concurrency?: number;
  /** @defaultValue `{ retries: 6, baseDelayMs: 250, maxDelayMs: 8000 }` */
  retry?: UploaderRetryOptions;
  /** Called before each retry, e.g. to log it. Must not throw. */
  onRetry?: (event: UploadRetryEvent) => void;
  /**
   * Source of jitter in [0, 1). Only for uploads on the caller's thread: a write thread draws its own.
   * @defaultValue `Math.random`
   */
  random?: () => number;
  /**
   * Run the uploads on the store's write thread ({@link ArtifactStore.writeThread}) when it has
   * one, so that signing, hashing and HTTP stay off the caller's thread; bodies are then handed
   * over to that thread (see {@link Uploader.enqueue}). Order, superseding, the memory budget and
   * failures work as on the caller's thread; the retries run on the write thread.
   * @defaultValue false
   */
  offThread?: boolean;
}

/** A queued upload, as {@link Uploader.enqueue} returns it. */
export interface QueuedUpload {
  key: string;
  bytes: number;
  /**
   * Settles when the object is stored, or rejects when it never will be. Awaiting it is optional:
   * an unobserved failure does not crash the process, and `flush()` reports it as well.
   */
  stored: Promise<void>;
}

/** Counters for logs and the run manifest. */
export interface UploaderStats {
  /** Objects waiting or in flight. */
  queued: number;
  /** Bytes waiting or in flight (what the budget bounds). */
  queuedBytes: number;
  /** Objects stored so far. */
  uploaded: number;
  /** Bytes stored so far. */
  uploadedBytes: number;
  /** Retries made after STORE_UNAVAILABLE answers. */
  retries: number;
  /** Uploads that failed for good. */
  failures: number;
  /** Uploads never tried because an earlier one had failed for good. */
  skipped: number;
  /** Uploads dropped because a newer write to the same key was enqueued before they started. */
  superseded: number;
}

interface Item {
  key: string;
  /** Settles when this object is stored (or when the newer write that superseded it is). */
  stored: Promise<void>;
  /** Whether its upload has begun. */
  started: boolean;
  /** The object; empty once it has been handed to a write thread. */
  body: Buffer;
  /** Its size, which the memory budget counts until the item settles. */
  bytes: number;
  opts: PutOptions | undefined;
  /** Whether the budget has let this item's caller go on. Admitted items form a prefix of the queue. */
  admitted: boolean;
  admit(): void;
  refuse(e: unknown): void;
  resolve(): void;
  reject(e: unknown): void;
}

const MiB = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Calls `put` until it succeeds, retrying `STORE_UNAVAILABLE` failures up to `retry.retries`
 * times (and, with `retry.toleranceMs`, for as long as that since the first failure), each after a
 * backoff drawn with full jitter from an exponentially growing ceiling; other errors, and the last
 * failure, are thrown. The retry loop of {@link Uploader}, on whichever thread does the writing.
 */
export async function putWithRetries(
  put: () => Promise<void>, retry: RetryPolicy, observer: WriteObserver = {}, random: () => number = Math.random,
): Promise<void> {
  await retryUnavailable(put, retry, observer, random);
}

/** {@link putWithRetries} for any store call: resolves to what the first successful try returns. */
export async function retryUnavailable<T>(
  call: () => Promise<T>, retry: RetryPolicy, observer: WriteObserver = {}, random: () => number = Math.random,
): Promise<T> {
  let firstFailureAt: number | null = null;
  for (let n = 0; ; n++) {
    const t0 = performance.now();
    try {
      const out = await call();
      observer.onTry?.(performance.now() - t0, true);
      return out;
    } catch (e) {
      observer.onTry?.(performance.now() - t0, false);
      firstFailureAt ??= t0;
      const waited = performance.now() - firstFailureAt;
      const patient = waited < (retry.toleranceMs ?? 0);
      if (!(e instanceof KilnError) || e.code !== 'STORE_UNAVAILABLE' || (n >= retry.retries && !patient)) throw e;
      // Full jitter spreads the retries of many workers that hit the same outage. The exponent is
      // capped so that a long outage cannot overflow the ceiling.
      const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.min(n, 30));
      const delayMs = Math.round(random() * ceiling);
      observer.onRetry?.(n + 1, delayMs, e);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/**
 * Uploads a run's artifacts in the background, in the order they were enqueued (one at a time by
 * default, `concurrency` at once if asked), so the training loop never waits on the network
 * except to bound memory.
 *
 * With the default concurrency of 1, order is the guarantee that makes pointers safe: enqueue a
 * checkpoint's `model.json` and `weights.bin`, then `best.json`, and `best.json` is written only
 * after both are stored. With a higher concurrency only writes to the same key keep their order,
 * so a pointer is enqueued once the `stored` promises of what it names have resolved. After an
 * upload fails for good (retries exhausted, or an error that is not `STORE_UNAVAILABLE`), no
 * further upload starts — a later pointer could otherwise name a missing checkpoint — and every
 * later upload, and every `flush()`, rejects with that failure as the cause.
 *
 * Memory is bounded by `maxQueuedBytes`: `enqueue` resolves once the object is admitted, which is
 * at once unless the objects ahead of it fill the budget. Callers that enqueue concurrently are
 * admitted in call order, so the order of `enqueue` calls is the order of uploads.
 *
 * With `offThread`, the queue, its order and its budget stay on the caller's thread, and each
 * upload, once started, runs with its retries on the store's write thread.
 *
 * ```ts
 * const up = new Uploader(store);
 * await up.enqueue(ckpt.modelJson, json, { contentType: 'application/json' }); // waits only for room
 * await up.enqueue(ckpt.weightsBin, weights);
 * await up.enqueue(layout.bestPointer, pointerJson);                         // lands after both
 * // … training goes on …
 * await up.flush();                                                          // before the run ends
 * ```
 */
export class Uploader {
  private readonly store: ArtifactStore;
  private readonly thread: WriteThread | undefined;
  private readonly maxQueuedBytes: number;
  private readonly concurrency: number;
  private readonly retry: RetryPolicy;
  private readonly onRetry: ((event: UploadRetryEvent) => void) | undefined;
  private readonly random: () => number;

  /**
   * Every enqueued object not yet settled, in call order. Objects enter at call time, before their
   * caller is admitted, so concurrent callers cannot overtake each other.
   */
  private readonly queue: Item[] = [];
  private queuedBytes = 0;
  /** Bytes of admitted items still in the queue: what the budget bounds. */
  private admittedBytes = 0;
  private admittedCount = 0;
  private inFlight = 0;
  private failure: KilnError | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly counters = { uploaded: 0, uploadedBytes: 0, retries: 0, failures: 0, skipped: 0, superseded: 0 };

  constructor(store: ArtifactStore, opts: UploaderOptions = {}) {
    this.store = store;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * MiB;
    this.concurrency = opts.concurrency ?? 1;
    this.retry = { retries: opts.retry?.retries ?? 6, baseDelayMs: opts.retry?.baseDelayMs ?? 250, maxDelayMs: opts.retry?.maxDelayMs ?? 8000 };
    this.onRetry = opts.onRetry;
    this.random = opts.random ?? Math.random;
    if (!(this.maxQueuedBytes > 0)) throw new KilnError('BAD_REQUEST', `Uploader maxQueuedBytes must be > 0, got ${this.maxQueuedBytes}.`);
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new KilnError('BAD_REQUEST', `Uploader concurrency must be an integer ≥ 1, got ${this.concurrency}.`);
    if (!Number.isInteger(this.retry.retries) || this.retry.retries < 0) throw new KilnError('BAD_REQUEST', `Uploader retry.retries must be an integer ≥ 0, got ${this.retry.retries}.`);
    this.thread = opts.offThread === true ? store.writeThread?.() : undefined;
  }

  /**
   * Queues `body` for upload to `key` after everything enqueued before it. Resolves once the
   * object is admitted — at once, unless the objects ahead of it already fill `maxQueuedBytes`,
   * in which case it waits for room. The returned `stored` promise settles when the object is in
   * the store.
   *
   * A write to a key whose previous write is still waiting replaces that write (its `stored`
   * settles with this one's): the store ends up with the newest object either way.
   *
   * The uploader keeps `body` itself, not a copy: do not modify it after enqueueing. With
   * `offThread`, do not read it either: when its upload starts, a body that spans its whole
   * ArrayBuffer is moved to the write thread and left empty. Rejects at once for an invalid key;
   * rejects, and the object is never uploaded, when an earlier upload has failed for good.
   */
  async enqueue(key: string, body: ObjectBody, opts?: PutOptions): Promise<QueuedUpload> {
    assertValidKey(key);
    const bytes = toBuffer(body);
    if (this.failure !== undefined) {
      this.counters.skipped++;
      throw this.skipError(key);
    }
    let admit!: () => void;
    let refuse!: (e: unknown) => void;
    const admitted = new Promise<void>((res, rej) => { admit = res; refuse = rej; });
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const stored = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    // A failure also reaches flush() and stats(); this handler only keeps an unobserved
    // `stored` from counting as an unhandled rejection and crashing the process.
    stored.catch(() => undefined);
    // Objects are written whole, so a queued write that has not started yet is superseded by this
    // one: it is dropped and settles with it. A run rewrites run.json, the CSV and its TensorBoard
    // files every epoch; over a slow store this keeps them current instead of epochs behind.
    const older = this.queue.find((item) => item.key === key && !item.started);
    if (older) {
      this.counters.superseded++;
      this.remove(older);
      older.admit();
      stored.then(older.resolve, older.reject);
    }
    this.queue.push({ key, stored, body: bytes, bytes: bytes.length, opts, started: false, admitted: false, admit, refuse, resolve, reject });
    this.queuedBytes += bytes.length;
    this.admitWaiting();
    this.pump();
    await admitted;
    return { key, bytes: bytes.length, stored };
  }

  /**
   * Resolves when every upload enqueued so far (including callers still waiting for room) is
   * stored; rejects when any upload has failed for good. The run must not finish before this.
   */
  async flush(): Promise<void> {
    if (this.queue.length > 0) {
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Resolves when everything enqueued so far is stored (later objects are not waited for);
   * rejects when one of them fails for good. A pointer that must not get ahead of other writes —
   * BackupAndRestore's `latest.json` and the TensorBoard files of the epochs it covers — awaits it.
   */
  storedSoFar(): Promise<void> {
    return Promise.all(this.queue.map((item) => item.stored)).then(() => undefined);
  }

  /** A snapshot of the counters. */
  stats(): UploaderStats {
    return { queued: this.queue.length, queuedBytes: this.queuedBytes, ...this.counters };
  }

  /** Lets callers go on, in queue order, while their objects fit in the budget. */
  private admitWaiting(): void {
    // After a failure pump() refuses the rest, so waiting callers get the error.
    while (this.failure === undefined && this.admittedCount < this.queue.length) {
      const next = this.queue[this.admittedCount];
      // An object bigger than the whole budget would never fit; it goes in once nothing else is admitted.
      if (this.admittedBytes > 0 && this.admittedBytes + next.bytes > this.maxQueuedBytes) return;
      next.admitted = true;
      this.admittedCount++;
      this.admittedBytes += next.bytes;
      next.admit();
    }
  }

  /** Starts uploads in queue order while there is room in flight; after a failure, refuses the rest. */
  private pump(): void {
    for (let i = 0; i < this.queue.length && this.inFlight < this.concurrency;) {
      const item = this.queue[i];
      if (item.started) {
        i++;
        continue;
      }
      if (this.failure !== undefined) {
        this.counters.skipped++;
        const skipped = this.skipError(item.key);
        item.refuse(skipped);
        item.reject(skipped);
        this.remove(item);
        continue;
      }
      // Admitted items are a prefix of the queue.
      if (!item.admitted) break;
      // A key's writes land in enqueue order; other keys go ahead meanwhile.
      if (this.queue.slice(0, i).some((earlier) => earlier.key === item.key)) {
        i++;
        continue;
      }
      item.started = true;
      this.inFlight++;
      void this.run(item);
      i++;
    }
    if (this.queue.length === 0 && this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async run(item: Item): Promise<void> {
    try {
      await this.upload(item);
      this.counters.uploaded++;
      this.counters.uploadedBytes += item.bytes;
      item.resolve();
    } catch (e) {
      this.counters.failures++;
      const failure = e instanceof KilnError
        ? e
        : new KilnError('INTERNAL', `Uploading ${item.key} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      this.failure ??= failure;
      item.reject(failure);
    }
    this.inFlight--;
    this.remove(item);
    this.pump();
  }

  private remove(item: Item): void {
    this.queue.splice(this.queue.indexOf(item), 1);
    this.queuedBytes -= item.bytes;
    if (item.admitted) {
      this.admittedCount--;
      this.admittedBytes -= item.bytes;
    }
    this.admitWaiting();
  }

  private async upload(item: Item): Promise<void> {
    const observer: WriteObserver = {
      onRetry: (retry, delayMs, error) => {
        this.counters.retries++;
        this.onRetry?.({ key: item.key, retry, delayMs, error });
      },
    };
    if (this.thread === undefined) {
      await putWithRetries(() => this.store.put(item.key, item.body, item.opts), this.retry, observer, this.random);
      return;
    }
    const body = item.body;
    item.body = EMPTY;
    await this.thread.put(item.key, body, item.opts, this.retry, observer);
  }

  private skipError(key: string): KilnError {
    const failure = this.failure!;
    return new KilnError(failure.code, `Not uploaded ${key}: an earlier upload failed (${failure.message}).`, { cause: failure });
  }
}
