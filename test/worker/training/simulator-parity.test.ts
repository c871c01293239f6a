import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../../core/callbacks/simulate';
import { selectBackend } from '../../../worker/tfjs/backend';
import { trainLocally } from '../../support/run-locally';

before(async () => {
  await selectBackend('cpu');
});

test('the simulator and the worker make the same decisions on the same metric history', async () => {
  const callbacks = {
    earlyStopping: { monitor: 'val_loss', patience: 3, restoreBestWeights: true },
    reduceLROnPlateau: { monitor: 'val_loss', patience: 1, factor: 0.5, minDelta: 0.001 },
    modelCheckpoint: { filepath: 'e{epoch:02d}-{val_loss:.3f}', monitor: 'val_accuracy', saveBestOnly: true },
    csvLogger: {},
    alerts: [{ name: 'good', when: 'val_accuracy >= 0.9', fire: 'once' }],
  };
  const spec = {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.2 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.3, standardize: true },
    fit: { epochs: 40, batchSize: 8, seed: 21 },
    callbacks,
  };
  const { run, store, runId, cleanup } = await trainLocally(spec);
  try {
    // Replay what the worker measured (minus what callbacks add to the logs) through the simulator.
    const history = run.history.map((h: any) => {
      const { learning_rate: _lr, ...measured } = h.logs;
      return measured;
    });
    const sim = await simulate({ callbacks, compile: { metrics: ['accuracy'], optimizer: { learningRate: 0.2 } }, epochs: history.length, history } as any);
    assert.ok(run.events.some((e: any) => e.type === 'learning_rate_changed') && sim.checkpoints.length > 0, 'the run exercised rate cuts and checkpoints');
    assert.deepEqual(sim.epochsRun, run.history.map((h: any) => h.epoch), 'the same epochs ran');
    assert.deepEqual(sim.learningRates, run.history.map((h: any) => h.logs.learning_rate), 'the same rate in every epoch');
    const workerCheckpoints = run.events.filter((e: any) => e.type === 'checkpoint_saved' && e.path !== 'best').map((e: any) => ({ epoch: e.epoch, path: e.path }));
    assert.deepEqual(sim.checkpoints, workerCheckpoints, 'the same checkpoints, by the same names');
    const stop = run.events.find((e: any) => e.type === 'early_stopping');
    assert.equal(sim.stoppedBy, stop ? 'EarlyStopping' : null);
    assert.equal(sim.stoppedEpoch, stop ? stop.epoch : null);
    const restored = run.events.find((e: any) => e.type === 'weights_restored');
    assert.equal(sim.earlyStopping?.restoredWeightsFromEpoch ?? null, restored?.fromEpoch ?? null);
    assert.deepEqual(sim.alerts, run.events.filter((e: any) => e.type === 'alert_fired').map((e: any) => ({ epoch: e.epoch, rule: e.rule })));
    const csv = (await store.get(`acme/runs/${runId}/logs/training_log.csv`))!.toString('utf8');
    assert.equal(sim.csv, csv, 'the same CSV, byte for byte');
  } finally {
    cleanup();
  }
});
