import { Redis } from 'ioredis';
import { kilnKeys } from '../../core/queue-contract';

/**
 * Tells a running job that it was cancelled. Listens on the cancellation channel and also reads the
 * job's cancel key at start and every few seconds, so a message missed during a reconnect still
 * stops the job.
 */
export class CancelSignal {
  private cancelled = false;
  private timer: NodeJS.Timeout | null = null;

  private constructor(private readonly redis: Redis, private readonly subscriber: Redis, private readonly prefix: string, private readonly jobId: string) {}

  static async watch(redisUrl: string, prefix: string, jobId: string): Promise<CancelSignal> {
    const opts = { maxRetriesPerRequest: null, lazyConnect: true } as const;
    const redis = new Redis(redisUrl, opts);
    const subscriber = new Redis(redisUrl, opts);
    // Connection errors are retried by ioredis; the periodic read covers what pub/sub misses.
    redis.on('error', () => undefined);
    subscriber.on('error', () => undefined);
    const signal = new CancelSignal(redis, subscriber, prefix, jobId);
    await Promise.all([redis.connect(), subscriber.connect()]);
    subscriber.on('message', (_channel: string, message: string) => {
      if (message === jobId) signal.cancelled = true;
    });
    await subscriber.subscribe(kilnKeys.cancelChannel(prefix));
    await signal.poll();
    signal.timer = setInterval(() => void signal.poll(), 2000);
    signal.timer.unref();
    return signal;
  }

  get requested(): boolean {
    return this.cancelled;
  }

  private async poll(): Promise<void> {
    try {
      if (await this.redis.get(kilnKeys.cancel(this.prefix, this.jobId))) this.cancelled = true;
    } catch {
      // Redis briefly away: the next poll or the channel will tell.
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.redis.disconnect();
    this.subscriber.disconnect();
  }
}
