import { Redis } from 'ioredis';
import { readQueueGauges, toEmbeddedMetricRecord } from './queue-gauges';

// One connection per Lambda execution environment, reused by later invocations.
let client: Redis | undefined;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`queue-metrics: environment variable ${name} is not set`);
  return value;
}

/**
 * Scheduled (EventBridge, every minute) Lambda entry point: reads the training queue's sizes from
 * Redis and prints them as a CloudWatch Embedded Metric Format record. The ECS worker service
 * scales on these metrics, including up from zero tasks.
 */
export async function handler(): Promise<void> {
  const namespace = required('KILN_METRIC_NAMESPACE');
  const location = {
    prefix: process.env.KILN_QUEUE_PREFIX || '{kiln}',
    queueName: process.env.KILN_QUEUE_NAME || 'training',
  };
  client ??= new Redis(required('REDIS_URL'), {
    connectTimeout: 5000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
  });
  const now = Date.now();
  const gauges = await readQueueGauges(client, location, now);
  console.log(JSON.stringify(toEmbeddedMetricRecord(gauges, namespace, location.queueName, now)));
}
