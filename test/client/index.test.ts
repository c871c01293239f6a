import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKilnClient, KilnApiError, KilnNetworkError, streamEvents, unwrap, waitForJob, type JobEvent } from '../../client/index';
import { freePort } from '../support/ports';

// A tiny SSE server speaking the events endpoint's format, so the client is tested over real HTTP
// without an API: it cuts the first connection after the first epoch (mid-message), and resumes
// after Last-Event-ID on the next one.
const MESSAGES = [
  { event: 'status', id: '-1', data: { status: 'queued', at: '2026-11-28T10:00:00.000Z' } },
  { event: 'status', id: '-1', data: { status: 'running', at: '2026-11-28T10:00:00.100Z', attempt: 1 } },
  { event: 'epoch', id: '0', data: { epoch: 0, epochs: 2, logs: { loss: 1 }, best: null } },
  { event: 'callback', id: '0.0', data: { type: 'checkpoint_saved', epoch: 0, path: 'best', weightsOnly: false } },
  { event: 'epoch', id: '1', data: { epoch: 1, epochs: 2, logs: { loss: 0.5 }, best: null } },
  { event: 'status', id: '1', data: { status: 'succeeded', at: '2026-11-28T10:00:01.000Z' } },
  { event: 'end', id: '1', data: { status: 'succeeded', stopReason: 'completed', best: null, error: null } },
];

const sse = (m: (typeof MESSAGES)[number]) => `event: ${m.event}\nid: ${m.id}\ndata: ${JSON.stringify(m.data)}\n\n`;

describe('the typed client over real HTTP', () => {
  let server: Server;
  let base: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;

  before(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));

  const problem = (res: ServerResponse, status: number, code: string) => {
    res.writeHead(status, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'Nope', status, code, detail: `${code} detail` }));
  };
  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  test('streamEvents resumes a dropped stream after Last-Event-ID: every event once, in order, ending at end', async () => {
    const seen: { auth?: string; lastEventId?: string; url?: string }[] = [];
    handler = (req, res) => {
      const last = req.headers['last-event-id'] as string | undefined;
      seen.push({ auth: req.headers.authorization, lastEventId: last, url: req.url });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (last === undefined) {
        // History up to the first epoch, then half of the next message, then the connection drops.
        res.write(MESSAGES.slice(0, 3).map(sse).join('') + ': keep-alive\n\n' + sse(MESSAGES[3]).slice(0, 20));
        setTimeout(() => res.destroy(), 20);
        return;
      }
      const from = MESSAGES.map((m) => m.id).lastIndexOf(last) + 1;
      res.end(MESSAGES.slice(from).map(sse).join(''));
    };
    const client = createKilnClient({ baseUrl: base + '/', apiKey: 'k1' });
    const got: JobEvent[] = [];
    for await (const e of streamEvents(client, 'job_0123456789', { retryDelayMs: 10 })) got.push(e);
    assert.deepEqual(got, MESSAGES);
    assert.deepEqual(seen, [
      { auth: 'Bearer k1', lastEventId: undefined, url: '/v1/jobs/job_0123456789/events' },
      { auth: 'Bearer k1', lastEventId: '0', url: '/v1/jobs/job_0123456789/events' },
    ]);
  });

  test('streamEvents throws the problem of a 4xx at once, and a network error after its retries', async () => {
    let calls = 0;
    handler = (_req, res) => {
      calls++;
      problem(res, 404, 'JOB_NOT_FOUND');
    };
    const client = createKilnClient({ baseUrl: base, apiKey: 'k1' });
    await assert.rejects(
      async () => {
        for await (const _ of streamEvents(client, 'job_0123456789', { retryDelayMs: 1 })) void _;
      },
      (e: unknown) => e instanceof KilnApiError && e.status === 404 && e.problem.code === 'JOB_NOT_FOUND' && e.problem.detail === 'JOB_NOT_FOUND detail',
    );
    assert.equal(calls, 1, 'a 4xx is not retried');

    const dead = createKilnClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    await assert.rejects(
      async () => {
        for await (const _ of streamEvents(dead, 'job_0123456789', { retryDelayMs: 1, maxRetries: 2 })) void _;
      },
      (e: unknown) => e instanceof KilnNetworkError && /ECONNREFUSED/.test(e.reason),
    );
  });

  test('streamEvents gives up when the server keeps closing the stream before its end event', async () => {
    let calls = 0;
    handler = (_req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(': nothing yet\n\n');
    };
    const client = createKilnClient({ baseUrl: base });
    await assert.rejects(async () => {
      for await (const _ of streamEvents(client, 'job_0123456789', { retryDelayMs: 1, maxRetries: 2 })) void _;
    }, /closed before its end event/);
    assert.equal(calls, 3, 'the first try and two retries');
  });

  test('unwrap returns data, and turns a non-JSON error body into a problem', async () => {
    handler = (req, res) => {
      if (req.url === '/v1/jobs?limit=2') return json(res, { items: [], nextCursor: null });
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    };
    const client = createKilnClient({ baseUrl: base });
    assert.deepEqual(await unwrap(client.GET('/v1/jobs', { params: { query: { limit: 2 } } })), { items: [], nextCursor: null });
    await assert.rejects(unwrap(client.GET('/v1/jobs')), (e: unknown) => e instanceof KilnApiError && e.status === 502 && e.problem.code === 'HTTP_502' && e.problem.detail === '<html>bad gateway</html>');
  });

  test('waitForJob polls until the job ends and returns the final view; it gives up after timeoutMs', async () => {
    let polls = 0;
    handler = (_req, res) => {
      polls++;
      json(res, { jobId: 'job_0123456789', status: polls < 3 ? 'running' : 'failed', error: { code: 'X', detail: 'y' } });
    };
    const client = createKilnClient({ baseUrl: base });
    const statuses: string[] = [];
    const job = await waitForJob(client, 'job_0123456789', { intervalMs: 5, onPoll: (j) => statuses.push(j.status) });
    assert.equal(job.status, 'failed');
    assert.deepEqual(statuses, ['running', 'running', 'failed']);

    handler = (_req, res) => json(res, { jobId: 'job_0123456789', status: 'running' });
    await assert.rejects(waitForJob(client, 'job_0123456789', { intervalMs: 20, timeoutMs: 50 }), /job job_0123456789 is still running after 50 ms/);
  });
});
