import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KilnError } from '../../core/errors';
import { sendProblem } from './problem-details';

/**
 * The operator key (KILN_ADMIN_KEY) guarding `GET /metrics` and `/admin/queues`. It is accepted as
 * `Authorization: Bearer <key>` (Prometheus `authorization` / `bearer_token_file`) or as HTTP Basic
 * with any user name and the key as the password (so a browser prompts for it on the dashboard).
 * Tenant API keys are not operator keys.
 */
export class AdminAuth {
  private readonly digest: Buffer | null;

  constructor(key: string | null) {
    this.digest = key === null ? null : sha256(key);
  }

  /** Whether an operator key is configured. */
  get enabled(): boolean {
    return this.digest !== null;
  }

  /** Whether the request carries the operator key (always true when none is configured). */
  accepts(request: FastifyRequest): boolean {
    if (this.digest === null) return true;
    const header = request.headers.authorization;
    if (typeof header !== 'string') return false;
    let presented: string | null = null;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (bearer) presented = bearer[1];
    else if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      presented = colon >= 0 ? decoded.slice(colon + 1) : null;
    }
    return presented !== null && timingSafeEqual(sha256(presented), this.digest);
  }

  /**
   * An `onRequest` hook answering 401 (a problem document with a `WWW-Authenticate` challenge)
   * unless the request carries the key. The challenge is Basic, which makes a browser ask for the
   * key (any user name, the key as password), except to a client that sent a Bearer token: it is
   * told that Bearer is what failed. It replies itself rather than throwing, so it also works in
   * scopes with an error handler of their own (bull-board's).
   */
  hook() {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      if (this.accepts(request)) return;
      const sentBearer = /^Bearer\s/i.test(request.headers.authorization ?? '');
      reply.header('www-authenticate', sentBearer ? 'Bearer realm="Kiln operators"' : 'Basic realm="Kiln operators", charset="UTF-8"');
      await sendProblem(reply, request, new KilnError('UNAUTHENTICATED', `send the operator key (KILN_ADMIN_KEY) as "Authorization: Bearer <key>" or as the password of HTTP Basic auth; tenant API keys are not accepted here`));
      return reply;
    };
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
