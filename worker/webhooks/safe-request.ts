import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mayConnect, parseIp, type OutboundAllow } from '../../core/outbound-policy';

/** What one POST came to. Refusals are told apart from network errors: they will not get better. */
export type PostOutcome =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; latencyMs: number }
  | { kind: 'refused'; reason: string; latencyMs: number }
  | { kind: 'error'; reason: string; latencyMs: number };

export interface SafePostOptions {
  /** Hosts and CIDRs that may be reached although private (`KILN_OUTBOUND_ALLOW`). */
  allow: OutboundAllow;
  /** Whole-request limit: DNS, connect, sending, and the response head. */
  timeoutMs: number;
  headers: Record<string, string>;
  /**
   * Response bytes read (then discarded) before the connection is dropped.
   * @defaultValue 65536
   */
  maxResponseBytes?: number;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * POSTs `body` to `url` without letting a caller-supplied URL reach Kiln's own network: the host
 * is resolved by a `lookup` hook that drops forbidden addresses at connect time (so a name that
 * resolves to 127.0.0.1 or 169.254.169.254, or is re-pointed there after submission, is refused),
 * literal addresses are checked before connecting (Node skips `lookup` for them), and redirects
 * are never followed: a 3xx is just a status.
 */
export function safePost(url: string, body: string, opts: SafePostOptions): Promise<PostOutcome> {
  const started = Date.now();
  const latency = () => Date.now() - started;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ kind: 'refused', reason: 'not a valid URL', latencyMs: 0 });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.resolve({ kind: 'refused', reason: `protocol ${target.protocol} is not http(s)`, latencyMs: 0 });
  }
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  if (parseIp(host) && !mayConnect(opts.allow, host, host)) {
    return Promise.resolve({ kind: 'refused', reason: forbiddenMessage(host, host), latencyMs: 0 });
  }

  let refusal: string | null = null;
  const lookup = (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { family: options.family ?? 0, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const permitted = addresses.filter((a) => mayConnect(opts.allow, hostname, a.address));
      if (permitted.length === 0) {
        refusal = forbiddenMessage(hostname, addresses.map((a) => a.address).join(', '));
        const e: NodeJS.ErrnoException = new Error(refusal);
        e.code = 'EKILNREFUSED';
        return callback(e, []);
      }
      if (options.all) return callback(null, permitted);
      callback(null, permitted[0].address, permitted[0].family);
    });
  };

  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (o: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, {
      method: 'POST',
      headers: { ...opts.headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup: lookup as never,
      // A fresh connection per attempt: a pooled socket would skip the lookup check.
      agent: false,
    }, (res) => {
      const limit = opts.maxResponseBytes ?? 65536;
      let read = 0;
      const done = () => finish({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, latencyMs: latency() });
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > limit) {
          done();
          res.destroy();
        }
      });
      res.on('end', done);
      res.on('error', done);
    });
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('error', (err) => {
      finish(refusal !== null ? { kind: 'refused', reason: refusal, latencyMs: latency() } : { kind: 'error', reason: err.message, latencyMs: latency() });
    });
    req.end(body);
  });
}

function forbiddenMessage(host: string, addresses: string): string {
  const which = host === addresses ? host : `${host} (${addresses})`;
  return `refused: ${which} is a private, loopback or link-local address; allow it with KILN_OUTBOUND_ALLOW`;
}
