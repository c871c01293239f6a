import { Callback } from './callback';
import type { Logs } from './model-handle';
import { pyFloatRepr } from './python-format';

/** One POST as Keras's RemoteMonitor makes it with `requests.post`. */
export interface RemoteMonitorRequest {
  /** `root + path`. */
  url: string;
  /** The user's headers plus the body's Content-Type (as `requests` sets it). */
  headers: Record<string, string>;
  body: string;
  epoch: number;
}

/**
 * Sends a RemoteMonitor request. The worker implements it through the outbound policy
 * (core/outbound-policy.ts: SSRF guard, allow-list) with a timeout of 10 s, as Keras uses; it
 * rejects when the server cannot be reached.
 */
export interface RemoteMonitorSender {
  send(request: RemoteMonitorRequest): Promise<void>;
}

/** RemoteMonitor options (Keras arguments in camelCase). */
export interface RemoteMonitorOptions {
  /** @defaultValue `'http://localhost:9000'` */
  root?: string;
  /** @defaultValue `'/publish/epoch/end/'` */
  path?: string;
  /** Form field holding the JSON document (form bodies only). @defaultValue `'data'` */
  field?: string;
  /** @defaultValue none */
  headers?: Record<string, string>;
  /** Send the document as an `application/json` body instead of a form. @defaultValue `false` */
  sendAsJson?: boolean;
  sender: RemoteMonitorSender;
}

/**
 * Python `json.dumps` of RemoteMonitor's `send` dict: `", "` and `": "` separators, keys in
 * insertion order (`epoch` first), floats as `repr(float)`, and non-finite floats as the
 * `NaN` / `Infinity` / `-Infinity` tokens (`allow_nan=True`, not valid JSON but what Keras sends).
 */
export function pythonJsonDumps(epoch: number, logs: Logs): string {
  const parts = [`"epoch": ${epoch}`];
  for (const [k, v] of Object.entries(logs)) {
    const num = Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : pyFloatRepr(v);
    parts.push(`${JSON.stringify(k)}: ${num}`);
  }
  return `{${parts.join(', ')}}`;
}

/** Python `urllib.parse.quote_plus` (what `requests` uses to encode a form): space as `+`. */
export function quotePlus(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

/**
 * Keras `keras/src/callbacks/remote_monitor.py`: at each epoch end, POSTs `{"epoch": epoch, ...logs}`
 * to `root + path` - by default as a form whose `field` holds the JSON document
 * (`requests.post(url, {field: json.dumps(send)})`), with `sendAsJson` as a JSON body
 * (`requests.post(url, json=send)`). A request that fails is Keras's warning `Could not reach
 * RemoteMonitor root server at {root}` and training goes on. With `sendAsJson`, an epoch whose
 * logs hold NaN or infinity is not sent: `requests` refuses non-finite floats in `json=`
 * (InvalidJSONError, a RequestException), so Keras warns the same way.
 */
export class RemoteMonitor extends Callback {
  override readonly name = 'RemoteMonitor';
  override readonly role = 'observer' as const;
  readonly root: string;
  readonly path: string;
  readonly field: string;
  readonly headers: Record<string, string>;
  readonly sendAsJson: boolean;
  private readonly sender: RemoteMonitorSender;

  constructor(opts: RemoteMonitorOptions) {
    super();
    this.root = opts.root ?? 'http://localhost:9000';
    this.path = opts.path ?? '/publish/epoch/end/';
    this.field = opts.field ?? 'data';
    this.headers = opts.headers ?? {};
    this.sendAsJson = opts.sendAsJson ?? false;
    this.sender = opts.sender;
  }

  /** The request Keras would make for an epoch, or null where `requests` refuses to build it. */
  request(epoch: number, logs: Logs): RemoteMonitorRequest | null {
    const url = this.root + this.path;
    if (this.sendAsJson) {
      if (Object.values(logs).some((v) => !Number.isFinite(v))) return null;
      return { url, epoch, headers: { ...this.headers, 'Content-Type': 'application/json' }, body: pythonJsonDumps(epoch, logs) };
    }
    return {
      url,
      epoch,
      headers: { ...this.headers, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `${quotePlus(this.field)}=${quotePlus(pythonJsonDumps(epoch, logs))}`,
    };
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const req = this.request(epoch, logs);
    try {
      if (req === null) throw new Error('Out of range float values are not JSON compliant');
      await this.sender.send(req);
    } catch {
      // Keras catches requests' RequestException and warns; the reason is not part of its message.
      this.log.warn(`Could not reach RemoteMonitor root server at ${this.root}`);
    }
  }
}
