import { KilnError } from '../core/errors';
import type {
  ArtifactStore, GetStreamOptions, ListPageOptions, ObjectBody, PutOptions, RetryPolicy, WriteObserver, WriteThread,
} from './artifact-store';
import { retryUnavailable } from './uploader';

/**
 * Failed tries of one call before the store counts as in an outage (about 1–2 s at the default
 * backoff): a lone 503 or reset that the next try gets past is not worth pausing or reporting.
 */
const OUTAGE_AFTER_RETRIES = 3;

/** An outage of the store as {@link OutageTolerantStore} sees it. */
export interface StoreOutage {
  /** When the first try of the outage failed. */
  since: Date;
  /** When the store stops being waited for: calls still failing then fail for good. */
  until: Date;
  /** The last `STORE_UNAVAILABLE` answer. */
  error: KilnError;
}

/** Options for {@link OutageTolerantStore}. */
export interface OutageTolerantStoreOptions {
  /** How long calls answered `STORE_UNAVAILABLE` are retried before they fail for good (KILN_OUTAGE_TOLERANCE_SECONDS). */
  toleranceMs: number;
  /**
   * Backoff between retries (the exponent's base and its ceiling); the write thread's puts keep
   * the uploader's own.
   * @defaultValue `{ retries: 6, baseDelayMs: 250, maxDelayMs: 8000 }`
   */
  retry?: Omit<RetryPolicy, 'toleranceMs'>;
  /** Told when an outage begins and, with `null`, when it ends. Must not throw. */
  onOutage?(outage: StoreOutage | null): void;
}

/**
 * A store that waits out its own outages: every call answered `STORE_UNAVAILABLE` (unreachable,
 * 5xx, throttled, disk full, a store refusing writes) is retried with backoff for up to
 * `toleranceMs` before it fails, reads and writes alike, and the puts of the write thread get the
 * same tolerance. Other errors (a bad key, access denied, a path the file system refuses) fail at
 * once: no wait fixes them.
 *
 * The training child wraps its store in one per job, so a store outage pauses the job instead of
 * spending its attempts; {@link whenAvailable} lets the training loop wait at an epoch end rather
 * than train on while nothing it produces can be stored, and `onOutage` shows the job as waiting.
 * An outage begins when one call has failed a few tries in a row, and ends with the first successful write (a read ends one only when reads failed too, so
 * a store that serves reads but refuses writes stays in outage).
 */
export class OutageTolerantStore implements ArtifactStore {
  readonly uri: string;
  readonly delete?: (key: string) => Promise<void>;
  readonly close?: () => Promise<void>;
  readonly writeThread?: () => WriteThread;
  private current: (StoreOutage & { fromWrite: boolean }) | null = null;
  private waiters: Array<() => void> = [];
  private readonly retry: Omit<RetryPolicy, 'toleranceMs'>;

  constructor(private readonly inner: ArtifactStore, private readonly opts: OutageTolerantStoreOptions) {
    this.uri = inner.uri;
    this.retry = opts.retry ?? { retries: 6, baseDelayMs: 250, maxDelayMs: 8000 };
    if (inner.delete) this.delete = (key) => this.patient(() => inner.delete!(key), true);
    if (inner.close) this.close = () => inner.close!();
    if (inner.writeThread) {
      const patientThread: WriteThread = {
        put: (key, body, putOpts, retry, observer = {}) => inner.writeThread!().put(
          key, body, putOpts, { ...retry, toleranceMs: Math.max(retry.toleranceMs ?? 0, this.toleranceLeft()) }, this.observe(true, observer)),
        delete: (key) => this.patient(() => inner.writeThread!().delete(key), true),
        list: (prefix) => this.patient(() => inner.writeThread!().list(prefix), false),
      };
      this.writeThread = () => patientThread;
    }
  }

  /** The outage under way, or `null`. */
  get outage(): StoreOutage | null {
    if (this.current === null) return null;
    const { since, until, error } = this.current;
    return { since, until, error };
  }

  /**
   * Resolves at once when the store is not in an outage, else when it ends or when its tolerance
   * runs out (whichever comes first: after that, the failing calls fail and report it themselves).
   */
  whenAvailable(): Promise<void> {
    const outage = this.current;
    if (outage === null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, outage.until.getTime() - Date.now()));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<void> {
    return this.patient(() => this.inner.put(key, body, opts), true);
  }

  get(key: string) {
    return this.patient(() => this.inner.get(key), false);
  }

  getStream(key: string, opts?: GetStreamOptions) {
    return this.patient(() => this.inner.getStream(key, opts), false);
  }

  head(key: string) {
    return this.patient(() => this.inner.head(key), false);
  }

  list(prefix: string) {
    return this.patient(() => this.inner.list(prefix), false);
  }

  listPage(prefix: string, opts?: ListPageOptions) {
    return this.patient(() => this.inner.listPage(prefix, opts), false);
  }

  /** One try: a health check answers now, it does not wait. */
  ping(): Promise<void> {
    return this.inner.ping();
  }

  private patient<T>(call: () => Promise<T>, write: boolean): Promise<T> {
    const left = this.toleranceLeft();
    // Once an outage has outlasted the tolerance, calls get one try: the job is giving up.
    const retries = this.current !== null && left === 0 ? 0 : this.retry.retries;
    return retryUnavailable(call, { ...this.retry, retries, toleranceMs: left }, this.observe(write, {}));
  }

  /**
   * What is left of the tolerance: all of it outside an outage, else until the outage's end, so
   * calls that start late in an outage (or retry a call that gave up) do not wait it out again.
   */
  private toleranceLeft(): number {
    return this.current === null ? this.opts.toleranceMs : Math.max(0, this.current.until.getTime() - Date.now());
  }

  /** An observer that tracks the outage around the caller's own. */
  private observe(write: boolean, observer: WriteObserver): WriteObserver {
    return {
      onRetry: (retry, delayMs, error) => {
        if (retry >= OUTAGE_AFTER_RETRIES) this.failed(error, write);
        observer.onRetry?.(retry, delayMs, error);
      },
      onTry: (ms, ok) => {
        if (ok) this.succeeded(write);
        observer.onTry?.(ms, ok);
      },
    };
  }

  private failed(error: KilnError, write: boolean): void {
    const now = new Date();
    const started = this.current === null;
    this.current = this.current === null
      ? { since: now, until: new Date(now.getTime() + this.opts.toleranceMs), error, fromWrite: write }
      : { ...this.current, error, fromWrite: this.current.fromWrite || write };
    // Told once per outage, not on every retry of every call.
    if (started) this.opts.onOutage?.(this.outage);
  }

  private succeeded(write: boolean): void {
    if (this.current === null || (this.current.fromWrite && !write)) return;
    this.current = null;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    this.opts.onOutage?.(null);
  }
}
