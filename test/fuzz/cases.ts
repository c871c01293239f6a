/**
 * What a fuzz case is: one request (well-formed HTTP, sent with fetch, or raw bytes over a socket
 * for framing errors), the category it belongs to in the report, and for cases that need it, a
 * dataset to put in the store first.
 */

/** The tenants a case can speak as; `none` sends no credentials. */
export type Speaker = 'acme' | 'none';

/** A well-formed HTTP request. `auth` adds the hostile tenant's key unless headers set their own. */
export interface HttpRequest {
  kind: 'http';
  method: string;
  /** Path and query, already encoded as they go on the wire. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  auth?: Speaker;
}

/** Bytes written to a fresh socket; the response (if any) is read until the server closes or answers. */
export interface RawRequest {
  kind: 'raw';
  /** Builds the bytes; `auth` is the hostile tenant's `Authorization` header value. */
  bytes(ctx: { auth: string; host: string }): Buffer;
  /** Half-close the socket after writing (a client that sent everything it will send). @defaultValue false */
  end?: boolean;
}

export interface FuzzCase {
  /** Stable, unique within a generation (category/operation/where/what). */
  id: string;
  /** The report's grouping: wrong-type, bounds, enum, unknown-property, deep-nesting, framing, … */
  category: string;
  /** The OpenAPI operationId the request is aimed at (or `raw`/`unknown-route`). */
  operation: string;
  request: HttpRequest | RawRequest;
  /** A case that issue 14 reported by name: always in the sample. */
  reported?: boolean;
  /** Objects to write into the hostile tenant's store area before the case is sent. */
  objects?: Array<{ key: string; body: () => string | Buffer }>;
  /** A job case runs alone, followed to its end, then a canary of the other tenant is submitted. */
  job?: boolean;
}

/** A JSON value that is written into the body verbatim (`1e400`, `-0`, arrays 100,000 deep). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Arrays nested `depth` deep around `inner`, as JSON text (built flat: no recursion). */
export function nestedArrays(depth: number, inner = '1'): RawJson {
  return new RawJson('['.repeat(depth) + inner + ']'.repeat(depth));
}

/** Objects nested `depth` deep (`{"a":{"a":…}}`). */
export function nestedObjects(depth: number): RawJson {
  return new RawJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
}

/** JSON.stringify that writes {@link RawJson} values verbatim. */
export function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0000raw${raws.length - 1}\u0000`;
    }
    return v;
  });
  if (raws.length === 0) return text;
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]);
}

/** Sets `obj[key]` as an own enumerable property, even for `__proto__`. */
export function defineOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Names that are properties of every JS object: a lookup table keyed by user input finds them. */
export const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__'] as const;
