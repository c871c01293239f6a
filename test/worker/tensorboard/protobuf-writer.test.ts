import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { ProtobufWriter } from '../../../worker/tensorboard/protobuf-writer';

const root = protobuf.parse(`
syntax = "proto3";
message Sample {
  int64 big = 1;
  double d = 2;
  float f = 3;
  bytes raw = 4;
  string text = 5;
  repeated double packed = 6 [packed = true];
  Sample child = 7;
  int32 small = 8;
  uint64 large_field_number = 536870911;
}
`).root;
const Sample = root.lookupType('Sample');

function decode(bytes: Buffer): Record<string, unknown> {
  return Sample.toObject(Sample.decode(bytes), { longs: String, bytes: Array, defaults: false, arrays: true });
}

test('encodes the protobuf documentation examples byte for byte', () => {
  // "A Simple Message": field 1 = 150 → 08 96 01.
  assert.deepEqual([...new ProtobufWriter().varint(1, 150).finish()], [0x08, 0x96, 0x01]);
  // Field 2 = "testing" → 12 07 74 65 73 74 69 6e 67.
  assert.equal(new ProtobufWriter().string(2, 'testing').finish().toString('hex'), '120774657374696e67');
  // Varint 300 → ac 02.
  assert.equal(new ProtobufWriter().varint(1, 300).finish().toString('hex'), '08ac02');
  // Negative int64 → ten bytes of two's complement.
  assert.equal(new ProtobufWriter().varint(1, -1).finish().toString('hex'), '08ffffffffffffffffff01');
});

test('writes fixed-width fields little-endian with their wire types', () => {
  assert.equal(new ProtobufWriter().double(2, 1).finish().toString('hex'), '11000000000000f03f');
  assert.equal(new ProtobufWriter().float(3, 1).finish().toString('hex'), '1d0000803f');
  // Packed doubles: tag (6 << 3 | 2) = 0x32, byte length 16, then the values.
  assert.equal(new ProtobufWriter().packedDoubles(6, [1, -2]).finish().toString('hex'), '3210000000000000f03f00000000000000c0');
  assert.equal(new ProtobufWriter().packedDoubles(6, []).finish().length, 0);
});

test('a message written field by field decodes with protobufjs', () => {
  const child = new ProtobufWriter().string(5, 'inner ✓').varint(8, -5).finish();
  const bytes = new ProtobufWriter()
    .varint(1, Number.MAX_SAFE_INTEGER)
    .double(2, Math.PI)
    .float(3, 0.1)
    .bytes(4, Uint8Array.from([0, 255, 7]))
    .string(5, 'héllo')
    .packedDoubles(6, Float64Array.from([0.5, -1e300, Number.MAX_VALUE]))
    .message(7, child)
    .varint(536870911, 2n ** 64n - 1n)
    .finish();
  const decoded = decode(bytes);
  assert.equal(decoded.big, String(Number.MAX_SAFE_INTEGER));
  assert.equal(decoded.d, Math.PI);
  assert.equal(decoded.f, Math.fround(0.1));
  assert.deepEqual(decoded.raw, [0, 255, 7]);
  assert.equal(decoded.text, 'héllo');
  assert.deepEqual(decoded.packed, [0.5, -1e300, Number.MAX_VALUE]);
  assert.deepEqual(decoded.child, { text: 'inner ✓', small: -5, packed: [] });
  assert.equal(decoded.largeFieldNumber, (2n ** 64n - 1n).toString());
});

test('grows past its initial buffer and finish() returns an independent copy', () => {
  const writer = new ProtobufWriter();
  const long = 'x'.repeat(10_000);
  writer.string(5, long);
  const first = writer.finish();
  writer.varint(8, 1);
  assert.equal(decode(first).text, long);
  assert.equal(writer.finish().length, first.length + 2);
});

test('rejects field numbers and varints it cannot encode', () => {
  assert.throws(() => new ProtobufWriter().varint(0, 1), RangeError);
  assert.throws(() => new ProtobufWriter().varint(2 ** 29, 1), RangeError);
  assert.throws(() => new ProtobufWriter().varint(1, 1.5), RangeError);
  assert.throws(() => new ProtobufWriter().varint(1, 2 ** 60), RangeError);
});
