/**
 * s3rver with a {@link LatencyProxy} in front of it, in a process of its own, so the store's own
 * CPU work (hashing, writing files) does not land on the thread being measured — as with a real
 * store across a network. By default it runs at the lowest CPU priority (nice 19) so that on a small, busy
 * machine it takes CPU time from other processes' idle moments rather than from the training being
 * measured; its CPU time is reported so a reader can see what it cost.
 *
 * `startStoreProcess(latencyMs)` spawns this file; run directly, it starts both servers, prints
 * one JSON line (`StoreProcessInfo`) and serves until SIGTERM or its parent goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { startS3Server } from '../../test/support/s3-server';
import { LatencyProxy } from './latency-proxy';

export interface StoreProcessInfo {
  /** `s3://<bucket>`. */
  uri: string;
  /** The proxy: every request waits `latencyMs` before it is forwarded. */
  endpoint: string;
  /** s3rver itself, without the added latency (for setting up fixtures). */
  directEndpoint: string;
  latencyMs: number;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface StoreProcess extends StoreProcessInfo {
  /** The store process's pid. */
  pid: number;
  /** `createStore` options for the proxy (`direct` = s3rver itself). */
  s3Options(direct?: boolean): { endpoint: string; forcePathStyle: true; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** Requests the proxy has forwarded so far, and the CPU time (ms) the store process has used. */
  counters(): Promise<{ requests: number; cpuMs: number }>;
  close(): Promise<void>;
}

/** @param nice - run the store at the lowest CPU priority (for benches of what runs beside it). */
export async function startStoreProcess(latencyMs: number, opts: { nice?: boolean } = { nice: true }): Promise<StoreProcess> {
  const args = [String(latencyMs), opts.nice === false ? 'normal' : 'nice'];
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', __filename, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const pending: Array<(line: string) => void> = [];
  lines.on('line', (line) => pending.shift()?.(line));
  const nextLine = () => new Promise<string>((resolve, reject) => {
    pending.push(resolve);
    child.once('exit', (code) => reject(new Error(`store process exited (${code}) before answering`)));
  });
  const info = JSON.parse(await nextLine()) as StoreProcessInfo;
  return {
    ...info,
    pid: child.pid!,
    s3Options: (direct = false) => ({ endpoint: direct ? info.directEndpoint : info.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: info.credentials }),
    async counters() {
      child.stdin!.write('counters\n');
      return JSON.parse(await nextLine()) as { requests: number; cpuMs: number };
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function serve(latencyMs: number, nice: boolean): Promise<void> {
  if (nice) setPriority(19);
  const s3 = await startS3Server();
  const proxy = await LatencyProxy.start(s3.endpoint, latencyMs);
  const info: StoreProcessInfo = { uri: s3.uri, endpoint: proxy.endpoint, directEndpoint: s3.endpoint, latencyMs, credentials: s3.credentials };
  process.stdout.write(JSON.stringify(info) + '\n');
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await proxy.close();
    await s3.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void close());
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (cmd) => {
    if (cmd !== 'counters') return;
    const cpu = process.cpuUsage();
    process.stdout.write(JSON.stringify({ requests: proxy.requests, cpuMs: Math.round((cpu.user + cpu.system) / 1000) }) + '\n');
  });
  // The parent went away: clean up rather than linger.
  commands.on('close', () => void close());
}

if (require.main === module) {
  serve(Number(process.argv[2] ?? 200), process.argv[3] !== 'normal').catch((err: unknown) => {
    process.stderr.write(`store process failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
