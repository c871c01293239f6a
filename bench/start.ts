/**
 * Job start latency: how long from `POST /v1/jobs` until training starts, through the real API and a
 * real worker with its training processes (file store, cpu backend, real Redis).
 *
 * Usage: npm run bench:start [-- --jobs 8 --gap-ms 0]
 *
 * Jobs run one after another (each waits for the previous one to finish, as on a worker with
 * nothing queued; `--gap-ms` idles that long before each POST), so each start finds the worker idle. For every job it prints, in ms after the
 * POST was sent:
 * - `picked`: the worker took the job from the queue (BullMQ `processedOn`);
 * - `training`: the job's process began training (`startedAt` of its first progress report);
 * - `firstEpoch`: the first epoch's progress event reached the bench (QueueEvents).
 * Job 1 is reported apart (the worker has just started); the summary is the median and maximum of
 * the others.
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { TRAINING_QUEUE, type TrainingProgress } from '../core/queue-contract';
import { startStack } from '../test/support/kiln-stack';
import { REDIS_URL } from '../test/support/redis';

const args = process.argv.slice(2);
const option = (name: string, def: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : def);
const jobs = option('--jobs', 8);
/** Idle time before each POST, as on a worker whose jobs arrive apart rather than back to back. */
const gapMs = option('--gap-ms', 0);

const spec = {
  model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
  compile: { optimizer: { name: 'adam' }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
  data: { builtin: 'iris' },
  fit: { epochs: 2, batchSize: 32 },
};

interface Row {
  job: number;
  picked: number;
  training: number;
  firstEpoch: number;
}

async function main(): Promise<void> {
  const prefixHolder: { prefix?: string } = {};
  const stack = await startStack({ name: 'bench-start', env: { KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0', KILN_TENANT_MAX_RUNNING: '0' } });
  prefixHolder.prefix = process.env.KILN_QUEUE_PREFIX;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(TRAINING_QUEUE, { connection, prefix: prefixHolder.prefix });
  const events = new QueueEvents(TRAINING_QUEUE, { connection: { url: REDIS_URL } as never, prefix: prefixHolder.prefix });
  await events.waitUntilReady();
  const firstProgress = new Map<string, number>();
  const finished = new Map<string, () => void>();
  events.on('progress', ({ jobId }) => {
    if (!firstProgress.has(jobId)) firstProgress.set(jobId, Date.now());
  });
  const ended = ({ jobId }: { jobId: string }) => finished.get(jobId)?.();
  events.on('completed', ended);
  events.on('failed', ended);
  const rows: Row[] = [];
  try {
    for (let i = 1; i <= jobs; i++) {
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      const posted = Date.now();
      const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(spec) });
      if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${await res.text()}`);
      const { jobId } = (await res.json()) as { jobId: string };
      await new Promise<void>((resolve) => {
        finished.set(jobId, resolve);
        // It may have ended before the listener was set.
        void queue.getJob(jobId).then((j) => j?.finishedOn && resolve());
      });
      const job = await queue.getJob(jobId);
      const progress = job?.progress as TrainingProgress | undefined;
      if (!job?.processedOn || !progress?.startedAt || !firstProgress.has(jobId)) throw new Error(`job ${jobId} did not train (${job?.failedReason ?? 'no progress'})`);
      rows.push({ job: i, picked: job.processedOn - posted, training: Date.parse(progress.startedAt) - posted, firstEpoch: firstProgress.get(jobId)! - posted });
    }
  } finally {
    await events.close();
    await queue.close();
    connection.disconnect();
    await stack.close();
  }
  const rest = rows.slice(1);
  const stat = (key: keyof Omit<Row, 'job'>) => {
    const values = rest.map((r) => r[key]).sort((a, b) => a - b);
    return { median: values[Math.floor((values.length - 1) / 2)], max: values[values.length - 1] };
  };
  console.table(rows);
  console.log(JSON.stringify({ jobs, first: rows[0], picked: stat('picked'), training: stat('training'), firstEpoch: stat('firstEpoch') }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
