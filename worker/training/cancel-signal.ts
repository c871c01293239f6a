import { Redis } from 'ioredis';
import { kilnKeys } from '../../core/queue-contract';

/**
 * Tells a running job that it was cancelled, or that its worker is stopping and wants it handed
 * back (for the attempt holding `token`). Listens on both channels and also reads the keys at
 * start and every few seconds, so a message missed during a reconnect still reaches the job.
 */
export class CancelSignal {
  private cancelled = false;
  private handBack = false;
  private timer: NodeJS.Timeout | null = null;

  private constructor(private readonly redis: Redis, private readonly subscriber: Redis, private readonly prefix: string, private readonly jobId: string, private readonly token: string | null) {}

  /** @param token - the attempt's lock token; without it hand-back requests are not watched. */
  static async watch(redisUrl: string, prefix: string, jobId: string, token?: string): Promise<CancelSignal> {
    const opts = { maxRetriesPerRequest: null, lazyConnect: true } as const;
    const redis = new Redis(redisUrl, opts);
    const subscriber = new Redis(redisUrl, opts);
    // Connection errors are retried by ioredis; the periodic read covers what pub/sub misses.
    redis.on('error', () => undefined);
    subscriber.on('error', () => undefined);
    const signal = new CancelSignal(redis, subscriber, prefix, jobId, token ?? null);
    await Promise.all([redis.connect(), subscriber.connect()]);
    const handBackChannel = kilnKeys.handBackChannel(prefix);
    subscriber.on('message', (channel: string, message: string) => {
      if (message !== jobId) return;
      if (channel === handBackChannel) void signal.poll();
      else signal.cancelled = true;
    });
    await subscriber.subscribe(kilnKeys.cancelChannel(prefix), handBackChannel);
    await signal.poll();
    signal.timer = setInterval(() => void signal.poll(), 2000);
    signal.timer.unref();
    return signal;
  }

  get requested(): boolean {
    return this.cancelled;
  }

  /** The worker running this attempt is stopping: back up at the next epoch end and hand the job back. */
  get handBackRequested(): boolean {
    return this.handBack;
  }

  private async poll(): Promise<void> {
    try {
      if (await this.redis.get(kilnKeys.cancel(this.prefix, this.jobId))) this.cancelled = true;
      if (this.token !== null && (await this.redis.get(kilnKeys.handBack(this.prefix, this.jobId))) === this.token) this.handBack = true;
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
