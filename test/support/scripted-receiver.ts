import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  url: string;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Hold the answer this long (to provoke a timeout). */
  delayMs?: number;
}

/**
 * A real HTTP server on loopback whose answer to the n-th request (0-based) is scripted, for
 * receivers that are down, gone, rate-limiting or slow. Records every request.
 */
export async function startScriptedReceiver(script: (n: number, req: ScriptedRequest) => ScriptedAnswer, host = '127.0.0.1') {
  const received: ScriptedRequest[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ScriptedRequest = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), url: req.url ?? '', at: Date.now() };
      const answer = script(received.length, r);
      received.push(r);
      waiters.splice(0).forEach((w) => w());
      const reply = () => res.writeHead(answer.status, answer.headers ?? {}).end();
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `http://${hostPart}:${port}/hook`,
    received,
    /** Resolves once `count` requests have arrived. */
    async waitFor(count: number, timeoutMs = 15000): Promise<ScriptedRequest[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} requests, got ${received.length}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
      return received;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
