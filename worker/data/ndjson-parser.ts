import { KilnError } from '../../core/errors';
import { MAX_JSON_DEPTH, tooDeepOffset } from '../../core/json-depth';
import { utf8Text } from './csv-parser';

/** Receives one parsed object and the 1-based line of the file it is on. */
export type NdjsonRecordHandler = (record: Record<string, unknown>, line: number) => void;

/**
 * Longest line accepted, in UTF-16 code units. A line is held whole until its newline arrives, so
 * this bounds the memory a file without newlines (or one huge object) can take.
 * @defaultValue 16 MiB of text
 */
export const MAX_NDJSON_LINE = 16 * 1024 * 1024;

/**
 * Incremental NDJSON (JSON Lines) parser: feed it text in chunks of any size and it calls
 * `onRecord` once per line holding a JSON object, so no more than one line is ever held.
 * Accepts LF and CRLF line breaks and skips blank lines; a line that is not valid JSON, or holds
 * something other than an object (an array, a number, `null`), is a `DATASET_INVALID` error naming
 * the line.
 */
export class NdjsonParser {
  private pending = '';
  private line = 1;

  /**
   * @param source - how errors name the file (e.g. `data.uri 'datasets/a.ndjson'`).
   * @param onRecord - called synchronously for each object; it may throw to stop parsing.
   * @param maxLine - longest line accepted. @defaultValue {@link MAX_NDJSON_LINE}
   */
  constructor(
    private readonly source: string,
    private readonly onRecord: NdjsonRecordHandler,
    private readonly maxLine: number = MAX_NDJSON_LINE,
  ) {}

  /** Parses the next piece of text. */
  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      const text = this.pending.length > 0 ? this.pending + chunk.slice(start, nl) : chunk.slice(start, nl);
      this.pending = '';
      this.checkLength(text.length);
      this.record(text);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.checkLength(this.pending.length + chunk.length - start);
      this.pending += chunk.slice(start);
    }
  }

  /** Signals the end of the text, parsing a last line that has no trailing newline. */
  end(): void {
    const text = this.pending;
    this.pending = '';
    this.record(text);
  }

  private checkLength(length: number): void {
    if (length > this.maxLine) {
      throw new KilnError(
        'DATASET_INVALID',
        `${this.source}: line ${this.line} is longer than ${this.maxLine} characters; NDJSON needs one object per line, ` +
          'each ended by a newline (is the file a single JSON array? write one object per line instead).',
      );
    }
  }

  private record(raw: string): void {
    const line = this.line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    // Before parsing: nothing downstream should ever recurse 100,000 levels into a record.
    const deep = tooDeepOffset(text, MAX_JSON_DEPTH);
    if (deep !== -1) {
      throw new KilnError(
        'DATASET_INVALID',
        `${this.source}: line ${line} nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep (at character ${deep + 1}); ` +
          'write each sample as a flat object such as {"x1": 0.5, "label": "cat"}.',
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new KilnError(
        'DATASET_INVALID',
        `${this.source}: line ${line} is not valid JSON (${(cause as Error).message}); NDJSON needs one complete JSON object per line.`,
        { cause },
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      throw new KilnError(
        'DATASET_INVALID',
        `${this.source}: line ${line} holds ${kind}, not an object; write each sample as an object such as {"x1": 0.5, "label": "cat"}.`,
      );
    }
    this.onRecord(value as Record<string, unknown>, line);
  }
}

/**
 * Streams `input` (bytes as UTF-8, or strings) through an {@link NdjsonParser}. Resolves after the
 * last object; rejects with the parser's or handler's error, or with the stream's own error (left
 * unwrapped so the job is retried).
 */
export async function parseNdjsonStream(
  input: AsyncIterable<string | Uint8Array>,
  source: string,
  onRecord: NdjsonRecordHandler,
): Promise<void> {
  const parser = new NdjsonParser(source, onRecord);
  for await (const text of utf8Text(input, source, 'NDJSON file')) parser.push(text);
  parser.end();
}
