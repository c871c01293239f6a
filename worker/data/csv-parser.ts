import { KilnError } from '../../core/errors';

/** Receives one parsed record and the 1-based line of the file it starts on. */
export type CsvRecordHandler = (fields: string[], line: number) => void;

const COMMA = 0x2c;
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Longest field, in UTF-16 code units. Numbers and class names are short; a field this long is
 * a file that is not the CSV it claims to be (or one meant to exhaust the worker's memory).
 */
export const MAX_CSV_FIELD = 1024 * 1024;
/** Longest record (all its fields), in UTF-16 code units: a record is held whole until it ends. */
export const MAX_CSV_RECORD = 16 * 1024 * 1024;
/** Most fields in one record. */
export const MAX_CSV_FIELDS = 100_000;

const enum State {
  /** Before the first character of a field. */
  FieldStart,
  /** Inside a field that did not start with a quote. */
  Unquoted,
  /** Inside a quoted field. */
  Quoted,
  /** Just read a quote inside a quoted field: either an escaped quote or the field's end. */
  QuoteInQuoted,
  /** Just ended a record on CR; a following LF belongs to the same line break. */
  AfterCR,
}

/**
 * Incremental RFC 4180 parser: feed it text in chunks of any size (a quote, a CRLF or a field may
 * be split across chunks) and it calls `onRecord` once per record, so no more than one record is
 * ever held. Accepts CRLF, LF and bare CR line breaks, skips blank lines, and reads a quote inside
 * an unquoted field literally (as Python's csv and pandas do) — but text after a closing quote is
 * an error, since it almost always means a missing delimiter.
 */
export class CsvParser {
  private state = State.FieldStart;
  private fields: string[] = [];
  private field = '';
  private recordQuoted = false;
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;
  /** Characters of the current record's completed fields. */
  private recordChars = 0;

  /**
   * @param source - how errors name the file (e.g. `data.uri 'datasets/a.csv'`).
   * @param onRecord - called synchronously for each record; it may throw to stop parsing.
   */
  constructor(private readonly source: string, private readonly onRecord: CsvRecordHandler) {}

  /** Parses the next piece of text. */
  push(chunk: string): void {
    const n = chunk.length;
    let i = 0;
    let segStart = 0;
    while (i < n) {
      switch (this.state) {
        case State.AfterCR:
          this.state = State.FieldStart;
          if (chunk.charCodeAt(i) === LF) i++;
          break;
        case State.FieldStart:
          if (chunk.charCodeAt(i) === QUOTE) {
            this.state = State.Quoted;
            this.recordQuoted = true;
            this.quoteLine = this.line;
            i++;
            segStart = i;
          } else {
            this.state = State.Unquoted;
            segStart = i;
          }
          break;
        case State.Unquoted: {
          let c = 0;
          while (i < n) {
            c = chunk.charCodeAt(i);
            if (c === COMMA || c === LF || c === CR) break;
            i++;
          }
          if (i === n) {
            this.field += chunk.slice(segStart, n);
            this.checkField();
            break;
          }
          this.endField(this.field + chunk.slice(segStart, i));
          i++;
          if (c === COMMA) this.state = State.FieldStart;
          else this.endRecord(c === CR);
          break;
        }
        case State.Quoted: {
          const q = chunk.indexOf('"', i);
          const end = q === -1 ? n : q;
          for (let k = i; k < end; k++) if (chunk.charCodeAt(k) === LF) this.line++;
          this.field += chunk.slice(segStart, end);
          this.checkField();
          i = end;
          if (q !== -1) {
            this.state = State.QuoteInQuoted;
            i++;
          }
          break;
        }
        case State.QuoteInQuoted: {
          const c = chunk.charCodeAt(i);
          i++;
          if (c === QUOTE) {
            this.field += '"';
            this.state = State.Quoted;
            segStart = i;
          } else if (c === COMMA) {
            this.endField(this.field);
            this.state = State.FieldStart;
          } else if (c === LF || c === CR) {
            this.endField(this.field);
            this.endRecord(c === CR);
          } else {
            throw new KilnError(
              'DATASET_INVALID',
              `${this.source} is not valid CSV: line ${this.line} has ${JSON.stringify(chunk[i - 1])} right after a closing quote; ` +
                'put a comma or line break after a quoted field, and double any quote inside it ("").',
            );
          }
          break;
        }
      }
    }
  }

  /** Signals the end of the text, flushing a last record that has no trailing line break. */
  end(): void {
    switch (this.state) {
      case State.Quoted:
        throw new KilnError(
          'DATASET_INVALID',
          `${this.source} is not valid CSV: the quoted field opened on line ${this.quoteLine} is never closed; ` +
            'close it with a quote (and double any quote inside it).',
        );
      case State.Unquoted:
      case State.QuoteInQuoted:
        this.endField(this.field);
        this.endRecord(false);
        break;
      case State.FieldStart:
        // "a,b," at EOF ends with an empty field; a record that never started is just EOF.
        if (this.fields.length > 0) {
          this.endField('');
          this.endRecord(false);
        }
        break;
      case State.AfterCR:
        break;
    }
  }

  private endField(value: string): void {
    this.field = value;
    this.checkField();
    this.recordChars += value.length;
    if (this.recordChars > MAX_CSV_RECORD || this.fields.length >= MAX_CSV_FIELDS) {
      const what = this.fields.length >= MAX_CSV_FIELDS ? `more than ${MAX_CSV_FIELDS} fields` : `more than ${MAX_CSV_RECORD} characters`;
      throw new KilnError(
        'DATASET_INVALID',
        `${this.source} is not usable CSV: the row starting on line ${this.recordLine} has ${what} (at column ${this.fields.length + 1}); ` +
          'write one sample per line, each ended by a line break, with at most ' + `${MAX_CSV_FIELDS} columns.`,
      );
    }
    this.fields.push(value);
    this.field = '';
  }

  /** Refuses a field past MAX_CSV_FIELD as soon as it gets there, before it grows further. */
  private checkField(): void {
    if (this.field.length <= MAX_CSV_FIELD) return;
    throw new KilnError(
      'DATASET_INVALID',
      `${this.source} is not usable CSV: row starting on line ${this.recordLine}, column ${this.fields.length + 1} is longer than ${MAX_CSV_FIELD} characters; ` +
        'fields hold one number or class name (is a quote left open, or is this not a CSV file?).',
    );
  }

  private endRecord(onCR: boolean): void {
    const fields = this.fields;
    const line = this.recordLine;
    this.fields = [];
    this.recordChars = 0;
    this.line++;
    this.recordLine = this.line;
    this.state = onCR ? State.AfterCR : State.FieldStart;
    const blank = fields.length === 1 && fields[0] === '' && !this.recordQuoted;
    this.recordQuoted = false;
    if (!blank) this.onRecord(fields, line);
  }
}

/**
 * Streams `input` (bytes as UTF-8, or strings) through a {@link CsvParser}. Resolves after the last
 * record; rejects with the parser's or handler's error, or with the stream's own error (left
 * unwrapped: a broken connection is an infrastructure fault that deserves a retry).
 */
export async function parseCsvStream(
  input: AsyncIterable<string | Uint8Array>,
  source: string,
  onRecord: CsvRecordHandler,
): Promise<void> {
  const parser = new CsvParser(source, onRecord);
  for await (const text of utf8Text(input, source, 'CSV')) parser.push(text);
  parser.end();
}

/**
 * Decodes a byte stream as strict UTF-8 text, piece by piece (a character split across chunks is
 * joined), dropping a leading byte-order mark as spreadsheet exports often have one. Invalid UTF-8
 * is a `DATASET_INVALID` error naming `source`; the stream's own errors pass through unwrapped.
 */
export async function* utf8Text(input: AsyncIterable<string | Uint8Array>, source: string, format: string): AsyncGenerator<string> {
  // ignoreBOM: false strips the mark from byte input; string chunks are checked by hand below.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let first = true;
  const decode = (bytes?: Uint8Array): string => {
    try {
      return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
    } catch (cause) {
      throw new KilnError('DATASET_INVALID', `${source} is not UTF-8 text; save the ${format} as UTF-8.`, { cause });
    }
  };
  for await (const chunk of input) {
    let text = typeof chunk === 'string' ? chunk : decode(chunk);
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    if (text.length > 0) yield text;
  }
  const rest = decode();
  if (rest.length > 0) yield rest;
}
