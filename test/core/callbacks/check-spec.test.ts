import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SchemaCallbacksSpec } from '../../../core/api.gen';
import { checkCallbacks } from '../../../core/callbacks/check-spec';

const WITH_VAL = { metrics: ['loss', 'accuracy', 'val_loss', 'val_accuracy'], epochs: 10 };
const NO_VAL = { metrics: ['loss'], epochs: 10, compiledMetrics: [] };

const REJECTED: Array<{ name: string; spec: unknown; ctx?: typeof WITH_VAL; pointer: string; detail: RegExp }> = [
  { name: 'a typo in a field', spec: { earlyStopping: { paitence: 2 } }, pointer: '/callbacks/earlyStopping/paitence', detail: /unknown field 'paitence'; remove it or use one of: monitor, minDelta, patience/ },
  { name: 'an unknown callback', spec: { progbarLogger: {} }, pointer: '/callbacks/progbarLogger', detail: /unknown field/ },
  { name: 'a tensorBoard option typo', spec: { tensorBoard: { histogram_freq: 1 } }, pointer: '/callbacks/tensorBoard/histogram_freq', detail: /unknown field/ },
  { name: 'a tensorBoard updateFreq of 0', spec: { tensorBoard: { updateFreq: 0 } }, pointer: '/callbacks/tensorBoard/updateFreq', detail: />= 1/ },
  { name: 'a negative patience', spec: { earlyStopping: { patience: -1 } }, pointer: '/callbacks/earlyStopping/patience', detail: />= 0/ },
  { name: 'factor 1', spec: { reduceLROnPlateau: { factor: 1 } }, pointer: '/callbacks/reduceLROnPlateau/factor', detail: /< 1/ },
  { name: 'monitor without validation', spec: { earlyStopping: { monitor: 'val_accuracy' } }, ctx: NO_VAL, pointer: '/callbacks/earlyStopping/monitor', detail: /monitor 'val_accuracy' is not logged by this job: add a validation split or validation data and add 'accuracy' to compile.metrics/ },
  { name: 'default monitor val_loss without validation', spec: { reduceLROnPlateau: {} }, ctx: NO_VAL, pointer: '/callbacks/reduceLROnPlateau/monitor', detail: /add a validation split/ },
  { name: 'metric not compiled', spec: { earlyStopping: { monitor: 'val_f1' } }, pointer: '/callbacks/earlyStopping/monitor', detail: /add 'f1' to compile.metrics/ },
  { name: 'auto mode on an uninferable metric', spec: { earlyStopping: { monitor: 'learning_rate' }, reduceLROnPlateau: {} }, pointer: '/callbacks/earlyStopping/mode', detail: /set mode to 'min' or 'max'/ },
  { name: 'learning_rate without a rate callback', spec: { earlyStopping: { monitor: 'learning_rate', mode: 'min' } }, pointer: '/callbacks/earlyStopping/monitor', detail: /enable reduceLROnPlateau or learningRateScheduler/ },
  { name: 'one of several monitors', spec: { earlyStopping: { monitor: ['val_loss', 'val_auc'] } }, pointer: '/callbacks/earlyStopping/monitor/1', detail: /add 'auc' to compile.metrics/ },
  { name: 'stopWhen with one monitor', spec: { earlyStopping: { stopWhen: 'any' } }, pointer: '/callbacks/earlyStopping/stopWhen', detail: /several monitors/ },
  { name: 'template key not logged', spec: { modelCheckpoint: { filepath: 'm-{val_f1:.2f}.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /field \{val_f1\} is not logged/ },
  { name: 'template int spec on a float', spec: { modelCheckpoint: { filepath: 'm-{val_loss:02d}.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /Unknown format code 'd' for object of type 'float'/ },
  { name: 'template precision on an int', spec: { modelCheckpoint: { filepath: 'm-{epoch:.2d}.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /Precision not allowed/ },
  { name: 'template syntax', spec: { modelCheckpoint: { filepath: 'm-{epoch.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /Single '\{'/ },
  { name: 'template positional field', spec: { modelCheckpoint: { filepath: 'm-{}.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /positional/ },
  { name: '{batch} on epoch saves', spec: { modelCheckpoint: { filepath: 'm-{batch}.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /only filled for batch saves/ },
  { name: 'val metric in a batch-save template', spec: { modelCheckpoint: { filepath: 'm-{val_loss}.keras', saveFreq: 10 } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /not logged in the batch logs/ },
  { name: 'val monitor for best batch saves', spec: { modelCheckpoint: { filepath: 'm.keras', saveFreq: 10, saveBestOnly: true } }, pointer: '/callbacks/modelCheckpoint/monitor', detail: /not in the batch logs/ },
  { name: 'path escaping the run', spec: { modelCheckpoint: { filepath: '../m.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /no '\.\.' segment/ },
  { name: 'absolute path', spec: { modelCheckpoint: { filepath: '/m.keras' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /no leading/ },
  { name: 'the reserved final folder', spec: { modelCheckpoint: { filepath: 'final/{epoch}' } }, pointer: '/callbacks/modelCheckpoint/filepath', detail: /'final' is where Kiln keeps the model as training leaves it/ },
  { name: 'piecewise lengths', spec: { learningRateScheduler: { schedule: { type: 'piecewise', boundaries: [2, 4], values: [1, 0.5] } } }, pointer: '/callbacks/learningRateScheduler/schedule/values', detail: /one more entry than boundaries/ },
  { name: 'piecewise boundaries order', spec: { learningRateScheduler: { schedule: { type: 'piecewise', boundaries: [4, 2], values: [1, 0.5, 0.1] } } }, pointer: '/callbacks/learningRateScheduler/schedule/boundaries/1', detail: /increase strictly/ },
  { name: 'unknown schedule', spec: { learningRateScheduler: { schedule: { type: 'linear' } } }, pointer: '/callbacks/learningRateScheduler/schedule/type', detail: /step, exponential, cosine, piecewise/ },
  { name: 'warm-up as long as training', spec: { learningRateScheduler: { schedule: { type: 'step', stepSize: 1 }, warmup: { epochs: 10 } } }, pointer: '/callbacks/learningRateScheduler/warmup/epochs', detail: /below fit.epochs/ },
  { name: 'scheduler and plateau together', spec: { learningRateScheduler: { schedule: { type: 'step', stepSize: 1 } }, reduceLROnPlateau: {} }, pointer: '/callbacks/reduceLROnPlateau', detail: /overwritten by learningRateScheduler/ },
  { name: 'alert syntax', spec: { alerts: [{ when: 'val_accuracy >> 0.9' }] }, pointer: '/callbacks/alerts/0/when', detail: /expected a metric or a number/ },
  { name: 'alert on an unlogged metric', spec: { alerts: [{ when: 'val_f1 > 0.9' }] }, pointer: '/callbacks/alerts/0/when', detail: /metric 'val_f1' is not logged/ },
  { name: 'alert without when', spec: { alerts: [{ name: 'x' }] }, pointer: '/callbacks/alerts/0/when', detail: /required/ },
  { name: 'separator of two characters', spec: { csvLogger: { separator: ';;' } }, pointer: '/callbacks/csvLogger/separator', detail: /at most 1/ },
];

for (const c of REJECTED) {
  test(`checkCallbacks rejects ${c.name}`, () => {
    const problems = checkCallbacks(c.spec as SchemaCallbacksSpec, c.ctx ?? WITH_VAL);
    const hit = problems.find((p) => p.pointer === c.pointer);
    assert.ok(hit, `expected a problem at ${c.pointer}, got ${JSON.stringify(problems)}`);
    assert.match(hit.detail, c.detail);
  });
}

const ACCEPTED: Array<{ name: string; spec: SchemaCallbacksSpec | undefined; ctx?: typeof WITH_VAL }> = [
  { name: 'no callbacks', spec: undefined },
  { name: 'empty', spec: {} },
  {
    name: 'every callback, well configured',
    spec: {
      earlyStopping: { monitor: ['val_loss', 'val_accuracy'], patience: 3, restoreBestWeights: true, stopWhen: 'any', baseline: null },
      modelCheckpoint: { filepath: 'ckpt/{epoch:03d}-{val_accuracy:.4f}-{learning_rate:.2e}.keras', monitor: 'val_accuracy', saveBestOnly: true, initialValueThreshold: 0.5 },
      reduceLROnPlateau: { monitor: 'val_loss', factor: 0.5, patience: 2, cooldown: 1, minLr: 1e-5 },
      csvLogger: { separator: ';', append: true },
      terminateOnNaN: {},
      alerts: [{ name: 'good', when: 'val_accuracy > 0.92 and (learning_rate < 0.01 or loss < 0.1)', fire: 'always', format: 'slack' }],
    },
  },
  { name: 'batch saves with a training monitor', spec: { modelCheckpoint: { filepath: 'b{epoch}-{batch:04d}-{loss:.3f}.keras', saveFreq: 50, saveBestOnly: true, monitor: 'loss' } } },
  { name: 'unused unknown monitor without saveBestOnly (mode irrelevant)', spec: { modelCheckpoint: { filepath: 'm.keras', monitor: 'val_loss' } }, ctx: NO_VAL },
];

for (const c of ACCEPTED) {
  test(`checkCallbacks accepts ${c.name}`, () => {
    assert.deepEqual(checkCallbacks(c.spec, c.ctx ?? WITH_VAL), []);
  });
}

test('checkCallbacks uses the pointer base it is given', () => {
  const [p] = checkCallbacks({ earlyStopping: { patience: -1 } }, WITH_VAL, '/spec/callbacks');
  assert.equal(p.pointer, '/spec/callbacks/earlyStopping/patience');
});

test('checkCallbacks answers a repeated filepath template the same way for each job, though it parses it once', () => {
  const spec = (filepath: string, saveFreq?: number) => ({ modelCheckpoint: { filepath, ...(saveFreq ? { saveFreq } : {}) } }) as SchemaCallbacksSpec;
  for (let round = 0; round < 3; round++) {
    // Same template, different logs: the metric check follows the job, not the cache.
    assert.deepEqual(checkCallbacks(spec('m-{val_accuracy:.3f}'), WITH_VAL), []);
    assert.match(checkCallbacks(spec('m-{val_accuracy:.3f}'), NO_VAL)[0]?.detail ?? '', /field \{val_accuracy\} is not logged/);
    assert.match(checkCallbacks(spec('m-{val_accuracy:.3f}', 10), WITH_VAL)[0]?.detail ?? '', /not logged in the batch logs/);
    // Same spec, different kinds: 02d fits the int epoch, not the float loss.
    assert.deepEqual(checkCallbacks(spec('m-{epoch:02d}'), WITH_VAL), []);
    assert.match(checkCallbacks(spec('m-{loss:02d}'), WITH_VAL)[0]?.detail ?? '', /Unknown format code 'd' for object of type 'float'/);
    assert.match(checkCallbacks(spec('m-{epoch'), WITH_VAL)[0]?.detail ?? '', /Single '\{'/);
  }
});

// Issue 15: the callback shapes exist once, in openapi/openapi.yaml; core/ checks them with the
// generated copy, which must match the contract.
test('callbacks-schema.gen.ts is the contract\'s current Callbacks schema', () => {
  const r = spawnSync(process.execPath, [join(__dirname, '../../../scripts/gen-callbacks-schema.js'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('prototype names are unknown fields, not Object\'s members', () => {
  const problems = checkCallbacks(JSON.parse('{"constructor": {}, "earlyStopping": {"__proto__": 1, "toString": 2}}'), WITH_VAL);
  assert.deepEqual(problems.map((p) => p.pointer).sort(), ['/callbacks/constructor', '/callbacks/earlyStopping/__proto__', '/callbacks/earlyStopping/toString']);
});
