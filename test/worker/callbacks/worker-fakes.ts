import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainingJobData, TrainingProgress } from '../../../core/queue-contract';
import type { ArtifactStore, ObjectBody, PutOptions } from '../../../store/artifact-store';
import { FileStore } from '../../../store/file-store';
import { RunLayout } from '../../../store/run-layout';
import { Uploader } from '../../../store/uploader';
import { RunRecorder } from '../../../worker/callbacks/run-recorder';

/**
 * A real file store whose writes to keys matching `held` wait until {@link GatedStore.release}:
 * what a slow upload looks like to the ordering rules, without timing.
 */
export class GatedStore implements ArtifactStore {
  readonly inner: FileStore;
  private gates: Array<{ key: string; open: () => void }> = [];
  private released = false;
  private readonly done = new Map<string, () => void>();
  private readonly doneKeys = new Set<string>();
  private readonly gated = new Map<string, () => void>();
  /** `put <key>` when a write is asked for, `stored <key>` when it completed, in order. */
  readonly journal: string[] = [];

  constructor(readonly dir: string, private readonly held: RegExp) {
    this.inner = new FileStore(dir);
  }

  get uri(): string {
    return this.inner.uri;
  }

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<void> {
    this.journal.push(`put ${key}`);
    if (!this.released && this.held.test(key)) {
      await new Promise<void>((open) => {
        this.gates.push({ key, open });
        this.gated.get(key)?.();
      });
    }
    await this.inner.put(key, body, opts);
    this.journal.push(`stored ${key}`);
    this.doneKeys.add(key);
    this.done.get(key)?.();
  }

  /** Resolves once a write of `key` has completed. */
  whenStored(key: string): Promise<void> {
    if (this.doneKeys.has(key)) return Promise.resolve();
    return new Promise((resolve) => this.done.set(key, resolve));
  }

  /** Keys whose writes are waiting. */
  get waiting(): string[] {
    return this.gates.map((g) => g.key);
  }

  /** Resolves once a write of `key` is held. */
  whenHeld(key: string): Promise<void> {
    if (this.waiting.includes(key)) return Promise.resolve();
    return new Promise((resolve) => this.gated.set(key, resolve));
  }

  /** Lets the held writes matching `only` go (every held write, and all later ones, without it). */
  release(only?: RegExp): void {
    if (!only) this.released = true;
    const go = this.gates.filter((g) => !only || only.test(g.key));
    this.gates = this.gates.filter((g) => !go.includes(g));
    for (const g of go) g.open();
  }

  get = (key: string) => this.inner.get(key);
  getStream = (...a: Parameters<FileStore['getStream']>) => this.inner.getStream(...a);
  head = (key: string) => this.inner.head(key);
  list = (prefix: string) => this.inner.list(prefix);
  listPage = (...a: Parameters<FileStore['listPage']>) => this.inner.listPage(...a);
  delete = (key: string) => this.inner.delete(key);
  ping = () => this.inner.ping();
}

/** A job of `epochs` epochs (the spec only needs what the recorder and writers read). */
export function fakeJob(epochs = 3): TrainingJobData {
  return {
    tenant: 'acme',
    jobId: 'job-1',
    runId: 'run-1',
    createdAt: '2026-01-01T00:00:00.000Z',
    spec: { data: { builtin: 'iris' }, model: { layers: [] }, compile: { loss: 'mse', optimizer: { name: 'sgd' } }, fit: { epochs } } as unknown as TrainingJobData['spec'],
  };
}

/** A run's writing parts over a temp store: layout, uploader, recorder, and what progress got. */
export function runParts(store: ArtifactStore, opts: { attempt?: number; epochs?: number } = {}) {
  const job = fakeJob(opts.epochs);
  const layout = new RunLayout({ tenant: job.tenant, runId: job.runId, attempt: opts.attempt ?? 1 });
  const uploader = new Uploader(store, { concurrency: 8 });
  const progress: TrainingProgress[] = [];
  const recorder = new RunRecorder({
    job, layout, uploader, backend: 'cpu', attempt: opts.attempt ?? 1, startedAt: new Date(), notifier: null, log: () => undefined,
    reportProgress: async (p) => {
      progress.push(p);
    },
  });
  return { job, layout, uploader, recorder, progress };
}

/** A temp folder removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-wcb-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads a stored JSON object, or null. */
export async function storedJson(store: ArtifactStore, key: string): Promise<any> {
  const raw = await store.get(key);
  return raw ? JSON.parse(raw.toString('utf8')) : null;
}
