/**
 * An independent tfevents reader for the tests: its own bit-at-a-time CRC-32C (no table, nothing
 * shared with worker/tensorboard/) and protobufjs for decoding, with the messages declared from
 * TensorFlow's event.proto and summary.proto field numbers.
 */
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";
package tensorflow;

message HistogramProto {
  double min = 1;
  double max = 2;
  double num = 3;
  double sum = 4;
  double sum_squares = 5;
  repeated double bucket_limit = 6 [packed = true];
  repeated double bucket = 7 [packed = true];
}

message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      HistogramProto histo = 5;
    }
  }
  repeated Value value = 1;
}

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    bytes graph_def = 4;
    Summary summary = 5;
    bytes meta_graph_def = 9;
  }
}
`;

const root = protobuf.parse(PROTO).root;
const EventType = root.lookupType('tensorflow.Event');

export interface ReadHistogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  bucketLimit: number[];
  bucket: number[];
}

export interface ReadValue {
  tag: string;
  simpleValue?: number;
  histo?: ReadHistogram;
}

export interface ReadEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  summary?: { value: ReadValue[] };
}

/** CRC-32C computed one bit at a time, straight from the reflected polynomial. */
export function referenceCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** TensorFlow's mask, computed with BigInt arithmetic so no 32-bit shortcut is shared with the writer. */
export function referenceMask(crc: number): number {
  const c = BigInt(crc);
  const rotated = ((c >> 15n) | (c << 17n)) & 0xffffffffn;
  return Number((rotated + 0xa282ead8n) % 0x100000000n);
}

/** Splits a TFRecord stream into record payloads, failing on a bad CRC or a truncated record. */
export function readRecords(bytes: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 12) throw new Error(`truncated record header at byte ${offset}`);
    const header = bytes.subarray(offset, offset + 8);
    const length = Number(header.readBigUInt64LE(0));
    const headerCrc = bytes.readUInt32LE(offset + 8);
    if (headerCrc !== referenceMask(referenceCrc32c(header))) throw new Error(`bad length CRC at byte ${offset}`);
    const start = offset + 12;
    if (bytes.length < start + length + 4) throw new Error(`truncated record at byte ${offset}`);
    const data = bytes.subarray(start, start + length);
    const dataCrc = bytes.readUInt32LE(start + length);
    if (dataCrc !== referenceMask(referenceCrc32c(data))) throw new Error(`bad data CRC at byte ${offset}`);
    records.push(Buffer.from(data));
    offset = start + length + 4;
  }
  return records;
}

/** Decodes every record of an event file into plain objects (camelCase field names). */
export function readEvents(bytes: Buffer): ReadEvent[] {
  return readRecords(bytes).map((data) => {
    const message = EventType.decode(data);
    return EventType.toObject(message, { longs: Number, defaults: false, arrays: true }) as ReadEvent;
  });
}

/** The summary values of an event stream, flattened with their step and wall time. */
export function summaryValues(events: ReadEvent[]): Array<ReadValue & { step: number; wallTime: number }> {
  return events.flatMap((e) => (e.summary?.value ?? []).map((v) => ({ ...v, step: e.step ?? 0, wallTime: e.wallTime })));
}
