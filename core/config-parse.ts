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

/** Store settings shared by the API and the worker. */
export interface StoreConfig {
  uri: string;
  s3: { endpoint?: string; forcePathStyle?: boolean; region?: string };
}

export function parseStoreConfig(env: Record<string, string | undefined>, p: ConfigProblems, defaultUri: string): StoreConfig {
  const uri = env.KILN_STORE || defaultUri;
  if (!/^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?|file:\/\/\/.+)$/.test(uri)) {
    p.add('KILN_STORE', `must be s3://bucket[/prefix] or file:///absolute/dir, got '${uri}'`);
  }
  const endpoint = env.KILN_S3_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) p.add('KILN_S3_ENDPOINT', `must be an http(s) URL, got '${endpoint}'`);
  return {
    uri,
    s3: {
      endpoint,
      // A custom endpoint is nearly always an S3-compatible store that wants path-style URLs.
      forcePathStyle: p.bool(env, 'KILN_S3_FORCE_PATH_STYLE', endpoint !== undefined),
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    },
  };
}

export function parseRedisUrl(env: Record<string, string | undefined>, p: ConfigProblems): string {
  const url = env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(url)) p.add('REDIS_URL', `must start with redis:// or rediss://, got '${url}'`);
  return url;
}
