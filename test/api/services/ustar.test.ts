import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isKilnError } from '../../../core/errors';
import { BLOCK, END_OF_ARCHIVE, ustarArchiveSize, ustarHeader, ustarPadding, type UstarMember } from '../../../api/services/ustar';

const dir = mkdtempSync(join(tmpdir(), 'kiln-ustar-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Builds an archive the way the model archive does: header, bytes, padding; then the end marker. */
function archive(members: Array<UstarMember & { bytes?: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) parts.push(ustarHeader(m), m.bytes ?? Buffer.alloc(0), ustarPadding(m.size));
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

describe('ustar', () => {
  const mtime = new Date('2025-01-02T03:04:00Z');
  const longDir = `${'d'.repeat(90)}/${'e'.repeat(40)}`;
  const files = [
    { name: 'run_x/', size: 0, mtime },
    { name: 'run_x/model.json', bytes: Buffer.from('{"format":"layers-model"}') },
    { name: 'run_x/weights.bin', bytes: randomBytes(1500) },
    { name: 'run_x/exact.bin', bytes: randomBytes(BLOCK) },
    { name: 'run_x/empty', bytes: Buffer.alloc(0) },
    { name: `run_x/${longDir}/a-name-over-the-100-byte-limit-once-joined.bin`, bytes: randomBytes(7) },
    { name: 'run_x/ünïcode.json', bytes: Buffer.from('[]') },
  ].map((m) => ({ mtime, size: m.bytes?.length ?? 0, ...m }));

  it('writes archives GNU tar lists and extracts byte for byte, with the size computed up front', () => {
    const bytes = archive(files);
    assert.equal(bytes.length, ustarArchiveSize(files));
    assert.equal(bytes.length % BLOCK, 0);
    const file = join(dir, 'a.tar');
    writeFileSync(file, bytes);
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
    assert.match(listing, /^drwxr-xr-x kiln\/kiln +0 2025-01-02 \d\d:\d4 run_x\/$/m);
    assert.match(listing, /^-rw-r--r-- kiln\/kiln +1500 2025-01-02 \d\d:\d4 run_x\/weights\.bin$/m);
    const out = join(dir, 'out');
    execFileSync('mkdir', ['-p', out]);
    // --warning=all makes GNU tar complain about anything irregular (bad checksum, lone zero block).
    const extracted = spawnSync('tar', ['--warning=all', '-xf', file, '-C', out], { encoding: 'utf8' });
    assert.equal(extracted.status, 0, extracted.stderr);
    assert.equal(extracted.stderr, '');
    for (const m of files.filter((f) => f.bytes !== undefined)) {
      assert.deepEqual(readFileSync(join(out, m.name)), m.bytes, m.name);
    }
    assert.equal(statSync(join(out, 'run_x/weights.bin')).mtime.getTime(), mtime.getTime());
  });

  it('rejects a corrupted checksum (the checksum covers the header)', () => {
    const bytes = archive(files.slice(0, 2));
    bytes[BLOCK + 1] ^= 1; // flip a bit in the second header's name
    const file = join(dir, 'bad.tar');
    writeFileSync(file, bytes);
    assert.throws(() => execFileSync('tar', ['-tf', file], { stdio: 'pipe' }));
  });

  it('refuses names that do not fit ustar and sizes past 8 GiB', () => {
    const refuses = (m: UstarMember) => assert.throws(() => ustarHeader(m), (e: unknown) => isKilnError(e) && e.code === 'INTERNAL');
    refuses({ name: 'x'.repeat(101), size: 1, mtime });
    refuses({ name: `${'p'.repeat(156)}/x`, size: 1, mtime });
    refuses({ name: 'big.bin', size: 8 * 1024 ** 3, mtime });
    assert.equal(ustarHeader({ name: 'ok.bin', size: 8 * 1024 ** 3 - 1, mtime }).length, BLOCK);
  });
});
