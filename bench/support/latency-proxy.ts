import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP proxy that holds every request for `delayMs` before forwarding it to a real
 * server (s3rver in the benchmarks), so a store on loopback behaves like one across a network.
 * Requests are delayed independently: concurrent requests overlap their delays, as they would on a
 * real link. Headers, including `host`, pass through unchanged, so SigV4 signatures made for the
 * proxy's address still verify upstream.
 */
export class LatencyProxy {
  /** Requests forwarded so far. */
  requests = 0;
  /** Most requests the proxy held or forwarded at one time. */
  peakInFlight = 0;
  private inFlight = 0;

  private constructor(private readonly server: Server, private readonly agent: Agent, readonly endpoint: string, readonly delayMs: number) {}

  /** Starts a proxy on 127.0.0.1 (a free port) in front of `target` (`http://host:port`). */
  static async start(target: string, delayMs: number): Promise<LatencyProxy> {
    const upstream = new URL(target);
    const agent = new Agent({ keepAlive: true });
    let proxy: LatencyProxy | undefined;
    const server = createServer((req, res) => proxy!.handle(req, res, upstream));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new LatencyProxy(server, agent, `http://127.0.0.1:${port}`, delayMs);
    return proxy;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.agent.destroy();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }

  private handle(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
    this.requests++;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    res.on('close', () => { this.inFlight--; });
    // The body stays paused in the socket until it is piped on, after the delay.
    setTimeout(() => {
      const forward = request({
        host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent,
      }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', (e) => res.destroy(e));
      req.pipe(forward);
    }, this.delayMs);
  }
}
