import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventFileWriter, frameRecord, histogramOf } from '../../../worker/tensorboard/event-file';
import { readEvents, readRecords, summaryValues, type ReadHistogram } from './tfevents-reader';

const DBL_MAX = Number.MAX_VALUE;

/** TensorFlow's default edges, rebuilt here from histogram.cc's description for comparison. */
function referenceEdges(): number[] {
  const pos: number[] = [];
  let v = 1e-12;
  while (v < 1e20) {
    pos.push(v);
    v *= 1.1;
  }
  pos.push(DBL_MAX);
  return [...pos.map((x) => -x).reverse(), 0, ...pos];
}

/** Linear-scan bucketing plus TensorFlow's collapsing of empty runs. */
function referenceHistogram(values: number[]): ReadHistogram {
  const edges = referenceEdges();
  const counts = edges.map(() => 0);
  for (const v of values) {
    const i = edges.findIndex((e) => e > v);
    counts[i]! += 1;
  }
  const bucketLimit: number[] = [];
  const bucket: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! > 0) {
      bucketLimit.push(edges[i]!);
      bucket.push(counts[i]!);
      continue;
    }
    let j = i;
    while (j + 1 < counts.length && counts[j + 1] === 0) j++;
    bucketLimit.push(edges[j]!);
    bucket.push(0);
    i = j;
  }
  return {
    min: Math.min(...values),
    max: Math.max(...values),
    num: values.length,
    sum: values.reduce((a, b) => a + b, 0),
    sumSquares: values.reduce((a, b) => a + b * b, 0),
    bucketLimit,
    bucket,
  };
}

const fixedClock = () => 1_700_000_000_500;

test('the first record of a file is the brain.Event:2 file-version event', () => {
  const writer = new EventFileWriter({ now: fixedClock });
  assert.equal(writer.hasStarted, false);
  const bytes = Buffer.concat([writer.scalar('epoch_loss', 0, 1.5), writer.scalar('epoch_loss', 1, 1.25)]);
  assert.equal(writer.hasStarted, true);
  const events = readEvents(bytes);
  assert.equal(events.length, 3);
  assert.equal(events[0]!.fileVersion, 'brain.Event:2');
  assert.equal(events[0]!.wallTime, 1_700_000_000.5);
  assert.equal(events[0]!.step ?? 0, 0);
  assert.equal(events[1]!.fileVersion, undefined);
  // fileVersion() is only ever returned once.
  assert.equal(writer.fileVersion().length, 0);
});

test('fileVersion() can open a file explicitly, and the next record does not repeat it', () => {
  const writer = new EventFileWriter({ now: fixedClock });
  const bytes = Buffer.concat([writer.fileVersion(), writer.scalar('a', 1, 2)]);
  const events = readEvents(bytes);
  assert.deepEqual(
    events.map((e) => e.fileVersion ?? 'summary'),
    ['brain.Event:2', 'summary'],
  );
});

test('scalars carry tag, step, wall time and the value as a 32-bit float', () => {
  const writer = new EventFileWriter({ now: fixedClock });
  const values = [0, 0.1, -3.25, 1e-8, 123456.789, Number.NaN];
  const bytes = Buffer.concat(values.map((v, i) => writer.scalar('epoch_accuracy', i * 1000, v, 1_600_000_000 + i)));
  const read = summaryValues(readEvents(bytes));
  assert.equal(read.length, values.length);
  read.forEach((r, i) => {
    assert.equal(r.tag, 'epoch_accuracy');
    assert.equal(r.step, i * 1000);
    assert.equal(r.wallTime, 1_600_000_000 + i);
    // simple_value 0 must still be present: it is a oneof member.
    assert.ok('simpleValue' in r, `value ${i} present`);
    assert.ok(Object.is(r.simpleValue, Math.fround(values[i]!)), `value ${i}: ${r.simpleValue} vs ${values[i]}`);
  });
});

test('steps up to 2^53 - 1 survive the int64 varint', () => {
  const writer = new EventFileWriter({ now: fixedClock });
  const read = summaryValues(readEvents(writer.scalar('s', Number.MAX_SAFE_INTEGER, 1)));
  assert.equal(read[0]!.step, Number.MAX_SAFE_INTEGER);
  assert.throws(() => writer.scalar('s', -1, 1), RangeError);
  assert.throws(() => writer.scalar('s', 1.5, 1), RangeError);
});

test('histograms use TensorFlow\'s default buckets with empty runs collapsed', () => {
  assert.equal(referenceEdges().length, 1551);
  const writer = new EventFileWriter({ now: fixedClock });
  const weights = Float32Array.from({ length: 500 }, (_, i) => Math.sin(i * 12.9898) * 0.3 + (i % 7 === 0 ? 5 : 0));
  const bytes = writer.histogram('dense/kernel/histogram', 4, weights);
  const read = summaryValues(readEvents(bytes));
  assert.equal(read.length, 1);
  assert.equal(read[0]!.tag, 'dense/kernel/histogram');
  assert.equal(read[0]!.step, 4);
  const expected = referenceHistogram([...weights]);
  const got = read[0]!.histo!;
  assert.deepEqual(got.bucketLimit, expected.bucketLimit);
  assert.deepEqual(got.bucket, expected.bucket);
  assert.equal(got.min, expected.min);
  assert.equal(got.max, expected.max);
  assert.equal(got.num, 500);
  assert.ok(Math.abs(got.sum - expected.sum) < 1e-9);
  assert.ok(Math.abs(got.sumSquares - expected.sumSquares) < 1e-9);
  assert.equal(got.bucket.reduce((a, b) => a + b, 0), 500);
});

test('values exactly on, just below and just above every edge land in TensorFlow\'s bucket', () => {
  const edges = referenceEdges().filter((e) => Math.abs(e) < DBL_MAX);
  const values = edges.flatMap((e) => (e === 0 ? [0, 5e-13, -5e-13] : [e, e * (1 - 1e-15), e * (1 + 1e-15)]));
  const got = histogramOf(values);
  const expected = referenceHistogram(values);
  assert.deepEqual(got.bucketLimit, expected.bucketLimit);
  assert.deepEqual(got.bucket, expected.bucket);
});

test('float32 weights (the table lookup on their bits) land where the reference puts them, next to every edge', () => {
  const f = new Float32Array(1);
  const bits = new Uint32Array(f.buffer);
  const neighbours = (x: number): number[] => {
    f[0] = x;
    const b = bits[0]!;
    return [b - 1, b, b + 1].map((n) => {
      bits[0] = n >>> 0;
      return f[0]!;
    });
  };
  const edges = referenceEdges().filter((e) => Math.abs(e) < 3e38);
  const special = [0, -0, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 3.4028235e38, -3.4028235e38, 1e20, -1e20, 1.5e25];
  const finite = [...edges.flatMap(neighbours), ...special.flatMap(neighbours)].filter((v) => Number.isFinite(v));
  const weights = Float32Array.from([...finite, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
  const got = histogramOf(weights);
  const expected = referenceHistogram([...Float32Array.from(finite)]);
  assert.deepEqual(got.bucketLimit, expected.bucketLimit);
  assert.deepEqual(got.bucket, expected.bucket);
  assert.equal(got.num, finite.length);
  // The same values as plain numbers take the other path and must agree exactly.
  assert.deepEqual(got, histogramOf([...weights]));
});

test('a single zero lands in [0, 1e-12), worked out by hand from histogram.cc', () => {
  const h = histogramOf([0]);
  assert.deepEqual(h.bucketLimit, [0, 1e-12, DBL_MAX]);
  assert.deepEqual(h.bucket, [0, 1, 0]);
  assert.deepEqual([h.min, h.max, h.num, h.sum, h.sumSquares], [0, 0, 1, 0, 0]);
});

test('an empty histogram is TensorFlow\'s cleared histogram; non-finite values are skipped', () => {
  const empty = histogramOf([]);
  assert.deepEqual(empty, { min: DBL_MAX, max: -DBL_MAX, num: 0, sum: 0, sumSquares: 0, bucketLimit: [DBL_MAX], bucket: [0] });
  assert.deepEqual(histogramOf([Number.NaN, 1, Number.POSITIVE_INFINITY, -Number.POSITIVE_INFINITY]), histogramOf([1]));
});

test('frameRecord writes length, masked CRCs and payload that an independent reader accepts', () => {
  const payload = Buffer.from('any payload bytes');
  const record = frameRecord(payload);
  assert.equal(record.length, 8 + 4 + payload.length + 4);
  assert.equal(record.readBigUInt64LE(0), BigInt(payload.length));
  assert.deepEqual(readRecords(record), [payload]);
  // Flipping any single byte breaks one of the two CRCs or the framing.
  for (let i = 0; i < record.length; i++) {
    const corrupt = Buffer.from(record);
    corrupt[i] ^= 0x01;
    assert.throws(() => readRecords(corrupt), `corrupting byte ${i} is detected`);
  }
});

test('fileName follows the tfevents convention and keeps the host to one path segment', () => {
  assert.equal(EventFileWriter.fileName('worker-1', 1_700_000_000.9), 'events.out.tfevents.1700000000.worker-1');
  assert.equal(EventFileWriter.fileName('a/b c', 5), 'events.out.tfevents.5.a_b_c');
  assert.match(EventFileWriter.fileName('', 5), /tfevents/);
  assert.throws(() => EventFileWriter.fileName('h', -1), RangeError);
});
