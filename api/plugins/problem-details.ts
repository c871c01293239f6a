import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, KilnError, type ErrorCode, type FieldProblem } from '../../core/errors';
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
  if (typeof (e as any)?.statusCode === 'number' && (e as any).statusCode === 413) {
    return new KilnError('BODY_TOO_LARGE', 'the request body is larger than the configured limit (KILN_BODY_LIMIT_BYTES)');
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
    .send(problemDocument(err.code, detail, err.errors, request.url));
}

export function registerProblemDetails(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const err = toKilnError(error);
    if (err.status >= 500) request.log.error({ err: error, code: err.code }, 'request failed');
    else request.log.info({ code: err.code, detail: err.message }, 'request rejected');
    return sendProblem(reply, request, err);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, new KilnError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; see /openapi.json`)),
  );
}
