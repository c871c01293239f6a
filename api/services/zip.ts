import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { KilnError } from '../../core/errors';

/**
 * A zip archive of STORED (uncompressed) members, as PKWARE's APPNOTE 6.3 describes and as Keras's
 * `zipfile.ZipFile(f, "w")` writes `.keras` files. Written by hand because no zip writer is a
 * dependency and the stored form is small: per member a local header and the bytes, then the
 * central directory and its end record. Sizes and CRC-32s are known before the first byte goes out,
 * so the archive's length is known up front and members stream as they are.
 *
 * No zip64: a member or the archive must stay under 4 GiB (an export of a larger model is refused).
 */

/** One member: its name inside the archive and its bytes. */
export interface ZipMember {
  name: string;
  bytes: Uint8Array;
  mtime: Date;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const VERSION = 20;
/** General-purpose flag bit 11: the name is UTF-8. */
const UTF8_NAMES = 0x0800;
const MAX_32 = 0xffffffff;

/** A zip archive: its total length and its bytes as a stream of the members' buffers. */
export interface ZipArchive {
  size: number;
  stream(): Readable;
}

/** Lays out the archive; throws before anything is sent if it would need zip64. */
export function zipArchive(members: readonly ZipMember[]): ZipArchive {
  const chunks: Uint8Array[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const crc = crc32(m.bytes);
    const { time, date } = dosTime(m.mtime);
    if (m.bytes.byteLength > MAX_32 || offset > MAX_32) throw new KilnError('MODEL_NOT_EXPORTABLE', `${m.name} is too large for a zip archive without zip64 (4 GiB)`);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_HEADER, 0);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(m.bytes.byteLength, 18);
    local.writeUInt32LE(m.bytes.byteLength, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(CENTRAL_HEADER, 0);
    entry.writeUInt16LE((3 << 8) | VERSION, 4); // made by: Unix, so the mode below is read
    entry.writeUInt16LE(VERSION, 6);
    entry.writeUInt16LE(UTF8_NAMES, 8);
    entry.writeUInt16LE(0, 10);
    entry.writeUInt16LE(time, 12);
    entry.writeUInt16LE(date, 14);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(m.bytes.byteLength, 20);
    entry.writeUInt32LE(m.bytes.byteLength, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt16LE(0, 30); // extra
    entry.writeUInt16LE(0, 32); // comment
    entry.writeUInt16LE(0, 34); // disk
    entry.writeUInt16LE(0, 36); // internal attributes
    entry.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file, rw-r--r--
    entry.writeUInt32LE(offset, 42);
    chunks.push(local, name, m.bytes);
    central.push(entry, name);
    offset += local.length + name.length + m.bytes.byteLength;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  if (offset + centralSize > MAX_32 || members.length > 0xffff) throw new KilnError('MODEL_NOT_EXPORTABLE', 'the archive is too large for zip without zip64 (4 GiB)');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  const all = [...chunks, ...central, end];
  return { size: offset + centralSize + end.length, stream: () => Readable.from(all, { objectMode: false }) };
}

/** MS-DOS date and time (local fields, 2-second resolution), as zip headers hold them; UTC here. */
function dosTime(d: Date): { time: number; date: number } {
  const year = Math.min(Math.max(d.getUTCFullYear(), 1980), 2107);
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}
