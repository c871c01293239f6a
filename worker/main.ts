/**
 * The worker parent process: takes training jobs from the queue and runs each in a sandboxed child
 * (dist/worker/processor.js), then reports outcomes (run manifest on failure, webhooks).
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createStore } from '../store/create-store';
import { loadConfig, type WorkerConfig } from './config';
import { createLog } from './log';
import { JobOutcomes } from './job-outcomes';
import { createTrainingWorker } from './training-queue';
import { QueueWebhookSender, startWebhookDeliveryWorker } from './webhooks/delivery-queue';
import { JobNotifier } from './webhooks/job-notifier';
import { recordInterruption } from './interruptions';
import { WorkerMetrics, workerId } from './worker-metrics';
import { acquireTenantSlot } from './tenant-slots';
import { CancelSignal } from './training/cancel-signal';


/** Starts a worker; resolves to a function that stops it (waiting for running jobs up to the grace period). */
export async function startWorker(config: WorkerConfig, opts: { processorFile?: string; queueName?: string } = {}) {
  const log = createLog(config.logLevel, { role: 'worker' });
  // Worker side of Redis: wait through reconnects rather than failing commands.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (err) => log('warn', 'redis connection error', { err: err.message }));
  const store = createStore(config.store);
  const metrics = new WorkerMetrics(connection, config.queuePrefix, (err) => log('warn', 'could not record a metric', { err: err.message }));
  const stopHeartbeat = metrics.startHeartbeat(workerId(), config.backend);
  // Webhooks go through their own durable queue; this process also delivers them.
  const sender = new QueueWebhookSender({ connection, prefix: config.queuePrefix });
  const delivery = startWebhookDeliveryWorker({
    connection,
    prefix: config.queuePrefix,
    schedule: config.webhookSchedule,
    timeoutMs: config.webhookTimeoutMs,
    outbound: config.outbound,
    log: (level, msg, fields) => log(level, msg, fields),
  });
  const outcomes = new JobOutcomes(store, new JobNotifier(sender, config.publicUrl, (m, f) => log('info', m, f)), (m, f) => log('info', m, f));
  const worker = createTrainingWorker({
    connection,
    prefix: config.queuePrefix,
    processorFile: opts.processorFile ?? join(__dirname, 'processor.js'),
    concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs,
    queueName: opts.queueName,
    limits: {
      memoryBytes: config.workerMemoryBytes,
      stallTimeoutMs: config.stallTimeoutSeconds * 1000,
      cancelGraceMs: config.cancelGraceSeconds * 1000,
    },
    admit: (data) => acquireTenantSlot(connection, config.queuePrefix, config.tenantMaxRunning, data.tenant, data.jobId),
    watchCancel: (jobId) => CancelSignal.watch(config.redisUrl, config.queuePrefix, jobId),
  }, {
    onCompleted: (job, result) => {
      log('info', 'job finished', { jobId: job.data.jobId, status: result.status, stopReason: result.stopReason });
      void metrics.jobFinished(result.status);
      void outcomes.completed(job.data, result);
    },
    onFailed: (job, error, final) => {
      log(final ? 'error' : 'warn', final ? 'job failed' : 'job attempt failed; will retry', { jobId: job.data?.jobId, error: error.message, attemptsMade: job.attemptsMade });
      if (final && job.data) void outcomes.failed(job.data, error.message, job.attemptsMade);
      if (final) void metrics.jobFinished('failed');
      if (!final && job.data) {
        // The job's process died under it (killed from outside, a native crash), or a retryable fault ended it.
        const lost = /^WORKER_CRASHED: /.test(error.message);
        void recordInterruption(connection, config.queuePrefix, job.data.jobId, {
          attempt: job.attemptsStarted || job.attemptsMade,
          at: new Date().toISOString(),
          reason: lost ? 'worker_lost' : 'fault',
          detail: error.message,
        }).catch((err) => log('warn', 'could not record an interruption', { err: (err as Error).message }));
      }
    },
    onStalled: (jobId, attempt) => {
      log('warn', 'job stalled (its worker was lost); queued again to resume from its backup', { jobId });
      if (attempt === null) return;
      void recordInterruption(connection, config.queuePrefix, jobId, {
        attempt, at: new Date().toISOString(), reason: 'worker_lost', detail: 'the worker holding the job stopped renewing its lock (stalled)',
      }).catch((err) => log('warn', 'could not record an interruption', { err: (err as Error).message }));
    },
    onRedisReturned: (jobId, attempt, downMs, kept) => {
      log(kept ? 'info' : 'warn', kept ? 'Redis is back; the job kept its lock and trains on' : 'Redis is back; the job was queued again meanwhile', { jobId, downMs });
      if (!kept) return;
      void recordInterruption(connection, config.queuePrefix, jobId, {
        attempt, at: new Date(Date.now() - downMs).toISOString(), reason: 'redis_unavailable',
        detail: `Redis was unreachable for ${Math.round(downMs / 1000)} s; training went on and the job kept its attempt`,
      }).catch((err) => log('warn', 'could not record an interruption', { err: (err as Error).message }));
    },
    onError: (error) => log('error', 'worker error', { err: error.message }),
  });
  return {
    async stop(): Promise<void> {
      const grace = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), config.shutdownGraceSeconds * 1000).unref());
      // Stop taking jobs, then ask the running ones to back up at their next epoch end and hand
      // themselves back for another worker to resume.
      const closed = worker.close().then(() => 'closed' as const);
      const asked = await worker.requestHandBack().catch((err) => {
        log('warn', 'could not ask running jobs to hand back', { err: (err as Error).message });
        return 0;
      });
      if (asked > 0) log('info', 'asked running jobs to back up and hand back', { jobs: asked });
      if ((await Promise.race([closed, grace])) === 'timeout') {
        // close() is already under way, so close(true) would only wait for it: go on without it.
        // Their processes are killed below; their jobs stall and resume from their last backup.
        log('warn', 'grace period over; stopping with jobs still running (they resume from their last backup)');
        void worker.close(true);
      }
      await delivery.close();
      await stopHeartbeat();
      await sender.close();
      await store.close?.();
      connection.disconnect();
      // Last, once nothing can record a failure any more: a job still running stalls and resumes
      // elsewhere from its backup instead of spending an attempt. No training process outlives its
      // worker, not even one stuck in a synchronous loop that ignores SIGTERM.
      await worker.killProcesses();
    },
    isRunning: () => worker.isRunning(),
  };
}

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const worker = await startWorker(config);
  const log = createLog(config.logLevel, { role: 'worker' });
  const health = createServer((req, res) => {
    const ok = req.url === '/healthz' && worker.isRunning();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
  });
  health.listen(config.healthPort, '0.0.0.0').on('error', (err) => log('warn', 'health port unavailable', { err: err.message }));
  log('info', 'worker started', { concurrency: config.concurrency, backend: config.backend, prefix: config.queuePrefix });
  const stop = async (signal: string) => {
    log('info', 'stopping', { signal });
    health.close();
    await worker.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) void main();
