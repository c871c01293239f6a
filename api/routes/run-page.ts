import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { KilnError } from '../../core/errors';

/*
 * The run page (`GET /runs/{runId}`): one static HTML document with inline CSS and JS, no build
 * step and no data of its own. The browser cannot send a Bearer key on navigation, so the page is
 * served to anyone and its script calls the JSON API with `fetch` + `Authorization`. The key comes
 * from the URL fragment (`/runs/run_…#key=<api key>`; a fragment never reaches the server, and the
 * script removes it from the address bar and history at once) or from a form, and is kept in
 * `sessionStorage` (this tab only, gone when it closes). Everything the API returns is inserted
 * with `textContent` / `setAttribute`, never as HTML; the curves SVG is parsed as XML, stripped of
 * scripts and event attributes, and adopted. A Content-Security-Policy allows only this exact
 * script (by hash) and requests to this origin.
 */

const SCRIPT = String.raw`
(function () {
  'use strict';
  var KEY_STORE = 'kiln.apiKey';
  var TERMINAL = { succeeded: true, failed: true, cancelled: true };
  var POLL_MS = 2000;
  var runId = decodeURIComponent(location.pathname.split('/').pop() || '');
  var key = null;
  var state = { run: null, job: null, jobId: null, status: null, epoch: null, epochs: null, stopReason: null, timeline: new Map(), following: false, lastDeliveries: 0 };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { if (attrs[k] !== null && attrs[k] !== undefined) n.setAttribute(k, String(attrs[k])); });
    (children || []).forEach(function (c) { n.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return n;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function fmt(v) {
    if (typeof v !== 'number') return String(v);
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  }
  function bytes(n) {
    if (typeof n !== 'number') return '';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  function readKey() {
    var m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
    if (m) {
      var k = decodeURIComponent(m[1]);
      sessionStorage.setItem(KEY_STORE, k);
      history.replaceState(null, '', location.pathname + location.search);
      return k;
    }
    return sessionStorage.getItem(KEY_STORE);
  }

  function askForKey(message) {
    sessionStorage.removeItem(KEY_STORE);
    key = null;
    $('content').hidden = true;
    $('key-message').textContent = message || '';
    $('key-form').hidden = false;
    $('key-input').focus();
  }

  function showError(message) {
    var e = $('error');
    e.textContent = message;
    e.hidden = !message;
  }

  function Unauthorized() {}

  function api(path, init) {
    init = init || {};
    var headers = Object.assign({ authorization: 'Bearer ' + key }, init.headers || {});
    return fetch(path, Object.assign({}, init, { headers: headers, cache: 'no-store' })).then(function (res) {
      if (res.status === 401) throw new Unauthorized();
      if (!res.ok) {
        return res.json().catch(function () { return {}; }).then(function (p) {
          var err = new Error((p && (p.detail || p.title)) || ('HTTP ' + res.status));
          err.status = res.status;
          err.code = p && p.code;
          throw err;
        });
      }
      return res;
    });
  }
  function json(path) { return api(path).then(function (r) { return r.json(); }); }

  // ---- status -------------------------------------------------------------------------------
  function renderStatus() {
    var s = $('status');
    s.textContent = state.status || 'unknown';
    s.setAttribute('data-status', state.status || '');
    var p = $('progress');
    if (state.epochs) {
      var done = state.epoch === null || state.epoch === undefined ? 0 : state.epoch + 1;
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

  // ---- curves -------------------------------------------------------------------------------
  var curves = { busy: false, again: false, size: '' };
  // The image is drawn at the card's width (the plot gets the room, the text keeps its size) and
  // scales with the card (CSS width 100%) until the next redraw; a resize redraws it to fit.
  function curvesSize() {
    var box = $('curves');
    var cs = getComputedStyle(box);
    var w = Math.floor(box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight));
    if (!(w > 0)) return '';
    w = Math.min(4000, Math.max(320, w));
    return '?width=' + w + '&height=' + Math.min(2000, Math.max(360, Math.round(w * 0.42)));
  }
  function refreshCurves() {
    if (curves.busy) { curves.again = true; return Promise.resolve(); }
    curves.busy = true;
    curves.size = curvesSize();
    return api('/v1/runs/' + encodeURIComponent(runId) + '/curves.svg' + curves.size).then(function (r) { return r.text(); }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      var svg = doc.documentElement;
      if (!svg || svg.nodeName !== 'svg' || doc.getElementsByTagName('parsererror').length) throw new Error('the curves are not an SVG image');
      Array.prototype.slice.call(svg.querySelectorAll('script, foreignObject')).forEach(function (n) { n.remove(); });
      Array.prototype.slice.call(svg.querySelectorAll('*')).concat([svg]).forEach(function (n) {
        Array.prototype.slice.call(n.attributes).forEach(function (a) {
          if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)) n.removeAttribute(a.name);
        });
      });
      var box = $('curves');
      clear(box);
      box.appendChild(document.importNode(svg, true));
    }).catch(onError).then(function () {
      curves.busy = false;
      if (curves.again) { curves.again = false; return refreshCurves(); }
    });
  }

  // ---- callback timeline ---------------------------------------------------------------------
  function describe(e) {
    switch (e.type) {
      case 'checkpoint_saved':
        return 'checkpoint saved to ' + e.path + (e.best ? ' (best ' + e.best.monitor + ' = ' + fmt(e.best.value) + ')' : '') + (e.weightsOnly ? ', weights only' : '');
      case 'learning_rate_changed':
        return 'learning rate ' + fmt(e.from) + ' → ' + fmt(e.to) + (e.by ? ' by ' + e.by : '');
      case 'early_stopping':
        return 'early stopping: no improvement in ' + (e.monitors || []).join(', ') + ' for ' + e.wait + ' epochs' + (e.bestEpoch !== null && e.bestEpoch !== undefined ? '; best epoch ' + e.bestEpoch + ' (' + fmt(e.bestValue) + ')' : '');
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
  function addTimeline(id, e) {
    if (state.timeline.has(id)) return;
    state.timeline.set(id, e);
    var li = el('li', { 'data-type': e.type, 'data-epoch': typeof e.epoch === 'number' ? e.epoch : '', 'data-id': id }, [
      el('span', { class: 'epoch' }, [typeof e.epoch === 'number' ? 'epoch ' + e.epoch : '—']),
      el('span', { class: 'kind kind-' + String(e.type).replace(/[^a-z_]/g, '') }, [String(e.type).replace(/_/g, ' ')]),
      el('span', { class: 'what' }, [describe(e)]),
    ]);
    $('timeline').appendChild(li);
    $('timeline-empty').hidden = true;
  }
  // Ids as the event stream numbers them: <epoch>.<n-th event of that epoch>.
  function addRunEvents(events) {
    var perEpoch = {};
    (events || []).forEach(function (e) {
      var ep = typeof e.epoch === 'number' ? e.epoch : -1;
      var n = perEpoch[ep] || 0;
      perEpoch[ep] = n + 1;
      addTimeline(ep + '.' + n, e);
    });
  }

  // ---- artifacts -----------------------------------------------------------------------------
  function downloadHref(path) { return '/v1/runs/' + encodeURIComponent(runId) + '/artifacts/download?path=' + encodeURIComponent(path); }
  function artifactRow(item) {
    var href = typeof item.href === 'string' && item.href.indexOf('/v1/runs/') === 0 ? item.href : downloadHref(item.path);
    var name = item.path.split('/').pop();
    var a = el('a', { href: href, download: name, 'data-path': item.path, class: 'artifact' }, [item.path]);
    return el('tr', { 'data-kind': item.kind || '' }, [
      el('td', null, [a]),
      el('td', null, [item.kind || '']),
      el('td', { class: 'num' }, [bytes(item.size)]),
      el('td', null, [item.lastModified ? new Date(item.lastModified).toLocaleString() : '']),
    ]);
  }
  function listArtifacts() {
    var items = [];
    function page(cursor, n) {
      var q = '/v1/runs/' + encodeURIComponent(runId) + '/artifacts?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return json(q).then(function (body) {
        items = items.concat(body.items || []);
        return body.nextCursor && n < 20 ? page(body.nextCursor, n + 1) : items;
      });
    }
    return page(null, 0).catch(function (err) {
      if (!(err instanceof Error) || err.status !== 404 || !/no route/.test(err.message)) throw err;
      // An API without the artifacts listing: the run's own list and its fixed downloads.
      return [{ path: 'logs.csv', kind: 'log', href: '/v1/runs/' + encodeURIComponent(runId) + '/logs.csv' },
        { path: 'model.json', kind: 'checkpoint', href: '/v1/runs/' + encodeURIComponent(runId) + '/model/model.json' }]
        .concat(((state.run && state.run.artifacts) || []).map(function (a) { return { path: a.key, kind: a.kind, href: '/v1/runs/' + encodeURIComponent(runId) + '/model/model.json' }; }));
    });
  }
  function refreshArtifacts() {
    return listArtifacts().then(function (items) {
      var body = $('artifacts').tBodies[0];
      clear(body);
      items.forEach(function (it) { body.appendChild(artifactRow(it)); });
      $('artifacts-empty').hidden = items.length > 0;
    }).catch(onError);
  }
  // Links carry the key in a header, so a click fetches the file and hands the browser a blob.
  document.addEventListener('click', function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest('a.artifact') : null;
    if (!a) return;
    ev.preventDefault();
    api(a.getAttribute('href')).then(function (r) { return r.blob(); }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var tmp = el('a', { href: url, download: a.getAttribute('download') || 'download' });
      document.body.appendChild(tmp);
      tmp.click();
      tmp.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    }).catch(onError);
  });

  // ---- webhook deliveries --------------------------------------------------------------------
  function refreshDeliveries() {
    if (!state.jobId) return Promise.resolve();
    state.lastDeliveries = Date.now();
    return json('/v1/jobs/' + encodeURIComponent(state.jobId) + '/deliveries').then(function (body) {
      var tbody = $('deliveries').tBodies[0];
      clear(tbody);
      var items = body.items || [];
      items.forEach(function (d) {
        var attempts = el('ol', { class: 'attempts' }, (d.attemptLog || []).map(function (a) {
          return el('li', { 'data-outcome': a.outcome }, [
            a.outcome + (a.statusCode ? ' (HTTP ' + a.statusCode + ')' : '') + (typeof a.latencyMs === 'number' ? ', ' + a.latencyMs + ' ms' : '') + (a.error ? ': ' + a.error : '') + ' at ' + new Date(a.at).toLocaleTimeString(),
          ]);
        }));
        tbody.appendChild(el('tr', { 'data-state': d.state, 'data-event': d.eventType }, [
          el('td', null, [d.eventType]),
          el('td', null, [el('span', { class: 'pill state-' + String(d.state).replace(/[^a-z_]/g, '') }, [d.state])]),
          el('td', { class: 'num' }, [String(d.attempts)]),
          el('td', { class: 'url' }, [d.url]),
          el('td', null, [attempts]),
        ]));
      });
      $('deliveries-empty').hidden = items.length > 0;
    }).catch(onError);
  }

  // ---- following a running job ---------------------------------------------------------------
  function applyJob(job) {
    state.job = job;
    state.status = job.status;
    state.stopReason = job.stopReason;
    if (job.progress) { state.epoch = job.progress.epoch; state.epochs = job.progress.epochs; }
  }
  function finish() {
    state.following = false;
    renderStatus();
    return Promise.all([
      json('/v1/runs/' + encodeURIComponent(runId)).then(function (run) { state.run = run; addRunEvents(run.events); }).catch(onError),
      refreshCurves(), refreshArtifacts(), refreshDeliveries(),
    ]);
  }
  function onMessage(m) {
    var data;
    try { data = JSON.parse(m.data); } catch (e) { return; }
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
  }
  function stream() {
    return api('/v1/jobs/' + encodeURIComponent(state.jobId) + '/events', { headers: { accept: 'text/event-stream' } }).then(function (res) {
      if (!res.body || !/text\/event-stream/.test(res.headers.get('content-type') || '')) throw new Error('no event stream');
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) return false;
          buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, '\n');
          var i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            var block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            var m = { event: 'message', id: '', data: '' };
            block.split('\n').forEach(function (line) {
              if (!line || line[0] === ':') return;
              var c = line.indexOf(':');
              var field = c < 0 ? line : line.slice(0, c);
              var value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
              if (field === 'event') m.event = value;
              else if (field === 'id') m.id = value;
              else if (field === 'data') m.data += (m.data ? '\n' : '') + value;
            });
            if (m.data && onMessage(m) === 'end') { reader.cancel().catch(function () {}); return true; }
          }
          return pump();
        });
      }
      return pump();
    });
  }
  function poll() {
    var seen = state.epoch;
    function tick() {
      return json('/v1/jobs/' + encodeURIComponent(state.jobId)).then(function (job) {
        applyJob(job);
        renderStatus();
        if (TERMINAL[job.status]) return finish();
        if (job.progress && job.progress.epoch !== seen) {
          seen = job.progress.epoch;
          void refreshCurves();
          void json('/v1/runs/' + encodeURIComponent(runId)).then(function (run) { addRunEvents(run.events); }).catch(function () {});
          if (Date.now() - state.lastDeliveries > 5000) void refreshDeliveries();
        }
        return new Promise(function (r) { setTimeout(r, POLL_MS); }).then(tick);
      }).catch(function (err) {
        onError(err);
        if (!(err instanceof Unauthorized)) return new Promise(function (r) { setTimeout(r, POLL_MS); }).then(tick);
      });
    }
    return tick();
  }
  function follow() {
    state.following = true;
    $('live').setAttribute('data-mode', 'stream');
    renderStatus();
    return stream().then(function (ended) {
      if (ended) return finish();
      throw new Error('the event stream closed early');
    }).catch(function (err) {
      if (err instanceof Unauthorized) return onError(err);
      // No stream (an older API, a proxy that buffers): poll the job instead.
      $('live').setAttribute('data-mode', 'poll');
      return poll();
    });
  }

  function onError(err) {
    if (err instanceof Unauthorized) return askForKey('That API key was not accepted. Enter a key of the tenant that owns this run.');
    showError(err && err.message ? err.message : String(err));
  }

  function load() {
    showError('');
    $('run-id').textContent = runId;
    return json('/v1/runs/' + encodeURIComponent(runId)).then(function (run) {
      state.run = run;
      state.jobId = run.jobId;
      state.status = run.status;
      state.stopReason = run.stopReason;
      state.epochs = run.spec && run.spec.fit ? run.spec.fit.epochs : null;
      state.epoch = run.history && run.history.length ? run.history[run.history.length - 1].epoch : null;
      $('key-form').hidden = true;
      $('content').hidden = false;
      return json('/v1/jobs/' + encodeURIComponent(run.jobId)).then(applyJob, function (err) {
        if (err instanceof Unauthorized) throw err;
        // Finished jobs leave the queue after 30 days; the run manifest stays.
      }).then(function () {
        renderStatus();
        addRunEvents(run.events);
        return Promise.all([refreshCurves(), refreshArtifacts(), refreshDeliveries()]);
      }).then(function () {
        if (!TERMINAL[state.status]) return follow();
      });
    }).catch(onError);
  }

  $('key-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var k = $('key-input').value.trim();
    if (!k) return;
    sessionStorage.setItem(KEY_STORE, k);
    key = k;
    $('key-input').value = '';
    void load();
  });
  $('forget-key').addEventListener('click', function () { askForKey('Key forgotten. Enter a key to view the run again.'); });
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (key && !$('content').hidden && $('curves').firstChild && curvesSize() !== curves.size) void refreshCurves();
    }, 250);
  });

  key = readKey();
  if (!/^run_[0-9A-Za-z]{10,40}$/.test(runId)) showError('This is not a run URL: expected /runs/run_…');
  else if (!key) askForKey('');
  else void load();
})();
`;

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1b; --muted: #666; --line: #ddd; --card: #f7f7f8; --accent: #1f6feb;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --card: #161b22; --accent: #58a6ff;
    --ok: #3fb950; --bad: #f85149; --warn: #d29922; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 1rem 1.25rem 3rem; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.3rem; margin: .2rem 0; } h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
a { color: var(--accent); }
.status-line { display: flex; gap: .8rem; align-items: baseline; flex-wrap: wrap; color: var(--muted); }
.status { font-weight: 600; padding: .1rem .55rem; border-radius: 1rem; border: 1px solid var(--line); color: var(--fg); }
.status[data-status=succeeded] { color: var(--ok); border-color: var(--ok); }
.status[data-status=failed] { color: var(--bad); border-color: var(--bad); }
.status[data-status=running] { color: var(--accent); border-color: var(--accent); }
.status[data-status=cancelled] { color: var(--warn); border-color: var(--warn); }
#live { margin: 0; font-size: .85rem; color: var(--accent); } #live::before { content: "● "; }
#curves { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem; overflow-x: auto; min-height: 3rem; }
#curves svg { width: 100%; height: auto; display: block; }
ol#timeline { list-style: none; padding: 0; margin: 0; border-left: 2px solid var(--line); }
ol#timeline li { display: grid; grid-template-columns: 5.5rem 10rem 1fr; gap: .6rem; padding: .25rem .6rem; }
ol#timeline .epoch { color: var(--muted); font-variant-numeric: tabular-nums; }
ol#timeline .kind { font-weight: 600; }
.kind-early_stopping, .kind-nan_terminated { color: var(--bad); } .kind-checkpoint_saved { color: var(--ok); }
.kind-learning_rate_changed { color: #8250df; } .kind-weights_restored { color: var(--warn); } .kind-alert_fired { color: var(--warn); }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.url { word-break: break-all; } ol.attempts { margin: 0; padding-left: 1.1rem; color: var(--muted); font-size: .85rem; }
.pill { padding: 0 .4rem; border-radius: .6rem; border: 1px solid var(--line); }
.state-delivered { color: var(--ok); } .state-failed { color: var(--bad); }
.empty { color: var(--muted); } #error { color: var(--bad); white-space: pre-wrap; }
form#key-form { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; max-width: 34rem; }
input { font: inherit; padding: .3rem .5rem; width: 100%; margin: .4rem 0; background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; }
button { font: inherit; padding: .3rem .9rem; border-radius: 4px; border: 1px solid var(--line); background: var(--card); color: var(--fg); cursor: pointer; }
.hint { color: var(--muted); font-size: .85rem; } .toolbar { float: right; }
`;

const BODY = `
<header>
  <button type="button" id="forget-key" class="toolbar">Forget key</button>
  <h1>Run <code id="run-id"></code></h1>
  <p class="status-line"><span id="status" class="status" data-status="">loading</span> <span id="progress"></span> <span id="stop-reason"></span></p>
  <p id="live" hidden>live</p>
</header>
<p id="error" role="alert" hidden></p>
<form id="key-form" hidden>
  <label for="key-input">API key</label>
  <input type="password" id="key-input" autocomplete="off" spellcheck="false">
  <button type="submit">Show run</button>
  <p id="key-message" class="hint"></p>
  <p class="hint">The key stays in this tab (sessionStorage) and is sent only to this API, as a Bearer header. You can also open <code>/runs/&lt;runId&gt;#key=&lt;api key&gt;</code>: the part after <code>#</code> never leaves the browser.</p>
</form>
<main id="content" hidden>
  <section><h2>Curves</h2><div id="curves"></div></section>
  <section><h2>Callback decisions</h2><ol id="timeline"></ol><p id="timeline-empty" class="empty">None yet.</p></section>
  <section><h2>Artifacts</h2>
    <table id="artifacts"><thead><tr><th>path</th><th>kind</th><th>size</th><th>stored</th></tr></thead><tbody></tbody></table>
    <p id="artifacts-empty" class="empty" hidden>Nothing stored yet.</p></section>
  <section><h2>Webhook deliveries</h2>
    <table id="deliveries"><thead><tr><th>event</th><th>state</th><th>attempts</th><th>url</th><th>log</th></tr></thead><tbody></tbody></table>
    <p id="deliveries-empty" class="empty" hidden>No webhooks for this job.</p></section>
</main>
`;

/** The page, the same for every run (the script reads the run id from the path). */
export const RUN_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Kiln run</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * Headers for the page: only this script runs (by hash), only this origin is fetched, nothing
 * frames it, and no referrer leaves it.
 */
export const RUN_PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy': [
    "default-src 'none'",
    `script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
};

/**
 * `GET /runs/{runId}`: the run page. Outside `/v1` and the OpenAPI contract (it is a document for
 * people, not an API operation) and unauthenticated, because it carries no data: its script asks
 * the API for everything with the viewer's key.
 */
export function registerRunPage(app: FastifyInstance): void {
  app.get('/runs/:runId', { schema: { hide: true } as object }, async (request, reply) => {
    const { runId } = request.params as { runId: string };
    if (!/^run_[0-9A-Za-z]{10,40}$/.test(runId)) throw new KilnError('NOT_FOUND', `no run page for '${runId}': run ids look like run_01JD4Z6V4Q8W3G5X7Y9Z1A2B3C`);
    return reply.headers(RUN_PAGE_HEADERS).send(RUN_PAGE_HTML);
  });
}
