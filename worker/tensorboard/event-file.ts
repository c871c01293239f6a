/**
 * TensorBoard event files ("tfevents"), encoded without TensorFlow.
 *
 * An event file is a TFRecord stream: each record is
 * `uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)`, all
 * little-endian, and each record's data is a serialized `tensorflow.Event`
 * (tensorflow/core/util/event.proto). The first record names the format version
 * (`file_version: "brain.Event:2"`); the rest carry `Summary` protos
 * (tensorflow/core/framework/summary.proto).
 *
 * Scalars use the TF1 `Summary.Value.simple_value` and histograms the TF1 `HistogramProto`.
 * TensorBoard still reads both: its `data_compat.migrate_value` turns them into the scalar and
 * histogram plugins' tensor forms on load, so no plugin metadata has to be written here.
 */
import { maskedCrc32c } from './crc32c';
import { ProtobufWriter } from './protobuf-writer';

/** Field numbers from event.proto and summary.proto. */
const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5 } as const;
const SUMMARY = { value: 1 } as const;
const SUMMARY_VALUE = { tag: 1, simpleValue: 2, histo: 5 } as const;
const HISTOGRAM = { min: 1, max: 2, num: 3, sum: 4, sumSquares: 5, bucketLimit: 6, bucket: 7 } as const;

const FILE_VERSION = 'brain.Event:2';
const DBL_MAX = Number.MAX_VALUE;

/** A histogram as `HistogramProto` carries it. */
export interface Histogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  /** Right edge of each bucket; bucket `i` spans `[bucketLimit[i-1], bucketLimit[i])`. */
  bucketLimit: number[];
  /** Count of values in each bucket, parallel to `bucketLimit`. */
  bucket: number[];
}

let defaultLimits: Float64Array | undefined;

/**
 * TensorFlow's default histogram bucket edges (`InitDefaultBuckets` in
 * tensorflow/core/lib/histogram/histogram.cc): edges growing by 10% from 1e-12 to 1e20, mirrored
 * for negatives, with 0 in the middle and ±DBL_MAX at the ends — 1551 edges in all. The repeated
 * `*= 1.1` is kept (rather than `1.1 ** k`) so the edges are bit-for-bit TensorFlow's.
 */
function defaultBucketLimits(): Float64Array {
  if (defaultLimits) return defaultLimits;
  const positive: number[] = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) positive.push(v);
  positive.push(DBL_MAX);
  const limits = new Float64Array(positive.length * 2 + 1);
  for (let i = 0; i < positive.length; i++) {
    limits[positive.length - 1 - i] = -positive[i]!;
    limits[positive.length + 1 + i] = positive[i]!;
  }
  limits[positive.length] = 0;
  defaultLimits = limits;
  return limits;
}

const LOG_GROWTH = Math.log(1.1);

/**
 * Index of the first edge strictly greater than `value` (C++ `std::upper_bound`) among the default
 * edges. The edges are geometric, so a logarithm lands within an edge or two of the answer and a
 * short walk makes it exact: a binary search per value cost a weight histogram ~25 ms per 235k
 * weights, the largest share of TensorBoard's cost per epoch.
 */
function upperBound(limits: Float64Array, value: number): number {
  const zero = (limits.length - 1) / 2;
  const magnitude = Math.abs(value);
  const steps = magnitude > 1e-12 ? Math.ceil(Math.log(magnitude / 1e-12) / LOG_GROWTH) : 0;
  let i = value > 0 ? zero + 1 + steps : value < 0 ? zero - steps : zero + 1;
  i = Math.min(limits.length, Math.max(0, i));
  while (i < limits.length && limits[i]! <= value) i++;
  while (i > 0 && limits[i - 1]! > value) i--;
  return i;
}

/**
 * Float32 magnitudes are looked up by their top bits: the exponent and the first 4 mantissa bits.
 * A cell of magnitudes sharing them is at most 1/16 wide relative to its start, narrower than the
 * 10% between edges, so it holds at most one edge and its first value's bucket is off by at most
 * one for any value in it.
 */
const CELL_SHIFT = 23 - 4;

let float32Cells: { positive: Uint16Array; negative: Uint16Array } | undefined;

/** For each cell, {@link upperBound} of its smallest magnitude, and of the negative of it. */
function float32CellBuckets(limits: Float64Array): { positive: Uint16Array; negative: Uint16Array } {
  if (float32Cells) return float32Cells;
  const count = 1 << (31 - CELL_SHIFT);
  const positive = new Uint16Array(count);
  const negative = new Uint16Array(count);
  const f = new Float32Array(1);
  const bits = new Uint32Array(f.buffer);
  for (let cell = 0; cell < count; cell++) {
    bits[0] = cell << CELL_SHIFT;
    const low = f[0]!;
    if (!Number.isFinite(low)) continue;
    positive[cell] = upperBound(limits, low);
    negative[cell] = upperBound(limits, -low);
  }
  float32Cells = { positive, negative };
  return float32Cells;
}

/**
 * Buckets `values` the way TensorFlow's `Histogram::Add` + `EncodeToProto(…, false)` does: default
 * edges, each run of empty buckets collapsed into one, and for no values a single empty bucket with
 * `min = DBL_MAX`, `max = -DBL_MAX` (TensorBoard drops the empty ends when it loads them).
 *
 * Differs from TensorFlow on purpose in one way: non-finite values (NaN, ±Infinity) are skipped,
 * where TensorFlow's histogram op fails the step. A diverging run is for TerminateOnNaN to stop;
 * an observer must not crash it.
 */
export function histogramOf(values: ArrayLike<number>): Histogram {
  const limits = defaultBucketLimits();
  const counts = new Float64Array(limits.length);
  let min = DBL_MAX;
  let max = -DBL_MAX;
  let num = 0;
  let sum = 0;
  let sumSquares = 0;
  if (values instanceof Float32Array) {
    // Weights arrive as float32: a table lookup on the bits replaces the logarithm per value.
    const { positive, negative } = float32CellBuckets(limits);
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const b = bits[i]!;
      if ((b & 0x7f800000) === 0x7f800000) continue; // NaN or ±Infinity
      const v = values[i]!;
      let k = (b >>> 31 === 0 ? positive : negative)[(b & 0x7fffffff) >>> CELL_SHIFT]!;
      if (k < limits.length && limits[k]! <= v) k++;
      else if (k > 0 && limits[k - 1]! > v) k--;
      counts[k]! += 1;
      if (v < min) min = v;
      if (v > max) max = v;
      num += 1;
      sum += v;
      sumSquares += v * v;
    }
  } else {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) continue;
      counts[upperBound(limits, v)]! += 1;
      if (v < min) min = v;
      if (v > max) max = v;
      num += 1;
      sum += v;
      sumSquares += v * v;
    }
  }
  const bucketLimit: number[] = [];
  const bucket: number[] = [];
  for (let i = 0; i < counts.length; ) {
    let end = limits[i]!;
    let count = counts[i]!;
    i++;
    if (count <= 0) {
      while (i < counts.length && counts[i]! <= 0) {
        end = limits[i]!;
        count = counts[i]!;
        i++;
      }
    }
    bucketLimit.push(end);
    bucket.push(count);
  }
  return { min, max, num, sum, sumSquares, bucketLimit, bucket };
}

/** Wraps one serialized `Event` in TFRecord framing. */
export function frameRecord(data: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(8 + 4 + data.length + 4);
  record.writeBigUInt64LE(BigInt(data.length), 0);
  record.writeUInt32LE(maskedCrc32c(record.subarray(0, 8)), 8);
  record.set(data, 12);
  record.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return record;
}

function encodeHistogram(h: Histogram): Buffer {
  return new ProtobufWriter()
    .double(HISTOGRAM.min, h.min)
    .double(HISTOGRAM.max, h.max)
    .double(HISTOGRAM.num, h.num)
    .double(HISTOGRAM.sum, h.sum)
    .double(HISTOGRAM.sumSquares, h.sumSquares)
    .packedDoubles(HISTOGRAM.bucketLimit, h.bucketLimit)
    .packedDoubles(HISTOGRAM.bucket, h.bucket)
    .finish();
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new RangeError(`TensorBoard step must be a non-negative integer, got ${step}`);
  }
}

/** Options for {@link EventFileWriter}. */
export interface EventFileWriterOptions {
  /**
   * Clock in milliseconds since the epoch, used for records written without an explicit wall time.
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/**
 * Produces the records of one event file as `Buffer`s for the caller to append to the file, in the
 * order they are returned. The first `Buffer` a writer returns starts with the file-version record,
 * whichever method produced it, so a file always opens with it.
 */
export class EventFileWriter {
  private readonly now: () => number;
  private started = false;

  constructor(options: EventFileWriterOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The event file's name: `events.out.tfevents.<timestampSeconds>.<hostname>`. TensorBoard only
   * loads files whose name contains `tfevents`, and loads a directory's files in name order, so
   * later timestamps must mean later files. Characters other than letters, digits, `.`, `_` and `-`
   * in the hostname become `_` so the name stays one path segment.
   */
  static fileName(hostname: string, timestampSeconds: number): string {
    if (!Number.isFinite(timestampSeconds) || timestampSeconds < 0) {
      throw new RangeError(`event file timestamp must be a non-negative number of seconds, got ${timestampSeconds}`);
    }
    const host = hostname.replace(/[^A-Za-z0-9._-]/g, '_') || 'localhost';
    return `events.out.tfevents.${Math.floor(timestampSeconds)}.${host}`;
  }

  /** Whether the file-version record has been returned yet. */
  get hasStarted(): boolean {
    return this.started;
  }

  /**
   * The file-version record, if this writer has not returned it yet; otherwise an empty `Buffer`.
   * Calling it is optional: the first scalar or histogram brings it along anyway.
   */
  fileVersion(wallTime?: number): Buffer {
    if (this.started) return Buffer.alloc(0);
    this.started = true;
    const event = new ProtobufWriter()
      .double(EVENT.wallTime, wallTime ?? this.now() / 1000)
      .varint(EVENT.step, 0)
      .string(EVENT.fileVersion, FILE_VERSION)
      .finish();
    return frameRecord(event);
  }

  /**
   * A scalar (`Summary.Value.simple_value`). The value is stored as a 32-bit float, so a reader sees
   * `Math.fround(value)`.
   *
   * @param wallTime - seconds since the epoch; defaults to the writer's clock.
   */
  scalar(tag: string, step: number, value: number, wallTime?: number): Buffer {
    checkStep(step);
    const summaryValue = new ProtobufWriter().string(SUMMARY_VALUE.tag, tag).float(SUMMARY_VALUE.simpleValue, value).finish();
    return this.summaryEvent(summaryValue, step, wallTime);
  }

  /**
   * A histogram of `values` (`Summary.Value.histo`) with TensorFlow's default buckets; see
   * {@link histogramOf}.
   *
   * @param wallTime - seconds since the epoch; defaults to the writer's clock.
   */
  histogram(tag: string, step: number, values: ArrayLike<number>, wallTime?: number): Buffer {
    checkStep(step);
    const summaryValue = new ProtobufWriter()
      .string(SUMMARY_VALUE.tag, tag)
      .message(SUMMARY_VALUE.histo, encodeHistogram(histogramOf(values)))
      .finish();
    return this.summaryEvent(summaryValue, step, wallTime);
  }

  private summaryEvent(summaryValue: Buffer, step: number, wallTime: number | undefined): Buffer {
    const time = wallTime ?? this.now() / 1000;
    const header = this.fileVersion(time);
    const summary = new ProtobufWriter().message(SUMMARY.value, summaryValue).finish();
    const event = new ProtobufWriter()
      .double(EVENT.wallTime, time)
      .varint(EVENT.step, step)
      .message(EVENT.summary, summary)
      .finish();
    const record = frameRecord(event);
    return header.length === 0 ? record : Buffer.concat([header, record]);
  }
}
