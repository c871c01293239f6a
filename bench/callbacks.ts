/**
 * `npm run bench:callbacks` — what the full callback stack costs an epoch when the artifact store is
 * a network away. Trains the same job twice per round through the worker's real training loop
 * (worker/training/run-training.ts runTraining, wasm backend) against s3rver behind a proxy that
 * adds `--latency-ms` to every request, both in a process of their own (bench/support/store-process.ts):
 *
 * - bare: no callbacks in the spec and BackupAndRestore off — what every Kiln job still does (the
 *   run manifest, the CSV log and the implicit best-only checkpoint, uploaded in the background);
 * - full: EarlyStopping (restoreBestWeights), ModelCheckpoint saving every epoch, ReduceLROnPlateau,
 *   CSVLogger, TensorBoard with weight histograms every epoch, an alert rule firing every epoch,
 *   `job.epoch` / `checkpoint.improved` webhooks (queued in Redis as the worker queues them),
 *   progress written to Redis each epoch, and BackupAndRestore every epoch.
 *
 * Epoch time is the wall time between consecutive epoch ends as the loop reports them (so it
 * includes everything the loop waits for); the figure is the median over the epochs after
 * `--warmup`, rounds interleaved bare/full/bare/full to cancel machine noise. Target: full/bare ≤ 1.05.
 * Prints one JSON object.
 *
 * Usage: npm run bench:callbacks -- [--latency-ms 200] [--rounds 2] [--epochs 20] [--warmup 2]
 *          [--samples 4096] [--batch-size 32]
 */
import { Redis } from 'ioredis';
import type { SchemaJobSpec } from '../core/api.gen';
import { newJobIds } from '../core/ids';
import type { TrainingJobData, TrainingProgress } from '../core/queue-contract';
import { createStore } from '../store/create-store';
import { initWasmBackend } from '../worker/tfjs/wasm-backend';
import { runTraining } from '../worker/training/run-training';
import { QueueWebhookSender } from '../worker/webhooks/delivery-queue';
import { JobNotifier } from '../worker/webhooks/job-notifier';
import { REDIS_URL, uniquePrefix } from '../test/support/redis';
import { startStoreProcess, type StoreProcess } from './support/store-process';
import { median, parseFlags, seededRandom } from './support/figures';

const TENANT = 'acme';
const FEATURES = 784;
const CLASSES = 10;
const TARGET_RATIO = 1.05;

type Options = {
  latencyMs: number;
  rounds: number;
  epochs: number;
  warmup: number;
  samples: number;
  batchSize: number;
};

type Variant = 'bare' | 'full';

/**
 * A learnable stand-in for MNIST-sized data (WORKLOADS.md's MLP input): standard-normal features,
 * the label the argmax of a fixed random projection, so validation loss improves for a while and
 * best-only checkpoints are actually saved.
 */
function datasetCsv(samples: number): Buffer {
  const random = seededRandom(42);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const projection = Array.from({ length: FEATURES * CLASSES }, normal);
  const lines = [[...Array.from({ length: FEATURES }, (_, i) => `f${i}`), 'label'].join(',')];
  const row = new Array<string>(FEATURES + 1);
  for (let n = 0; n < samples; n++) {
    const scores = new Float64Array(CLASSES);
    for (let i = 0; i < FEATURES; i++) {
      const x = normal();
      row[i] = x.toFixed(3);
      for (let c = 0; c < CLASSES; c++) scores[c] += x * projection[i * CLASSES + c];
    }
    row[FEATURES] = `c${scores.indexOf(Math.max(...scores))}`;
    lines.push(row.join(','));
  }
  return Buffer.from(lines.join('\n') + '\n');
}

function jobSpec(variant: Variant, opts: Options): SchemaJobSpec {
  // Layer lists are free-form in the contract's types; the worker validates them.
  const base = {
    model: {
      inputShape: [FEATURES],
      layers: [
        { type: 'dense', units: 256, activation: 'relu' },
        { type: 'dense', units: 128, activation: 'relu' },
        { type: 'dense', units: CLASSES, activation: 'softmax' },
      ],
    },
    compile: { optimizer: { name: 'adam', learningRate: 0.001 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { uri: 'datasets/bench-callbacks.csv', labelColumn: 'label', validationSplit: 0.2 },
    fit: { epochs: opts.epochs, batchSize: opts.batchSize, seed: 7 },
  } as unknown as SchemaJobSpec;
  if (variant === 'bare') return { ...base, callbacks: { backupAndRestore: { enabled: false } } };
  return {
    ...base,
    callbacks: {
      // Patience past the last epoch: the bench measures epochs, it must not stop early.
      earlyStopping: { monitor: 'val_loss', patience: opts.epochs, restoreBestWeights: true },
      modelCheckpoint: { filepath: 'epoch-{epoch:02d}-{val_accuracy:.3f}', saveBestOnly: false },
      reduceLROnPlateau: { monitor: 'val_loss', patience: 2, factor: 0.5 },
      csvLogger: {},
      tensorBoard: { histogramFreq: 1 },
      alerts: [{ name: 'every-epoch', when: 'loss > 0 or loss <= 0', fire: 'always' }],
      backupAndRestore: { saveFreq: 'epoch' },
    },
    webhook: {
      url: 'https://hooks.example.com/kiln',
      secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}`,
      events: ['job.started', 'job.epoch', 'checkpoint.improved', 'alert.triggered', 'job.succeeded'],
    },
  };
}

interface RunFigures {
  variant: Variant;
  /** Wall time of each epoch after the first (end to end), ms. */
  epochMs: number[];
  /** CPU time (user + system, all threads) this process spent in each of those epochs, ms. */
  cpuMs: number[];
  /** The loop's own epochMs (begin of the epoch to its progress report), ms. */
  computeMs: number[];
  /** From the last epoch end to runTraining returning (final model, flush, backup clean-up), ms. */
  tailMs: number;
  /** Store requests the proxy saw during the run. */
  storeRequests: number;
  /** CPU time the store process (s3rver and the proxy) used during the run, ms. */
  storeCpuMs: number;
}

async function trainOnce(variant: Variant, opts: Options, ctx: {
  store: ReturnType<typeof createStore>;
  storeProcess: StoreProcess;
  redis: Redis;
  notifier: JobNotifier;
  prefix: string;
}): Promise<RunFigures> {
  const { jobId, runId } = newJobIds();
  const job: TrainingJobData = { tenant: TENANT, jobId, runId, spec: jobSpec(variant, opts), createdAt: new Date().toISOString() };
  const ends: number[] = [];
  const cpu: number[] = [];
  const computeMs: number[] = [];
  const before = await ctx.storeProcess.counters();
  const progressKey = `${ctx.prefix}:progress:${jobId}`;
  await runTraining(job, {
    store: ctx.store,
    backend: 'wasm',
    attempt: 1,
    isCancelled: () => false,
    reportProgress: async (p: TrainingProgress) => {
      ends.push(performance.now());
      const used = process.cpuUsage();
      cpu.push((used.user + used.system) / 1000);
      if (p.epochMs !== undefined) computeMs.push(p.epochMs);
      // The worker's job.updateProgress is a Redis round trip (an HSET and an event) per epoch.
      if (variant === 'full') await ctx.redis.multi().hset(progressKey, 'progress', JSON.stringify(p)).xadd(`${progressKey}:events`, '*', 'progress', String(p.epoch)).exec();
    },
    notifier: variant === 'full' ? ctx.notifier : null,
    log: () => undefined,
  });
  const finished = performance.now();
  return {
    variant,
    epochMs: ends.slice(1).map((t, i) => t - ends[i]),
    cpuMs: cpu.slice(1).map((t, i) => t - cpu[i]),
    computeMs,
    tailMs: finished - ends[ends.length - 1],
    ...await ctx.storeProcess.counters().then((after) => ({ storeRequests: after.requests - before.requests, storeCpuMs: after.cpuMs - before.cpuMs })),
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const opts = parseFlags<Options>(process.argv.slice(2), 'bench:callbacks', {
    latencyMs: 200, rounds: 2, epochs: 20, warmup: 2, samples: 4096, batchSize: 32,
  });
  if (opts.warmup >= opts.epochs - 1) throw new Error('--warmup must leave at least two measured epochs (--epochs > warmup + 1)');
  await initWasmBackend();
  const storeProcess = await startStoreProcess(opts.latencyMs);
  const { prefix, cleanup } = uniquePrefix('bench-callbacks');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const sender = new QueueWebhookSender({ connection: redis, prefix });
  try {
    // The dataset goes in directly; only training's own traffic crosses the proxy.
    await createStore({ uri: storeProcess.uri, s3: storeProcess.s3Options(true) }).put(`${TENANT}/datasets/bench-callbacks.csv`, datasetCsv(opts.samples), { contentType: 'text/csv' });
    const ctx = {
      store: createStore({ uri: storeProcess.uri, s3: storeProcess.s3Options() }),
      storeProcess, redis, prefix,
      notifier: new JobNotifier(sender, null, () => undefined),
    };
    const runs: RunFigures[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      // Alternate which variant goes first so a drift in machine load does not favour one.
      const order: Variant[] = r % 2 === 0 ? ['bare', 'full'] : ['full', 'bare'];
      for (const v of order) runs.push(await trainOnce(v, opts, ctx));
    }
    // epochMs[i] is epoch i+1; epochs before --warmup are warm-up.
    const after = (xs: number[]) => xs.slice(Math.max(0, opts.warmup - 1));
    const measured = (v: Variant, of: 'epochMs' | 'cpuMs' = 'epochMs') => runs.filter((x) => x.variant === v).flatMap((x) => after(x[of]));
    const compute = (v: Variant) => runs.filter((x) => x.variant === v).flatMap((x) => x.computeMs.slice(opts.warmup));
    const bare = median(measured('bare'));
    const full = median(measured('full'));
    const ratio = full / bare;
    const report = {
      bench: 'callbacks',
      node: process.version,
      backend: 'wasm',
      workload: `mlp 784-256-128-10, ${opts.samples} rows (validationSplit 0.2), batch ${opts.batchSize}`,
      storeLatencyMs: opts.latencyMs,
      rounds: opts.rounds,
      epochs: opts.epochs,
      warmupEpochs: opts.warmup,
      epochMedianMs: { bare: round1(bare), full: round1(full) },
      // Less sensitive to other processes on the machine than wall time; includes the upload I/O.
      cpuPerEpochMedianMs: { bare: round1(median(measured('bare', 'cpuMs'))), full: round1(median(measured('full', 'cpuMs'))) },
      computeMedianMs: { bare: round1(median(compute('bare'))), full: round1(median(compute('full'))) },
      ratioFullOverBare: Number(ratio.toFixed(3)),
      ratioPerRound: Array.from({ length: opts.rounds }, (_, r) => {
        const pair = runs.slice(2 * r, 2 * r + 2);
        const of = (v: Variant) => median(after(pair.find((x) => x.variant === v)!.epochMs));
        return Number((of('full') / of('bare')).toFixed(3));
      }),
      target: { ratioFullOverBare: `<= ${TARGET_RATIO}`, met: ratio <= TARGET_RATIO },
      perRun: runs.map((x) => ({
        variant: x.variant,
        epochMs: x.epochMs.map(Math.round),
        tailMs: Math.round(x.tailMs),
        storeRequests: x.storeRequests,
        storeCpuMs: x.storeCpuMs,
      })),
    };
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    await sender.close();
    redis.disconnect();
    await cleanup();
    await storeProcess.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:callbacks failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
