import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../../../core/errors';
import {
  TensorBoardLogger,
  type TensorBoardLoggerOptions,
  type TensorBoardLoggerState,
  type WeightValues,
} from '../../../worker/tensorboard/tensorboard-logger';
import { readEvents, summaryValues, type ReadEvent } from './tfevents-reader';

/** Collects what the logger hands its sink, per file, in call order. */
class FakeStore {
  readonly files = new Map<string, Buffer[]>();
  readonly calls: string[] = [];
  sink = (path: string, bytes: Buffer): void => {
    this.calls.push(path);
    const chunks = this.files.get(path) ?? [];
    chunks.push(bytes);
    this.files.set(path, chunks);
  };
  paths(dir: string): string[] {
    return [...this.files.keys()].filter((p) => p.startsWith(`${dir}/`)).sort();
  }
  /** Every event of a directory, reading its files in name order as TensorBoard does. */
  events(dir: string): ReadEvent[] {
    return this.paths(dir).flatMap((p) => readEvents(Buffer.concat(this.files.get(p)!)));
  }
  scalars(dir: string, tag: string): Array<[number, number]> {
    return summaryValues(this.events(dir))
      .filter((v) => v.tag === tag)
      .map((v) => [v.step, v.simpleValue!]);
  }
}

/** A clock that advances one second per reading, so file names from different runs differ. */
function ticking(startMs = 1_700_000_000_000): () => number {
  let t = startMs;
  return () => (t += 1000);
}

/** A tiny run's history: what the training loop would pass to the hooks. */
const history = [
  { loss: 1.2, accuracy: 0.31, val_loss: 1.3, val_accuracy: 0.25, lr: 0.01 },
  { loss: 0.9, accuracy: 0.52, val_loss: 1.0, val_accuracy: 0.5, lr: 0.01 },
  { loss: 0.7, accuracy: 0.66, val_loss: 0.85, val_accuracy: 0.6, lr: 0.005 },
  { loss: 0.61, accuracy: 0.7, val_loss: 0.8, val_accuracy: 0.62, lr: 0.005 },
  { loss: 0.55, accuracy: 0.74, val_loss: 0.79, val_accuracy: 0.65, lr: 0.0025 },
];
const BATCHES_PER_EPOCH = 4;

function weightsAt(epoch: number): WeightValues[] {
  return [
    { name: 'dense_Dense1/kernel', values: Float32Array.from({ length: 12 }, (_, i) => (i - 6) * 0.1 * (epoch + 1)) },
    { name: 'dense_Dense1/bias', values: Float32Array.from([0, epoch * 0.01, -0.5]) },
  ];
}

function runEpochs(logger: TensorBoardLogger, from: number, to: number, epochRef: { epoch: number }): void {
  for (let epoch = from; epoch < to; epoch++) {
    epochRef.epoch = epoch;
    for (let b = 0; b < BATCHES_PER_EPOCH; b++) {
      const globalStep = epoch * BATCHES_PER_EPOCH + b + 1;
      logger.onBatchEnd(globalStep, { batch: b, size: 8, loss: 2 - globalStep / 10, accuracy: globalStep / 100 });
    }
    const { lr, ...logs } = history[epoch]!;
    logger.onEpochEnd(epoch, logs, lr);
  }
}

function newLogger(store: FakeStore, options: Partial<TensorBoardLoggerOptions>, epochRef: { epoch: number }, now = ticking()) {
  return new TensorBoardLogger(
    { histogramFreq: 2, updateFreq: 3, sink: store.sink, hostname: 'worker-7', now, ...options },
    () => weightsAt(epochRef.epoch),
  );
}

test('epoch scalars in train/ and validation/ equal the run history, Keras names and steps', () => {
  const store = new FakeStore();
  const ref = { epoch: 0 };
  const logger = newLogger(store, {}, ref);
  logger.onTrainBegin();
  runEpochs(logger, 0, history.length, ref);

  assert.equal(store.paths('train').length, 1);
  assert.equal(store.paths('validation').length, 1);
  for (const p of [...store.paths('train'), ...store.paths('validation')]) {
    assert.match(p, /^(train|validation)\/events\.out\.tfevents\.\d+\.worker-7$/);
    // Each file opens with the file-version record.
    assert.equal(readEvents(Buffer.concat(store.files.get(p)!))[0]!.fileVersion, 'brain.Event:2');
  }

  const f = Math.fround;
  assert.deepEqual(store.scalars('train', 'epoch_loss'), history.map((h, i) => [i, f(h.loss)]));
  assert.deepEqual(store.scalars('train', 'epoch_accuracy'), history.map((h, i) => [i, f(h.accuracy)]));
  assert.deepEqual(store.scalars('train', 'epoch_learning_rate'), history.map((h, i) => [i, f(h.lr)]));
  assert.deepEqual(store.scalars('validation', 'epoch_loss'), history.map((h, i) => [i, f(h.val_loss)]));
  assert.deepEqual(store.scalars('validation', 'epoch_accuracy'), history.map((h, i) => [i, f(h.val_accuracy)]));

  const trainTags = new Set(summaryValues(store.events('train')).map((v) => v.tag));
  const validationTags = new Set(summaryValues(store.events('validation')).map((v) => v.tag));
  assert.ok(![...trainTags].some((t) => t.includes('val_')), 'no val_ metric in train/');
  assert.deepEqual([...validationTags].sort(), ['epoch_accuracy', 'epoch_loss']);
});

test('batch scalars every updateFreq global batches, without tfjs bookkeeping keys', () => {
  const store = new FakeStore();
  const ref = { epoch: 0 };
  const logger = newLogger(store, {}, ref);
  logger.onTrainBegin();
  runEpochs(logger, 0, history.length, ref);
  const total = history.length * BATCHES_PER_EPOCH;
  const expectedSteps = Array.from({ length: Math.floor(total / 3) }, (_, i) => (i + 1) * 3);
  assert.deepEqual(
    store.scalars('train', 'batch_loss').map(([s]) => s),
    expectedSteps,
  );
  assert.deepEqual(
    store.scalars('train', 'batch_loss').map(([, v]) => v),
    expectedSteps.map((s) => Math.fround(2 - s / 10)),
  );
  const tags = new Set(summaryValues(store.events('train')).map((v) => v.tag));
  assert.ok(!tags.has('batch_batch') && !tags.has('batch_size'));
});

test('weight histograms at epochs 0, N, 2N… tagged by full weight name', () => {
  const store = new FakeStore();
  const ref = { epoch: 0 };
  const logger = newLogger(store, {}, ref);
  logger.onTrainBegin();
  runEpochs(logger, 0, history.length, ref);
  const histos = summaryValues(store.events('train')).filter((v) => v.histo);
  const byTag = (tag: string) => histos.filter((v) => v.tag === tag);
  assert.deepEqual(byTag('dense_Dense1/kernel/histogram').map((v) => v.step), [0, 2, 4]);
  assert.deepEqual(byTag('dense_Dense1/bias/histogram').map((v) => v.step), [0, 2, 4]);
  for (const h of byTag('dense_Dense1/kernel/histogram')) {
    const values = Array.from(weightsAt(h.step).find((w) => w.name === 'dense_Dense1/kernel')!.values);
    assert.equal(h.histo!.num, values.length);
    assert.equal(h.histo!.min, Math.min(...values));
    assert.equal(h.histo!.max, Math.max(...values));
    assert.equal(h.histo!.bucket.reduce((a, b) => a + b, 0), values.length);
  }
  assert.equal(summaryValues(store.events('validation')).filter((v) => v.histo).length, 0);
});

test("updateFreq 'epoch', histogramFreq 0 and no validation metrics write only epoch scalars to train/", () => {
  const store = new FakeStore();
  let weightReads = 0;
  const logger = new TensorBoardLogger({ sink: store.sink, now: ticking() }, () => {
    weightReads++;
    return [];
  });
  logger.onTrainBegin();
  for (let epoch = 0; epoch < 3; epoch++) {
    logger.onBatchEnd(epoch + 1, { loss: 1 });
    logger.onEpochEnd(epoch, { loss: 1 / (epoch + 1) });
  }
  assert.equal(weightReads, 0);
  assert.deepEqual(store.paths('validation'), []);
  assert.deepEqual(
    [...new Set(summaryValues(store.events('train')).map((v) => v.tag))],
    ['epoch_loss'],
  );
  assert.match(store.paths('train')[0]!, /\.kiln$/);
  // One sink call per file per hook.
  assert.equal(store.calls.length, 3);
});

test('a resumed run continues the same steps in new files and never duplicates one', () => {
  const store = new FakeStore();
  const ref = { epoch: 0 };
  const clock = ticking();
  const first = newLogger(store, {}, ref, clock);
  first.onTrainBegin();
  runEpochs(first, 0, 3, ref);
  const saved = JSON.parse(JSON.stringify(first.state())) as TensorBoardLoggerState;
  assert.equal(saved.lastEpoch, 2);
  assert.equal(saved.lastBatchStep, 12);
  assert.equal(saved.files.length, 2);

  // The worker dies; a new one resumes from the checkpoint of epoch 1, replaying epoch 2.
  const second = newLogger(store, {}, ref, () => 1_700_000_000_000);
  second.restore(saved);
  second.onTrainBegin();
  runEpochs(second, 2, history.length, ref);

  assert.equal(store.paths('train').length, 2);
  assert.equal(store.paths('validation').length, 2);
  for (const dir of ['train', 'validation']) {
    const [older, newer] = store.paths(dir);
    const oldFile = saved.files.find((f) => f.path === older);
    assert.ok(oldFile, `${older} is the first run's file`);
    assert.ok(newer! > older!, 'new file sorts after the old one even with an earlier clock');
  }

  const f = Math.fround;
  assert.deepEqual(store.scalars('train', 'epoch_loss'), history.map((h, i) => [i, f(h.loss)]));
  assert.deepEqual(store.scalars('validation', 'epoch_loss'), history.map((h, i) => [i, f(h.val_loss)]));
  const batchSteps = store.scalars('train', 'batch_loss').map(([s]) => s);
  assert.deepEqual(batchSteps, [3, 6, 9, 12, 15, 18]);
  const histoSteps = summaryValues(store.events('train'))
    .filter((v) => v.tag === 'dense_Dense1/kernel/histogram')
    .map((v) => v.step);
  assert.deepEqual(histoSteps, [0, 2, 4]);
  assert.deepEqual(second.state().files.length, 4);
});

test('bad options fail with JOB_SPEC_INVALID and a message that says what is allowed', () => {
  const sink = () => {};
  for (const options of [{ histogramFreq: -1 }, { histogramFreq: 1.5 }, { updateFreq: 0 }, { updateFreq: 2.5 }]) {
    assert.throws(
      () => new TensorBoardLogger({ sink, ...options }),
      (e: unknown) => e instanceof KilnError && e.code === 'JOB_SPEC_INVALID' && /must be/.test(e.message),
      JSON.stringify(options),
    );
  }
});

test('restore rejects a state it did not produce', () => {
  const logger = new TensorBoardLogger({ sink: () => {} });
  for (const bad of [null, {}, { version: 2, lastEpoch: null, lastBatchStep: null, files: [] }, { version: 1, lastEpoch: -1, lastBatchStep: null, files: [] }]) {
    assert.throws(() => logger.restore(bad as unknown as TensorBoardLoggerState), TypeError);
  }
});

test('maxFileBytes rotates event files: names sort in writing order and together hold every step once', () => {
  const whole = new FakeStore();
  const ref = { epoch: 0 };
  const plain = newLogger(whole, {}, ref);
  plain.onTrainBegin();
  runEpochs(plain, 0, history.length, ref);

  const store = new FakeStore();
  // Small enough that nearly every write completes its file; the clock stays put, so the
  // names must still differ and sort in order.
  const logger = newLogger(store, { maxFileBytes: 200 }, ref, () => 1_700_000_000_000);
  logger.onTrainBegin();
  runEpochs(logger, 0, history.length, ref);

  assert.ok(store.paths('train').length > 3, `train/ was rotated (${store.paths('train').length} files)`);
  assert.ok(store.paths('validation').length > 1, 'validation/ was rotated');
  // Files in name order are files in writing order.
  const firstUse = [...new Set(store.calls)];
  for (const dir of ['train', 'validation']) {
    assert.deepEqual(store.paths(dir), firstUse.filter((p) => p.startsWith(`${dir}/`)));
    for (const p of store.paths(dir)) assert.equal(readEvents(Buffer.concat(store.files.get(p)!))[0]!.fileVersion, 'brain.Event:2');
  }
  // The logger writes to at most one open file per directory, and none of the completed ones again.
  const open = new Set(logger.openPaths());
  assert.ok(open.size <= 2);
  for (const dir of ['train', 'validation']) {
    const tagsSteps = (s: FakeStore) => summaryValues(s.events(dir)).map((v) => [v.tag, v.step, v.simpleValue ?? null]);
    assert.deepEqual(tagsSteps(store), tagsSteps(whole), `${dir}/ holds the same records as without rotation`);
  }
});
