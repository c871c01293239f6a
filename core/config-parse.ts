/**
 * Small helpers for the entry points' `loadConfig(env)` functions: each collects every problem
 * instead of stopping at the first, so a bad deployment learns everything at once.
 */
import { parseTenantLimit, type TenantLimit } from './tenant-limits';

export class ConfigProblems {
  readonly problems: string[] = [];

  add(name: string, problem: string): void {
    this.problems.push(`${name}: ${problem}`);
  }

  int(env: Record<string, string | undefined>, name: string, def: number, min: number, max: number): number {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.add(name, `must be an integer from ${min} to ${max}, got '${raw}'`);
      return def;
    }
    return n;
  }

  bool(env: Record<string, string | undefined>, name: string, def: boolean): boolean {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    this.add(name, `must be true or false, got '${raw}'`);
    return def;
  }

  oneOf<T extends string>(env: Record<string, string | undefined>, name: string, def: T, allowed: readonly T[]): T {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.add(name, `must be one of ${allowed.join(', ')}, got '${raw}'`);
    return def;
  }

  /** A per-tenant limit (`4,acme=16`; 0 = unlimited), see core/tenant-limits.ts. */
  tenantLimit(env: Record<string, string | undefined>, name: string, def: number): TenantLimit {
    const { limit, problems } = parseTenantLimit(env[name], def);
    for (const problem of problems) this.add(name, problem);
    return limit;
  }

  /** Throws one error listing every problem, if there are any. */
  check(what: string): void {
    if (this.problems.length > 0) {
      throw new Error(`Invalid ${what} configuration:\n  - ${this.problems.join('\n  - ')}`);
    }
  }
}

export function parseRedisUrl(env: Record<string, string | undefined>, p: ConfigProblems): string {
  const url = env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(url)) p.add('REDIS_URL', `must start with redis:// or rediss://, got '${url}'`);
  return url;
}

/**
 * `KILN_PUBLIC_URL`: the origin (and path prefix, if any) clients reach the API at, without a
 * trailing slash; null when unset. The API names it in served documents (the OpenAPI `servers`),
 * the worker in webhook links.
 */
export function parsePublicUrl(env: Record<string, string | undefined>, p: ConfigProblems): string | null {
  const raw = env.KILN_PUBLIC_URL;
  if (raw === undefined || raw === '') return null;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    p.add('KILN_PUBLIC_URL', `must be an http(s) URL without query, fragment or credentials, e.g. https://kiln.example.com, got '${raw}'`);
    return null;
  }
  return raw.replace(/\/+$/, '');
}
