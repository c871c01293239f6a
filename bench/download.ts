/**
 * `npm run bench:download` — streaming a large best model through the API against reading it from
 * the store directly. A fake but valid checkpoint (model.json naming one `--megabytes` MB float32
 * weights file) and its best.json go straight into s3rver (its own process) for a run of tenant
 * `acme`; the API runs as its own process (dist/api/server.js) over that bucket. Each round reads
 * the weights directly from the store (store/s3-store.ts getStream), then through
 * `GET /v1/runs/{runId}/model/weights.bin`, `GET /v1/runs/{runId}/artifacts/download?path=…` and
 * `GET /v1/runs/{runId}/model.tar`, while the API's RSS (VmRSS in /proc/<pid>/status) is sampled
 * every 50 ms. The API's first large download (from a fresh process) is measured on its own for its
 * RSS growth; the rounds after it compare warm paths. Targets: API/direct throughput ≥ 0.8 for each
 * route (median over rounds); API peak RSS growth < 64 MB (the first download included).
 * Each read also reports the CPU time each process spent on it (store, API, client; ms per 256 MiB).
 *
 * Placement (`--pin 1`, the default, with `taskset` and at least 2 CPUs): the store process, which
 * stands for S3 on machines of its own, is pinned to CPU 0, and the API and this client to CPU 1,
 * for both paths alike. Unpinned on a 2-core machine, the API's CPU time is partly taken from the
 * store's (which serves at about one full core), so the ratio would measure the machine's size
 * rather than the API; `--pin 0` shows that figure.
 * Prints one JSON object. Needs `npm run build`.
 *
 * Usage: npm run bench:download -- [--megabytes 256] [--rounds 2] [--pin 1|0]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { median, parseFlags } from './support/figures';
import { freePort, startService } from './support/processes';
import { startStoreProcess } from './support/store-process';
import { createStore } from '../store/create-store';
import { bestPointerKey, checkpointKeys, checkpointVersion, runManifestKey } from '../store/run-layout';
import { newJobIds } from '../core/ids';
import { uniquePrefix } from '../test/support/redis';

const TENANT = 'acme';
const KEY = `acme_${randomBytes(16).toString('hex')}`;
const MB = 1024 * 1024;
const TARGETS = { throughputRatio: 0.8, rssGrowthMb: 64 };

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}

/**
 * Pins every thread of a process to one CPU (`taskset`); false where that cannot be done (no
 * taskset, a single CPU).
 */
function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** CPU time a process has used, in ms: the sum of its threads' on-CPU nanoseconds (schedstat). */
function processCpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read; its time is in the process's total no more.
    }
  }
  return ns / 1e6;
}

/** This process's CPU time in ms. */
function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Samples a process's RSS every 50 ms until stopped; returns the peak. */
function sampleRss(pid: number): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => { peak = Math.max(peak, rssBytes(pid)); }, 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid));
    },
  };
}

async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

async function drainText(stream: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const opts = parseFlags(process.argv.slice(2), 'bench:download', { megabytes: 256, rounds: 2, pin: 1 });
  const size = Math.round(opts.megabytes * MB / 4) * 4;
  // Both paths read the same server; at normal priority, since here it serves what is measured.
  const s3 = await startStoreProcess(0, { nice: false });
  const { prefix, cleanup } = uniquePrefix('bench-download');
  const s3Options = s3.s3Options(true);
  const store = createStore({ uri: s3.uri, s3: s3Options });
  const { jobId, runId } = newJobIds();
  const keys = checkpointKeys(TENANT, runId, 'best', checkpointVersion(1, 1));
  const checkpoint = keys.prefix.replace(/\/$/, '');
  try {
    const modelJson = {
      format: 'layers-model',
      generatedBy: 'bench/download.ts',
      modelTopology: { class_name: 'Sequential', config: { name: 'bench', layers: [] } },
      weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'bench/kernel', shape: [size / 4], dtype: 'float32' }] }],
      userDefinedMetadata: { kiln: { runId } },
    };
    await store.put(keys.modelJson, JSON.stringify(modelJson), { contentType: 'application/json' });
    {
      const weights = Buffer.allocUnsafe(size);
      for (let at = 0; at < size; at += MB) randomBytes(Math.min(MB, size - at)).copy(weights, at);
      await store.put(keys.weightsBin, weights, { contentType: 'application/octet-stream' });
    }
    const best = { epoch: 0, path: 'best', key: checkpoint, monitor: 'val_loss', value: 0.5, savedAt: new Date().toISOString() };
    await store.put(bestPointerKey(TENANT, runId), JSON.stringify(best), { contentType: 'application/json' });
    await store.put(runManifestKey(TENANT, runId), JSON.stringify({
      runId, jobId, status: 'succeeded', stopReason: 'completed', backend: 'wasm', history: [], best, artifacts: [], error: null,
      createdAt: best.savedAt, updatedAt: best.savedAt,
    }), { contentType: 'application/json' });

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const api = await startService('api/server.js', {
      PORT: String(port), HOST: '127.0.0.1', KILN_API_KEYS: `${TENANT}:${KEY}`, LOG_LEVEL: 'warn',
      KILN_QUEUE_PREFIX: prefix,
      KILN_STORE: s3.uri, KILN_S3_ENDPOINT: s3Options.endpoint, AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    }, `${base}/healthz`);
    // The store stands for S3 on other machines: with --pin 1 (the default) it gets CPU 0 to itself
    // and the API and this client share CPU 1, on both paths alike, so the API's work is not taken
    // out of the store's time as it would not be in production. --pin 0 lets the OS place them.
    const placement = opts.pin && availableParallelism() >= 2 && pin(s3.pid, 0) && pin(api.pid, 1) && pin(process.pid, 1)
      ? 'store on CPU 0; API and client on CPU 1'
      : 'unpinned';
    const routes: Record<string, string> = {
      modelFile: `${base}/v1/runs/${runId}/model/weights.bin`,
      artifactDownload: `${base}/v1/runs/${runId}/artifacts/download?path=${encodeURIComponent(`${keys.runRelative}weights.bin`)}`,
      modelTar: `${base}/v1/runs/${runId}/model.tar`,
    };
    // node:http on both paths (the SDK reads with it too), so the client is not what differs.
    const viaApi = async (url: string) => {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        get(url, { headers: { authorization: `Bearer ${KEY}` } }, resolve).on('error', reject);
      });
      if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}: ${(await drainText(res)).slice(0, 500)}`);
      return drain(res);
    };
    const direct = async () => drain((await store.getStream(keys.weightsBin))!.stream as unknown as AsyncIterable<Uint8Array>);
    /** One read, timed, with the CPU each process spent on it (ms per 256 MiB read). */
    const timed = async (read: () => Promise<number>) => {
      const before = { store: (await s3.counters()).cpuMs, api: processCpuMs(api.pid), client: ownCpuMs() };
      const start = performance.now();
      const bytes = await read();
      const seconds = (performance.now() - start) / 1000;
      const per = (ms: number) => Math.round(ms * (256 * MB) / bytes);
      const cpu = {
        store: per((await s3.counters()).cpuMs - before.store),
        api: per(processCpuMs(api.pid) - before.api),
        client: per(ownCpuMs() - before.client),
      };
      return { bytes, mbPerS: bytes / MB / seconds, cpu };
    };
    try {
      // The API process's first large download, from its state right after start-up: what a
      // fresh process grows by. Then both paths are warm (connections, JIT, buffer pools).
      await store.get(keys.modelJson);
      const coldBaseline = rssBytes(api.pid);
      const coldSampler = sampleRss(api.pid);
      const cold = await timed(() => viaApi(routes.modelFile));
      const coldGrowthMb = Math.round((coldSampler.stop() - coldBaseline) / MB * 10) / 10;
      await timed(direct);
      type Cpu = { store: number; api: number; client: number };
      const rows: Array<{ route: string; directMbPerS: number; apiMbPerS: number; bytes: number; rssGrowthMb: number; cpuMsPer256MiB: { direct: Cpu; api: Cpu } }> = [];
      for (let r = 0; r < opts.rounds; r++) {
        for (const [route, url] of Object.entries(routes)) {
          const d = await timed(direct);
          const baseline = rssBytes(api.pid);
          const sampler = sampleRss(api.pid);
          const a = await timed(() => viaApi(url));
          const peak = sampler.stop();
          if (d.bytes !== size || a.bytes < size) throw new Error(`${route}: read ${a.bytes} bytes through the API and ${d.bytes} directly, expected ${size}`);
          rows.push({ route, directMbPerS: Math.round(d.mbPerS), apiMbPerS: Math.round(a.mbPerS), bytes: a.bytes, rssGrowthMb: Math.round((peak - baseline) / MB * 10) / 10, cpuMsPer256MiB: { direct: d.cpu, api: a.cpu } });
        }
      }
      const perRoute = Object.fromEntries(Object.keys(routes).map((route) => {
        const mine = rows.filter((x) => x.route === route);
        const ratio = median(mine.map((x) => x.apiMbPerS / x.directMbPerS));
        const growth = Math.max(coldGrowthMb, ...mine.map((x) => x.rssGrowthMb));
        const cpu = (path: 'direct' | 'api', who: keyof Cpu) => median(mine.map((x) => x.cpuMsPer256MiB[path][who]));
        const apiCpu = { store: cpu('api', 'store'), api: cpu('api', 'api'), client: cpu('api', 'client') };
        const directCpu = { store: cpu('direct', 'store'), client: cpu('direct', 'client') };
        return [route, {
          ratioApiOverDirect: Number(ratio.toFixed(3)),
          apiMbPerS: median(mine.map((x) => x.apiMbPerS)),
          directMbPerS: median(mine.map((x) => x.directMbPerS)),
          peakRssGrowthMb: growth,
          // CPU each process spends per 256 MiB (medians). With every process busy, 2 cores move
          // at most 2 / (sum of the through-API column) of 256 MiB per second through the API.
          cpuMsPer256MiB: { direct: directCpu, api: apiCpu },
          met: { throughputRatio: ratio >= TARGETS.throughputRatio, rssGrowth: growth < TARGETS.rssGrowthMb },
        }];
      }));
      const report = {
        bench: 'download',
        node: process.version,
        weightsBytes: size,
        rounds: opts.rounds,
        placement,
        targets: { throughputRatio: `>= ${TARGETS.throughputRatio}`, rssGrowthMb: `< ${TARGETS.rssGrowthMb}` },
        firstDownload: { route: 'modelFile', apiMbPerS: Math.round(cold.mbPerS), rssGrowthMb: coldGrowthMb },
        routes: perRoute,
        allMet: Object.values(perRoute).every((x) => x.met.throughputRatio && x.met.rssGrowth),
        samples: rows,
      };
      process.stdout.write(JSON.stringify(report) + '\n');
    } finally {
      await api.stop();
    }
  } finally {
    await s3.close();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:download failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
