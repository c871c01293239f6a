import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32c, maskCrc, maskedCrc32c, unmaskCrc } from '../../../worker/tensorboard/crc32c';
import { referenceCrc32c, referenceMask } from './tfevents-reader';

test('crc32c matches the published CRC-32C check value and the RFC 3720 (iSCSI) vectors', () => {
  const incrementing = Uint8Array.from({ length: 32 }, (_, i) => i);
  const decrementing = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  const cases: Array<[string, Uint8Array, number]> = [
    ['"123456789"', Buffer.from('123456789', 'ascii'), 0xe3069283],
    ['empty', new Uint8Array(0), 0x00000000],
    ['32 bytes of 0x00', new Uint8Array(32), 0x8a9136aa],
    ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 incrementing bytes', incrementing, 0x46dd794e],
    ['32 decrementing bytes', decrementing, 0x113fdb5c],
  ];
  for (const [name, data, expected] of cases) {
    assert.equal(crc32c(data), expected, name);
    assert.equal(referenceCrc32c(data), expected, `reference implementation, ${name}`);
  }
});

test('crc32c extends over data that arrives in pieces', () => {
  const data = randomBytes(1000);
  for (const cut of [0, 1, 7, 500, 999, 1000]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data), `cut at ${cut}`);
  }
});

test('crc32c agrees with a bit-at-a-time implementation on random data', () => {
  for (let i = 0; i < 50; i++) {
    const data = randomBytes(i * 37);
    assert.equal(crc32c(data), referenceCrc32c(data));
  }
});

test('maskCrc is TensorFlow\'s rotate-right-15-plus-0xa282ead8, and unmaskCrc inverts it', () => {
  assert.equal(maskCrc(0), 0xa282ead8);
  // 1 rotated right by 15 is 1 << 17; 0x20000 + 0xa282ead8 = 0xa284ead8.
  assert.equal(maskCrc(1), 0xa284ead8);
  // The addition wraps modulo 2^32.
  assert.equal(maskCrc(0xffffffff), (0xffffffff + 0xa282ead8) % 2 ** 32);
  for (const crc of [0, 1, 0xe3069283, 0xffffffff, 0x80000000, 0x7fff, 0x8000]) {
    assert.equal(maskCrc(crc), referenceMask(crc), `mask ${crc.toString(16)}`);
    assert.equal(unmaskCrc(maskCrc(crc)), crc, `unmask ${crc.toString(16)}`);
  }
  const data = Buffer.from('123456789');
  assert.equal(maskedCrc32c(data), referenceMask(0xe3069283));
});
