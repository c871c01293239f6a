import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { startWebhookReceiver } from '../support/webhook-receiver';
import { auth, startApi } from '../support/api-app';

const ADMIN_KEY = 'admin-0123456789abcdef-metrics';

/** One sample of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  help: string;
  type: string;
  samples: Sample[];
}

/**
 * A strict reader of the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE or
 * a sample; every sample belongs to a family announced by HELP and TYPE before it (histograms own
 * `_bucket`, `_sum` and `_count`); label values are quoted with escapes; values are numbers.
 */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const nameRe = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${i + 1}: ${line}`;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${nameRe}) (.+)$`).exec(line))) {
      assert.ok(!families.has(m[1]), `${where}: HELP given twice`);
      families.set(m[1], { help: m[2], type: '', samples: [] });
    } else if ((m = new RegExp(`^# TYPE (${nameRe}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      const f = families.get(m[1]);
      assert.ok(f && f.type === '' && f.samples.length === 0, `${where}: TYPE must follow its HELP, once, before samples`);
      f.type = m[2];
    } else if ((m = new RegExp(`^(${nameRe})(?:\\{(.*)\\})? (\\S+)$`).exec(line))) {
      const [, name, rawLabels, rawValue] = m;
      const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
      assert.ok(rawValue === 'NaN' || !Number.isNaN(value), `${where}: the value is not a number`);
      const labels: Record<string, string> = {};
      if (rawLabels) {
        const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
        let consumed = 0;
        while (consumed < rawLabels.length) {
          labelRe.lastIndex = consumed;
          const lm = labelRe.exec(rawLabels);
          assert.ok(lm, `${where}: bad label syntax`);
          labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
          consumed = labelRe.lastIndex;
        }
      }
      const base = [...families.keys()].reverse().find((f) => name === f || (families.get(f)!.type === 'histogram' && [`${f}_bucket`, `${f}_sum`, `${f}_count`].includes(name)));
      assert.ok(base && families.get(base)!.type, `${where}: sample without a HELP and TYPE before it`);
      families.get(base)!.samples.push({ name, labels, value });
    } else {
      assert.fail(`${where}: neither a comment nor a sample`);
    }
  }
  // Histograms: cumulative buckets ending in +Inf = _count.
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const buckets = f.samples.filter((s) => s.name === `${name}_bucket`);
    assert.equal(buckets[buckets.length - 1].labels.le, '+Inf', `${name}: the last bucket is +Inf`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i].value >= buckets[i - 1].value, `${name}: buckets are cumulative`);
      assert.ok(buckets[i].labels.le === '+Inf' || Number(buckets[i].labels.le) > Number(buckets[i - 1].labels.le), `${name}: bounds increase`);
    }
    assert.equal(buckets[buckets.length - 1].value, f.samples.find((s) => s.name === `${name}_count`)!.value, `${name}: +Inf = _count`);
  }
  return families;
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of families.values()) {
    const s = f.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    if (s) return s.value;
  }
  assert.fail(`no sample ${name}${JSON.stringify(labels)}`);
}

let stack: KilnStack;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(`${stack.base}/metrics`, { headers: admin });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheus(await res.text());
}

/** Scrapes until `ok` holds (the worker records after the job's state changes), returning that scrape. */
async function scrapeUntil(ok: (m: Map<string, Family>) => boolean, what: string, timeoutMs = 15_000): Promise<Map<string, Family>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape();
    if (ok(m)) return m;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function submit(body: unknown): Promise<string> {
  const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 202, await res.clone().text());
  return ((await res.json()) as { jobId: string }).jobId;
}

before(async () => {
  receiver = await startWebhookReceiver();
  stack = await startStack({ name: 'metrics', env: { KILN_ADMIN_KEY: ADMIN_KEY, KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0', KILN_BACKEND: 'auto' } });
});
after(async () => {
  await stack?.close();
  await receiver?.close();
});

test('/metrics wants the operator key: 401 without it or with a tenant key, with a challenge', async () => {
  // A browser (no credentials, or a wrong Basic password) is challenged with Basic, so it asks for the key.
  const basicChallenge = 'Basic realm="Kiln operators", charset="UTF-8"';
  const bearerChallenge = 'Bearer realm="Kiln operators"';
  for (const [headers, challenge] of [
    [{}, basicChallenge], [stack.auth(), bearerChallenge], [{ authorization: 'Bearer wrong-admin-key-0123456789' }, bearerChallenge],
    [{ authorization: `Basic ${Buffer.from(`ops:${ADMIN_KEY}x`).toString('base64')}` }, basicChallenge],
  ] as Array<[Record<string, string>, string]>) {
    const res = await fetch(`${stack.base}/metrics`, { headers });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
    assert.equal(res.headers.get('www-authenticate'), challenge, JSON.stringify(headers));
    assert.equal(((await res.json()) as any).code, 'UNAUTHENTICATED');
  }
  const basic = await fetch(`${stack.base}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_KEY}`).toString('base64')}` } });
  assert.equal(basic.status, 200, 'Basic auth with the key as password works too');
});

test('/metrics is Prometheus text, and the counters move when jobs run', { timeout: 60_000 }, async () => {
  const before = await scrape();
  for (const [name, type] of Object.entries({
    kiln_queue_jobs: 'gauge', kiln_queue_oldest_job_age_seconds: 'gauge', kiln_jobs_total: 'counter', kiln_epoch_duration_seconds: 'histogram',
    kiln_upload_duration_seconds: 'histogram', kiln_upload_failures_total: 'counter', kiln_webhook_attempts_total: 'counter',
    kiln_webhook_failures_total: 'counter', kiln_worker_backend: 'gauge',
  })) {
    assert.equal(before.get(name)?.type, type, name);
    assert.ok(before.get(name)!.help.length > 10, `${name} has a HELP text`);
  }
  for (const queue of ['training', 'webhooks']) {
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed']) {
      assert.equal(typeof value(before, 'kiln_queue_jobs', { queue, state }), 'number');
      assert.equal(typeof value(before, 'kiln_queue_oldest_job_age_seconds', { queue, state }), 'number');
    }
  }
  assert.equal(value(before, 'kiln_jobs_total', { outcome: 'succeeded' }), 0);
  assert.equal(value(before, 'kiln_epoch_duration_seconds_count'), 0);
  assert.equal(value(before, 'kiln_worker_backend', { backend: 'auto' }), 1, 'the stack\'s worker is alive; no trainer has picked a backend yet');

  const jobId = await submit({
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2 },
    fit: { epochs: 4, batchSize: 16 },
    callbacks: { csvLogger: {} },
    webhook: { url: receiver.url, secret: 'whsec_' + Buffer.from('metrics-test-secret-0123456789ab').toString('base64') },
  });
  const view = await waitForJob(stack, jobId, 45_000);
  assert.equal(view.status, 'succeeded');

  const afterRun = await scrapeUntil((m) => value(m, 'kiln_jobs_total', { outcome: 'succeeded' }) === 1
    && value(m, 'kiln_webhook_attempts_total', { outcome: 'delivered' }) >= 1, 'the outcome and the webhook to be counted');
  assert.equal(value(afterRun, 'kiln_epoch_duration_seconds_count'), 4, 'one observation per epoch');
  assert.ok(value(afterRun, 'kiln_epoch_duration_seconds_sum') > 0);
  assert.ok(value(afterRun, 'kiln_upload_duration_seconds_count') >= 4 + 2, 'run.json per epoch, the CSV, the final model…');
  assert.equal(value(afterRun, 'kiln_upload_failures_total'), 0);
  assert.equal(value(afterRun, 'kiln_webhook_failures_total'), 0);
  assert.equal(value(afterRun, 'kiln_queue_jobs', { queue: 'training', state: 'completed' }), 1);
  assert.equal(value(afterRun, 'kiln_queue_jobs', { queue: 'training', state: 'active' }), 0);
  assert.ok(value(afterRun, 'kiln_queue_oldest_job_age_seconds', { queue: 'training', state: 'completed' }) > 0);
  assert.ok(['node-gpu', 'node', 'wasm', 'cpu'].includes(view.backend), view.backend);
  assert.equal(value(afterRun, 'kiln_worker_backend', { backend: view.backend }), 1, 'the trainer reported the backend it selected');
  assert.equal(afterRun.get('kiln_worker_backend')!.samples.length, 1, 'and only that one');

  // A job that fails (a user error: no retries) counts as failed, not succeeded.
  const failing = await submit({
    model: { inputShape: [2], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
    compile: { optimizer: { name: 'sgd' }, loss: 'categorical_crossentropy' },
    data: { uri: 'datasets/missing.csv', labelColumn: 'label' },
    fit: { epochs: 2 },
  });
  assert.equal((await waitForJob(stack, failing, 30_000)).status, 'failed');
  const afterFail = await scrapeUntil((m) => value(m, 'kiln_jobs_total', { outcome: 'failed' }) === 1, 'the failure to be counted');
  assert.equal(value(afterFail, 'kiln_jobs_total', { outcome: 'succeeded' }), 1);
  assert.equal(value(afterFail, 'kiln_epoch_duration_seconds_count'), 4, 'no epoch ran');
});

test('bull-board at /admin/queues: behind the operator key (Basic or Bearer), both queues, not in the contract', async () => {
  const anon = await fetch(`${stack.base}/admin/queues`);
  assert.equal(anon.status, 401);
  assert.match(String(anon.headers.get('www-authenticate')), /^Basic realm="Kiln operators"/);
  const tenant = await fetch(`${stack.base}/admin/queues/api/queues`, { headers: stack.auth() });
  assert.equal(tenant.status, 401, 'a tenant key is not an operator key');
  const page = await fetch(`${stack.base}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_KEY}`).toString('base64')}` } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const queues = await fetch(`${stack.base}/admin/queues/api/queues`, { headers: admin });
  assert.equal(queues.status, 200);
  const names = ((await queues.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name).sort();
  assert.deepEqual(names, ['training', 'webhooks']);
  const doc = (await (await fetch(`${stack.base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  assert.deepEqual(Object.keys(doc.paths).filter((p) => /^\/(metrics|admin|runs)/.test(p)), []);
});

test('without KILN_ADMIN_KEY /metrics is open and the dashboard is not mounted', async (t) => {
  const api = await startApi('metrics-open');
  t.after(() => api.close());
  const res = await api.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.ok(parsePrometheus(res.body).has('kiln_jobs_total'));
  const board = await api.app.inject({ method: 'GET', url: '/admin/queues', headers: auth() });
  assert.equal(board.statusCode, 404);
});
