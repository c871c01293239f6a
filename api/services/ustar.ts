import { KilnError } from '../../core/errors';

/**
 * The POSIX ustar format (POSIX.1-1988, as `pax`/GNU tar/bsdtar read it), written by hand so an
 * archive can stream from the store: every member's size is known before its bytes are read, so
 * the headers and the archive's total length are computed up front and nothing is buffered.
 *
 * An archive is, per member, one 512-byte header, the member's bytes and zero padding to the next
 * 512-byte boundary; then two zero blocks.
 */

export const BLOCK = 512;
/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
/** The largest member size the 11 octal digits of a ustar size field hold (8 GiB − 1). */
export const MAX_MEMBER_SIZE = 0o77777777777;

/** One member of an archive. */
export interface UstarMember {
  /** Path inside the archive, `/`-separated; a directory ends with `/`. */
  name: string;
  /** Bytes of the member (0 for a directory). */
  size: number;
  /** Modification time. */
  mtime: Date;
}

/** Zero bytes that pad a member of `size` bytes to the next block boundary. */
export function ustarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** The length of the archive holding `members`: headers, padded contents and the end marker. */
export function ustarArchiveSize(members: ReadonlyArray<Pick<UstarMember, 'size'>>): number {
  return members.reduce((n, m) => n + BLOCK + m.size + ustarPadding(m.size).length, END_OF_ARCHIVE.length);
}

/**
 * The 512-byte header of one member: a regular file (`typeflag` `0`, mode 0644), or a directory
 * (`5`, 0755) when the name ends with `/`. Names longer than 100 bytes are split into ustar's
 * `prefix` (up to 155 bytes) and `name` at a `/`. Throws `KilnError('INTERNAL')` for a name that
 * does not fit either way or a size beyond {@link MAX_MEMBER_SIZE}.
 */
export function ustarHeader(member: UstarMember): Buffer {
  const isDir = member.name.endsWith('/');
  if (!Number.isSafeInteger(member.size) || member.size < 0 || member.size > MAX_MEMBER_SIZE) {
    throw new KilnError('INTERNAL', `tar member ${member.name} has size ${member.size}; ustar holds 0 to ${MAX_MEMBER_SIZE} bytes`);
  }
  const { prefix, name } = splitName(member.name);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'utf8');
  writeOctal(header, 100, 8, isDir ? 0o755 : 0o644);
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, isDir ? 0 : member.size);
  writeOctal(header, 136, 12, Math.max(0, Math.floor(member.mtime.getTime() / 1000)));
  header.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  header.write(isDir ? '5' : '0', 156, 1, 'ascii');
  header.write('ustar\u000000', 257, 8, 'ascii'); // magic "ustar\0" and version "00"
  header.write('kiln', 265, 32, 'ascii'); // uname
  header.write('kiln', 297, 32, 'ascii'); // gname
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  // Six octal digits, NUL, space: the form every tar reader accepts.
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return header;
}

/** Writes `value` as zero-padded octal digits followed by a NUL, filling `width` bytes. */
function writeOctal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'ascii');
}

function splitName(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  // Split at the last "/" that leaves a name of at most 100 bytes and a prefix of at most 155.
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  for (let i = trimmed.lastIndexOf('/'); i > 0; i = trimmed.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(name) > 100) break;
    if (Buffer.byteLength(prefix) <= 155) return { prefix, name };
  }
  throw new KilnError('INTERNAL', `tar member name ${JSON.stringify(path)} is too long for ustar (100-byte name after a 155-byte prefix)`);
}
