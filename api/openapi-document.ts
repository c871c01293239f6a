import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** The parsed contract, read once from openapi/openapi.yaml (shipped beside dist/). */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, any>>;
  components: Record<string, Record<string, any>>;
  [k: string]: unknown;
}

/** Where openapi/openapi.yaml is, from both the TypeScript sources and the compiled dist/. */
export function openApiPath(): string {
  // api/ → ../openapi ; dist/api/ → ../../openapi
  for (const rel of ['../openapi/openapi.yaml', '../../openapi/openapi.yaml']) {
    const p = join(__dirname, rel);
    try {
      readFileSync(p, { flag: 'r' });
      return p;
    } catch {
      // try the next layout
    }
  }
  throw new Error(`openapi/openapi.yaml not found next to ${__dirname}`);
}

export function loadOpenApiDocument(): OpenApiDocument {
  return parse(readFileSync(openApiPath(), 'utf8')) as OpenApiDocument;
}

/**
 * The document as served to one client, naming `serverUrl` (see api/public-origin.ts) as its only
 * server instead of the file's development default. A shallow copy: the parsed document is shared.
 */
export function withServer<T extends object>(doc: T, serverUrl: string): T & { servers: Array<{ url: string }> } {
  return { ...doc, servers: [{ url: serverUrl }] };
}

/** OpenAPI keywords that are not JSON Schema and that the validator must not see. */
const OPENAPI_ONLY = new Set(['example', 'xml', 'externalDocs', 'discriminator']);

/**
 * Returns `schema` with every local `$ref` replaced by a copy of its target and OpenAPI-only
 * keywords removed, so Ajv can compile it without the rest of the document. The contract has no
 * recursive schemas; a cycle is reported rather than looped on.
 */
export function dereference(doc: OpenApiDocument, schema: unknown, seen: string[] = []): any {
  if (Array.isArray(schema)) return schema.map((s) => dereference(doc, s, seen));
  if (schema === null || typeof schema !== 'object') return schema;
  const obj = schema as Record<string, unknown>;
  if (typeof obj.$ref === 'string') {
    const ref = obj.$ref;
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
    if (seen.includes(ref)) throw new Error(`recursive $ref ${ref}`);
    let target: any = doc;
    for (const token of ref.slice(2).split('/')) target = target?.[token.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (target === undefined) throw new Error(`dangling $ref ${ref}`);
    const resolved = dereference(doc, target, [...seen, ref]);
    // Sibling keywords next to a $ref (3.1 allows them, e.g. a default) override the target's.
    const siblings = Object.fromEntries(Object.entries(obj).filter(([k]) => k !== '$ref'));
    return Object.keys(siblings).length ? { ...resolved, ...dereference(doc, siblings, seen) } : resolved;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (OPENAPI_ONLY.has(k)) continue;
    // `examples` inside a schema is JSON Schema (an array); keep it. Under properties, every key is a name.
    out[k] = k === 'properties' || k === 'patternProperties'
      ? Object.fromEntries(Object.entries(v as object).map(([name, s]) => [name, dereference(doc, s, seen)]))
      : dereference(doc, v, seen);
  }
  return out;
}

export interface OperationRoute {
  operationId: string;
  method: string;
  /** Fastify-style URL (`/v1/jobs/:jobId`). */
  url: string;
  /** Whether the operation needs an API key (the document's security, default global). */
  secured: boolean;
  schema: { body?: object; params?: object; querystring?: object; headers?: object };
}

/** Every operation in the document, with request schemas built from its parameters and body. */
export function operationRoutes(doc: OpenApiDocument): OperationRoute[] {
  const routes: OperationRoute[] = [];
  const globalSecured = Array.isArray(doc.security) && (doc.security as unknown[]).length > 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = (item.parameters ?? []) as unknown[];
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      const params = [...shared, ...(op.parameters ?? [])].map((p) => dereference(doc, p));
      const schema: OperationRoute['schema'] = {};
      for (const where of ['path', 'query', 'header'] as const) {
        const ps = params.filter((p: any) => p.in === where);
        if (ps.length === 0) continue;
        const obj = {
          type: 'object',
          properties: Object.fromEntries(ps.map((p: any) => [where === 'header' ? p.name.toLowerCase() : p.name, p.schema])),
          required: ps.filter((p: any) => p.required).map((p: any) => (where === 'header' ? p.name.toLowerCase() : p.name)),
          // Unknown query parameters are errors, like unknown body fields; headers are open.
          ...(where === 'query' ? { additionalProperties: false } : {}),
        };
        if (where === 'path') schema.params = obj;
        else if (where === 'query') schema.querystring = obj;
        else schema.headers = obj;
      }
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body) schema.body = dereference(doc, body);
      const secured = op.security !== undefined ? (op.security as unknown[]).length > 0 : globalSecured;
      routes.push({ operationId: op.operationId, method: method.toUpperCase(), url: path.replace(/\{(\w+)\}/g, ':$1'), secured, schema });
    }
  }
  return routes;
}
