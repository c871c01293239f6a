import type {
  SchemaBestCheckpoint,
  SchemaJob,
  SchemaJobStreamCallback,
  SchemaJobStreamEnd,
  SchemaJobStreamEpoch,
  SchemaJobStreamStatus,
  SchemaMetricLogs,
  SchemaRun,
} from '../../core/api.gen';
import { KilnError } from '../../core/errors';
import type { TrainingProgress } from '../../core/queue-contract';
import type { QueueEventFeed, JobQueueEvent } from './event-feed-queue';
import { withRedis, type JobService } from './job-service';
import type { RunService } from './run-service';

/** One message of `GET /v1/jobs/{jobId}/events`. */
export type JobStreamMessage =
  | { event: 'status'; id: string; data: SchemaJobStreamStatus }
  | { event: 'epoch'; id: string; data: SchemaJobStreamEpoch }
  | { event: 'callback'; id: string; data: SchemaJobStreamCallback }
  | { event: 'end'; id: string; data: SchemaJobStreamEnd };

/** A place in a job's message sequence: an epoch message is `(e, -1)`, its n-th callback event `(e, n)`. */
export interface StreamPosition {
  epoch: number;
  sub: number;
}

/** Before the first epoch message (the id `-1`). */
export const STREAM_START: StreamPosition = { epoch: -1, sub: -1 };

/** Reads a message id (`7`, `7.1`, `-1`) back into a position, or null when it is not one of ours. */
export function parseEventId(id: string): StreamPosition | null {
  const m = /^(-1|\d{1,9})(?:\.(\d{1,9}))?$/.exec(id.trim());
  if (!m) return null;
  return { epoch: Number(m[1]), sub: m[2] === undefined ? -1 : Number(m[2]) };
}

export function formatEventId(p: StreamPosition): string {
  return p.sub < 0 ? String(p.epoch) : `${p.epoch}.${p.sub}`;
}

function isAfter(a: StreamPosition, b: StreamPosition): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.sub > b.sub);
}

/** One SSE message on the wire: `event:`, `id:`, one line of JSON `data:` and a blank line. */
export function formatSse(m: JobStreamMessage): string {
  return `event: ${m.event}\nid: ${m.id}\ndata: ${JSON.stringify(m.data)}\n\n`;
}

const TERMINAL = new Set<SchemaJob['status']>(['succeeded', 'failed', 'cancelled']);

type CallbackEventRecord = Record<string, unknown>;

/**
 * Turns history and live reports into messages, each sent at most once and in position order:
 * anything at or before the position already reached (or named by `Last-Event-ID`) is dropped.
 * Pure; the stream feeds it from run.json, job state and queue events.
 */
export class JobStreamCursor {
  private lastStatus: string | null = null;

  constructor(private readonly send: (m: JobStreamMessage) => void, public position: StreamPosition = STREAM_START) {}

  get id(): string {
    return formatEventId(this.position);
  }

  /** Whether the last status sent was `running` (of any attempt). */
  get running(): boolean {
    return this.lastStatus?.startsWith('running') ?? false;
  }

  /** Sends a status unless it repeats the last one (a new attempt is a new `running`). */
  status(data: SchemaJobStreamStatus): void {
    const key = data.status === 'running' ? `running:${data.attempt ?? ''}` : data.status;
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.send({ event: 'status', id: this.id, data });
  }

  /**
   * An epoch (when `epoch` data is given) and callback events grouped by the epoch they belong to
   * (`events`: the n-th of epoch e has id `e.n`).
   */
  epoch(epoch: number, data: SchemaJobStreamEpoch | null, events: CallbackEventRecord[]): void {
    const at = { epoch, sub: -1 };
    if (data && isAfter(at, this.position)) {
      this.position = at;
      this.send({ event: 'epoch', id: this.id, data });
    }
    events.forEach((event, n) => {
      const p = { epoch, sub: n };
      if (!isAfter(p, this.position)) return;
      this.position = p;
      this.send({ event: 'callback', id: this.id, data: event as SchemaJobStreamCallback });
    });
  }

  end(data: SchemaJobStreamEnd): void {
    this.send({ event: 'end', id: this.id, data });
  }
}

/**
 * Groups callback events by the epoch they belong to, keeping their order. An event without an
 * epoch (a callback that failed outside one) belongs with the one before it, or with `fallback`.
 */
export function eventsByEpoch(events: CallbackEventRecord[], fallback: number): Map<number, CallbackEventRecord[]> {
  const out = new Map<number, CallbackEventRecord[]>();
  let slot = fallback;
  for (const event of events) {
    if (typeof event.epoch === 'number') slot = event.epoch;
    const list = out.get(slot);
    if (list) list.push(event);
    else out.set(slot, [event]);
  }
  return out;
}

/**
 * The best checkpoint as it was at the end of `epoch`: the run's best once it exists, before that
 * the last best-only checkpoint the callback events report (without its store key).
 */
export function bestAt(run: Pick<SchemaRun, 'best' | 'events'>, epoch: number): SchemaBestCheckpoint {
  if (run.best && run.best.epoch <= epoch) return run.best;
  let best: SchemaBestCheckpoint = null;
  for (const e of run.events ?? []) {
    const saved = e as { type?: string; epoch?: unknown; path?: unknown; best?: { monitor?: string; value?: number | string | null } };
    if (saved.type !== 'checkpoint_saved' || !saved.best || typeof saved.epoch !== 'number' || saved.epoch > epoch) continue;
    best = { epoch: saved.epoch, path: String(saved.path), monitor: saved.best.monitor ?? null, value: saved.best.value ?? null };
  }
  return best;
}

/** Replays a run manifest's epochs and callback events (those after the cursor's position). */
export function replayRun(cursor: JobStreamCursor, run: Pick<SchemaRun, 'history' | 'best' | 'events'>, epochs: number): void {
  const logs = new Map<number, SchemaMetricLogs>(run.history.map((h) => [h.epoch, h.logs]));
  const events = eventsByEpoch((run.events ?? []) as CallbackEventRecord[], 0);
  const order = [...new Set([...logs.keys(), ...events.keys()])].sort((a, b) => a - b);
  for (const e of order) {
    const l = logs.get(e);
    cursor.epoch(e, l ? { epoch: e, epochs, logs: l, best: bestAt(run, e) } : null, events.get(e) ?? []);
  }
}

function statusNow(job: SchemaJob): SchemaJobStreamStatus {
  const last = job.transitions[job.transitions.length - 1];
  const same = last?.status === job.status;
  return {
    status: job.status,
    at: same ? last.at : new Date().toISOString(),
    ...(job.status === 'running' ? { attempt: Math.max(1, job.attempts) } : {}),
    ...(same && last.reason ? { reason: last.reason } : {}),
  };
}

export interface JobEventServiceOptions {
  /**
   * How long a client connecting mid-run waits for run.json to catch up with the job's reported
   * progress (the manifest upload runs in the background of training).
   * @defaultValue 3000
   */
  catchUpMs?: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

/** `GET /v1/jobs/{jobId}/events`: a job's history then its live progress, per tenant. */
export class JobStreamService {
  private readonly streams = new Set<JobEventStream>();
  private closing = false;

  constructor(
    private readonly queue: QueueEventFeed,
    private readonly jobs: JobService,
    private readonly runs: RunService,
    private readonly opts: JobEventServiceOptions = {},
  ) {}

  /**
   * Checks the job is the tenant's, subscribes to its live events and reads its history. Throws
   * (404, 400, 503) before the caller has sent anything; the stream then only has to be run.
   */
  async streamJobEvents(tenant: string, jobId: string, lastEventId?: string): Promise<JobEventStream> {
    let from: StreamPosition | null = null;
    if (lastEventId !== undefined && lastEventId.trim() !== '') {
      from = parseEventId(lastEventId);
      if (!from) {
        throw new KilnError('BAD_REQUEST', `Last-Event-ID '${lastEventId}' is not an id this stream sent; send the id of the last message received, or none`, {
          errors: [{ pointer: '/headers/last-event-id', detail: 'expected <epoch> or <epoch>.<n>' }],
        });
      }
    }
    if (this.closing) throw new KilnError('QUEUE_UNAVAILABLE', 'the API is shutting down; reconnect shortly', { retryAfter: 5 });
    await this.jobs.getJob(tenant, jobId); // 404 before subscribing to anything
    const stream = new JobEventStream(tenant, jobId, from, this.queue, this.jobs, this.runs, this.opts, () => this.streams.delete(stream));
    this.streams.add(stream);
    await stream.prepare();
    return stream;
  }

  /** Ends every open stream (without `end`: clients reconnect elsewhere) and the shared readers. */
  async close(): Promise<void> {
    this.closing = true;
    for (const s of [...this.streams]) s.close();
    await this.queue.close();
  }
}

/** One client's stream: history first, then live events in order, until the job ends or the client goes. */
export class JobEventStream {
  private readonly outbox: JobStreamMessage[] = [];
  private sink: ((m: JobStreamMessage) => void) | null = null;
  private readonly cursor: JobStreamCursor;
  private unsubscribe: (() => void) | null = null;
  private ended = false;
  private openGate!: () => void;
  /** Live events are handled one at a time, in arrival order, once the history has been sent. */
  private chain: Promise<void> = new Promise<void>((resolve) => (this.openGate = resolve));
  private finished!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.finished = resolve));
  private epochs = 0;
  private runId = '';

  constructor(
    private readonly tenant: string,
    private readonly jobId: string,
    private readonly from: StreamPosition | null,
    private readonly queue: QueueEventFeed,
    private readonly jobs: JobService,
    private readonly runs: RunService,
    private readonly opts: JobEventServiceOptions,
    private readonly onClose: () => void,
  ) {
    this.cursor = new JobStreamCursor((m) => (this.sink ? this.sink(m) : this.outbox.push(m)), from ?? STREAM_START);
  }

  /** Subscribes first, then reads history, so an epoch that ends meanwhile is either in both (and deduplicated) or live. */
  async prepare(): Promise<void> {
    this.unsubscribe = await withRedis('follow job events', () => this.queue.subscribe(this.jobId, (e) => this.onEvent(e)));
    try {
      const job = await this.jobs.getJob(this.tenant, this.jobId);
      this.epochs = job.progress.epochs;
      this.runId = job.runId;
      // A reconnecting client (Last-Event-ID) gets the current status only, a new one every transition.
      if (this.from === null) {
        for (const t of job.transitions) {
          if (TERMINAL.has(t.status)) continue;
          this.cursor.status({
            status: t.status,
            at: t.at,
            ...(t.status === 'running' ? { attempt: Math.max(1, job.attempts) } : {}),
            ...(t.reason ? { reason: t.reason } : {}),
          });
        }
      }
      if (!TERMINAL.has(job.status)) this.cursor.status(statusNow(job));
      if (TERMINAL.has(job.status)) {
        this.finish(job, await this.readRun(null));
      } else {
        replayRun(this.cursor, await this.readRun(job.progress.epoch), this.epochs);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Sends the history read so far, then live events as they come; resolves when the stream has
   * ended (after `end`, on {@link close}, or after an error that a reconnect may get past).
   */
  run(sink: (m: JobStreamMessage) => void): Promise<void> {
    for (const m of this.outbox.splice(0)) sink(m);
    this.sink = sink;
    this.openGate();
    return this.done;
  }

  /** Stops following the job (the client went away, or the API is stopping). */
  close(): void {
    if (this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = null;
    }
    this.ended = true;
    this.onClose();
    this.finished();
  }

  private onEvent(event: JobQueueEvent): void {
    this.chain = this.chain
      .then(() => (this.ended ? undefined : this.handle(event)))
      .catch((err) => {
        // Without a way to report it in-band, end the stream; the client reconnects with Last-Event-ID.
        this.opts.log?.('job event stream failed', { jobId: this.jobId, err: (err as Error).message });
        this.close();
      });
  }

  private async handle(event: JobQueueEvent): Promise<void> {
    if (event.kind === 'progress') {
      this.progress(event.progress);
      return;
    }
    let job: SchemaJob;
    try {
      job = await this.jobs.getJob(this.tenant, this.jobId);
    } catch (err) {
      // The job was removed while followed: nothing more will happen to it.
      if (err instanceof KilnError && err.code === 'NOT_FOUND') return this.close();
      throw err;
    }
    if (TERMINAL.has(job.status)) this.finish(job, await this.readRun(null));
    else this.cursor.status(statusNow(job));
  }

  private progress(p: TrainingProgress): void {
    if (!this.cursor.running) this.cursor.status({ status: 'running', at: p.startedAt, attempt: p.attempt });
    if (p.epoch === null) return;
    const grouped = eventsByEpoch((p.events ?? []) as CallbackEventRecord[], p.epoch);
    const order = [...new Set([p.epoch, ...grouped.keys()])].sort((a, b) => a - b);
    for (const e of order) {
      const data = e === p.epoch ? { epoch: p.epoch, epochs: p.epochs, logs: p.metrics, best: p.best } : null;
      this.cursor.epoch(e, data, grouped.get(e) ?? []);
    }
  }

  /** Whatever the manifest holds past the position (events at train end), the final status, `end`. */
  private finish(job: SchemaJob, run: SchemaRun): void {
    replayRun(this.cursor, run, this.epochs);
    this.cursor.status(statusNow(job));
    this.cursor.end({ status: job.status, stopReason: job.stopReason, best: job.best, error: job.error });
    this.close();
  }

  /**
   * The run manifest; when `epoch` is given, waits (bounded) until it holds that epoch, which the
   * job has already reported but whose manifest upload may still be in flight.
   */
  private async readRun(epoch: number | null): Promise<SchemaRun> {
    const deadline = Date.now() + (this.opts.catchUpMs ?? 3000);
    for (;;) {
      const run = await this.runs.getRun(this.tenant, this.runId);
      const last = run.history.reduce((m, h) => Math.max(m, h.epoch), -1);
      if (epoch === null || last >= epoch || Date.now() >= deadline) return run;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
