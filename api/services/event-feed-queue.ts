import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { kilnKeys, TRAINING_QUEUE, type TrainingProgress } from '../../core/queue-contract';

/** BullMQ queue events the API follows for a job (see the training queue's event stream). */
export type JobLifecycleEvent = 'active' | 'waiting' | 'delayed' | 'stalled' | 'completed' | 'failed' | 'removed';

/** What happened to one job, as the events endpoint hears it. */
export type JobQueueEvent =
  | { kind: 'progress'; progress: TrainingProgress }
  | { kind: 'lifecycle'; event: JobLifecycleEvent }
  /** A caller cancelled the job (Kiln's cancel channel; a queued job never reaches BullMQ's events). */
  | { kind: 'cancel' };

export type QueueFeedListener = (event: JobQueueEvent) => void;

const LIFECYCLE: JobLifecycleEvent[] = ['active', 'waiting', 'delayed', 'stalled', 'completed', 'failed', 'removed'];

/**
 * The training queue's events for the API process: one BullMQ `QueueEvents` (one blocking Redis
 * connection reading the queue's event stream) and one subscriber on Kiln's cancel channel, opened
 * on the first subscription and shared by every listener, fanned out by job id.
 */
export class QueueEventFeed {
  private readonly listeners = new Map<string, Set<QueueFeedListener>>();
  private opening: Promise<void> | null = null;
  private queueEvents: QueueEvents | null = null;
  private connections: Redis[] = [];
  private closed = false;

  /**
   * @param redis - the API's connection (fail-fast); the blocking readers are duplicates of it
   * @param prefix - BullMQ key prefix of the training queue
   */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly warn: (message: string, fields: Record<string, unknown>) => void = () => undefined,
  ) {}

  /**
   * Calls `listener` for every event of `jobId` from now on, in stream order, until the returned
   * function is called. Resolves once the shared readers are in place, so nothing that happens
   * after it resolves is missed. Rejects (and subscribes nothing) when Redis is unavailable.
   */
  async subscribe(jobId: string, listener: QueueFeedListener): Promise<() => void> {
    if (this.closed) throw new Error('the job events reader is closed');
    await (this.opening ??= this.open().catch((err) => {
      this.opening = null;
      throw err;
    }));
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.listeners.get(jobId) === set) this.listeners.delete(jobId);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.opening?.catch(() => undefined);
    await this.queueEvents?.close().catch(() => undefined);
    for (const c of this.connections) c.disconnect();
  }

  private dispatch(jobId: string | undefined, event: JobQueueEvent): void {
    if (!jobId) return;
    const set = this.listeners.get(jobId);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (err) {
        this.warn('job event listener failed', { jobId, err: (err as Error).message });
      }
    }
  }

  private async open(): Promise<void> {
    const streamKey = `${this.prefix}:${TRAINING_QUEUE}:events`;
    // Start reading right after the stream's current last entry, named explicitly: with `$` an
    // event added between start-up and the first XREAD would be lost. This read also fails fast
    // (the API connection has no offline queue) when Redis is away.
    const last = await this.redis.xrevrange(streamKey, '+', '-', 'COUNT', 1);
    const lastEventId = last[0]?.[0] ?? '0-0';

    const subscriber = this.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
    // QueueEvents duplicates the connection it is given; this template never connects itself.
    const template = this.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: true });
    let queueEvents: QueueEvents | null = null;
    try {
      subscriber.on('error', (err) => this.warn('job events subscriber error', { err: err.message }));
      subscriber.on('message', (_channel: string, jobId: string) => this.dispatch(jobId, { kind: 'cancel' }));
      await subscriber.subscribe(kilnKeys.cancelChannel(this.prefix));

      queueEvents = new QueueEvents(TRAINING_QUEUE, { connection: template, prefix: this.prefix, lastEventId, autorun: true });
      queueEvents.on('error', (err) => this.warn('job events reader error', { err: (err as Error).message }));
      queueEvents.on('progress', ({ jobId, data }) => {
        if (data && typeof data === 'object') this.dispatch(jobId, { kind: 'progress', progress: data as unknown as TrainingProgress });
      });
      for (const name of LIFECYCLE) {
        queueEvents.on(name as 'active', (args: { jobId: string }) => this.dispatch(args.jobId, { kind: 'lifecycle', event: name }));
      }
      await queueEvents.waitUntilReady();
    } catch (err) {
      await queueEvents?.close().catch(() => undefined);
      subscriber.disconnect();
      template.disconnect();
      throw err;
    }
    this.queueEvents = queueEvents;
    this.connections.push(subscriber, template);
  }
}
