import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { boundText, ERROR_CODES, KilnError, type ErrorCode, type FieldProblem } from '../../core/errors';
import { ajvErrorsToProblems } from '../validation';

/** The one place errors become HTTP responses: RFC 9457 problem documents, 5xx details logged only. */
export function problemDocument(code: ErrorCode, detail: string | undefined, errors: FieldProblem[], instance?: string) {
  const info = ERROR_CODES[code];
  return {
    type: `https://kiln.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: info.title,
    status: info.status,
    code,
    ...(detail !== undefined ? { detail } : {}),
    ...(instance ? { instance } : {}),
    ...(errors.length ? { errors } : {}),
  };
}

/** Maps any error thrown in a route (ours, Fastify's, Ajv's) to a KilnError. */
export function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const e = err as FastifyError & { validation?: any[]; validationContext?: string };
  if (Array.isArray(e?.validation)) {
    const part = e.validationContext ?? 'body';
    const errors = ajvErrorsToProblems(e.validation, part);
    const code: ErrorCode = part === 'body' ? 'JOB_SPEC_INVALID' : 'BAD_REQUEST';
    const first = errors[0];
    const detail = first ? (errors.length === 1 ? `${first.pointer}: ${first.detail}` : `${errors.length} problems; first: ${first.pointer}: ${first.detail}`) : 'request is invalid';
    return new KilnError(code, detail, { errors });
  }
  switch (e?.code) {
    case 'FST_ERR_BAD_URL':
      return new KilnError('BAD_REQUEST', 'the URL is not valid: a path segment is not a well-formed percent-encoded component; encode it with encodeURIComponent');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new KilnError('URI_TOO_LONG', 'a path parameter is longer than any valid id; check the URL');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KilnError('BODY_TOO_LARGE', 'the request body is larger than the configured limit (KILN_BODY_LIMIT_BYTES); send a smaller body');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KilnError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new KilnError('BAD_REQUEST', `the body is not valid JSON: ${e.message}`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new KilnError('BAD_REQUEST', 'the Content-Length header does not match the body');
  }
  if (e instanceof SyntaxError || (e as any)?.statusCode === 400) {
    return new KilnError('BAD_REQUEST', `the request could not be read: ${e.message}`);
  }
  const status = (e as any)?.statusCode;
  if (status === 413) return new KilnError('BODY_TOO_LARGE', 'the request body is larger than the configured limit (KILN_BODY_LIMIT_BYTES)');
  if (status === 414) return new KilnError('URI_TOO_LONG', 'the URL is too long');
  if (status === 415) return new KilnError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  if (status === 404) return new KilnError('NOT_FOUND', 'not found');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new KilnError('BAD_REQUEST', `the request could not be read: ${typeof e.message === 'string' ? e.message : 'invalid request'}`);
  }
  return new KilnError('INTERNAL', 'internal error', { cause: err });
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, err: KilnError) {
  const status = err.status;
  const detail = status >= 500 && err.code === 'INTERNAL' ? `an internal error occurred; reference ${request.id}` : err.message;
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
  return reply
    .code(status)
    .type('application/problem+json')
    .send(problemDocument(err.code, detail, err.errors, instanceOf(request.url)));
}

/** The request path as the problem's `instance`, bounded (a URL may be kilobytes long). */
function instanceOf(url: string): string {
  return boundText(url.split('?')[0], 256);
}

/**
 * Errors Node's HTTP parser meets before Fastify sees a request (headers too large, broken framing,
 * a request timeout), answered as problem documents instead of Fastify's plain JSON. Passed to
 * Fastify as `clientErrorHandler`; the socket is closed after the answer, as Node does.
 */
export function clientErrorProblem(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let error: KilnError;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      error = new KilnError('HEADERS_TOO_LARGE', 'the request line and headers are larger than the server accepts (16 KiB); send shorter headers or a shorter URL');
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      error = new KilnError('REQUEST_TIMEOUT', 'the request was not received in time; send it again');
      break;
    default:
      error = new KilnError('BAD_REQUEST', `the request is not well-formed HTTP/1.1 (${String(err.code ?? 'parse error')}); check its framing: Content-Length or chunked Transfer-Encoding, header syntax`);
  }
  const body = JSON.stringify(problemDocument(error.code, error.message, []));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${error.status} ${ERROR_CODES[error.code].title}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/**
 * The two answers Node's HTTP server writes itself, with an empty body, before Fastify runs: an
 * HTTP/1.1 request without `Host` (the app turns Node's `requireHostHeader` off and refuses it in
 * {@link registerProblemDetails}) and an `Expect` other than `100-continue` (Node's
 * `checkExpectation` event, answered here as a problem document).
 */
export function answerUnsupportedExpectation(req: IncomingMessage, res: ServerResponse): void {
  const error = new KilnError('EXPECTATION_FAILED', `Expect: ${boundText(String(req.headers.expect ?? ''), 64)} is not supported; send the request without an Expect header, or with Expect: 100-continue`);
  const body = JSON.stringify(problemDocument(error.code, error.message, [], instanceOf(req.url ?? '/')));
  res.writeHead(error.status, { 'content-type': 'application/problem+json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** Fastify's router errors (a malformed URL, an over-long path parameter) as problem documents: `frameworkErrors`. */
export function frameworkErrorProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  request.log.info({ code: error.code }, 'request rejected by the router');
  return sendProblem(reply, request, toKilnError(error));
}

export function registerProblemDetails(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const err = toKilnError(error);
    if (err.status >= 500) request.log.error({ err: error, code: err.code }, 'request failed');
    else request.log.info({ code: err.code, detail: err.message }, 'request rejected');
    return sendProblem(reply, request, err);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, new KilnError('NOT_FOUND', `no route ${request.method} ${instanceOf(request.url)}; see /openapi.json`)),
  );
  // Fastify's own 503 while closing is plain JSON written before any hook runs, so the app turns
  // it off (return503OnClosing: false) and answers here instead.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Callback style: cheaper per request than an async hook, and this runs on every request.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      reply.header('connection', 'close');
      return sendProblem(reply, request, new KilnError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header (RFC 9112 §3.2); send one'));
    }
    if (!closing) return done();
    reply.header('connection', 'close');
    sendProblem(reply, request, new KilnError('SERVICE_UNAVAILABLE', 'the server is shutting down; retry shortly', { retryAfter: 1 }));
  });
}
