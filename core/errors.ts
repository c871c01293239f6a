/**
 * Kiln's one error taxonomy. Every failure that crosses a boundary (HTTP response, job result,
 * log line) carries one of these codes. The maps below are exhaustive over the union, so adding a
 * code does not compile until it is given an HTTP status and a retry policy.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'JOB_SPEC_INVALID'
  | 'BODY_TOO_LARGE'
  | 'URI_TOO_LONG'
  | 'HEADERS_TOO_LARGE'
  | 'EXPECTATION_FAILED'
  | 'REQUEST_TIMEOUT'
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
  | 'TRAINING_STALLED'
  | 'RESOURCE_EXHAUSTED'
  | 'QUEUE_UNAVAILABLE'
  | 'SERVICE_UNAVAILABLE'
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
  URI_TOO_LONG: { status: 414, title: 'URI too long', retryable: false },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large', retryable: false },
  EXPECTATION_FAILED: { status: 417, title: 'Expectation not supported', retryable: false },
  REQUEST_TIMEOUT: { status: 408, title: 'Request timed out', retryable: false },
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
  // A job whose training process made no progress, or outgrew the worker's memory ceiling, would do
  // the same on every attempt: it fails once.
  TRAINING_STALLED: { status: 422, title: 'Training made no progress', retryable: false },
  RESOURCE_EXHAUSTED: { status: 422, title: 'Job exceeded the worker memory ceiling', retryable: false },
  QUEUE_UNAVAILABLE: { status: 503, title: 'Queue unavailable', retryable: true },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable', retryable: true },
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
 * Size bounds of what an error carries across a boundary (problem documents, job failure
 * messages, webhooks): a detail of at most this many characters, at most {@link MAX_ERROR_PROBLEMS}
 * field problems, each with a pointer and a detail of at most {@link MAX_PROBLEM_TEXT} characters.
 * A hostile input (a 10 MB formatted path) must not become a 10 MB `GET /v1/jobs`.
 */
export const MAX_ERROR_DETAIL = 2000;
/** See {@link MAX_ERROR_DETAIL}. */
export const MAX_ERROR_PROBLEMS = 50;
/** See {@link MAX_ERROR_DETAIL}. */
export const MAX_PROBLEM_TEXT = 500;

/** `text` cut to `max` characters, saying how much was cut. */
export function boundText(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = `… (${text.length - max} more characters)`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

function boundProblems(errors: FieldProblem[]): FieldProblem[] {
  const kept = errors.length > MAX_ERROR_PROBLEMS ? errors.slice(0, MAX_ERROR_PROBLEMS) : errors;
  return kept.map((e) => (e.pointer.length <= MAX_PROBLEM_TEXT && e.detail.length <= MAX_PROBLEM_TEXT
    ? e
    : { pointer: boundText(e.pointer, MAX_PROBLEM_TEXT), detail: boundText(e.detail, MAX_PROBLEM_TEXT) }));
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
    super(boundText(detail, MAX_ERROR_DETAIL), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.code = code;
    this.errors = boundProblems(opts.errors ?? []);
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
  const firstText = boundText(`${first.pointer || '/'}: ${first.detail}`, MAX_PROBLEM_TEXT);
  const detail = errors.length === 1 ? firstText : `${errors.length} problems; first: ${firstText}`;
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
  return `${err.code}: ${boundText(err.message, MAX_ERROR_DETAIL)}`;
}

/** Parses a job's failure message; a lost worker (BullMQ's "stalled") becomes WORKER_CRASHED. */
export function parseFailure(reason: string | null): { code: ErrorCode; detail: string } {
  if (!reason) return { code: 'INTERNAL', detail: 'the job failed without a reason' };
  // Failures stored before details were bounded (or written by other code) are cut here too.
  reason = boundText(reason, MAX_ERROR_DETAIL + 40);
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m && Object.prototype.hasOwnProperty.call(ERROR_CODES, m[1])) return { code: m[1] as ErrorCode, detail: m[2] };
  if (/stalled/i.test(reason)) return { code: 'WORKER_CRASHED', detail: `the worker running this job was lost too many times (${reason})` };
  // BullMQ's words when a sandboxed child process dies under a job (native crash, OOM kill, exit).
  if (/^Unexpected exit code/.test(reason)) return { code: 'WORKER_CRASHED', detail: `the training process died on every attempt (${reason}); the job may need more memory or a smaller model/batch` };
  return { code: 'INTERNAL', detail: boundText(reason, MAX_ERROR_DETAIL) };
}
