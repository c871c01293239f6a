/**
 * The typed Kiln client: an openapi-fetch client over the generated `paths` of
 * openapi/openapi.yaml, plus helpers for what plain request/response calls do not cover well —
 * turning problem documents into errors ({@link unwrap}), waiting for a job to end
 * ({@link waitForJob}) and following a job's Server-Sent Events ({@link streamEvents}).
 *
 * This file is the package's entry point (`exports`), so it holds the implementation itself rather
 * than re-exporting (it is not a barrel).
 */
import createClient, { type Client } from 'openapi-fetch';
import type {
  paths,
  SchemaJob,
  SchemaJobStatus,
  SchemaJobStreamCallback,
  SchemaJobStreamEnd,
  SchemaJobStreamEpoch,
  SchemaJobStreamStatus,
  SchemaProblem,
} from '../core/api.gen';
import { SseParser } from './sse-parser';

export type { paths } from '../core/api.gen';
export { SseParser, type SseMessage } from './sse-parser';

export interface KilnClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key from `KILN_API_KEYS`; sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /**
   * The fetch implementation.
   * @defaultValue `globalThis.fetch`
   */
  fetch?: (input: Request) => Promise<Response>;
}

/** The openapi-fetch client for Kiln's API: `GET`, `POST`, `DELETE`, ... typed by path. */
export type KilnClient = Client<paths>;

/** Creates a typed client; every request carries the API key. */
export function createKilnClient(options: KilnClientOptions): KilnClient {
  const headers: Record<string, string> = {};
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  return createClient<paths>({ baseUrl: options.baseUrl.replace(/\/+$/, ''), headers, ...(options.fetch ? { fetch: options.fetch } : {}) });
}

/** The API answered with an error status; {@link problem} is its RFC 9457 problem document. */
export class KilnApiError extends Error {
  override readonly name = 'KilnApiError';
  constructor(
    readonly status: number,
    readonly problem: SchemaProblem,
  ) {
    super(`${problem.detail ?? problem.title} (${problem.code}, HTTP ${status})`);
  }
}

/** The API could not be reached (connection refused, DNS, reset, ...); {@link reason} says why. */
export class KilnNetworkError extends Error {
  override readonly name = 'KilnNetworkError';
  readonly reason: string;
  constructor(options: { cause: unknown }) {
    const reason = describeCause(options.cause);
    super(`cannot reach the Kiln API: ${reason}`, options);
    this.reason = reason;
  }
}

function describeCause(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}

/** Turns a non-problem error body (a proxy's HTML page, an empty body) into a problem document. */
function toProblem(status: number, body: unknown, statusText: string): SchemaProblem {
  if (body && typeof body === 'object' && typeof (body as SchemaProblem).title === 'string') return body as SchemaProblem;
  const text = typeof body === 'string' && body.trim() ? body.trim().slice(0, 200) : undefined;
  return { type: 'about:blank', title: statusText || `HTTP ${status}`, status, code: `HTTP_${status}`, ...(text ? { detail: text } : {}) };
}

/**
 * Awaits an openapi-fetch call and returns its data, throwing {@link KilnApiError} for an error
 * status and {@link KilnNetworkError} when the request never got an answer.
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (e) {
    if (e instanceof KilnApiError || (e instanceof Error && e.name === 'AbortError')) throw e;
    throw new KilnNetworkError({ cause: e });
  }
  if (!result.response.ok) throw new KilnApiError(result.response.status, toProblem(result.response.status, result.error, result.response.statusText));
  return result.data as T;
}

const TERMINAL: ReadonlySet<SchemaJobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

/** Whether a job status is final. */
export function isTerminal(status: SchemaJobStatus): boolean {
  return TERMINAL.has(status);
}

export interface WaitForJobOptions {
  /**
   * Time between polls of `GET /v1/jobs/{jobId}`.
   * @defaultValue 1000
   */
  intervalMs?: number;
  /** Give up (throw) after this long. @defaultValue no limit */
  timeoutMs?: number;
  /** Called with every view of the job, including the final one. */
  onPoll?: (job: SchemaJob) => void;
  signal?: AbortSignal;
}

/** Polls a job until it is `succeeded`, `failed` or `cancelled`, and returns that final view. */
export async function waitForJob(client: KilnClient, jobId: string, options: WaitForJobOptions = {}): Promise<SchemaJob> {
  const interval = options.intervalMs ?? 1000;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  for (;;) {
    const job = await unwrap(client.GET('/v1/jobs/{jobId}', { params: { path: { jobId } }, signal: options.signal }));
    options.onPoll?.(job);
    if (isTerminal(job.status)) return job;
    if (Date.now() + interval > deadline) throw new Error(`job ${jobId} is still ${job.status} after ${options.timeoutMs} ms`);
    await sleep(interval, options.signal);
  }
}

/** One message of `GET /v1/jobs/{jobId}/events`, typed by its event name. */
export type JobEvent =
  | { event: 'status'; id: string; data: SchemaJobStreamStatus }
  | { event: 'epoch'; id: string; data: SchemaJobStreamEpoch }
  | { event: 'callback'; id: string; data: SchemaJobStreamCallback }
  | { event: 'end'; id: string; data: SchemaJobStreamEnd };

const EVENT_NAMES: ReadonlySet<string> = new Set(['status', 'epoch', 'callback', 'end']);

export interface StreamEventsOptions {
  /** Resume after this event id (`Last-Event-ID`), e.g. the `id` of the last event you handled. */
  lastEventId?: string;
  /**
   * Connection attempts in a row that may fail (network error, 5xx, a stream that closes before
   * `end`) before the iterator throws; each reconnect resumes after the last event received.
   * @defaultValue 5
   */
  maxRetries?: number;
  /**
   * Delay before a reconnect, unless the server sent `retry:`; doubled per failure in a row.
   * @defaultValue 500
   */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows a job's Server-Sent Events as an async iterator: the history so far, then live events,
 * ending after the `end` event. A dropped connection is resumed with `Last-Event-ID`, so no event
 * is yielded twice or skipped. Events with names this client does not know are skipped. A 4xx
 * answer (unknown job, bad key) throws {@link KilnApiError} at once.
 */
export async function* streamEvents(client: KilnClient, jobId: string, options: StreamEventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
  const maxRetries = options.maxRetries ?? 5;
  const baseDelay = options.retryDelayMs ?? 500;
  let lastEventId = options.lastEventId;
  let failures = 0;
  for (;;) {
    const parser = new SseParser();
    let progressed = false;
    let failure: unknown;
    try {
      const body = await unwrap(
        client.GET('/v1/jobs/{jobId}/events', {
          params: { path: { jobId }, header: lastEventId === undefined ? undefined : { 'Last-Event-ID': lastEventId } },
          headers: { accept: 'text/event-stream' },
          parseAs: 'stream',
          signal: options.signal,
        }),
      );
      if (!body) throw new Error('the event stream has no body');
      const decoder = new TextDecoder();
      const reader = body.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
          for (const message of parser.push(text)) {
            if (!EVENT_NAMES.has(message.event)) continue;
            const event = { event: message.event, id: message.id, data: JSON.parse(message.data) } as JobEvent;
            lastEventId = message.id;
            progressed = true;
            yield event;
            if (event.event === 'end') return;
          }
          if (done) break;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
      failure = new Error('the event stream closed before its end event');
    } catch (e) {
      if (options.signal?.aborted) throw e;
      if (e instanceof KilnApiError && e.status < 500) throw e;
      if (e instanceof SyntaxError) throw new Error(`the event stream sent data that is not JSON: ${e.message}`, { cause: e });
      failure = e;
    }
    failures = progressed ? 1 : failures + 1;
    if (failures > maxRetries) throw failure instanceof KilnApiError || failure instanceof KilnNetworkError ? failure : new KilnNetworkError({ cause: failure });
    await sleep(parser.retryMs ?? baseDelay * 2 ** (failures - 1), options.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
