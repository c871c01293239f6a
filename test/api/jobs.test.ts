import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, auth, validJob } from '../support/api-app';

type Api = Awaited<ReturnType<typeof startApi>>;

function assertProblem(res: { statusCode: number; headers: Record<string, unknown>; json(): any }, status: number, code: string, pointer?: string) {
  assert.equal(res.statusCode, status, JSON.stringify(res.json()));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.type, 'string');
  if (pointer !== undefined) {
    assert.ok(body.errors?.some((e: any) => e.pointer === pointer), `expected a problem at ${pointer}, got ${JSON.stringify(body.errors ?? body.detail)}`);
  }
  return body;
}

describe('POST /v1/jobs', () => {
  let api: Api;
  before(async () => {
    api = await startApi('jobs');
  });
  after(async () => api.close());

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

  test('accepts a valid job: 202, ids, links, Location', async () => {
    const res = await post(validJob());
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json();
    assert.match(body.jobId, /^job_[0-9A-Z]{26}$/);
    assert.equal(body.runId, 'run_' + body.jobId.slice(4));
    assert.equal(body.status, 'queued');
    assert.equal(res.headers.location, `/v1/jobs/${body.jobId}`);
    const view = await api.app.inject({ method: 'GET', url: `/v1/jobs/${body.jobId}`, headers: auth() });
    assert.equal(view.statusCode, 200);
    assert.equal(view.json().status, 'queued');
  });

  // Keras follows these instead of raising (issue 17): monitor_callback.py `__init__` warns
  // "<Class> mode '<mode>' is unknown, fallback to auto mode." and takes `abs(min_delta)`;
  // reduce_lr_on_plateau.py only refuses `factor >= 1.0`.
  test('accepts what Keras accepts, with its warnings in the 202 and in the job', async () => {
    const job = validJob();
    job.callbacks.earlyStopping = { monitor: 'val_accuracy', mode: 'MAX', minDelta: -0.01, patience: 2, verbose: 1 };
    job.callbacks.reduceLROnPlateau = { factor: 0, patience: 1 };
    const res = await post(job);
    assert.equal(res.statusCode, 202, res.body);
    const expected = [
      { pointer: '/callbacks/earlyStopping/mode', detail: "EarlyStopping mode 'MAX' is unknown, fallback to auto mode.", source: 'keras' },
      { pointer: '/callbacks/earlyStopping/minDelta', detail: 'EarlyStopping uses the absolute value of min_delta: 0.01 (Keras does this without a warning).', source: 'kiln' },
    ];
    assert.deepEqual(res.json().warnings, expected);
    const view = await api.app.inject({ method: 'GET', url: `/v1/jobs/${res.json().jobId}`, headers: auth() });
    assert.deepEqual(view.json().warnings, expected);
  });

  test('a job without anything to warn about has no warnings', async () => {
    const res = await post(validJob());
    assert.deepEqual(res.json().warnings, []);
  });

  test('Idempotency-Key: a retried POST returns the original job; a different body with the same key is a 422', async () => {
    const first = await post(validJob(), { 'idempotency-key': 'k-1' });
    const again = await post(validJob(), { 'idempotency-key': 'k-1' });
    assert.equal(first.statusCode, 202);
    assert.equal(again.statusCode, 202);
    assert.equal(again.json().jobId, first.json().jobId);
    const other = validJob();
    other.fit.epochs = 4;
    assertProblem(await post(other, { 'idempotency-key': 'k-1' }), 422, 'IDEMPOTENCY_KEY_REUSED');
    const list = await api.app.inject({ method: 'GET', url: '/v1/jobs?limit=100', headers: auth() });
    assert.equal(list.json().items.filter((j: any) => j.jobId === first.json().jobId).length, 1, 'one job, not two');
  });

  const bad: Array<[string, (j: any) => unknown, number, string, string?]> = [
    ['malformed JSON', () => '{"model": ', 400, 'BAD_REQUEST'],
    ['an unknown field (typo) is rejected, not dropped', (j) => { j.callbacks.earlyStopping.paitence = 3; return j; }, 400, 'JOB_SPEC_INVALID', '/callbacks/earlyStopping/paitence'],
    ['an unknown top-level field', (j) => ({ ...j, epochs: 3 }), 400, 'JOB_SPEC_INVALID', '/epochs'],
    ['a wrong type', (j) => { j.fit.epochs = '10'; return j; }, 400, 'JOB_SPEC_INVALID', '/fit/epochs'],
    ['epochs ≤ 0', (j) => { j.fit.epochs = 0; return j; }, 400, 'JOB_SPEC_INVALID', '/fit/epochs'],
    ['an unknown built-in dataset', (j) => { j.data.builtin = 'mnist'; return j; }, 400, 'JOB_SPEC_INVALID', '/data/builtin'],
    ['model JSON that is not a Keras model', (j) => ({ ...j, model: { keras: { hello: 'world' } } }), 400, 'JOB_SPEC_INVALID'],
    ['val_accuracy without validation data', (j) => { delete j.data.validationSplit; j.callbacks.earlyStopping.monitor = 'val_accuracy'; return j; }, 400, 'JOB_SPEC_INVALID', '/callbacks/earlyStopping/monitor'],
    ['val_accuracy without the accuracy metric', (j) => { j.compile.metrics = []; j.callbacks.earlyStopping.monitor = 'val_accuracy'; return j; }, 400, 'JOB_SPEC_INVALID', '/callbacks/earlyStopping/monitor'],
    ['a checkpoint template with ..', (j) => { j.callbacks.modelCheckpoint = { filepath: '../escape-{epoch}' }; return j; }, 400, 'JOB_SPEC_INVALID', '/callbacks/modelCheckpoint/filepath'],
    ['an absolute checkpoint path', (j) => { j.callbacks.modelCheckpoint = { filepath: '/etc/ckpt-{epoch}' }; return j; }, 400, 'JOB_SPEC_INVALID', '/callbacks/modelCheckpoint/filepath'],
    ['a body over the size limit', (j) => ({ ...j, tags: { big: 'x'.repeat(200) }, model: { keras: { class_name: 'Sequential', config: { pad: 'y'.repeat(70000) } } } }), 413, 'BODY_TOO_LARGE'],
    ['a model whose input does not fit the dataset', (j) => { j.model.inputShape = [5]; return j; }, 400, 'JOB_SPEC_INVALID', '/model'],
    ['a webhook secret not in whsec_ form', (j) => ({ ...j, webhook: { url: 'https://example.com/hook', secret: 'hunter2' } }), 400, 'JOB_SPEC_INVALID', '/webhook/secret'],
  ];
  for (const [name, mutate, status, code, pointer] of bad) {
    test(`rejects ${name} with a ${status} problem naming the field, and queues nothing`, async () => {
      const before = (await api.app.inject({ method: 'GET', url: '/v1/jobs?limit=100', headers: auth() })).json().items.length;
      const body = assertProblem(await post(mutate(validJob())), status, code, pointer);
      assert.ok(body.detail && body.detail.length > 10, 'the detail says what to fix');
      const after = (await api.app.inject({ method: 'GET', url: '/v1/jobs?limit=100', headers: auth() })).json().items.length;
      assert.equal(after, before, 'nothing queued');
    });
  }

  test('a non-JSON content type is a 415', async () => {
    const res = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'text/plain' }, payload: 'hello' });
    assertProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('tenancy and auth', () => {
  let api: Api;
  let jobId: string;
  let runId: string;
  before(async () => {
    api = await startApi('tenancy');
    const res = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth('acme'), 'content-type': 'application/json' }, payload: validJob() });
    ({ jobId, runId } = res.json());
  });
  after(async () => api.close());

  const routes = () => [
    ['GET', `/v1/jobs/${jobId}`],
    ['DELETE', `/v1/jobs/${jobId}`],
    ['GET', `/v1/runs/${runId}`],
    ['GET', `/v1/runs/${runId}/model/model.json`],
    ['GET', `/v1/runs/${runId}/logs.csv`],
  ] as const;

  test("another tenant's key gets 404 on every route, exactly like an unknown id", async () => {
    for (const [method, url] of routes()) {
      const res = await api.app.inject({ method, url, headers: auth('globex') });
      assertProblem(res, 404, 'NOT_FOUND');
      const unknown = await api.app.inject({ method, url: url.replace(/[0-9A-Z]{26}/, '0'.repeat(26)), headers: auth('acme') });
      assert.equal(unknown.statusCode, 404, `${method} ${url} unknown id`);
    }
    const list = await api.app.inject({ method: 'GET', url: '/v1/jobs', headers: auth('globex') });
    assert.deepEqual(list.json().items, []);
  });

  test('no key or a wrong key gets 401 on every secured route', async () => {
    for (const [method, url] of [...routes(), ['GET', '/v1/jobs'], ['POST', '/v1/jobs'], ['POST', '/v1/callbacks/simulate']] as const) {
      assertProblem(await api.app.inject({ method, url }), 401, 'UNAUTHENTICATED');
      assertProblem(await api.app.inject({ method, url, headers: { authorization: 'Bearer nope-nope-nope-nope' } }), 401, 'UNAUTHENTICATED');
    }
  });

  // The contract's `Callbacks` oneOf: the object form and the ordered list both pass validation;
  // a list entry with two keys fails it (CallbacksList items: maxProperties 1).
  test('POST /v1/callbacks/simulate takes the ordered form and returns the training log', async () => {
    const sim = (callbacks: unknown) => api.app.inject({
      method: 'POST', url: '/v1/callbacks/simulate', headers: { ...auth('acme'), 'content-type': 'application/json' },
      payload: JSON.stringify({ callbacks, history: [{ loss: 1, val_loss: 1 }, { loss: 1, val_loss: 1 }] }),
    });
    const res = await sim([{ csvLogger: {} }, { reduceLROnPlateau: { patience: 0, verbose: 1 } }]);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().csv.split('\r\n')[0], 'epoch,loss,val_loss');
    assert.equal(res.json().log, '\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.00010000000474974513.\n');
    assertProblem(await sim([{ csvLogger: {}, terminateOnNaN: {} }]), 400, 'JOB_SPEC_INVALID');
  });

  test('cancel: a queued job becomes cancelled at once; cancelling again is a 409', async () => {
    const res = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${jobId}`, headers: auth('acme') });
    assert.equal(res.statusCode, 202);
    assert.equal(res.json().status, 'cancelled');
    assertProblem(await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${jobId}`, headers: auth('acme') }), 409, 'JOB_NOT_CANCELLABLE');
  });
});

describe('listing', () => {
  let api: Api;
  before(async () => {
    api = await startApi('list');
  });
  after(async () => api.close());

  test('cursor pagination walks every job once, newest first; status filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: validJob() });
      ids.push(res.json().jobId);
      await new Promise((r) => setTimeout(r, 2));
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await api.app.inject({ method: 'GET', url: `/v1/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: auth() });
      assert.equal(res.statusCode, 200);
      const page = res.json();
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((j: any) => j.jobId));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse());
    const queued = await api.app.inject({ method: 'GET', url: '/v1/jobs?status=queued&limit=100', headers: auth() });
    assert.equal(queued.json().items.length, 5);
    const done = await api.app.inject({ method: 'GET', url: '/v1/jobs?status=succeeded', headers: auth() });
    assert.deepEqual(done.json().items, []);
    assertProblem(await api.app.inject({ method: 'GET', url: '/v1/jobs?status=bogus', headers: auth() }), 400, 'BAD_REQUEST', '/query/status');
    assertProblem(await api.app.inject({ method: 'GET', url: '/v1/jobs?limt=3', headers: auth() }), 400, 'BAD_REQUEST', '/query/limt');
  });
});

describe('Keras habits at submission', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  before(async () => {
    api = await startApi('keras-habits');
  });
  after(async () => api.close());
  const post = (spec: object) => api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(), 'content-type': 'application/json' }, payload: spec as Record<string, unknown> });
  const withOptimizer = (optimizer: unknown) => ({ ...validJob(), compile: { ...validJob().compile, optimizer } });

  test('"optimizer": "adam" (the string shorthand) and Keras class names are accepted', async () => {
    for (const optimizer of ['adam', 'Adam', 'sgd', 'SGD', 'RMSprop', { name: 'Adam', learningRate: 0.01 }]) {
      const res = await post(withOptimizer(optimizer));
      assert.equal(res.statusCode, 202, `${JSON.stringify(optimizer)}: ${res.body}`);
    }
  });

  test('an unknown optimizer name is a 400 at /compile/optimizer', async () => {
    for (const optimizer of ['adamw', { name: 'adamw' }]) {
      const res = await post(withOptimizer(optimizer));
      assert.equal(res.statusCode, 400, res.body);
      assert.ok(res.json().errors.some((e: { pointer: string }) => e.pointer.startsWith('/compile/optimizer')), res.body);
    }
  });

  test('an alert with neither a url nor a job webhook is a 400 naming the field', async () => {
    const res = await post({ ...validJob(), callbacks: { alerts: [{ when: 'val_loss < 0.5' }] } });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'JOB_SPEC_INVALID');
    assert.deepEqual(res.json().errors.map((e: { pointer: string }) => e.pointer), ['/callbacks/alerts/0/url']);
  });
});
