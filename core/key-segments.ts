/**
 * Longest path segment (bytes of UTF-8) of a store key. POSIX file systems refuse names past 255
 * bytes (ENAMETOOLONG) and S3-compatible stores behind them do too, so a key with a longer segment
 * cannot be stored anywhere Kiln runs: it is refused when the user chooses it, at submission.
 */
export const MAX_KEY_SEGMENT_BYTES = 255;

/**
 * A message naming the first segment of `path` longer than {@link MAX_KEY_SEGMENT_BYTES} bytes,
 * or null when every segment fits.
 */
export function longKeySegment(path: string): string | null {
  for (const segment of path.split('/')) {
    const bytes = Buffer.byteLength(segment, 'utf8');
    if (bytes > MAX_KEY_SEGMENT_BYTES) {
      return `the path segment '${segment.slice(0, 24)}…' is ${bytes} bytes long; stores accept at most ${MAX_KEY_SEGMENT_BYTES} bytes per segment (between '/'), so shorten it`;
    }
  }
  return null;
}
