/**
 * CRC-32C (Castagnoli) and the masked form TFRecord files store.
 *
 * TFRecord framing checksums every length header and payload with CRC-32C, then "masks" the value
 * before storing it, because a CRC computed over bytes that themselves contain CRCs is weak. The
 * mask is TensorFlow's `crc32c::Mask` (tensorflow/core/lib/hash/crc32c.h, the same as LevelDB's):
 * rotate right by 15 bits, then add the constant 0xa282ead8, modulo 2^32.
 */

/** Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
const POLYNOMIAL = 0x82f63b78;
const MASK_DELTA = 0xa282ead8;

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C of `data`. Pass a previous result as `crc` to extend a checksum over data that arrives in
 * pieces: `crc32c(b, crc32c(a))` equals `crc32c(concat(a, b))`.
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** TensorFlow's `crc32c::Mask`: the form of a CRC that TFRecord writes to disk. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** TensorFlow's `crc32c::Unmask`, the inverse of {@link maskCrc}. */
export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** The masked CRC-32C of `data`, as a TFRecord header or footer stores it. */
export function maskedCrc32c(data: Uint8Array): number {
  return maskCrc(crc32c(data));
}
