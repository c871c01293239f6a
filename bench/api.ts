/**
 * `npm run bench:api` — the submission path under load, on loopback, with the API as its own
 * process (dist/api/server.js) over the local Redis:
 *
 * 1. saturation: `POST /v1/jobs` throughput with autocannon (`--connections` at once, for
 *    `--duration` s), next to raw BullMQ `Queue.add` of the same job data with the same options
 *    (api/services/training-queue.ts) from this process at the same concurrency; the two alternate
 *    `--rounds` times. Target: API/raw ≥ 0.5. Each round also gives the CPU time per request of
 *    every process involved (the API from /proc on Linux, Redis from INFO cpu, this process:
 *    autocannon or BullMQ), which says where a POST's cost is whatever else runs on the machine.
 * 2. latency at half the saturation rate (autocannon `overallRate`): p50/p99. Target: p99 ≤ 25 ms.
 *    For scale, `GET /healthz` (an empty handler) at saturation: the ceiling of any route here.
 * 3. POST → training: an idle, warm worker (dist/worker/main.js, one job run first) and a tiny iris
 *    job; the time from sending the POST to the job's `status: running` and to its first `epoch`
 *    message on `GET /v1/jobs/{jobId}/events` (the end of epoch 0, an upper bound on the first
 *    epoch starting), `--jobs` times one after another. Target: first epoch p50 ≤ 0.5 s.
 *
 * Every phase uses a queue prefix of its own (test/support/redis.ts uniquePrefix), deleted at the
 * end. Needs `npm run build` (the worker's sandboxed child runs from dist/). Prints one JSON object.
 *
 * Usage: npm run bench:api -- [--connections 16] [--duration 5] [--rounds 2] [--jobs 10]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { newJobIds } from '../core/ids';
import { TRAINING_ATTEMPTS, TRAINING_QUEUE, type TrainingJobData } from '../core/queue-contract';
import { REDIS_URL, uniquePrefix } from '../test/support/redis';
import { median, parseFlags, percentile } from './support/figures';
import { freePort, startService, type Service } from './support/processes';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** The parts of autocannon's result this bench reads (the package ships no types). */
interface AutocannonResult {
  duration: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; p90: number; average: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}

const TARGETS = { throughputRatio: 0.5, p99AtHalfRateMs: 25, firstEpochP50Ms: 500 };
const KEY = `acme_${randomBytes(16).toString('hex')}`;

/** The README's example job, small: what a client typically submits. */
function jobSpec(epochs: number) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
    fit: { epochs, batchSize: 16, seed: 7 },
    callbacks: {
      earlyStopping: { monitor: 'val_loss', patience: 5, restoreBestWeights: true },
      modelCheckpoint: { filepath: 'epoch-{epoch:02d}-acc-{val_accuracy:.3f}', monitor: 'val_accuracy', saveBestOnly: true },
      csvLogger: {},
    },
  };
}

function apiEnv(prefix: string, port: number, storeDir: string): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL,
    KILN_QUEUE_PREFIX: prefix,
    KILN_STORE: `file://${storeDir}`,
    KILN_API_KEYS: `acme:${KEY}`,
    KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0',
    KILN_TENANT_MAX_RUNNING: '0',
    LOG_LEVEL: 'warn',
  };
}

async function withApi<T>(name: string, storeDir: string, body: (base: string, prefix: string, apiPid: number) => Promise<T>, worker = false): Promise<T> {
  const { prefix, cleanup } = uniquePrefix(name);
  const port = await freePort();
  const env = apiEnv(prefix, port, storeDir);
  const services: Service[] = [];
  try {
    services.push(await startService('api/server.js', env, `http://127.0.0.1:${port}/healthz`));
    if (worker) {
      services.push(await startService('worker/main.js', { ...env, KILN_BACKEND: 'wasm', KILN_WORKER_HEALTH_PORT: String(await freePort()) }, undefined, ['--openssl-legacy-provider']));
    }
    return await body(`http://127.0.0.1:${port}`, prefix, services[0].pid);
  } finally {
    for (const s of services.reverse()) await s.stop();
    await cleanup();
  }
}

/** Raw BullMQ: `Queue.add` of the API's job data and options, `concurrency` adds in flight, for `seconds`. */
async function rawAdds(concurrency: number, seconds: number): Promise<{ added: number; perSecond: number }> {
  const { prefix, cleanup } = uniquePrefix('bench-api-raw');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(TRAINING_QUEUE, { connection, prefix });
  const spec = jobSpec(40);
  let added = 0;
  try {
    const end = performance.now() + seconds * 1000;
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const { jobId, runId } = newJobIds();
        const data: TrainingJobData = { tenant: 'acme', jobId, runId, spec: spec as TrainingJobData['spec'], createdAt: new Date().toISOString() };
        await queue.add('train', data, {
          jobId, attempts: TRAINING_ATTEMPTS, backoff: { type: 'exponential', delay: 5000 },
          removeOnComplete: { age: 30 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 },
        });
        added++;
      }
    }));
    return { added, perSecond: added / ((performance.now() - start) / 1000) };
  } finally {
    await queue.close();
    connection.disconnect();
    await cleanup();
  }
}

/** `GET /healthz` at saturation: what HTTP on loopback with this machine's cores allows at all. */
async function healthzLoad(base: string, opts: { connections: number; duration: number }): Promise<AutocannonResult> {
  return autocannon({ url: `${base}/healthz`, connections: opts.connections, duration: opts.duration });
}

async function postLoad(base: string, opts: { connections: number; duration: number; overallRate?: number }): Promise<AutocannonResult> {
  return autocannon({
    url: `${base}/v1/jobs`,
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(jobSpec(40)),
    connections: opts.connections,
    duration: opts.duration,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
}

/** CPU time (user + system) a process has used, in µs; null where /proc is not there. */
function processCpuUs(pid: number): number | null {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime, stime in clock ticks (100 Hz).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    // Not Linux, or the process is gone: the figure is left out rather than guessed.
    return null;
  }
}

/** Redis's own CPU time (INFO cpu), in µs. Other clients of the same server count too. */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/** Runs `body` and returns its result with the CPU µs per unit of work of this process, Redis and (optionally) the API. */
async function cpuPer<T>(probe: Redis, apiPid: number | null, units: (result: T) => number, body: () => Promise<T>) {
  const api0 = apiPid === null ? null : processCpuUs(apiPid);
  const redis0 = await redisCpuUs(probe);
  const self0 = process.cpuUsage();
  const result = await body();
  const self = process.cpuUsage(self0);
  const redis1 = await redisCpuUs(probe);
  const api1 = apiPid === null ? null : processCpuUs(apiPid);
  const n = Math.max(1, units(result));
  const per = (us: number) => Math.round((us / n) * 10) / 10;
  return {
    result,
    cpuUs: {
      ...(api0 !== null && api1 !== null ? { api: per(api1 - api0) } : {}),
      redis: per(redis1 - redis0),
      bench: per(self.user + self.system),
    },
  };
}

const loadFigures = (r: AutocannonResult) => ({
  requestsPerS: Math.round(r.requests.total / r.duration),
  latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
  accepted: r['2xx'], non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
});

/** Reads an SSE stream until `end`, calling `onEvent(name, data)` for each message. */
async function followEvents(url: string, onEvent: (event: string, data: any) => void): Promise<void> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${KEY}`, accept: 'text/event-stream' } });
  if (res.status !== 200 || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffered.indexOf('\n\n')) >= 0) {
      const message = buffered.slice(0, cut);
      buffered = buffered.slice(cut + 2);
      const event = /^event: ?(.*)$/m.exec(message)?.[1];
      const data = /^data: ?(.*)$/m.exec(message)?.[1];
      if (event === undefined || data === undefined) continue;
      onEvent(event, JSON.parse(data));
      if (event === 'end') return;
    }
  }
}

/** POST one job and time it to `running` and to its first epoch message. */
async function timeToTraining(base: string): Promise<{ runningMs: number; firstEpochMs: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(jobSpec(2)),
  });
  const accepted = (await res.json()) as { jobId: string };
  if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${JSON.stringify(accepted)}`);
  let runningMs = NaN;
  let firstEpochMs = NaN;
  let end: any = null;
  await followEvents(`${base}/v1/jobs/${accepted.jobId}/events`, (event, data) => {
    const at = performance.now() - t0;
    if (event === 'status' && data.status === 'running' && Number.isNaN(runningMs)) runningMs = at;
    if (event === 'epoch' && Number.isNaN(firstEpochMs)) firstEpochMs = at;
    if (event === 'end') end = data;
  });
  if (end?.status !== 'succeeded') throw new Error(`job ${accepted.jobId} ended ${JSON.stringify(end)}`);
  return { runningMs, firstEpochMs };
}

async function main(): Promise<void> {
  const opts = parseFlags(process.argv.slice(2), 'bench:api', { connections: 16, duration: 5, rounds: 2, jobs: 10 });
  const storeDir = mkdtempSync(join(tmpdir(), 'kiln-bench-api-'));
  try {
    const probe = new Redis(REDIS_URL);
    const { saturation, halfRate, healthz } = await withApi('bench-api-load', storeDir, async (base, _prefix, apiPid) => {
      const rounds: Array<{ rawAddsPerS: number; api: ReturnType<typeof loadFigures>; cpuUsPerRequest: { raw: Record<string, number>; api: Record<string, number> } }> = [];
      // A short warm-up: JIT, connections, Redis scripts loaded.
      await postLoad(base, { connections: opts.connections, duration: 1 });
      await rawAdds(opts.connections, 1);
      for (let r = 0; r < opts.rounds; r++) {
        const raw = await cpuPer(probe, null, (x) => x.added, () => rawAdds(opts.connections, opts.duration));
        const api = await cpuPer(probe, apiPid, (x) => x.requests.total, () => postLoad(base, { connections: opts.connections, duration: opts.duration }));
        rounds.push({ rawAddsPerS: Math.round(raw.result.perSecond), api: loadFigures(api.result), cpuUsPerRequest: { raw: raw.cpuUs, api: api.cpuUs } });
      }
      const apiRate = median(rounds.map((r) => r.api.requestsPerS));
      const rate = Math.max(1, Math.floor(apiRate / 2));
      const half = loadFigures(await postLoad(base, { connections: opts.connections, duration: opts.duration, overallRate: rate }));
      const healthz = await cpuPer(probe, apiPid, (x) => x.requests.total, () => healthzLoad(base, { connections: opts.connections, duration: opts.duration }));
      return { saturation: rounds, halfRate: { targetRequestsPerS: rate, ...half }, healthz: { ...loadFigures(healthz.result), cpuUsPerRequest: healthz.cpuUs } };
    }).finally(() => probe.disconnect());
    const ratio = median(saturation.map((r) => r.api.requestsPerS / r.rawAddsPerS));

    const latencies = await withApi('bench-api-latency', storeDir, async (base) => {
      await timeToTraining(base); // warm the worker: its sandboxed child, the backend, the code paths
      const out: Array<{ runningMs: number; firstEpochMs: number }> = [];
      for (let i = 0; i < opts.jobs; i++) {
        out.push(await timeToTraining(base));
        await new Promise((r) => setTimeout(r, 300)); // let the worker go idle again
      }
      return out;
    }, true);
    const firstEpoch = latencies.map((l) => l.firstEpochMs);
    const running = latencies.map((l) => l.runningMs);
    const round = (x: number) => Math.round(x * 10) / 10;

    const report = {
      bench: 'api',
      node: process.version,
      connections: opts.connections,
      durationS: opts.duration,
      saturation,
      ratioApiOverRawQueueAdd: Number(ratio.toFixed(3)),
      // The ceiling of any route here: an empty handler, same server, same client, same cores.
      healthzSaturation: { requestsPerS: healthz.requestsPerS, latencyMs: healthz.latencyMs, ratioOverRawQueueAdd: Number((healthz.requestsPerS / median(saturation.map((r) => r.rawAddsPerS))).toFixed(3)), cpuUsPerRequest: healthz.cpuUsPerRequest },
      halfRate,
      postToTraining: {
        jobs: opts.jobs,
        runningMs: { p50: round(percentile(running, 50)), p95: round(percentile(running, 95)) },
        firstEpochMs: { p50: round(percentile(firstEpoch, 50)), p95: round(percentile(firstEpoch, 95)) },
        samplesMs: latencies.map((l) => ({ running: Math.round(l.runningMs), firstEpoch: Math.round(l.firstEpochMs) })),
      },
      targets: {
        throughputRatio: { target: `>= ${TARGETS.throughputRatio}`, met: ratio >= TARGETS.throughputRatio },
        p99AtHalfRateMs: { target: `<= ${TARGETS.p99AtHalfRateMs}`, met: halfRate.latencyMs.p99 <= TARGETS.p99AtHalfRateMs },
        firstEpochP50Ms: { target: `<= ${TARGETS.firstEpochP50Ms}`, met: percentile(firstEpoch, 50) <= TARGETS.firstEpochP50Ms },
      },
    };
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:api failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
