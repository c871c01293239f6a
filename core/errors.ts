/**
 * Kiln's one error taxonomy. Every failure that crosses a boundary (HTTP response, job result,
 * log line) carries one of these codes. The maps below are exhaustive over the union, so adding a
 * code does not compile until it is given an HTTP status and a retry policy.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'JOB_SPEC_INVALID'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNAUTHENTICATED'
  | 'NOT_FOUND'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'JOB_NOT_CANCELLABLE'
  | 'RATE_LIMITED'
  | 'LIMIT_EXCEEDED'
  | 'RANGE_NOT_SATISFIABLE'
  | 'DATASET_INVALID'
  | 'MODEL_INVALID'
  | 'MODEL_NOT_EXPORTABLE'
  | 'TRAINING_DIVERGED'
  | 'QUEUE_UNAVAILABLE'
  | 'STORE_UNAVAILABLE'
  | 'WORKER_CRASHED'
  | 'INTERNAL';

interface CodeInfo {
  /** HTTP status the API answers with. */
  status: number;
  /** Short, stable human title (the problem document's `title`). */
  title: string;
  /** Whether a worker should let BullMQ retry a job that failed with this code. */
  retryable: boolean;
}

export const ERROR_CODES: { readonly [C in ErrorCode]: CodeInfo } = {
  BAD_REQUEST: { status: 400, title: 'Bad request', retryable: false },
  JOB_SPEC_INVALID: { status: 400, title: 'Invalid job specification', retryable: false },
  BODY_TOO_LARGE: { status: 413, title: 'Request body too large', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type', retryable: false },
  UNAUTHENTICATED: { status: 401, title: 'Missing or invalid API key', retryable: false },
  NOT_FOUND: { status: 404, title: 'Not found', retryable: false },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency key reused with a different body', retryable: false },
  JOB_NOT_CANCELLABLE: { status: 409, title: 'Job already finished', retryable: false },
  RATE_LIMITED: { status: 429, title: 'Too many submissions', retryable: true },
  LIMIT_EXCEEDED: { status: 400, title: 'Job exceeds a configured limit', retryable: false },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable', retryable: false },
  DATASET_INVALID: { status: 400, title: 'Dataset cannot be used', retryable: false },
  MODEL_INVALID: { status: 400, title: 'Model cannot be built', retryable: false },
  MODEL_NOT_EXPORTABLE: { status: 409, title: 'Model cannot be exported in that format', retryable: false },
  TRAINING_DIVERGED: { status: 422, title: 'Training diverged', retryable: false },
  QUEUE_UNAVAILABLE: { status: 503, title: 'Queue unavailable', retryable: true },
  STORE_UNAVAILABLE: { status: 503, title: 'Artifact store unavailable', retryable: true },
  WORKER_CRASHED: { status: 500, title: 'Worker crashed', retryable: true },
  INTERNAL: { status: 500, title: 'Internal error', retryable: true },
};

/** One offending field of a request, as a JSON pointer into the request body. */
export interface FieldProblem {
  /** JSON pointer (RFC 6901) of the offending field, e.g. `/callbacks/earlyStopping/patience`. */
  pointer: string;
  /** What is wrong and how to fix it. */
  detail: string;
}

/**
 * An error that knows its code. `detail` is safe to show to the caller (it must name the field and
 * the fix for user errors); `cause` keeps the underlying error for the log.
 */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly errors: FieldProblem[];
  /** Seconds a client should wait before retrying (rendered as `Retry-After`). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, detail: string, opts: { errors?: FieldProblem[]; cause?: unknown; retryAfter?: number } = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.code = code;
    this.errors = opts.errors ?? [];
    this.retryAfter = opts.retryAfter;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** Builds the JOB_SPEC_INVALID error for a list of field problems. */
export function specInvalid(errors: FieldProblem[]): KilnError {
  const first = errors[0];
  const detail = errors.length === 1
    ? `${first.pointer || '/'}: ${first.detail}`
    : `${errors.length} problems; first: ${first.pointer || '/'}: ${first.detail}`;
  return new KilnError('JOB_SPEC_INVALID', detail, { errors });
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}

/** Escapes one JSON pointer reference token (RFC 6901). */
export function pointerToken(token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Joins reference tokens into a JSON pointer. */
export function pointer(...tokens: Array<string | number>): string {
  return tokens.map((t) => '/' + pointerToken(t)).join('');
}

/**
 * The message a job fails with when it leaves the worker: `CODE: detail`. Both the worker (run
 * manifest, webhooks) and the API (job status) read it back with {@link parseFailure}.
 */
export function formatFailure(err: KilnError): string {
  return `${err.code}: ${err.message}`;
}

/** Parses a job's failure message; a lost worker (BullMQ's "stalled") becomes WORKER_CRASHED. */
export function parseFailure(reason: string | null): { code: ErrorCode; detail: string } {
  if (!reason) return { code: 'INTERNAL', detail: 'the job failed without a reason' };
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m && m[1] in ERROR_CODES) return { code: m[1] as ErrorCode, detail: m[2] };
  if (/stalled/i.test(reason)) return { code: 'WORKER_CRASHED', detail: `the worker running this job was lost too many times (${reason})` };
  // BullMQ's words when a sandboxed child process dies under a job (native crash, OOM kill, exit).
  if (/^Unexpected exit code/.test(reason)) return { code: 'WORKER_CRASHED', detail: `the training process died on every attempt (${reason}); the job may need more memory or a smaller model/batch` };
  return { code: 'INTERNAL', detail: reason };
}
