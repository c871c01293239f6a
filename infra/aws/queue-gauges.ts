import type { Redis } from 'ioredis';

/**
 * Point-in-time sizes of one BullMQ queue, read straight from its Redis keys.
 *
 * The queue-metrics Lambda publishes these to CloudWatch because the GPU workers scale from zero:
 * with no worker running, nothing inside a worker could report that jobs are waiting.
 */
export interface QueueGauges {
  /** Jobs in the FIFO wait list (`<prefix>:<queue>:wait`). */
  waiting: number;
  /** Jobs with a priority; BullMQ 5 keeps them in a sorted set, not in the wait list. */
  prioritized: number;
  /** Jobs a worker holds right now (`<prefix>:<queue>:active`). */
  active: number;
  /** Size of the failed set; it only grows until jobs are removed, so alarms use its difference. */
  failed: number;
  /** Age of the job at the head of the wait list, 0 when the list is empty. */
  oldestWaitingAgeSeconds: number;
}

/** Where a queue lives in Redis. */
export interface QueueLocation {
  /** BullMQ key prefix. @defaultValue `{kiln}` in Kiln's configuration (a Redis Cluster hash tag) */
  prefix: string;
  /** Queue name. Kiln's training queue is `training`. */
  queueName: string;
}

/** BullMQ's key for one part of a queue: `<prefix>:<queueName>:<part>`. */
export function queueKey(location: QueueLocation, part: string): string {
  return `${location.prefix}:${location.queueName}:${part}`;
}

/**
 * Reads the gauges of one queue. BullMQ pushes new jobs on the left of the wait list and workers
 * take from the right, so the oldest waiting job is at index -1; its hash holds the enqueue
 * `timestamp` in milliseconds.
 */
export async function readQueueGauges(
  redis: Redis,
  location: QueueLocation,
  nowMs: number,
): Promise<QueueGauges> {
  const [waiting, prioritized, active, failed, oldestId] = await Promise.all([
    redis.llen(queueKey(location, 'wait')),
    redis.zcard(queueKey(location, 'prioritized')),
    redis.llen(queueKey(location, 'active')),
    redis.zcard(queueKey(location, 'failed')),
    redis.lindex(queueKey(location, 'wait'), -1),
  ]);
  let oldestWaitingAgeSeconds = 0;
  if (oldestId !== null) {
    const enqueuedAt = Number(await redis.hget(queueKey(location, oldestId), 'timestamp'));
    if (Number.isFinite(enqueuedAt) && enqueuedAt > 0) {
      oldestWaitingAgeSeconds = Math.max(0, Math.round((nowMs - enqueuedAt) / 1000));
    }
  }
  return { waiting, prioritized, active, failed, oldestWaitingAgeSeconds };
}

/** CloudWatch metric names published for a queue, shared by the Lambda and the CDK stack. */
export const QUEUE_METRIC_NAMES = {
  waiting: 'WaitingJobs',
  active: 'ActiveJobs',
  failed: 'FailedJobs',
  oldestWaitingAgeSeconds: 'OldestWaitingJobAgeSeconds',
} as const;

/** The CloudWatch dimension that names the queue. */
export const QUEUE_METRIC_DIMENSION = 'Queue';

/**
 * Renders gauges as one CloudWatch Embedded Metric Format record. Lambda's log stream carries it
 * to CloudWatch, which extracts the metrics, so the function needs no SDK client and no
 * `cloudwatch:PutMetricData` permission. `WaitingJobs` counts prioritized jobs too: both are
 * work that no worker has picked up.
 */
export function toEmbeddedMetricRecord(
  gauges: QueueGauges,
  namespace: string,
  queueName: string,
  timestampMs: number,
): Record<string, unknown> {
  const n = QUEUE_METRIC_NAMES;
  return {
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [[QUEUE_METRIC_DIMENSION]],
          Metrics: [
            { Name: n.waiting, Unit: 'Count' },
            { Name: n.active, Unit: 'Count' },
            { Name: n.failed, Unit: 'Count' },
            { Name: n.oldestWaitingAgeSeconds, Unit: 'Seconds' },
          ],
        },
      ],
    },
    [QUEUE_METRIC_DIMENSION]: queueName,
    [n.waiting]: gauges.waiting + gauges.prioritized,
    [n.active]: gauges.active,
    [n.failed]: gauges.failed,
    [n.oldestWaitingAgeSeconds]: gauges.oldestWaitingAgeSeconds,
  };
}
