import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SchemaCallbacksSpec, SchemaSimulateRequest } from '../../../core/api.gen';
import { buildCallbacks } from '../../../core/callbacks/from-spec';
import type { Logs } from '../../../core/callbacks/model-handle';
import { simulate } from '../../../core/callbacks/simulate';
import { isKilnError } from '../../../core/errors';
import { FakeModel } from './fake-model';

const PLATEAU: SchemaSimulateRequest = {
  epochs: 6,
  compile: { metrics: ['accuracy'], optimizer: { learningRate: 0.01 } },
  callbacks: { earlyStopping: { monitor: 'val_loss', patience: 2, restoreBestWeights: true } },
  history: [
    { loss: 1.0, val_loss: 0.9 },
    { loss: 0.8, val_loss: 0.7 },
    { loss: 0.7, val_loss: 0.72 },
    { loss: 0.6, val_loss: 0.75 },
    { loss: 0.5, val_loss: 0.8 },
    { loss: 0.4, val_loss: 0.9 },
  ],
};

test('the contract example: stops at epoch 3, restores epoch 1', async () => {
  const r = await simulate(PLATEAU);
  assert.deepEqual(r.epochsRun, [0, 1, 2, 3]);
  assert.equal(r.lastEpoch, 3);
  assert.equal(r.stoppedBy, 'EarlyStopping');
  assert.equal(r.stoppedEpoch, 3);
  assert.deepEqual(r.earlyStopping, { bestEpoch: 1, bestValue: 0.7, wait: 2, restoredWeightsFromEpoch: 1 });
  assert.deepEqual(r.learningRates, Array(4).fill(Math.fround(0.01)));
  assert.equal(r.csv, '');
  assert.deepEqual(r.epochs[3].events.map((e) => (e as unknown as { type: string }).type), ['early_stopping', 'weights_restored']);
});

test('historyCsv replays like history, and the CSV it writes reads back the same', async () => {
  const first = await simulate({ ...PLATEAU, callbacks: { ...PLATEAU.callbacks, csvLogger: {} } });
  assert.equal(first.csv, 'epoch,loss,val_loss\r\n0,1.0,0.9\r\n1,0.8,0.7\r\n2,0.7,0.72\r\n3,0.6,0.75\r\n');
  const full = await simulate({ callbacks: { csvLogger: {} }, history: PLATEAU.history });
  const again = await simulate({ callbacks: { ...PLATEAU.callbacks, csvLogger: {} }, compile: PLATEAU.compile, historyCsv: full.csv });
  assert.deepEqual(again, first);
});

test('NaN and Infinity arrive as strings; TerminateOnNaN stops at that epoch and the CSV shows nan', async () => {
  const r = await simulate({
    callbacks: { terminateOnNaN: {}, csvLogger: {} },
    history: [{ loss: 1 }, { loss: 'Infinity' }, { loss: 'NaN' }],
  });
  assert.equal(r.stoppedBy, 'TerminateOnNaN');
  assert.equal(r.stoppedEpoch, 1);
  assert.equal(r.csv, 'epoch,loss,val_loss\r\n0,1.0,NA\r\n1,inf,NA\r\n');
  assert.deepEqual(r.epochs[1].logs, { loss: 'Infinity' });
  assert.deepEqual(r.epochs[1].events, [{ type: 'nan_terminated', epoch: 1, batch: 0, loss: 'Infinity' }]);
});

test('reduceLROnPlateau and checkpoints: rates per epoch, formatted paths, alerts', async () => {
  const r = await simulate({
    compile: { metrics: ['accuracy'], optimizer: { learningRate: 0.1 } },
    callbacks: {
      reduceLROnPlateau: { monitor: 'val_accuracy', patience: 1, factor: 0.5 },
      modelCheckpoint: { filepath: 'best-{epoch:02d}-{val_accuracy:.3f}.keras', monitor: 'val_accuracy', saveBestOnly: true },
      alerts: [{ name: 'hi', when: 'val_accuracy >= 0.8' }],
    },
    history: [{ val_accuracy: 0.5 }, { val_accuracy: 0.8 }, { val_accuracy: 0.8 }, { val_accuracy: 0.85 }],
  });
  const f32 = Math.fround;
  assert.deepEqual(r.learningRates, [f32(0.1), f32(0.1), f32(0.1), f32(f32(0.1) * 0.5)]);
  assert.deepEqual(r.checkpoints, [{ epoch: 0, path: 'best-01-0.500.keras' }, { epoch: 1, path: 'best-02-0.800.keras' }, { epoch: 3, path: 'best-04-0.850.keras' }]);
  assert.deepEqual(r.alerts, [{ epoch: 1, rule: 'hi' }]);
  assert.equal(r.stoppedBy, null);
  assert.equal(r.earlyStopping, null);
});

test('the learning rate defaults to the history\'s own learning_rate column', async () => {
  const r = await simulate({ callbacks: {}, history: [{ loss: 1, learning_rate: 0.05 }] });
  assert.deepEqual(r.learningRates, [Math.fround(0.05)]);
});

test('simulate and a hand-driven fit over buildCallbacks make the same decisions', async () => {
  const callbacks: SchemaCallbacksSpec = {
    earlyStopping: { monitor: 'val_loss', patience: 3, restoreBestWeights: true, minDelta: 0.01 },
    reduceLROnPlateau: { monitor: 'val_loss', patience: 1, factor: 0.5, cooldown: 1 },
    modelCheckpoint: { filepath: 'm{epoch}.keras', saveBestOnly: true },
    csvLogger: {},
  };
  const history: Logs[] = [1, 0.8, 0.79, 0.795, 0.7, 0.71, 0.705, 0.702, 0.701, 0.7].map((v, i) => ({ loss: 1 - i / 20, val_loss: v }));
  const sim = await simulate({ callbacks, compile: { optimizer: { learningRate: 0.02 } }, history });

  const model = new FakeModel(Math.fround(0.02));
  let csv = '';
  const list = buildCallbacks(callbacks, { model, compiledMetrics: [], initialLearningRate: 0.02, epochs: history.length, csvSink: (t) => void (csv = t), emit: () => {} });
  const rates: number[] = [];
  await list.onTrainBegin();
  let epoch = 0;
  for (; epoch < history.length; epoch++) {
    model.weights = epoch;
    await list.onEpochBegin(epoch);
    rates.push(model.getLearningRate());
    await list.onBatchEnd(0, { loss: history[epoch].loss });
    await list.onEpochEnd(epoch, { ...history[epoch] });
    if (model.stopTraining) break;
  }
  await list.onTrainEnd();

  assert.notEqual(sim.stoppedEpoch, null, 'the scenario stops early, so the comparison means something');
  assert.ok(sim.learningRates.some((r) => r !== sim.learningRates[0]), 'and cuts the rate');
  assert.equal(sim.stoppedEpoch, list.stoppedEpoch);
  assert.equal(sim.stoppedBy, list.stoppedBy);
  assert.deepEqual(sim.learningRates, rates);
  assert.deepEqual(sim.checkpoints, model.saves.map((s) => ({ epoch: s.epoch, path: s.path })));
  assert.equal(sim.earlyStopping?.restoredWeightsFromEpoch, model.weights);
  assert.equal(sim.csv, csv);
});

const BAD: Array<{ name: string; body: unknown; pointer: string; code: string }> = [
  { name: 'an unknown top-level field', body: { callbacks: {}, history: [{ loss: 1 }], histroy: [] }, pointer: '/histroy', code: 'BAD_REQUEST' },
  { name: 'no history', body: { callbacks: {} }, pointer: '/history', code: 'BAD_REQUEST' },
  { name: 'a non-numeric value', body: { callbacks: {}, history: [{ loss: 1 }, { loss: 'high' }] }, pointer: '/history/1/loss', code: 'BAD_REQUEST' },
  { name: 'more epochs than history', body: { callbacks: {}, epochs: 3, history: [{ loss: 1 }] }, pointer: '/epochs', code: 'BAD_REQUEST' },
  { name: 'a CSV without the epoch header', body: { callbacks: {}, historyCsv: 'loss\r\n1\r\n' }, pointer: '/historyCsv', code: 'BAD_REQUEST' },
  { name: 'a CSV of two appended runs', body: { callbacks: {}, historyCsv: 'epoch,loss\r\n0,1\r\n1,0.5\r\n0,1\r\n' }, pointer: '/historyCsv', code: 'BAD_REQUEST' },
  { name: 'a monitor the history lacks', body: { callbacks: { earlyStopping: { monitor: 'val_accuracy' } }, history: [{ loss: 1, val_loss: 1 }] }, pointer: '/callbacks/earlyStopping/monitor', code: 'JOB_SPEC_INVALID' },
  { name: 'a template that cannot format at some epoch', body: { callbacks: { modelCheckpoint: { filepath: '{val_loss:.2f}.keras' } }, history: [{ val_loss: 1 }, { loss: 1 }] }, pointer: '/callbacks/modelCheckpoint/filepath', code: 'BAD_REQUEST' },
];

for (const c of BAD) {
  test(`simulate rejects ${c.name} with a pointer`, async () => {
    await assert.rejects(simulate(c.body as SchemaSimulateRequest), (e) => {
      assert.ok(isKilnError(e));
      assert.equal(e.code, c.code);
      assert.equal(e.status, 400);
      assert.ok(e.errors.some((p) => p.pointer === c.pointer), JSON.stringify(e.errors));
      return true;
    });
  });
}

// Issue 17's two replays, pinned to Keras 3.11+ monitor_callback.py (`_is_improvement` returns True
// when there is no reference yet; `_set_monitor_op` no longer starts the best at ±inf).
test('issue 17: ReduceLROnPlateau on [NaN, 0.5, 0.4, 0.3] gives rates [1, 1, 0.5, 0.25]', async () => {
  const r = await simulate({
    callbacks: { reduceLROnPlateau: { patience: 1, factor: 0.5 } },
    compile: { optimizer: { learningRate: 1 } },
    history: [{ loss: 1, val_loss: 'NaN' }, { loss: 1, val_loss: 0.5 }, { loss: 1, val_loss: 0.4 }, { loss: 1, val_loss: 0.3 }],
  });
  assert.deepEqual(r.learningRates, [1, 1, 0.5, 0.25]);
});

test('issue 17: ModelCheckpoint(saveBestOnly) on [NaN, 0.5, 0.4] saves at epoch 0 only', async () => {
  const r = await simulate({
    callbacks: { modelCheckpoint: { filepath: 'best', saveBestOnly: true } },
    history: [{ loss: 1, val_loss: 'NaN' }, { loss: 1, val_loss: 0.5 }, { loss: 1, val_loss: 0.4 }],
  });
  assert.deepEqual(r.checkpoints, [{ epoch: 0, path: 'best' }]);
});

// Keras's fit loop (keras/src/backend/tensorflow/trainer.py `fit`): `for epoch in
// range(initial_epoch, epochs)`, the hooks get the absolute 0-based epoch.
test('initialEpoch: history[i] is epoch initialEpoch + i; templates and events use the absolute epoch', async () => {
  const r = await simulate({
    callbacks: { modelCheckpoint: { filepath: 'e{epoch:02d}' }, csvLogger: {} },
    initialEpoch: 5,
    history: [{ loss: 0.5 }, { loss: 0.4 }],
  });
  assert.deepEqual(r.epochsRun, [5, 6]);
  assert.deepEqual(r.checkpoints, [{ epoch: 5, path: 'e06' }, { epoch: 6, path: 'e07' }]);
  assert.equal(r.csv, 'epoch,loss,val_loss\r\n5,0.5,NA\r\n6,0.4,NA\r\n');
});

test('initialEpoch: epochs beyond initialEpoch + the history is refused with a pointer', async () => {
  await assert.rejects(simulate({ callbacks: {}, initialEpoch: 2, epochs: 5, history: [{ loss: 1 }] }), (e: any) => e.errors[0]?.pointer === '/epochs');
});

// terminate_on_nan.py checks every batch (`on_batch_end`); the fit loop breaks out of the batch
// loop on `stop_training` and still calls `on_epoch_end` for that epoch.
test('batchLogs: TerminateOnNaN stops at the NaN batch, the rest of the epoch is skipped, the epoch still ends', async () => {
  const r = await simulate({
    callbacks: { terminateOnNaN: {}, modelCheckpoint: { filepath: 'b{epoch}-{batch}', saveFreq: 1 } },
    history: [{ loss: 1 }, { loss: 2 }],
    batchLogs: [[{ loss: 1 }, { loss: 1 }], [{ loss: 1 }, { loss: 'NaN' }, { loss: 1 }]],
  });
  assert.equal(r.stoppedBy, 'TerminateOnNaN');
  assert.deepEqual(r.epochsRun, [0, 1]);
  // saveFreq 1 saves after each batch that ran: 2 in epoch 0, 2 in epoch 1 (the third never ran).
  assert.deepEqual(r.checkpoints.map((c) => c.path), ['b1-1', 'b1-2', 'b2-1', 'b2-2']);
  assert.equal(r.log, 'Batch 1: Invalid loss, terminating training\n');
});

// raise_error=True: RuntimeError from on_batch_end, so neither on_epoch_end nor on_train_end runs.
test('batchLogs: TerminateOnNaN raiseError ends the replay at once with Keras\'s message', async () => {
  const r = await simulate({
    callbacks: { terminateOnNaN: { raiseError: true }, csvLogger: {} },
    history: [{ loss: 1 }, { loss: 2 }],
    batchLogs: [[{ loss: 1 }], [{ loss: 'Infinity' }]],
  });
  assert.deepEqual(r.raised, { callback: 'TerminateOnNaN', epoch: 1, batch: 0, message: 'NaN or Inf loss encountered at batch 0. Loss value: inf. Terminating training immediately.' });
  assert.deepEqual(r.epochsRun, [0]);
  assert.equal(r.csv, 'epoch,loss,val_loss\r\n0,1.0,NA\r\n');
});

// Keras's CallbackList runs callbacks in list order; CSVLogger fixes its columns from the first
// epoch's logs (csv_logger.py `self.keys = sorted(logs.keys())`), so one listed before
// ReduceLROnPlateau never sees `learning_rate`.
test('ordered form: a CSVLogger listed before ReduceLROnPlateau has no learning_rate column', async () => {
  const history = [{ loss: 1, val_loss: 1 }, { loss: 1, val_loss: 1 }];
  const before = await simulate({ callbacks: [{ csvLogger: {} }, { reduceLROnPlateau: { patience: 0 } }], history });
  assert.equal(before.csv.split('\r\n')[0], 'epoch,loss,val_loss');
  const after = await simulate({ callbacks: [{ reduceLROnPlateau: { patience: 0 } }, { csvLogger: {} }], history });
  assert.equal(after.csv.split('\r\n')[0], 'epoch,learning_rate,loss,val_loss');
  // The object form keeps the fixed order: the rate setters first.
  const object = await simulate({ callbacks: { csvLogger: {}, reduceLROnPlateau: { patience: 0 } }, history });
  assert.equal(object.csv, after.csv);
});

test('ordered form: an entry with two callbacks, or a repeated callback, is refused with a pointer', async () => {
  for (const [callbacks, ptr] of [
    [[{ csvLogger: {}, terminateOnNaN: {} }], '/callbacks/0'],
    [[{ csvLogger: {} }, { csvLogger: {} }], '/callbacks/1/csvLogger'],
    [[{ earlyStopping: { paitence: 1 } }], '/callbacks/0/earlyStopping/paitence'],
  ] as const) {
    await assert.rejects(simulate({ callbacks: callbacks as never, history: [{ loss: 1, val_loss: 1 }] }), (e: any) => {
      assert.ok(e.errors.some((p: any) => p.pointer === ptr), JSON.stringify(e.errors));
      return true;
    });
  }
});

// monitor_callback.py __init__: an unknown mode warns and falls back to auto; `abs(min_delta)`.
test('mode "MAX" falls back to auto with Keras\'s warning at the head of the log', async () => {
  const r = await simulate({
    callbacks: { earlyStopping: { monitor: 'val_loss', mode: 'MAX', minDelta: -0.5, patience: 0, verbose: 1 } },
    history: [{ loss: 1, val_loss: 1 }, { loss: 1, val_loss: 0.6 }, { loss: 1, val_loss: 0.2 }],
  });
  // auto on val_loss is min; |minDelta| = 0.5: 0.6 does not improve on 1 by 0.5, so it stops at epoch 1.
  assert.equal(r.stoppedEpoch, 1);
  assert.equal(r.log, "UserWarning: EarlyStopping mode 'MAX' is unknown, fallback to auto mode.\nEpoch 2: early stopping\n");
});

// keras/src/metrics: BinaryCrossentropy._direction = "down", R2Score._direction = "up".
test('auto resolves every metric with a Keras _direction (binary_crossentropy down, r2_score up)', async () => {
  const down = await simulate({ callbacks: { earlyStopping: { monitor: 'val_binary_crossentropy', patience: 0 } }, history: [{ loss: 1, val_binary_crossentropy: 0.5 }, { loss: 1, val_binary_crossentropy: 0.6 }, { loss: 1, val_binary_crossentropy: 0.4 }] });
  assert.equal(down.stoppedEpoch, 1);
  const up = await simulate({ callbacks: { earlyStopping: { monitor: 'val_r2_score', patience: 0 } }, history: [{ loss: 1, val_r2_score: 0.5 }, { loss: 1, val_r2_score: 0.6 }, { loss: 1, val_r2_score: 0.4 }] });
  assert.equal(up.stoppedEpoch, 2);
  // KLDivergence sets no _direction: Keras raises, Kiln refuses at submission.
  await assert.rejects(simulate({ callbacks: { earlyStopping: { monitor: 'val_kl_divergence' } }, compile: { metrics: ['kl_divergence'] }, history: [{ loss: 1, val_kl_divergence: 1 }] }), /mode 'auto' cannot tell/);
});

test('ReduceLROnPlateau factor 0 is accepted: the first cut goes to minLr (reduce_lr_on_plateau.py refuses only factor >= 1.0)', async () => {
  const r = await simulate({
    callbacks: { reduceLROnPlateau: { factor: 0, patience: 0, minLr: 0.001, verbose: 1 } },
    compile: { optimizer: { learningRate: 0.1 } },
    history: [{ loss: 1, val_loss: 1 }, { loss: 1, val_loss: 1 }, { loss: 1, val_loss: 1 }],
  });
  assert.deepEqual(r.learningRates, [Math.fround(0.1), Math.fround(0.1), Math.fround(0.001)]);
  assert.equal(r.log, '\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.001.\n');
});
