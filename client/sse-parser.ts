/** One dispatched Server-Sent Events message. */
export interface SseMessage {
  /** The `event:` field; `message` when the message had none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen so far on the stream (it carries over to later messages, as in EventSource). */
  id: string;
}

/**
 * An incremental `text/event-stream` parser following the WHATWG "event stream interpretation"
 * rules: lines end in CRLF, LF or CR (possibly split across chunks), `:` lines are comments, one
 * leading space after the colon is dropped, a blank line dispatches, a message without data is not
 * dispatched, an `id` containing NUL is ignored. `retry:` is recorded in {@link retryMs}.
 */
export class SseParser {
  /** The stream's last event id (what a reconnect sends as `Last-Event-ID`). */
  lastEventId = '';
  /** The reconnection delay the server asked for, if it did. */
  retryMs: number | undefined;
  private buffer = '';
  private pendingCr = false;
  private event = '';
  private data: string[] = [];
  private hasData = false;

  /** Feeds decoded text; returns the messages it completed. */
  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 && this.pendingCr && i === start && this.buffer === '') {
        // The LF of a CRLF whose CR ended the previous chunk.
        this.pendingCr = false;
        start = i + 1;
        continue;
      }
      this.pendingCr = false;
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer + text.slice(start, i);
      this.buffer = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.buffer += text.slice(start);
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the spec requires.
        break;
    }
    return null;
  }

  private dispatch(): SseMessage | null {
    const message = this.hasData ? { event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId } : null;
    this.event = '';
    this.data = [];
    this.hasData = false;
    return message;
  }
}
