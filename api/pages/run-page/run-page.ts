/*
 * The run page's script, run in the viewer's browser (api/routes/run-page.ts serves it inline, allowed
 * by its hash). It holds no data: it asks the JSON API for everything with the viewer's key, which
 * comes from the URL fragment (`#key=…`, removed from the address bar at once) or a form, and is kept
 * in sessionStorage (this tab only). Everything the API returns is inserted with `textContent` /
 * `setAttribute`, never as HTML; the curves SVG is parsed as XML, stripped of scripts and event
 * attributes, and adopted.
 *
 * The types below are the fields of the API's responses this page reads (openapi/openapi.yaml has
 * the whole shapes); the page cannot import core/api.gen.ts without compiling it a second time.
 */

interface Problem { detail?: string; title?: string; code?: string }

/** A callback decision as the run manifest and the event stream carry it. */
interface CallbackEvent {
  type: string;
  epoch?: number;
  path?: string;
  best?: { monitor: string; value: number };
  weightsOnly?: boolean;
  from?: number;
  to?: number;
  by?: string;
  monitors?: string[];
  wait?: number;
  bestEpoch?: number | null;
  bestValue?: number;
  fromEpoch?: number;
  rule?: string;
  text?: string;
  when?: string;
  loss?: number;
  batch?: number;
  callback?: string;
  message?: string;
}

interface Run {
  jobId: string;
  status: string;
  stopReason?: string | null;
  spec?: { fit?: { epochs?: number } };
  history?: Array<{ epoch: number }>;
  events?: CallbackEvent[];
  artifacts?: Array<{ key: string; kind: string }>;
}

interface Job {
  status: string;
  stopReason?: string | null;
  progress?: { epoch: number | null; epochs: number };
}

interface ArtifactItem { path: string; kind?: string; size?: number; lastModified?: string; href?: string }

interface Delivery {
  eventType: string;
  state: string;
  attempts: number;
  url: string;
  attemptLog?: Array<{ outcome: string; statusCode?: number | null; latencyMs?: number; error?: string; at: string }>;
}

interface StreamMessage { event: string; id: string; data: string }

const KEY_STORE = 'kiln.apiKey';
const TERMINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);
const POLL_MS = 2000;
const runId = decodeURIComponent(location.pathname.split('/').pop() || '');
const runPath = '/v1/runs/' + encodeURIComponent(runId);
let key: string | null = null;

const state = {
  run: null as Run | null,
  job: null as Job | null,
  jobId: null as string | null,
  status: null as string | null,
  epoch: null as number | null | undefined,
  epochs: null as number | null | undefined,
  stopReason: null as string | null | undefined,
  timeline: new Map<string, CallbackEvent>(),
  following: false,
  lastDeliveries: 0,
};

/** The 401 answer: the key is wrong or gone, so the page asks for another. */
class Unauthorized extends Error {}

/** Any other failed answer, with the problem document's detail as its message. */
class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly code: string | undefined) {
    super(message);
  }
}

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const n = document.getElementById(id);
  if (!n) throw new Error(`the page has no #${id}`);
  return n as T;
}

type Attributes = Record<string, string | number | null | undefined>;

function el(tag: string, attrs: Attributes | null, children: Array<Node | string> = []): HTMLElement {
  const n = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) n.setAttribute(k, String(v));
  for (const c of children) n.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return n;
}

function clear(n: Node): void {
  while (n.firstChild) n.removeChild(n.firstChild);
}

function fmt(v: unknown): string {
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

function bytes(n: unknown): string {
  if (typeof n !== 'number') return '';
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function readKey(): string | null {
  const m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
  if (m) {
    const k = decodeURIComponent(m[1]);
    sessionStorage.setItem(KEY_STORE, k);
    history.replaceState(null, '', location.pathname + location.search);
    return k;
  }
  return sessionStorage.getItem(KEY_STORE);
}

function askForKey(message: string): void {
  sessionStorage.removeItem(KEY_STORE);
  key = null;
  $('content').hidden = true;
  $('key-message').textContent = message;
  $('key-form').hidden = false;
  $('key-input').focus();
}

function showError(message: string): void {
  const e = $('error');
  e.textContent = message;
  e.hidden = !message;
}

async function api(path: string, init: { headers?: Record<string, string> } = {}): Promise<Response> {
  const headers = { authorization: 'Bearer ' + key, ...init.headers };
  const res = await fetch(path, { ...init, headers, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('unauthorized');
  if (!res.ok) {
    const p: Problem = await res.json().catch(() => ({}));
    throw new ApiError((p && (p.detail || p.title)) || 'HTTP ' + res.status, res.status, p && p.code);
  }
  return res;
}

async function json<T>(path: string): Promise<T> {
  return (await api(path)).json();
}

// ---- status ----------------------------------------------------------------------------------
function renderStatus(): void {
  const s = $('status');
  s.textContent = state.status || 'unknown';
  s.setAttribute('data-status', state.status || '');
  const p = $('progress');
  if (state.epochs) {
    const done = state.epoch === null || state.epoch === undefined ? 0 : state.epoch + 1;
    p.textContent = 'epoch ' + done + ' of ' + state.epochs;
    p.setAttribute('data-epochs-done', String(done));
  } else {
    p.textContent = '';
  }
  $('stop-reason').textContent = state.stopReason ? 'stop reason: ' + state.stopReason.replace(/_/g, ' ') : '';
  $('stop-reason').setAttribute('data-stop-reason', state.stopReason || '');
  $('live').hidden = !state.following;
  document.title = 'Kiln ' + runId + ' (' + (state.status || '…') + ')';
}

// ---- curves ----------------------------------------------------------------------------------
const curves = { busy: false, again: false, size: '' };

// The image is drawn at the card's width (the plot gets the room, the text keeps its size) and
// scales with the card (CSS width 100%) until the next redraw; a resize redraws it to fit.
function curvesSize(): string {
  const box = $('curves');
  const cs = getComputedStyle(box);
  let w = Math.floor(box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight));
  if (!(w > 0)) return '';
  w = Math.min(4000, Math.max(320, w));
  return '?width=' + w + '&height=' + Math.min(2000, Math.max(360, Math.round(w * 0.42)));
}

async function refreshCurves(): Promise<void> {
  if (curves.busy) {
    curves.again = true;
    return;
  }
  curves.busy = true;
  curves.size = curvesSize();
  try {
    const text = await (await api(runPath + '/curves.svg' + curves.size)).text();
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (!svg || svg.nodeName !== 'svg' || doc.getElementsByTagName('parsererror').length) throw new Error('the curves are not an SVG image');
    for (const n of Array.from(svg.querySelectorAll('script, foreignObject'))) n.remove();
    for (const n of [...Array.from(svg.querySelectorAll('*')), svg]) {
      for (const a of Array.from(n.attributes)) {
        if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)) n.removeAttribute(a.name);
      }
    }
    const box = $('curves');
    clear(box);
    box.appendChild(document.importNode(svg, true));
  } catch (err) {
    onError(err);
  }
  curves.busy = false;
  if (curves.again) {
    curves.again = false;
    return refreshCurves();
  }
}

// ---- callback timeline -----------------------------------------------------------------------
function describe(e: CallbackEvent): string {
  switch (e.type) {
    case 'checkpoint_saved':
      return 'checkpoint saved to ' + e.path + (e.best ? ' (best ' + e.best.monitor + ' = ' + fmt(e.best.value) + ')' : '') + (e.weightsOnly ? ', weights only' : '');
    case 'learning_rate_changed':
      return 'learning rate ' + fmt(e.from) + ' → ' + fmt(e.to) + (e.by ? ' by ' + e.by : '');
    case 'early_stopping':
      return 'early stopping: no improvement in ' + (e.monitors || []).join(', ') + ' for ' + e.wait + ' epochs' +
        (e.bestEpoch !== null && e.bestEpoch !== undefined ? '; best epoch ' + e.bestEpoch + ' (' + fmt(e.bestValue) + ')' : '');
    case 'weights_restored':
      return 'weights restored from epoch ' + e.fromEpoch;
    case 'alert_fired':
      return 'alert ' + e.rule + ': ' + (e.text || e.when);
    case 'nan_terminated':
      return 'training terminated: loss ' + fmt(e.loss) + ' at batch ' + e.batch;
    case 'callback_failed':
      return (e.callback || 'a callback') + ' failed: ' + e.message;
    default:
      return String(e.type);
  }
}

function addTimeline(id: string, e: CallbackEvent): void {
  if (state.timeline.has(id)) return;
  state.timeline.set(id, e);
  const li = el('li', { 'data-type': e.type, 'data-epoch': typeof e.epoch === 'number' ? e.epoch : '', 'data-id': id }, [
    el('span', { class: 'epoch' }, [typeof e.epoch === 'number' ? 'epoch ' + e.epoch : '—']),
    el('span', { class: 'kind kind-' + String(e.type).replace(/[^a-z_]/g, '') }, [String(e.type).replace(/_/g, ' ')]),
    el('span', { class: 'what' }, [describe(e)]),
  ]);
  $('timeline').appendChild(li);
  $('timeline-empty').hidden = true;
}

// Ids as the event stream numbers them: <epoch>.<n-th event of that epoch>.
function addRunEvents(events: CallbackEvent[] | undefined): void {
  const perEpoch = new Map<number, number>();
  for (const e of events || []) {
    const ep = typeof e.epoch === 'number' ? e.epoch : -1;
    const n = perEpoch.get(ep) || 0;
    perEpoch.set(ep, n + 1);
    addTimeline(ep + '.' + n, e);
  }
}

// ---- artifacts -------------------------------------------------------------------------------
function downloadHref(path: string): string {
  return runPath + '/artifacts/download?path=' + encodeURIComponent(path);
}

function artifactRow(item: ArtifactItem): HTMLElement {
  const href = typeof item.href === 'string' && item.href.indexOf('/v1/runs/') === 0 ? item.href : downloadHref(item.path);
  const name = item.path.split('/').pop();
  const a = el('a', { href, download: name, 'data-path': item.path, class: 'artifact' }, [item.path]);
  return el('tr', { 'data-kind': item.kind || '' }, [
    el('td', null, [a]),
    el('td', null, [item.kind || '']),
    el('td', { class: 'num' }, [bytes(item.size)]),
    el('td', null, [item.lastModified ? new Date(item.lastModified).toLocaleString() : '']),
  ]);
}

async function listArtifacts(): Promise<ArtifactItem[]> {
  try {
    let items: ArtifactItem[] = [];
    let cursor: string | undefined;
    for (let n = 0; ; n++) {
      const body = await json<{ items?: ArtifactItem[]; nextCursor?: string | null }>(runPath + '/artifacts?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      items = items.concat(body.items || []);
      if (!body.nextCursor || n >= 20) return items;
      cursor = body.nextCursor;
    }
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404 || !/no route/.test(err.message)) throw err;
    // An API without the artifacts listing: the run's own list and its fixed downloads.
    return [
      { path: 'logs.csv', kind: 'log', href: runPath + '/logs.csv' },
      { path: 'model.json', kind: 'checkpoint', href: runPath + '/model/model.json' },
      ...((state.run && state.run.artifacts) || []).map((a) => ({ path: a.key, kind: a.kind, href: runPath + '/model/model.json' })),
    ];
  }
}

async function refreshArtifacts(): Promise<void> {
  try {
    const items = await listArtifacts();
    const body = $<HTMLTableElement>('artifacts').tBodies[0];
    clear(body);
    for (const it of items) body.appendChild(artifactRow(it));
    $('artifacts-empty').hidden = items.length > 0;
  } catch (err) {
    onError(err);
  }
}

// Links carry the key in a header, so a click fetches the file and hands the browser a blob.
document.addEventListener('click', (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest('a.artifact') : null;
  if (!a) return;
  ev.preventDefault();
  api(a.getAttribute('href') || '').then((r) => r.blob()).then((blob) => {
    const url = URL.createObjectURL(blob);
    const tmp = el('a', { href: url, download: a.getAttribute('download') || 'download' });
    document.body.appendChild(tmp);
    tmp.click();
    tmp.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }).catch(onError);
});

// ---- webhook deliveries ----------------------------------------------------------------------
async function refreshDeliveries(): Promise<void> {
  if (!state.jobId) return;
  state.lastDeliveries = Date.now();
  try {
    const body = await json<{ items?: Delivery[] }>('/v1/jobs/' + encodeURIComponent(state.jobId) + '/deliveries');
    const tbody = $<HTMLTableElement>('deliveries').tBodies[0];
    clear(tbody);
    const items = body.items || [];
    for (const d of items) {
      const attempts = el('ol', { class: 'attempts' }, (d.attemptLog || []).map((a) => el('li', { 'data-outcome': a.outcome }, [
        a.outcome + (a.statusCode ? ' (HTTP ' + a.statusCode + ')' : '') + (typeof a.latencyMs === 'number' ? ', ' + a.latencyMs + ' ms' : '') +
          (a.error ? ': ' + a.error : '') + ' at ' + new Date(a.at).toLocaleTimeString(),
      ])));
      tbody.appendChild(el('tr', { 'data-state': d.state, 'data-event': d.eventType }, [
        el('td', null, [d.eventType]),
        el('td', null, [el('span', { class: 'pill state-' + String(d.state).replace(/[^a-z_]/g, '') }, [d.state])]),
        el('td', { class: 'num' }, [String(d.attempts)]),
        el('td', { class: 'url' }, [d.url]),
        el('td', null, [attempts]),
      ]));
    }
    $('deliveries-empty').hidden = items.length > 0;
  } catch (err) {
    onError(err);
  }
}

// ---- following a running job -----------------------------------------------------------------
function applyJob(job: Job): void {
  state.job = job;
  state.status = job.status;
  state.stopReason = job.stopReason;
  if (job.progress) {
    state.epoch = job.progress.epoch;
    state.epochs = job.progress.epochs;
  }
}

async function finish(): Promise<void> {
  state.following = false;
  renderStatus();
  const manifest = json<Run>(runPath).then((run) => {
    state.run = run;
    addRunEvents(run.events);
  }).catch(onError);
  await Promise.all([manifest, refreshCurves(), refreshArtifacts(), refreshDeliveries()]);
}

function onMessage(m: StreamMessage): 'end' | undefined {
  let data;
  try {
    data = JSON.parse(m.data);
  } catch {
    return undefined;
  }
  if (m.event === 'status') {
    state.status = data.status;
    renderStatus();
    void refreshDeliveries();
  } else if (m.event === 'epoch') {
    state.epoch = data.epoch;
    state.epochs = data.epochs;
    renderStatus();
    void refreshCurves();
    if (Date.now() - state.lastDeliveries > 5000) void refreshDeliveries();
  } else if (m.event === 'callback') {
    addTimeline(m.id, data);
  } else if (m.event === 'end') {
    state.status = data.status;
    state.stopReason = data.stopReason;
    return 'end';
  }
  return undefined;
}

/** One server-sent event block (`event:`, `id:`, `data:` lines; `:` comments skipped). */
function parseEventBlock(block: string): StreamMessage {
  const m: StreamMessage = { event: 'message', id: '', data: '' };
  for (const line of block.split('\n')) {
    if (!line || line[0] === ':') continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
    if (field === 'event') m.event = value;
    else if (field === 'id') m.id = value;
    else if (field === 'data') m.data += (m.data ? '\n' : '') + value;
  }
  return m;
}

/** Follows the job's event stream; true once it said `end`, false when it closed before. */
async function stream(jobId: string): Promise<boolean> {
  const res = await api('/v1/jobs/' + encodeURIComponent(jobId) + '/events', { headers: { accept: 'text/event-stream' } });
  if (!res.body || !/text\/event-stream/.test(res.headers.get('content-type') || '')) throw new Error('no event stream');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const r = await reader.read();
    if (r.done) return false;
    buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, '\n');
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const m = parseEventBlock(buf.slice(0, i));
      buf = buf.slice(i + 2);
      if (m.data && onMessage(m) === 'end') {
        reader.cancel().catch(() => {});
        return true;
      }
    }
  }
}

async function poll(jobId: string): Promise<void> {
  let seen = state.epoch;
  for (;;) {
    try {
      const job = await json<Job>('/v1/jobs/' + encodeURIComponent(jobId));
      applyJob(job);
      renderStatus();
      if (TERMINAL.has(job.status)) return await finish();
      if (job.progress && job.progress.epoch !== seen) {
        seen = job.progress.epoch;
        void refreshCurves();
        void json<Run>(runPath).then((run) => addRunEvents(run.events)).catch(() => {});
        if (Date.now() - state.lastDeliveries > 5000) void refreshDeliveries();
      }
    } catch (err) {
      onError(err);
      if (err instanceof Unauthorized) return;
    }
    await sleep(POLL_MS);
  }
}

async function follow(jobId: string): Promise<void> {
  state.following = true;
  $('live').setAttribute('data-mode', 'stream');
  renderStatus();
  try {
    if (!(await stream(jobId))) throw new Error('the event stream closed early');
    await finish();
  } catch (err) {
    if (err instanceof Unauthorized) return onError(err);
    // No stream (an older API, a proxy that buffers): poll the job instead.
    $('live').setAttribute('data-mode', 'poll');
    await poll(jobId);
  }
}

function onError(err: unknown): void {
  if (err instanceof Unauthorized) return askForKey('That API key was not accepted. Enter a key of the tenant that owns this run.');
  showError(err instanceof Error && err.message ? err.message : String(err));
}

async function load(): Promise<void> {
  showError('');
  $('run-id').textContent = runId;
  try {
    const run = await json<Run>(runPath);
    state.run = run;
    state.jobId = run.jobId;
    state.status = run.status;
    state.stopReason = run.stopReason;
    state.epochs = run.spec && run.spec.fit ? run.spec.fit.epochs : null;
    state.epoch = run.history && run.history.length ? run.history[run.history.length - 1].epoch : null;
    $('key-form').hidden = true;
    $('content').hidden = false;
    try {
      applyJob(await json<Job>('/v1/jobs/' + encodeURIComponent(run.jobId)));
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
      // Finished jobs leave the queue after 30 days; the run manifest stays.
    }
    renderStatus();
    addRunEvents(run.events);
    await Promise.all([refreshCurves(), refreshArtifacts(), refreshDeliveries()]);
    if (!TERMINAL.has(state.status || '')) await follow(run.jobId);
  } catch (err) {
    onError(err);
  }
}

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('key-input');
  const k = input.value.trim();
  if (!k) return;
  sessionStorage.setItem(KEY_STORE, k);
  key = k;
  input.value = '';
  void load();
});
$('forget-key').addEventListener('click', () => askForKey('Key forgotten. Enter a key to view the run again.'));
let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (key && !$('content').hidden && $('curves').firstChild && curvesSize() !== curves.size) void refreshCurves();
  }, 250);
});

key = readKey();
if (!/^run_[0-9A-Za-z]{10,40}$/.test(runId)) showError('This is not a run URL: expected /runs/run_…');
else if (!key) askForKey('');
else void load();
