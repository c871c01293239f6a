import type { FastifyRequest } from 'fastify';

/** A Host header Kiln will repeat in a document: a DNS name, IPv4 or bracketed IPv6, and a port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The base URL a client reached the API at, for documents that must name it (the OpenAPI
 * `servers`, so Swagger UI's "Try it out" calls the API that served it).
 *
 * `KILN_PUBLIC_URL` when configured; otherwise the request's own origin: the connection's scheme
 * (`https` only when Kiln itself terminates TLS) and its `Host` header. Kiln does not enable
 * Fastify's `trustProxy`, so `X-Forwarded-Proto` / `X-Forwarded-Host` are ignored: any client can
 * send them, and behind a proxy that terminates TLS or adds a path prefix the operator sets
 * `KILN_PUBLIC_URL` instead. A missing or malformed Host gives `/`, a URL relative to the document
 * (OpenAPI 3.1 §4.8.5), which is still right for a browser that fetched it.
 */
export function publicOrigin(request: FastifyRequest, publicUrl: string | null): string {
  if (publicUrl !== null) return publicUrl;
  const host = request.host;
  return HOST.test(host) ? `${request.protocol}://${host}` : '/';
}
