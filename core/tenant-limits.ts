/**
 * Per-tenant limits as configured: a default for every tenant and overrides for some. One text
 * format for every limit variable, e.g. `KILN_TENANT_MAX_RUNNING=4,acme=16,trial=1`: the bare number
 * is the default, `tenant=N` overrides it, and 0 means unlimited.
 */
export interface TenantLimit {
  /** Applies to tenants without an override; 0 = unlimited. */
  readonly fallback: number;
  readonly overrides: ReadonlyMap<string, number>;
}

/** The limit for one tenant; 0 = unlimited. */
export function limitFor(limit: TenantLimit, tenant: string): number {
  return limit.overrides.get(tenant) ?? limit.fallback;
}

/** Parses the format above; returns the problems instead of throwing, so config can list them all. */
export function parseTenantLimit(text: string | undefined, fallback: number): { limit: TenantLimit; problems: string[] } {
  const problems: string[] = [];
  const overrides = new Map<string, number>();
  let value = fallback;
  let sawDefault = false;
  for (const part of (text ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const tenant = eq < 0 ? null : part.slice(0, eq).trim();
    const numberText = eq < 0 ? part : part.slice(eq + 1).trim();
    const n = /^\d{1,9}$/.test(numberText) ? Number(numberText) : NaN;
    if (!Number.isInteger(n)) {
      problems.push(`'${part}' is not a whole number of 0 or more${tenant === null ? '' : ' after the tenant'}; write e.g. 4,acme=16 (0 = unlimited)`);
      continue;
    }
    if (tenant === null) {
      if (sawDefault) problems.push(`more than one default ('${part}'); give one bare number and tenant=N for the rest`);
      sawDefault = true;
      value = n;
    } else if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(tenant)) {
      problems.push(`'${tenant}' is not a tenant name (lowercase a-z, 0-9, -)`);
    } else {
      overrides.set(tenant, n);
    }
  }
  return { limit: { fallback: value, overrides }, problems };
}

/**
 * The per-job cap on epochs × training rows (`KILN_MAX_EPOCH_ROWS`, 0 = no cap): null when the job
 * fits, else a message naming both numbers and the fix. Checked at submission where the row count
 * is known (built-in datasets) and by the worker once a stored dataset is read.
 */
export function epochRowsProblem(epochs: number, rows: number, cap: number): string | null {
  if (cap <= 0 || epochs * rows <= cap) return null;
  const most = Math.max(1, Math.floor(cap / Math.max(rows, 1)));
  return `fit.epochs ${epochs} × ${rows} dataset rows = ${epochs * rows} sample passes, above this deployment's cap of ${cap} (KILN_MAX_EPOCH_ROWS); use at most ${most} epochs for this dataset, or a smaller dataset`;
}
