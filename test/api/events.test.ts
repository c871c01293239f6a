import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { auth, startApi } from '../support/api-app';

interface SseMessage {
  event: string;
  id: string;
  data: any;
}

/**
 * A small SSE client over fetch: `next()` yields messages in order (null once the server closed),
 * counting comment lines. Parses the wire format itself so the test checks what is really sent.
 */
async function openStream(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let comments = 0;
  let done = false;
  const queue: SseMessage[] = [];
  let fields: Record<string, string> = {};
  const parse = () => {
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (fields.event !== undefined || fields.data !== undefined) {
          queue.push({ event: fields.event ?? 'message', id: fields.id ?? '', data: JSON.parse(fields.data ?? 'null') });
        }
        fields = {};
      } else if (line.startsWith(':')) {
        comments++;
      } else {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon);
        assert.ok(!(name in fields), `field ${name} appears twice in one message (data must be one line)`);
        fields[name] = line.slice(colon + 1).replace(/^ /, '');
      }
    }
  };
  return {
    res,
    get comments() {
      return comments;
    },
    async next(timeoutMs = 60_000): Promise<SseMessage | null> {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0 && !done) {
        let timer: NodeJS.Timeout | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no SSE message in time')), Math.max(1, deadline - Date.now())))),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) done = true;
        else {
          buffer += decoder.decode(chunk.value, { stream: true });
          parse();
        }
      }
      return queue.shift() ?? null;
    },
    /** Every message until the server closes the stream. */
    async rest(): Promise<SseMessage[]> {
      const out: SseMessage[] = [];
      for (let m = await this.next(); m; m = await this.next()) out.push(m);
      return out;
    },
    close() {
      abort.abort();
    },
  };
}

function irisJob(epochs: number, callbacks: Record<string, unknown> = {}) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
    fit: { epochs, batchSize: 4, seed: 3 },
    callbacks,
  };
}

/** The epoch numbers of the epoch messages, in the order received. */
const epochsOf = (ms: SseMessage[]) => ms.filter((m) => m.event === 'epoch').map((m) => m.data.epoch as number);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Checks the stream's shape: ids never go back, `end` is last and alone. `from`: the Last-Event-ID sent. */
function assertWellFormed(ms: SseMessage[], from = '-1') {
  const pos = (id: string) => id.split('.').map(Number) as [number, number?];
  let last: [number, number] = [pos(from)[0], pos(from)[1] ?? -1];
  for (const m of ms) {
    const [e, n] = pos(m.id);
    const p: [number, number] = [e, n ?? -1];
    if (m.event === 'epoch' || m.event === 'callback') {
      assert.ok(p[0] > last[0] || (p[0] === last[0] && p[1] > last[1]), `id ${m.id} does not come after ${last.join('.')}`);
      last = p;
    } else {
      assert.deepEqual(p, last, `${m.event} repeats the last position`);
    }
    if (m.event === 'epoch') assert.equal(m.id, String(m.data.epoch));
    if (m.event === 'callback') assert.equal(e, m.data.epoch);
  }
  assert.equal(ms.at(-1)?.event, 'end');
  assert.equal(ms.filter((m) => m.event === 'end').length, 1);
}

describe('GET /v1/jobs/{jobId}/events', () => {
  let stack: KilnStack;
  const EPOCHS = 30;
  let longJob: { jobId: string; runId: string };
  let liveMessages: SseMessage[] = [];

  const submit = async (spec: unknown) => {
    const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    const body = (await res.json()) as any;
    assert.equal(res.status, 202, JSON.stringify(body));
    return body as { jobId: string; runId: string };
  };
  const getJob = async (jobId: string) => (await (await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth() })).json()) as any;
  const events = (jobId: string, headers: Record<string, string> = {}, tenant = 'acme') =>
    openStream(`${stack.base}/v1/jobs/${jobId}/events`, { ...stack.auth(tenant), ...headers });

  before(async () => {
    stack = await startStack({ name: 'events', env: { KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0' } });
  });
  after(async () => {
    await stack?.close();
  });

  test('a client connecting mid-run gets every epoch once, in order, then end', async () => {
    // ReduceLROnPlateau logs learning_rate and reports its cuts as callback events.
    longJob = await submit(irisJob(EPOCHS, { reduceLROnPlateau: { monitor: 'val_loss', patience: 2, factor: 0.5 } }));
    // Wait until the first epoch is visible, as a watcher arriving late would find it.
    let seen: any;
    for (;;) {
      seen = await getJob(longJob.jobId);
      if (seen.progress.epoch !== null) break;
      assert.equal(['succeeded', 'failed', 'cancelled'].includes(seen.status), false, `job ended before its first epoch was seen: ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const stream = await events(longJob.jobId);
    assert.equal(stream.res.status, 200);
    assert.equal(stream.res.headers.get('content-type'), 'text/event-stream');
    assert.equal(stream.res.headers.get('cache-control'), 'no-cache');
    assert.equal(stream.res.headers.get('x-accel-buffering'), 'no');
    liveMessages = await stream.rest();
    // Mid-run for real: the job had not finished its epochs when the client connected.
    assert.equal(seen.status, 'running');
    assert.ok(seen.progress.epoch < EPOCHS - 2, `connected too late to be mid-run (epoch ${seen.progress.epoch})`);

    assertWellFormed(liveMessages);
    assert.deepEqual(epochsOf(liveMessages), range(0, EPOCHS));
    assert.deepEqual(liveMessages.filter((m) => m.event === 'status').map((m) => m.data.status), ['queued', 'running', 'succeeded']);
    assert.equal(liveMessages.find((m) => m.data.status === 'running')!.data.attempt, 1);
    const first = liveMessages.find((m) => m.event === 'epoch')!.data;
    assert.equal(first.epochs, EPOCHS);
    for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'learning_rate']) assert.equal(typeof first.logs[k], 'number', k);
    const end = liveMessages.at(-1)!.data;
    assert.equal(end.status, 'succeeded');
    assert.equal(end.stopReason, 'completed');
    assert.equal(end.error, null);
    assert.ok(end.best && typeof end.best.epoch === 'number');
    // The implicit best checkpoint reports its saves as callback events, each after its epoch.
    assert.ok(liveMessages.some((m) => m.event === 'callback' && m.data.type === 'checkpoint_saved' && m.data.path === 'best'));
  });

  test('GET /v1/runs/{runId} carries the per-epoch metric history', async () => {
    const run = (await (await fetch(`${stack.base}/v1/runs/${longJob.runId}`, { headers: stack.auth() })).json()) as any;
    assert.deepEqual(run.history.map((h: any) => h.epoch), range(0, EPOCHS));
    const liveEpochs = liveMessages.filter((m) => m.event === 'epoch');
    assert.deepEqual(run.history.map((h: any) => h.logs), liveEpochs.map((m) => m.data.logs));
    assert.ok(Array.isArray(run.events) && run.events.length > 0);
  });

  test('a client connecting after the job finished gets the whole history, then end', async () => {
    const stream = await events(longJob.jobId);
    const messages = await stream.rest();
    assertWellFormed(messages);
    assert.deepEqual(messages.filter((m) => m.event === 'status').map((m) => m.data.status), ['queued', 'running', 'succeeded']);
    // The same epochs and callback events, with the same ids and data, as the live client saw.
    const strip = (ms: SseMessage[]) => ms.filter((m) => m.event === 'epoch' || m.event === 'callback')
      .map((m) => ({ event: m.event, id: m.id, data: m.event === 'epoch' ? { ...m.data, best: undefined } : m.data }));
    assert.deepEqual(strip(messages), strip(liveMessages));
    assert.deepEqual(messages.at(-1), { ...liveMessages.at(-1)!, id: messages.at(-1)!.id });
    // History knows the best checkpoint of every epoch: never later than the epoch, last one the run's.
    for (const m of messages.filter((x) => x.event === 'epoch')) {
      if (m.data.best) assert.ok(m.data.best.epoch <= m.data.epoch);
    }
    assert.equal(messages.filter((x) => x.event === 'epoch').at(-1)!.data.best.epoch, messages.at(-1)!.data.best.epoch);
  });

  test('Last-Event-ID resumes after that message', async () => {
    const k = 11;
    const fromEpoch = await (await events(longJob.jobId, { 'last-event-id': String(k) })).rest();
    assertWellFormed(fromEpoch, String(k));
    assert.deepEqual(epochsOf(fromEpoch), range(k + 1, EPOCHS));
    const expected = liveMessages.filter((m) => m.event === 'callback' && Number(m.id.split('.')[0]) >= k).map((m) => m.id);
    assert.deepEqual(fromEpoch.filter((m) => m.event === 'callback').map((m) => m.id), expected);
    // No status history for a reconnect to a finished job: only the final status before end.
    assert.deepEqual(fromEpoch.filter((m) => m.event === 'status').map((m) => m.data.status), ['succeeded']);

    const cb = liveMessages.find((m) => m.event === 'callback')!;
    const fromCallback = await (await events(longJob.jobId, { 'last-event-id': cb.id })).rest();
    const all = liveMessages.filter((m) => m.event === 'epoch' || m.event === 'callback').map((m) => m.id);
    assert.deepEqual(fromCallback.filter((m) => m.event === 'epoch' || m.event === 'callback').map((m) => m.id), all.slice(all.indexOf(cb.id) + 1));
  });

  test('a client that reconnects mid-run with Last-Event-ID misses nothing and gets nothing twice', async () => {
    const job = await submit(irisJob(EPOCHS));
    const first = await events(job.jobId);
    const got: SseMessage[] = [];
    for (let m = await first.next(); m; m = await first.next()) {
      got.push(m);
      if (m.event === 'epoch' && m.data.epoch >= 2) break;
    }
    first.close();
    const lastId = got.at(-1)!.id;
    const view = await getJob(job.jobId);
    assert.equal(view.status, 'running', 'the job should still be running when the client reconnects');
    const second = await (await events(job.jobId, { 'last-event-id': lastId })).rest();
    assertWellFormed(second, lastId);
    assert.equal(second[0].event, 'status');
    assert.equal(second[0].data.status, 'running');
    assert.deepEqual([...epochsOf(got), ...epochsOf(second)], range(0, EPOCHS));
  });

  test('EarlyStopping: a callback event of type early_stopping at the epoch it stopped', async () => {
    // minDelta 100 on val_loss: only the first epoch improves, so patience 2 stops at epoch 2.
    const job = await submit(irisJob(20, { earlyStopping: { monitor: 'val_loss', patience: 2, minDelta: 100, restoreBestWeights: true } }));
    const messages = await (await events(job.jobId)).rest();
    assertWellFormed(messages);
    assert.deepEqual(epochsOf(messages), [0, 1, 2]);
    const callbacks = messages.filter((m) => m.event === 'callback');
    const stop = callbacks.find((m) => m.data.type === 'early_stopping');
    assert.ok(stop, JSON.stringify(callbacks.map((m) => m.data.type)));
    assert.equal(stop.data.epoch, 2);
    assert.match(stop.id, /^2\.\d+$/);
    assert.deepEqual(stop.data.monitors, ['val_loss']);
    assert.equal(stop.data.bestEpoch, 0);
    // The weights are put back at train end, after the last epoch's report: it still reaches the stream.
    const restored = callbacks.find((m) => m.data.type === 'weights_restored');
    assert.ok(restored);
    assert.deepEqual({ epoch: restored.data.epoch, fromEpoch: restored.data.fromEpoch }, { epoch: 2, fromEpoch: 0 });
    assert.ok(messages.indexOf(restored) > messages.indexOf(stop));
    assert.equal(messages.at(-1)!.data.stopReason, 'early_stopping');
    const view = await waitForJob(stack, job.jobId);
    assert.equal(view.stopReason, 'early_stopping');
  });

  test('unknown jobs and other tenants\' jobs are 404 problem documents; a bad Last-Event-ID is a 400', async () => {
    const cases: Array<[string, Record<string, string>, number]> = [
      [`/v1/jobs/job_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C/events`, stack.auth(), 404],
      [`/v1/jobs/${longJob.jobId}/events`, stack.auth('globex'), 404],
      [`/v1/jobs/${longJob.jobId}/events`, {}, 401],
      [`/v1/jobs/${longJob.jobId}/events`, { ...stack.auth(), 'last-event-id': 'abc' }, 400],
    ];
    for (const [path, headers, status] of cases) {
      const res = await fetch(`${stack.base}${path}`, { headers });
      const body = await res.text();
      assert.equal(res.status, status, body);
      assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
      const doc = JSON.parse(body);
      assert.equal(doc.status, status);
      if (status === 404) assert.equal(doc.code, 'NOT_FOUND');
    }
  });

  test('cancelling a queued job ends its stream; closing the API ends the others', async () => {
    // The API alone: no worker takes the job, so it is still queued when it is cancelled.
    const api = await startApi('events-cancel');
    let closed = false;
    try {
      const base = await api.app.listen({ port: 0, host: '127.0.0.1' });
      const created = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(irisJob(5)) });
      assert.equal(created.status, 202);
      const { jobId } = (await created.json()) as any;
      const stream = await openStream(`${base}/v1/jobs/${jobId}/events`, auth());
      // The first message means the stream is following the job: the cancel below arrives live.
      const queued = await stream.next();
      assert.deepEqual([queued?.event, queued?.data.status], ['status', 'queued']);
      const cancelled = await fetch(`${base}/v1/jobs/${jobId}`, { method: 'DELETE', headers: auth() });
      assert.equal(cancelled.status, 202);
      const rest = await stream.rest();
      assertWellFormed([queued!, ...rest]);
      assert.deepEqual(rest.map((m) => [m.event, m.data.status]), [['status', 'cancelled'], ['end', 'cancelled']]);
      assert.equal(rest[0].data.reason, 'cancelled before it started');
      assert.deepEqual(rest[1].data, { status: 'cancelled', stopReason: 'cancelled', best: null, error: null });

      // A stream still open when the API stops is ended (without `end`: the job did not end), so
      // shutting down does not wait for the job.
      const other = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(irisJob(5)) });
      const open = await openStream(`${base}/v1/jobs/${((await other.json()) as any).jobId}/events`, auth());
      assert.equal((await open.next())?.data.status, 'queued');
      closed = true;
      const closing = api.close();
      assert.deepEqual(await open.rest(), []);
      await closing;
    } finally {
      if (!closed) await api.close();
    }
  });
});
