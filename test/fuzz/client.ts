/**
 * The fuzz suite's two HTTP clients — fetch for well-formed requests, a raw socket for framing
 * errors — and the checks every answer gets: no 5xx, and every error an RFC 9457 problem document
 * whose `status` is the HTTP status and whose `code` is one of the taxonomy's with that status.
 */
import { connect } from 'node:net';
import { ERROR_CODES } from '../../core/errors';

/** One HTTP answer as the suite saw it. */
export interface Answer {
  /** HTTP status, or why there was none. */
  status: number | 'timeout' | 'closed' | 'refused';
  contentType: string;
  body: string;
  bytes: number;
  ms: number;
}

/** Largest problem document the suite accepts: error details are bounded (issue 14). */
export const MAX_PROBLEM_BYTES = 64 * 1024;

/** What is wrong with an answer (empty when nothing is). */
export function checkAnswer(a: Answer): string[] {
  if (typeof a.status !== 'number') return [a.status === 'timeout' ? 'no answer in time' : `connection ${a.status} without an answer`];
  const out: string[] = [];
  if (a.status >= 500) out.push(`5xx (${a.status})`);
  if (a.status >= 400) {
    if (!/^application\/problem\+json\b/i.test(a.contentType)) out.push(`error not problem+json (content-type ${JSON.stringify(a.contentType || null)})`);
    let doc: any = null;
    try {
      doc = JSON.parse(a.body);
    } catch {
      out.push('error body is not JSON');
    }
    if (doc !== null && typeof doc === 'object') {
      const missing = ['type', 'title', 'code'].filter((k) => typeof doc[k] !== 'string');
      if (missing.length) out.push(`problem lacks ${missing.join(', ')}`);
      if (doc.status !== a.status) out.push(`problem status ${JSON.stringify(doc.status)} is not the HTTP status ${a.status}`);
      const info = typeof doc.code === 'string' ? (ERROR_CODES as Record<string, { status: number }>)[doc.code] : undefined;
      if (typeof doc.code === 'string' && !info) out.push(`problem code ${doc.code} is not in core/errors.ts`);
      else if (info && info.status !== a.status) out.push(`problem code ${doc.code} maps to ${info.status}, answered ${a.status}`);
    } else if (doc !== null) {
      out.push('error body is not a JSON object');
    }
    if (a.bytes > MAX_PROBLEM_BYTES) out.push(`problem document of ${a.bytes} bytes (bound ${MAX_PROBLEM_BYTES})`);
  }
  return out;
}

/** Sends one well-formed request with fetch. Never throws: a failure is an Answer without a status. */
export async function sendHttp(base: string, req: { method: string; path: string; headers: Record<string, string>; body?: string }, timeoutMs: number): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await fetch(base + req.path, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const buf = Buffer.from(await res.arrayBuffer());
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: buf.toString('utf8'), bytes: buf.length, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const status = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timeout' : e.cause?.code === 'ECONNREFUSED' ? 'refused' : 'closed';
    return { status, contentType: '', body: `${e.name}: ${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`, bytes: 0, ms: performance.now() - t0 };
  }
}

/**
 * Writes raw bytes to a fresh connection and reads until the server closes it (or the timeout),
 * then splits what came back into HTTP responses. No responses: an Answer of `closed`/`timeout`.
 */
export function sendRaw(port: number, bytes: Buffer, opts: { end: boolean; timeoutMs: number }): Promise<Answer[]> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (why: 'closed' | 'timeout' | 'refused') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      const answers = parseResponses(data, performance.now() - t0);
      resolve(answers.length ? answers : [{ status: why, contentType: '', body: data.toString('latin1').slice(0, 300), bytes: data.length, ms: performance.now() - t0 }]);
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => finish('closed'));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    socket.on('connect', () => {
      // A server that answers and closes early makes the rest of a large write fail: that is fine.
      socket.write(bytes, () => {
        if (opts.end) socket.end();
      });
    });
  });
}

/** Splits bytes into HTTP/1.x responses (Content-Length, chunked, or to the end). */
export function parseResponses(data: Buffer, ms: number): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) break;
    const head = data.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(head[0]);
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let bodyStart = headEnd + 4;
    let body: Buffer;
    const status = Number(m[1]);
    if (status === 100) {
      at = bodyStart;
      continue;
    }
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = data.subarray(bodyStart, bodyStart + n);
      at = bodyStart + n;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', bodyStart, 'latin1');
        if (lineEnd < 0) break;
        const size = parseInt(data.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) break;
        bodyStart = lineEnd + 2;
        if (size === 0) {
          bodyStart += 2;
          break;
        }
        parts.push(data.subarray(bodyStart, bodyStart + size));
        bodyStart += size + 2;
      }
      body = Buffer.concat(parts);
      at = bodyStart;
    } else {
      body = data.subarray(bodyStart);
      at = data.length;
    }
    out.push({ status, contentType: headers['content-type'] ?? '', body: body.toString('utf8'), bytes: body.length, ms });
  }
  return out;
}
