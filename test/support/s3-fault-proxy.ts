import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mulberry32 } from '../../core/random';

/**
 * What share of requests gets which fault. Shares are probabilities in [0, 1] drawn per request
 * from a seeded generator, tried in the order below (at most one fault per request).
 */
export interface S3FaultProfile {
  /** Answered with S3's XML error body, status 500 (`InternalError`) or 503 (`SlowDown`). @defaultValue 0 */
  errorShare?: number;
  /**
   * The connection is reset: half of the time before the request reaches the server, half of the
   * time after the server handled it (the write happened, the client never hears so). @defaultValue 0
   */
  resetShare?: number;
  /** Forwarded after an added delay of `latencyMs`. @defaultValue 0 */
  latencyShare?: number;
  /** [min, max] added delay in ms. @defaultValue [50, 400] */
  latencyMs?: [number, number];
  /**
   * Slow-loris answer: the server's status and headers at once, then the body dribbled out in
   * small pieces (or the end withheld) over `slowLorisMs`. @defaultValue 0
   */
  slowLorisShare?: number;
  /** @defaultValue 2000 */
  slowLorisMs?: number;
  /** Requests eligible for faults. @defaultValue every request */
  match?: (req: IncomingMessage) => boolean;
}

export type S3FaultKind = 'error' | 'reset' | 'latency' | 'slowLoris';

/** One request through the proxy (kept when `record` is on). */
export interface ProxiedRequest {
  /** ms since epoch when it arrived, and when the upstream answered (null: not forwarded or no answer). */
  at: number;
  answeredAt: number | null;
  method: string;
  url: string;
  contentLength: number | null;
  fault: S3FaultKind | null;
  /** Upstream status, null when not forwarded. */
  status: number | null;
}

/** Deterministic [0, 1) generator (mulberry32) so a seeded run injects the same faults. */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}

/**
 * A loopback HTTP proxy in front of an S3-protocol server (s3rver) that injects faults into a
 * configurable share of requests: S3 error answers, connection resets, added latency and
 * slow-loris answers. Headers pass through unchanged, so SigV4 signatures made for the proxy's
 * address still verify upstream. Extends the idea of test/store/flaky-proxy.ts (rule-based
 * failures for unit tests) to random faults for the fault-injection suite.
 */
export class S3FaultProxy {
  /** Requests seen and faults injected, by kind. */
  readonly counts: { requests: number; writesRefused: number } & Record<S3FaultKind, number> = { requests: 0, writesRefused: 0, error: 0, reset: 0, latency: 0, slowLoris: 0 };
  /** Every request, when `record` is on (for diagnosing a finding). */
  readonly log: ProxiedRequest[] = [];
  record = false;
  /**
   * The store is read-only: every write (PUT, POST, DELETE) is answered 503 `ServiceUnavailable`
   * before it reaches the server, as a store in read-only maintenance answers; reads pass, with
   * the profile's faults. Independent of the profile.
   */
  readOnly = false;
  private profile: S3FaultProfile = {};
  private random: () => number;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly endpoint: string, seed: number) {
    this.random = seededRandom(seed);
  }

  static async start(target: string, opts: { seed?: number; profile?: S3FaultProfile } = {}): Promise<S3FaultProxy> {
    const upstream = new URL(target);
    let proxy: S3FaultProxy | undefined;
    const server = createServer((req, res) => proxy!.handle(req, res, upstream));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new S3FaultProxy(server, `http://127.0.0.1:${port}`, opts.seed ?? 1);
    server.on('connection', (s) => {
      proxy!.sockets.add(s);
      s.on('close', () => proxy!.sockets.delete(s));
    });
    if (opts.profile) proxy.setProfile(opts.profile);
    return proxy;
  }

  /** Replaces the fault profile (an empty profile forwards everything untouched). */
  setProfile(profile: S3FaultProfile): void {
    this.profile = { ...profile };
  }

  /** Stops injecting faults. */
  heal(): void {
    this.profile = {};
  }

  get injected(): number {
    return this.counts.error + this.counts.reset + this.counts.latency + this.counts.slowLoris;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pick(req: IncomingMessage): S3FaultKind | null {
    const p = this.profile;
    if (p.match && !p.match(req)) return null;
    const r = this.random();
    let edge = 0;
    for (const [kind, share] of [['error', p.errorShare], ['reset', p.resetShare], ['latency', p.latencyShare], ['slowLoris', p.slowLorisShare]] as const) {
      edge += share ?? 0;
      if (r < edge) return kind;
    }
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
    this.counts.requests++;
    if (this.readOnly && ['PUT', 'POST', 'DELETE'].includes(req.method ?? '')) {
      this.counts.writesRefused++;
      req.resume();
      req.on('end', () => {
        const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code><Message>read-only: writes are refused (S3FaultProxy)</Message></Error>';
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const fault = this.pick(req);
    if (fault) this.counts[fault]++;
    const p = this.profile;
    const entry: ProxiedRequest = {
      at: Date.now(), answeredAt: null, method: req.method ?? '', url: req.url ?? '',
      contentLength: req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']), fault, status: null,
    };
    if (this.record) this.log.push(entry);
    if (fault === 'error') {
      const [status, code] = this.random() < 0.5 ? [500, 'InternalError'] : [503, 'SlowDown'];
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by S3FaultProxy</Message></Error>`;
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (fault === 'reset' && this.random() < 0.5) {
      req.socket.destroy();
      return;
    }
    const [lo, hi] = p.latencyMs ?? [50, 400];
    const delay = fault === 'latency' ? lo + this.random() * (hi - lo) : 0;
    const forward = () => {
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        entry.status = up.statusCode ?? null;
        entry.answeredAt = Date.now();
        if (fault === 'reset') {
          // The server did the work; the client only sees its connection die.
          up.resume();
          up.on('end', () => req.socket.destroy());
          return;
        }
        if (fault === 'slowLoris') {
          this.dribble(up, res, p.slowLorisMs ?? 2000);
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on('error', (e) => res.destroy(e));
      req.pipe(out);
    };
    if (delay > 0) {
      // Hold the request body until the delay is over (it buffers in the socket meanwhile).
      req.pause();
      setTimeout(() => {
        req.resume();
        forward();
      }, delay);
    } else {
      forward();
    }
  }

  /** Sends the upstream answer's head at once and its body in pieces spread over `totalMs`. */
  private dribble(up: IncomingMessage, res: ServerResponse, totalMs: number): void {
    const chunks: Buffer[] = [];
    up.on('data', (c: Buffer) => chunks.push(c));
    up.on('end', () => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      const body = Buffer.concat(chunks);
      const pieces = Math.max(1, Math.min(20, body.length));
      const size = Math.ceil(body.length / pieces) || 0;
      let i = 0;
      const step = () => {
        if (res.destroyed) return;
        if (i >= pieces || size === 0) {
          res.end();
          return;
        }
        res.write(body.subarray(i * size, (i + 1) * size));
        i++;
        setTimeout(step, totalMs / pieces);
      };
      setTimeout(step, size === 0 ? totalMs : 0);
    });
  }
}
