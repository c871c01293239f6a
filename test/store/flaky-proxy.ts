import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the proxy saw. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Whether the proxy answered it with an injected failure instead of forwarding it. */
  failed: boolean;
}

/** Which requests to fail, how many times, and with what status. */
export interface FailureRule {
  /** Requests the rule applies to. @defaultValue every request */
  match?: (req: IncomingMessage) => boolean;
  /** How many matching requests to fail. @defaultValue Infinity */
  times?: number;
  /** @defaultValue 503 */
  status?: number;
  /** The S3 error code in the answer's XML body. @defaultValue `ServiceUnavailable` */
  code?: string;
}

/**
 * A loopback HTTP proxy in front of a real server that can answer chosen requests with an
 * injected error (S3's XML error format) and records every request. Headers, including `host`,
 * pass through unchanged, so SigV4 signatures made for the proxy's address still verify upstream.
 */
export class FlakyProxy {
  readonly requests: SeenRequest[] = [];
  /** Milliseconds every forwarded request waits before it goes upstream (a slow link). */
  delayMs = 0;
  private rules: Array<Required<FailureRule>> = [];

  private constructor(private readonly server: Server, readonly endpoint: string) {}

  static async start(target: string): Promise<FlakyProxy> {
    const upstream = new URL(target);
    let proxy: FlakyProxy | undefined;
    const server = createServer((req, res) => proxy!.handle(req, res, upstream));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new FlakyProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  /** Adds a failure rule; rules are consulted in the order added. */
  fail(rule: FailureRule = {}): void {
    this.rules.push({
      match: rule.match ?? (() => true), times: rule.times ?? Infinity, status: rule.status ?? 503, code: rule.code ?? 'ServiceUnavailable',
    });
  }

  /** Drops every failure rule: from now on everything is forwarded. */
  heal(): void {
    this.rules = [];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }

  private handle(req: IncomingMessage, res: import('node:http').ServerResponse, upstream: URL): void {
    const rule = this.rules.find((r) => r.times > 0 && r.match(req));
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, failed: rule !== undefined });
    if (rule !== undefined) {
      rule.times--;
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${rule.code}</Code><Message>injected by FlakyProxy</Message></Error>`;
        res.writeHead(rule.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (this.delayMs > 0) {
      req.pause();
      setTimeout(() => this.forward(req, res, upstream), this.delayMs);
      return;
    }
    this.forward(req, res, upstream);
  }

  private forward(req: IncomingMessage, res: import('node:http').ServerResponse, upstream: URL): void {
    const forward = request({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers,
    }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', (e) => {
      res.destroy(e);
    });
    req.pipe(forward);
  }
}
