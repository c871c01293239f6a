import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { KilnError } from '../../core/errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant the request's API key belongs to (set on secured routes). */
    tenant: string;
  }
}

/**
 * Resolves Bearer API keys to tenants. Keys are compared as SHA-256 digests in constant time, so
 * neither the map lookup nor the comparison leaks a key's prefix through timing.
 */
export class ApiKeyAuth {
  private readonly digests: Array<{ digest: Buffer; tenant: string }>;

  constructor(keys: Map<string, string>) {
    this.digests = [...keys].map(([key, tenant]) => ({ digest: sha256(key), tenant }));
  }

  tenantFor(request: FastifyRequest): string {
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new KilnError('UNAUTHENTICATED', 'send an API key as "Authorization: Bearer <key>"');
    const digest = sha256(m[1]);
    let tenant: string | null = null;
    for (const d of this.digests) if (timingSafeEqual(d.digest, digest)) tenant = d.tenant;
    if (tenant === null) throw new KilnError('UNAUTHENTICATED', 'the API key is not valid; check KILN_API_KEYS or ask for a key');
    return tenant;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
