import { Callback } from './callback';
import { stateObject, type JsonValue } from './callback-state';
import type { Logs } from './model-handle';
import { pyFloatRepr } from './python-format';

/** CSVLogger options. */
export interface CSVLoggerOptions {
  /** One character. @defaultValue `','` */
  separator?: string;
  /** Keras `append`: continue `existing` instead of starting a new file. @defaultValue `false` */
  append?: boolean;
  /**
   * Receives the whole CSV text after each epoch (the store object is rewritten, so a crash never
   * leaves half a row).
   */
  sink: (fullText: string) => void | Promise<void>;
  /**
   * The log already in the store, continued when `append` is set or when a run resumes
   * (`keepEpochsBelow` set): rows of epochs at or past `keepEpochsBelow` are dropped, since the
   * resumed run logs them again, so no epoch row is duplicated or lost.
   * @defaultValue none: a new file
   */
  existing?: { text: string; keepEpochsBelow?: number };
}

/**
 * Keras `keras/src/callbacks/csv_logger.py` with Python's `csv` module defaults (excel dialect):
 * header `epoch` then the first epoch's log keys sorted (and, if none starts with `val_`, the
 * `val_` twin of every key, which then read `NA`); `\r\n` line endings; floats as Python `str()`
 * (`1e-05`, `1.0`, `nan`); `NA` for a missing value; QUOTE_MINIMAL quoting (a field holding the
 * separator, a quote or a line break is quoted, quotes doubled). Appending to a non-empty log
 * writes no second header; the columns stay those of the existing header.
 */
export class CSVLogger extends Callback {
  override readonly name = 'CSVLogger';
  override readonly role = 'observer' as const;
  readonly separator: string;
  readonly append: boolean;
  private readonly sink: CSVLoggerOptions['sink'];
  private readonly existing?: CSVLoggerOptions['existing'];
  private keys: string[] | null = null;
  private text = '';
  private headerWritten = false;

  constructor(opts: CSVLoggerOptions) {
    super();
    this.separator = opts.separator ?? ',';
    this.append = opts.append ?? false;
    this.sink = opts.sink;
    this.existing = opts.existing;
  }

  /** The CSV text so far. */
  get content(): string {
    return this.text;
  }

  /** The columns and the whole text so far, so a resumed run rewrites the log with each epoch once. */
  override state(): JsonValue {
    return { keys: this.keys, text: this.text, headerWritten: this.headerWritten };
  }

  override restore(state: JsonValue): void {
    const s = stateObject(state, this.name);
    if ((s.keys !== null && !(Array.isArray(s.keys) && s.keys.every((k) => typeof k === 'string'))) || typeof s.text !== 'string' || typeof s.headerWritten !== 'boolean') {
      throw new TypeError('CSVLogger: the backed-up state is not one this callback wrote');
    }
    this.keys = s.keys === null ? null : [...(s.keys as string[])];
    this.text = s.text;
    this.headerWritten = s.headerWritten;
  }

  override async onTrainBegin(): Promise<void> {
    this.keys = null;
    this.text = '';
    this.headerWritten = false;
    const ex = this.existing;
    if (ex && (this.append || ex.keepEpochsBelow !== undefined) && ex.text.length > 0) {
      const lines = ex.text.split('\r\n');
      if (lines[lines.length - 1] === '') lines.pop();
      const header = lines[0] ?? '';
      if (header.length > 0) {
        const cols = splitRow(header, this.separator);
        if (cols[0] === 'epoch') this.keys = cols.slice(1);
        this.headerWritten = true;
      }
      const kept = [header];
      for (const line of lines.slice(1)) {
        const epoch = Number(splitRow(line, this.separator)[0]);
        if (ex.keepEpochsBelow !== undefined && !(epoch < ex.keepEpochsBelow)) continue;
        kept.push(line);
      }
      this.text = kept.map((l) => l + '\r\n').join('');
    }
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    if (this.keys === null) {
      const keys = Object.keys(logs).sort();
      if (keys.length > 0 && !keys.some((k) => k.startsWith('val_'))) keys.push(...keys.map((k) => 'val_' + k));
      this.keys = keys;
    }
    if (!this.headerWritten) {
      this.text += this.row(['epoch', ...this.keys]);
      this.headerWritten = true;
    }
    const cells = this.keys.map((k) => (logs[k] === undefined ? 'NA' : pyFloatRepr(logs[k])));
    this.text += this.row([String(epoch), ...cells]);
    await this.sink(this.text);
  }

  private row(fields: string[]): string {
    return fields.map((f) => quote(f, this.separator)).join(this.separator) + '\r\n';
  }
}

function quote(field: string, sep: string): string {
  if (field.includes(sep) || field.includes('"') || field.includes('\r') || field.includes('\n')) {
    return '"' + field.replace(/"/g, '""') + '"';
  }
  return field;
}

/** Splits one CSV row (excel dialect) into fields. */
export function splitRow(line: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuotes) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else inQuotes = false;
      } else cur += c;
    } else if (c === '"') inQuotes = true;
    else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}
