import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOutboundAllow } from '../../../core/outbound-policy';
import { selectBackend } from '../../../worker/tfjs/backend';
import { remoteMonitorSender } from '../../../worker/webhooks/remote-monitor-sender';
import { trainLocally } from '../../support/run-locally';
import { startScriptedReceiver } from '../../support/scripted-receiver';

// A job's RemoteMonitor posts reach a real receiver through the outbound policy, in Keras's form
// encoding (keras/src/callbacks/remote_monitor.py: requests.post(root + path, {field: json.dumps(send)})).
describe('RemoteMonitor in a real training run', () => {
  let receiver: Awaited<ReturnType<typeof startScriptedReceiver>>;
  before(async () => {
    await selectBackend('cpu');
    receiver = await startScriptedReceiver(() => ({ status: 200 }));
  });
  after(async () => receiver.close());

  const spec = (root: string) => ({
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
    compile: { optimizer: { name: 'adam', learningRate: 0.01 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    fit: { epochs: 3, batchSize: 32, seed: 3 },
    callbacks: { remoteMonitor: { root, path: '/publish/epoch/end/', headers: { 'X-Team': 'vision' } } },
  });

  test('posts one form per epoch with the epoch and every log, when the receiver is allowed', async () => {
    const { allow } = parseOutboundAllow('127.0.0.1');
    const run = await trainLocally(spec(`http://127.0.0.1:${receiver.port}`), { remoteMonitor: remoteMonitorSender(allow) });
    try {
      assert.equal(run.result.status, 'succeeded');
      const posts = await receiver.waitFor(3);
      assert.equal(posts.length, 3);
      posts.forEach((p, epoch) => {
        assert.equal(p.url, '/publish/epoch/end/');
        assert.equal(p.headers['content-type'], 'application/x-www-form-urlencoded');
        assert.equal(p.headers['x-team'], 'vision');
        const form = new URLSearchParams(p.body);
        const doc = JSON.parse(form.get('data')!);
        assert.equal(doc.epoch, epoch);
        for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) assert.equal(typeof doc[key], 'number', key);
      });
    } finally {
      run.cleanup();
    }
  });

  test('a receiver the outbound policy refuses is Keras\'s warning, and training goes on', async () => {
    const before = receiver.received.length;
    // No allow-list entry: 127.0.0.1 is a private address, refused at connect time.
    const run = await trainLocally(spec(`http://127.0.0.1:${receiver.port}`), { remoteMonitor: remoteMonitorSender({ hosts: [], cidrs: [] }) });
    try {
      assert.equal(run.result.status, 'succeeded');
      assert.equal(receiver.received.length, before, 'nothing reached the receiver');
    } finally {
      run.cleanup();
    }
  });
});
