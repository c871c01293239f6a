/**
 * A minimal protocol-buffers wire encoder: just the field kinds TensorBoard's `Event`, `Summary` and
 * `HistogramProto` messages need. Messages are written field by field in the order the caller
 * chooses; nested messages are encoded first and passed in as bytes.
 *
 * Every call writes its field, default values included. Proto3 writers usually drop fields equal
 * to their default, but a member of a `oneof` (such as `Summary.Value.simple_value`) must be
 * written even when it is 0, or the reader cannot tell which member is set, so the choice of what
 * to omit is left to the caller.
 */

const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

const MAX_FIELD_NUMBER = 2 ** 29 - 1;

/** Encodes one protobuf message; call {@link ProtobufWriter.finish} to get its bytes. */
export class ProtobufWriter {
  private buf: Buffer = Buffer.allocUnsafe(64);
  private len = 0;

  /**
   * A varint field (`int32`, `int64`, `uint64`, `bool`, enums). Negative values are written as
   * 64-bit two's complement, the way `int64`/`int32` encode them (always ten bytes).
   */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WireType.Varint);
    this.rawVarint(value);
    return this;
  }

  /** A `double` field: 8 bytes, little-endian IEEE 754. */
  double(field: number, value: number): this {
    this.tag(field, WireType.Fixed64);
    this.reserve(8);
    this.buf.writeDoubleLE(value, this.len);
    this.len += 8;
    return this;
  }

  /** A `float` field: 4 bytes, little-endian IEEE 754 single precision (the value is rounded). */
  float(field: number, value: number): this {
    this.tag(field, WireType.Fixed32);
    this.reserve(4);
    this.buf.writeFloatLE(value, this.len);
    this.len += 4;
    return this;
  }

  /** A `bytes` field, or an already-encoded nested message. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  /** A `string` field, UTF-8 encoded. */
  string(field: number, value: string): this {
    const byteLength = Buffer.byteLength(value, 'utf8');
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(byteLength);
    this.reserve(byteLength);
    this.len += this.buf.write(value, this.len, byteLength, 'utf8');
    return this;
  }

  /** A nested message field; `message` is the nested message's encoded bytes. */
  message(field: number, message: Uint8Array): this {
    return this.bytes(field, message);
  }

  /**
   * A `repeated double` field in packed form: one length-delimited field holding the values back to
   * back. Writes nothing for an empty list, as packed encoders do.
   */
  packedDoubles(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    const byteLength = values.length * 8;
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(byteLength);
    this.reserve(byteLength);
    for (let i = 0; i < values.length; i++) {
      this.buf.writeDoubleLE(values[i]!, this.len);
      this.len += 8;
    }
    return this;
  }

  /** The encoded message. The writer can keep being used; later writes do not change this copy. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  private tag(field: number, wireType: WireType): void {
    if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER) {
      throw new RangeError(`protobuf field number must be an integer in 1..${MAX_FIELD_NUMBER}, got ${field}`);
    }
    // Multiplication rather than `<< 3`, which would overflow 32-bit ints for field numbers ≥ 2^28.
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(value: number | bigint): void {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw new RangeError(`varint value must be a safe integer, got ${value}`);
      if (value >= 0) {
        this.reserve(8);
        // Division instead of shifts: bitwise operators truncate to 32 bits and values reach 2^53.
        while (value >= 0x80) {
          this.buf[this.len++] = (value % 0x80) | 0x80;
          value = Math.floor(value / 0x80);
        }
        this.buf[this.len++] = value;
        return;
      }
      value = BigInt(value);
    }
    let v = BigInt.asUintN(64, value);
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private reserve(bytes: number): void {
    const needed = this.len + bytes;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}
