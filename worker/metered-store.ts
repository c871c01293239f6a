import type { ArtifactStore, GetStreamOptions, ListPageOptions, ObjectBody, PutOptions, WriteThread } from '../store/artifact-store';

/** What {@link MeteredStore} reports about each write. */
export interface StoreMeter {
  stored(ms: number): void;
  failed(): void;
}

/**
 * An artifact store that times every write (each try the uploader makes, so a retried upload
 * counts one failure per failed try, also when the tries run on the inner store's write thread)
 * and passes everything else through. The training child wraps its store in it so upload latency
 * and failures reach the operator metrics without the training loop knowing.
 */
export class MeteredStore implements ArtifactStore {
  readonly uri: string;
  readonly delete?: (key: string) => Promise<void>;
  readonly close?: () => Promise<void>;
  readonly writeThread?: () => WriteThread;

  constructor(private readonly inner: ArtifactStore, private readonly meter: StoreMeter) {
    this.uri = inner.uri;
    if (inner.delete) this.delete = (key) => inner.delete!(key);
    if (inner.close) this.close = () => inner.close!();
    if (inner.writeThread) {
      const metered: WriteThread = {
        put: (key, body, opts, retry, observer = {}) => inner.writeThread!().put(key, body, opts, retry, {
          ...observer,
          onTry: (ms, ok) => {
            if (ok) this.meter.stored(ms);
            else this.meter.failed();
            observer.onTry?.(ms, ok);
          },
        }),
        delete: (key) => inner.writeThread!().delete(key),
        list: (prefix) => inner.writeThread!().list(prefix),
      };
      this.writeThread = () => metered;
    }
  }

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<void> {
    const t0 = performance.now();
    try {
      await this.inner.put(key, body, opts);
    } catch (err) {
      this.meter.failed();
      throw err;
    }
    this.meter.stored(performance.now() - t0);
  }

  get(key: string) {
    return this.inner.get(key);
  }

  getStream(key: string, opts?: GetStreamOptions) {
    return this.inner.getStream(key, opts);
  }

  head(key: string) {
    return this.inner.head(key);
  }

  list(prefix: string) {
    return this.inner.list(prefix);
  }

  listPage(prefix: string, opts?: ListPageOptions) {
    return this.inner.listPage(prefix, opts);
  }

  ping() {
    return this.inner.ping();
  }
}
