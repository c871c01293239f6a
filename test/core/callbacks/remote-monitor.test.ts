import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallbackList } from '../../../core/callbacks/callback-list';
import { checkCallbacks } from '../../../core/callbacks/check-spec';
import { pythonJsonDumps, quotePlus, RemoteMonitor, type RemoteMonitorRequest } from '../../../core/callbacks/remote-monitor';
import { simulate } from '../../../core/callbacks/simulate';
import { TextTrainingLog } from '../../../core/callbacks/training-log';
import { checkJobOutboundUrls, NO_OUTBOUND_EXCEPTIONS } from '../../../core/outbound-policy';
import { FakeModel } from './fake-model';

async function run(opts: ConstructorParameters<typeof RemoteMonitor>[0], logs: Record<string, number>) {
  const log = new TextTrainingLog();
  const list = new CallbackList([new RemoteMonitor(opts)], { model: new FakeModel(), emit: () => {}, log });
  await list.onTrainBegin();
  await list.onEpochBegin(0);
  await list.onEpochEnd(0, logs);
  return log.text;
}

// remote_monitor.py on_epoch_end: send = {"epoch": epoch, **logs}; json.dumps(send) uses ", " and
// ": " separators, repr(float), and NaN/Infinity tokens (allow_nan=True).
test('pythonJsonDumps writes what json.dumps writes', () => {
  assert.equal(pythonJsonDumps(3, { loss: 0.5, accuracy: 1, lr: 1e-5, bad: NaN, big: -Infinity }), '{"epoch": 3, "loss": 0.5, "accuracy": 1.0, "lr": 1e-05, "bad": NaN, "big": -Infinity}');
});

// requests.post(url, {field: json.dumps(send)}) form-encodes with urllib's quote_plus.
test('the default request is a form whose field holds the JSON document', async () => {
  const sent: RemoteMonitorRequest[] = [];
  const text = await run({ root: 'https://mon.example.com', headers: { 'X-Team': 'a' }, sender: { send: async (r) => void sent.push(r) } }, { loss: 0.25 });
  assert.equal(text, '');
  assert.deepEqual(sent, [{
    url: 'https://mon.example.com/publish/epoch/end/',
    epoch: 0,
    headers: { 'X-Team': 'a', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'data=' + quotePlus('{"epoch": 0, "loss": 0.25}'),
  }]);
  assert.equal(sent[0].body, 'data=%7B%22epoch%22%3A+0%2C+%22loss%22%3A+0.25%7D');
});

test('sendAsJson posts the document as JSON; an epoch with NaN is not sent and warns as Keras does', async () => {
  const sent: RemoteMonitorRequest[] = [];
  const sender = { send: async (r: RemoteMonitorRequest) => void sent.push(r) };
  await run({ root: 'https://m.example', path: '/e', sendAsJson: true, sender }, { loss: 0.5 });
  assert.deepEqual(sent.map((r) => [r.url, r.headers['Content-Type'], r.body]), [['https://m.example/e', 'application/json', '{"epoch": 0, "loss": 0.5}']]);
  // requests' json= refuses non-finite floats (InvalidJSONError, a RequestException): Keras warns.
  const text = await run({ root: 'https://m.example', sendAsJson: true, sender }, { loss: NaN });
  assert.equal(sent.length, 1);
  assert.equal(text, 'UserWarning: Could not reach RemoteMonitor root server at https://m.example\n');
});

test('a failed request is Keras\'s warning, and training goes on', async () => {
  const text = await run({ root: 'https://down.example', sender: { send: async () => { throw new Error('ECONNREFUSED'); } } }, { loss: 1 });
  assert.equal(text, 'UserWarning: Could not reach RemoteMonitor root server at https://down.example\n');
});

// remote_monitor.py _validate_url_structure: http(s) only; root + path must keep root's host.
test('the URL checks of Keras\'s _validate_url_structure, at submission', () => {
  const ctx = { metrics: ['loss'], epochs: 2 };
  assert.deepEqual(checkCallbacks({ remoteMonitor: { root: 'ftp://m.example' } }, ctx).map((p) => p.pointer), ['/callbacks/remoteMonitor/root']);
  assert.deepEqual(checkCallbacks({ remoteMonitor: { root: 'https://m.example', path: '@evil.example/x' } }, ctx).map((p) => p.pointer), ['/callbacks/remoteMonitor/path']);
  assert.deepEqual(checkCallbacks({ remoteMonitor: { root: 'https://m.example', path: '/x' } }, ctx), []);
});

test('the outbound policy judges root + path: Keras\'s default localhost is refused without an allow-list entry', () => {
  const refused = checkJobOutboundUrls({ callbacks: { remoteMonitor: {} } }, NO_OUTBOUND_EXCEPTIONS);
  assert.deepEqual(refused.map((p) => p.pointer), ['/callbacks/remoteMonitor/root']);
  assert.deepEqual(checkJobOutboundUrls({ callbacks: { remoteMonitor: { root: 'https://mon.example.com' } } }, NO_OUTBOUND_EXCEPTIONS), []);
});

test('the simulator returns the requests it would have sent', async () => {
  const r = await simulate({ callbacks: { remoteMonitor: { root: 'https://m.example', sendAsJson: true } }, history: [{ loss: 1 }, { loss: 0.5 }] });
  assert.deepEqual(r.remoteMonitor.map((q) => q.body), ['{"epoch": 0, "loss": 1.0}', '{"epoch": 1, "loss": 0.5}']);
});
