/**
 * Memory figures of dataset loading and of a reused worker sandbox. Prints one JSON object.
 *
 * Usage: node --openssl-legacy-provider --expose-gc --import tsx bench/memory.ts
 *          [--rows 400000] [--features 32] [--epochs 1] [--backend wasm] [--jobs 30] [--skip-large] [--skip-jobs]
 *          [--heap-snapshot-at 5,25] [--dataset-memory-bytes N]
 *
 * 1. `largeCsv` — writes a CSV of `rows × features` (three string classes) to a temp file store and
 *    runs one job on it in this process (runTraining over a FileStore, as the sandbox child does),
 *    sampling `process.memoryUsage()` before, during (every 10 ms and at each epoch end; peak RSS
 *    also from the kernel's maxRSS) and after. No worker setting bounds a job's dataset memory
 *    (KILN_MAX_EPOCH_ROWS caps epochs × rows, not bytes), so the comparison that matters is the CSV's
 *    size against the V8 heap: the loader streams the file and keeps only float32 values in typed
 *    arrays outside the heap, so heapUsed stays flat however large the file is, while RSS grows with
 *    the float32 data (the arrays, then the tensors made from them).
 * 2. `reusedSandbox` — starts a whole Kiln (API + worker with its sandboxed child from dist/, real
 *    Redis, temp file store; run `npm run build` first) and runs `jobs` small jobs one after another
 *    through it, reading each job's `result.memory` (the child's pid, RSS, heapUsed and tfjs
 *    numTensors once the job released its tensors). BullMQ forks the child with this process's
 *    execArgv, so under `--expose-gc` the child runs a full GC before it measures and the figures are
 *    what it keeps alive from job to job; without the flag they include garbage V8 has not collected
 *    yet (the heap then rises by a few MB a job until V8 decides to collect), and `childGcForced`
 *    says so.
 *
 * `--dataset-memory-bytes N` runs `datasetBudget` instead of the two above: jobs under
 * KILN_DATASET_MEMORY_BYTES = N on CSVs of about 1× and 10× N bytes (the 10× one spills to a scratch
 * file and trains from it), and the 10× CSV once more without a budget (all in memory), for
 * comparison. Each case runs in a fresh process (this script, re-run with `--budget-case`), so its
 * before / peak / after RSS are its own: peak from the kernel's maxRSS, which no sampling can miss.
 * "Flat" means the 10× job's peak RSS is no higher than the 1× job's, while the in-memory run
 * of the same 10× file grows with it.
 *
 * `--heap-snapshot-at 5,25` (with `--skip-large`) has the child write a V8 heap snapshot after each
 * listed job, for `bench/heap-diff.ts` to compare: run node with `--heapsnapshot-signal=SIGUSR2`
 * (and `--diagnostic-dir=DIR` to choose where the files go; the child inherits both) and the bench
 * signals the child, then waits for the file before the next job. Nothing in the worker changes:
 * the snapshot comes from Node's own signal handler. Writing one raises the child's RSS for the rest
 * of the run, so take RSS figures from a run without snapshots.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainingQueue } from '../api/services/training-queue';
import { newJobIds } from '../core/ids';
import type { Backend, TrainingResult } from '../core/queue-contract';
import { FileStore } from '../store/file-store';
import { startStack, waitForJob } from '../test/support/kiln-stack';
import { selectBackend } from '../worker/tfjs/backend';
import { tensorCount } from '../worker/tfjs/memory';
import { loadDataset } from '../worker/data/load-dataset';
import { runTraining } from '../worker/training/run-training';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../test/support/redis';

interface Options {
  rows: number;
  features: number;
  epochs: number;
  backend: Backend;
  jobs: number;
  large: boolean;
  sandbox: boolean;
  /** Jobs after which the child writes a heap snapshot. */
  snapshotAt: number[];
  /** `--dataset-memory-bytes`: run the dataset-budget cases under this KILN_DATASET_MEMORY_BYTES. */
  datasetMemoryBytes: number | null;
  /** `--budget-case`: run one case of `datasetBudget` in this process (set by the parent). */
  budgetCase: BudgetCase | null;
}

/** One case of `datasetBudget`: a CSV of `factor` × the budget, trained with or without the budget. */
interface BudgetCase {
  factor: number;
  budgeted: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    rows: 400_000, features: 32, epochs: 1, backend: 'wasm', jobs: 30, large: true, sandbox: true, snapshotAt: [], datasetMemoryBytes: null, budgetCase: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const int = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer`);
      return n;
    };
    if (flag === '--rows') opts.rows = int();
    else if (flag === '--features') opts.features = int();
    else if (flag === '--epochs') opts.epochs = int();
    else if (flag === '--jobs') opts.jobs = int();
    else if (flag === '--backend') opts.backend = argv[++i] as Backend;
    else if (flag === '--skip-large') opts.large = false;
    else if (flag === '--skip-jobs') opts.sandbox = false;
    else if (flag === '--dataset-memory-bytes') opts.datasetMemoryBytes = int();
    else if (flag === '--budget-case') {
      const [factor, mode] = String(argv[++i] ?? '').split(':');
      opts.budgetCase = { factor: Number(factor), budgeted: mode === 'budget' };
      if (!(opts.budgetCase.factor > 0)) throw new Error('--budget-case needs <factor>:budget|memory');
    }
    else if (flag === '--heap-snapshot-at') {
      opts.snapshotAt = String(argv[++i] ?? '').split(',').map(Number);
      if (!opts.snapshotAt.every((n) => Number.isInteger(n) && n > 0)) throw new Error('--heap-snapshot-at needs job numbers, e.g. 5,25');
    }
    else throw new Error(`unknown flag ${flag}`);
  }
  return opts;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

interface Sample { rss: number; heapUsed: number; arrayBuffers: number }
function sample(): Sample {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}
const inMb = (s: Sample) => ({ rssMb: mb(s.rss), heapUsedMb: mb(s.heapUsed), arrayBuffersMb: mb(s.arrayBuffers) });
function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Writes the CSV through a stream, so the bench itself never holds the text: `rows` rows, or with
 * `bytes` as many as it takes to reach that size. Resolves to the number of rows written.
 */
async function writeCsv(path: string, rows: number, features: number, bytes = Number.POSITIVE_INFINITY): Promise<number> {
  const out = createWriteStream(path);
  const header = [...Array.from({ length: features }, (_, j) => `f${j}`), 'label'].join(',') + '\n';
  out.write(header);
  const classes = ['alpha', 'beta', 'gamma'];
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
  let chunk = '';
  let size = header.length;
  let r = 0;
  for (; r < rows && size < bytes; r++) {
    const k = r % 3;
    const cells = Array.from({ length: features }, (_, j) => (k + (j % 3 === k ? 1.5 : 0) + rand()).toFixed(4));
    const line = cells.join(',') + ',' + classes[k] + '\n';
    chunk += line;
    size += line.length;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return r;
}

async function largeCsv(opts: Options, budget: { csvBytes: number; datasetMemoryBytes: number | undefined } | null = null) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-memory-'));
  try {
    // A FileStore keeps key `a/b/c` at `<dir>/a/b/c`.
    const key = 'acme/datasets/large.csv';
    mkdirSync(join(dir, 'acme', 'datasets'), { recursive: true });
    const rows = budget ? await writeCsv(join(dir, key), Number.POSITIVE_INFINITY, opts.features, budget.csvBytes) : opts.rows;
    if (!budget) await writeCsv(join(dir, key), opts.rows, opts.features);
    const store = new FileStore(dir);
    const csvBytes = statSync(join(dir, key)).size;

    const choice = await selectBackend(opts.backend);
    gc();
    const before = sample();
    let peak = before;
    const take = () => {
      const s = sample();
      peak = { rss: Math.max(peak.rss, s.rss), heapUsed: Math.max(peak.heapUsed, s.heapUsed), arrayBuffers: Math.max(peak.arrayBuffers, s.arrayBuffers) };
    };
    const timer = setInterval(take, 10);
    const { jobId, runId } = newJobIds();
    const started = Date.now();
    let storage: 'memory' | 'spilled' = 'memory';
    let scratchBytes = 0;
    let peakWhileLoading: Sample | null = null;
    const result = await runTraining({
      tenant: 'acme',
      jobId,
      runId,
      createdAt: new Date().toISOString(),
      spec: {
        model: { inputShape: [opts.features], layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
        compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
        data: { uri: 'datasets/large.csv', labelColumn: 'label', validationSplit: 0.1, standardize: true },
        fit: { epochs: opts.epochs, batchSize: 512, seed: 1 },
      } as never,
    }, {
      store,
      backend: choice.backend,
      attempt: 1,
      isCancelled: () => false,
      reportProgress: async () => take(),
      notifier: null,
      log: (message, fields) => {
        if (message.startsWith('dataset spilled')) {
          storage = 'spilled';
          scratchBytes = fields?.bytes as number;
          take();
          peakWhileLoading = peak;
        }
      },
      maxEpochRows: 0,
      datasetMemoryBytes: budget?.datasetMemoryBytes,
    });
    clearInterval(timer);
    take();
    const seconds = (Date.now() - started) / 1000;
    gc();
    if (budget) {
      // Typed arrays freed by that GC are returned a moment later; a second GC after a pause counts them out.
      await new Promise((r) => setTimeout(r, 100));
      gc();
    }
    const after = sample();
    const floatBytes = rows * (opts.features + 1) * 4;
    // What every case reports; the budget cases and the plain large-CSV case add their own below.
    const job = {
      backend: choice.backend,
      rows,
      epochs: opts.epochs,
      status: result.status,
      accuracy: result.metrics.accuracy,
      seconds: Math.round(seconds * 10) / 10,
      csvMb: mb(csvBytes),
      float32DataMb: mb(floatBytes),
      before: inMb(before),
      peak: { ...inMb(peak), maxRssMb: mb(process.resourceUsage().maxRSS * 1024) },
      after: inMb(after),
      numTensorsAfter: tensorCount(),
    };
    if (budget) {
      return {
        ...job,
        datasetMemoryMb: budget.datasetMemoryBytes === undefined ? null : mb(budget.datasetMemoryBytes),
        storage,
        scratchMb: mb(scratchBytes),
        // Spilled jobs: the sampled peak up to the end of loading (parse, split, statistics).
        peakWhileLoading: peakWhileLoading ? inMb(peakWhileLoading) : null,
        rssGrowthAtPeakMb: mb(process.resourceUsage().maxRSS * 1024 - before.rss),
      };
    }
    // Measured second so its leftovers do not inflate the job's `before`.
    const loading = await liveHeapWhileLoading(store, csvBytes);
    return {
      ...job,
      features: opts.features,
      // Sampled without forcing GC, so this includes parse garbage not yet collected; `loadingOnly`
      // has the live figure.
      heapUsedGrowthAtPeakMb: mb(peak.heapUsed - before.heapUsed),
      rssGrowthAtPeakMb: mb(peak.rss - before.rss),
      loadingOnly: loading,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Loads the CSV alone, forcing a full GC before every sample (every 50 ms, between stream chunks),
 * so the heap figure is what the loader keeps alive rather than garbage not yet collected.
 */
async function liveHeapWhileLoading(store: FileStore, csvBytes: number) {
  gc();
  const before = sample();
  let peakLiveHeap = before.heapUsed;
  let peakArrayBuffers = before.arrayBuffers;
  const timer = setInterval(() => {
    gc();
    const s = sample();
    peakLiveHeap = Math.max(peakLiveHeap, s.heapUsed);
    peakArrayBuffers = Math.max(peakArrayBuffers, s.arrayBuffers);
  }, 50);
  const started = Date.now();
  const data = await loadDataset({ uri: 'datasets/large.csv', labelColumn: 'label', validationSplit: 0.1, standardize: true }, {
    loss: 'sparse_categorical_crossentropy',
    tenant: 'acme',
    storeUri: store.uri,
    readObject: async (key) => (await store.getStream(key))?.stream ?? null,
  });
  clearInterval(timer);
  const seconds = (Date.now() - started) / 1000;
  const held = data.train.x.byteLength + data.train.y.byteLength + (data.validation ? data.validation.x.byteLength + data.validation.y.byteLength : 0);
  return {
    gcSampled: typeof (globalThis as { gc?: unknown }).gc === 'function',
    seconds: Math.round(seconds * 10) / 10,
    csvMb: mb(csvBytes),
    typedArraysHeldMb: mb(held),
    liveHeapBeforeMb: mb(before.heapUsed),
    liveHeapPeakMb: mb(peakLiveHeap),
    arrayBuffersPeakMb: mb(peakArrayBuffers),
  };
}

/**
 * The `--dataset-memory-bytes` cases, each in a child process of its own: CSVs of 1× and 10× the
 * budget under the budget, and the 10× CSV without one.
 */
async function datasetBudget(opts: Options, budget: number) {
  const cases: BudgetCase[] = [{ factor: 1, budgeted: true }, { factor: 10, budgeted: true }, { factor: 10, budgeted: false }];
  const results: Array<Record<string, unknown>> = [];
  for (const c of cases) {
    const args = [
      ...process.execArgv, process.argv[1],
      '--budget-case', `${c.factor}:${c.budgeted ? 'budget' : 'memory'}`, '--dataset-memory-bytes', String(budget),
      '--features', String(opts.features), '--epochs', String(opts.epochs), '--backend', opts.backend,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`budget case ${JSON.stringify(c)} exited with ${code}`);
    results.push({ case: `${c.factor}x budget, ${c.budgeted ? 'budgeted' : 'no budget'}`, ...(JSON.parse(text) as Record<string, unknown>) });
  }
  const peak = (i: number) => (results[i].peak as { maxRssMb: number }).maxRssMb;
  return {
    datasetMemoryMb: mb(budget),
    cases: results,
    // > 1: the larger file took more memory at its peak; ≈ 1 or less: flat.
    peakRss10xOver1x: Math.round((peak(1) / peak(0)) * 100) / 100,
    peakRss10xInMemoryOver10xSpilled: Math.round((peak(2) / peak(1)) * 100) / 100,
  };
}

async function reusedSandbox(opts: Options) {
  const stack = await startStack({ name: 'bench-memory', env: { KILN_BACKEND: opts.backend, KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0' } });
  // startStack exports its settings to process.env for the sandboxed child; the queue prefix is one.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new TrainingQueue(redis, process.env.KILN_QUEUE_PREFIX as string);
  const perJob: Array<{ job: number; pid: number; rssMb: number; heapUsedMb: number; numTensors: number; seconds: number }> = [];
  const snapshots: Array<{ job: number; file: string }> = [];
  try {
    for (let i = 1; i <= opts.jobs; i++) {
      const started = Date.now();
      const res = await fetch(`${stack.base}/v1/jobs`, {
        method: 'POST',
        headers: { ...stack.auth(), 'content-type': 'application/json' },
        body: JSON.stringify({
          model: { inputShape: [4], layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
          compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy', 'f1'] },
          data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
          fit: { epochs: 5, batchSize: 16, seed: i },
          callbacks: { earlyStopping: { monitor: 'val_loss', patience: 2 }, modelCheckpoint: { filepath: 'e{epoch}', monitor: 'val_loss', saveBestOnly: true } },
        }),
      });
      if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${await res.text()}`);
      const { jobId } = (await res.json()) as { jobId: string };
      const view = await waitForJob(stack, jobId, 120000);
      if (view.status !== 'succeeded') throw new Error(`job ${i} ${view.status}: ${JSON.stringify(view.error)}`);
      const result = (await queue.get(jobId))?.result as TrainingResult | null;
      const m = result?.memory;
      if (!m) throw new Error(`job ${i}: the result has no memory figures (is dist/ built?)`);
      perJob.push({ job: i, pid: m.pid, rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), numTensors: m.numTensors, seconds: (Date.now() - started) / 1000 });
      if (opts.snapshotAt.includes(i)) snapshots.push({ job: i, file: await childHeapSnapshot(m.pid) });
    }
  } finally {
    await queue.close();
    redis.disconnect();
    await stack.close();
  }
  const first = perJob[0];
  const last = perJob[perJob.length - 1];
  return {
    backend: opts.backend,
    jobs: perJob.length,
    // The child inherits --expose-gc from this process and then measures after a full GC.
    childGcForced: typeof (globalThis as { gc?: unknown }).gc === 'function',
    sameProcess: perJob.every((j) => j.pid === first.pid),
    first,
    last,
    rssGrowthMb: Math.round((last.rssMb - first.rssMb) * 10) / 10,
    heapGrowthMb: Math.round((last.heapUsedMb - first.heapUsedMb) * 10) / 10,
    numTensorsRange: [Math.min(...perJob.map((j) => j.numTensors)), Math.max(...perJob.map((j) => j.numTensors))],
    rssMbSeries: perJob.map((j) => j.rssMb),
    heapUsedMbSeries: perJob.map((j) => j.heapUsedMb),
    ...(snapshots.length ? { heapSnapshots: snapshots } : {}),
  };
}

/** Node's `--heapsnapshot-signal` and `--diagnostic-dir` from this process's flags (the child has the same). */
function snapshotFlags(): { signal: NodeJS.Signals; dir: string } | null {
  const flag = (name: string) => process.execArgv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  const signal = flag('--heapsnapshot-signal');
  return signal ? { signal: signal as NodeJS.Signals, dir: flag('--diagnostic-dir') ?? process.cwd() } : null;
}

/**
 * Signals the child to write a heap snapshot (Node names it `Heap.<date>.<time>.<pid>.…`) and
 * resolves to its path once the file has stopped growing, so the next job starts after it.
 */
async function childHeapSnapshot(pid: number): Promise<string> {
  const flags = snapshotFlags() as { signal: NodeJS.Signals; dir: string };
  const mine = () => readdirSync(flags.dir).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`));
  const before = new Set(mine());
  process.kill(pid, flags.signal);
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const file = mine().find((f) => !before.has(f));
    if (file) {
      const size = statSync(join(flags.dir, file)).size;
      if (size > 0 && size === last) return join(flags.dir, file);
      last = size;
    }
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} in ${flags.dir} after 120 s`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.snapshotAt.length && !snapshotFlags()) throw new Error('--heap-snapshot-at needs node run with --heapsnapshot-signal=SIGUSR2 (and optionally --diagnostic-dir=DIR)');
  if (opts.budgetCase && opts.datasetMemoryBytes) {
    const { factor, budgeted } = opts.budgetCase;
    const res = await largeCsv(opts, { csvBytes: factor * opts.datasetMemoryBytes, datasetMemoryBytes: budgeted ? opts.datasetMemoryBytes : undefined });
    process.stdout.write(JSON.stringify(res) + '\n');
    return;
  }
  const out: Record<string, unknown> = { node: process.version, gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function' };
  if (opts.datasetMemoryBytes) {
    out.datasetBudget = await datasetBudget(opts, opts.datasetMemoryBytes);
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  if (opts.large) out.largeCsv = await largeCsv(opts);
  if (opts.sandbox) out.reusedSandbox = await reusedSandbox(opts);
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
