import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports';


/**
 * A `redis-server` of the test's own (binary on PATH) on a random loopback port, with its data in
 * a temp dir and the append-only file fsynced on every write, so it can be killed and started
 * again on the same port without losing an acknowledged write, and its clients dropped at will.
 */
export class RedisProcess {
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(readonly port: number, readonly dir: string) {}

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort(), mkdtempSync(join(tmpdir(), 'kiln-redis-')));
    await redis.restart();
    return redis;
  }

  /** Starts the server (again) on the same port and data directory; resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.proc) throw new Error('redis-server is already running');
    const proc = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.proc = proc;
    this.exited = new Promise((r) => proc.once('exit', () => r()));
    proc.once('exit', () => {
      if (this.proc === proc) this.proc = null;
    });
    const deadline = Date.now() + 10000;
    for (;;) {
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // While the AOF loads Redis answers LOADING; PING only succeeds once it is ready.
        if ((await client.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        client.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the server with `signal` (SIGKILL: a crash; the fsynced AOF keeps every acknowledged write). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.proc) return;
    this.proc.kill(signal);
    await this.exited;
  }

  /** Runs one command on a short-lived connection. */
  async command(...args: Array<string | number>): Promise<unknown> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    try {
      return await client.call(String(args[0]), ...args.slice(1).map(String));
    } finally {
      client.disconnect();
    }
  }

  /** Drops every client connection (normal and pub/sub), as a network blip or failover would; returns how many. */
  async dropClients(): Promise<number> {
    const normal = Number(await this.command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    const pubsub = Number(await this.command('CLIENT', 'KILL', 'TYPE', 'pubsub', 'SKIPME', 'yes'));
    return normal + pubsub;
  }

  /**
   * Watches commands with MONITOR until `match(args)` returns true for one, and resolves to the
   * client address (`127.0.0.1:<port>`) that sent it; rejects after `timeoutMs`.
   */
  async findClient(match: (args: string[]) => boolean, timeoutMs = 10000): Promise<string> {
    // A raw socket: MONITOR output is a stream of status lines, not replies to commands.
    const socket = connect(this.port, '127.0.0.1');
    try {
      return await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching command seen within ' + timeoutMs + ' ms')), timeoutMs);
        let rest = '';
        socket.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          rest += chunk;
          const lines = rest.split('\r\n');
          rest = lines.pop() ?? '';
          for (const line of lines) {
            // +1700000000.123456 [0 127.0.0.1:54321] "get" "key"
            const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
            if (!m) continue;
            const args = [...m[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1].replace(/\\(.)/g, '$1'));
            if (match(args)) {
              clearTimeout(timer);
              resolve(m[1]);
              return;
            }
          }
        });
        socket.write('MONITOR\r\n');
      });
    } finally {
      socket.destroy();
    }
  }

  /** Stops the server and deletes its data. */
  async close(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
