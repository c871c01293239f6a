/** Small helpers shared by the bench scripts: flags, order statistics, a seeded generator. */
import { mulberry32 } from '../../core/random';

/** The value below which `p` (0–100) percent of `values` lie (nearest rank); NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Parses `--kebab-case <number>` flags over `defaults` (camelCase keys, numbers only). Prints every
 * problem and exits 2 on an unknown flag or a value that is not a non-negative number.
 */
export function parseFlags<T extends Record<string, number>>(argv: string[], name: string, defaults: T): T {
  const out: Record<string, number> = { ...defaults };
  const problems: string[] = [];
  const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const keys = new Map(Object.keys(defaults).map((k) => [flagOf(k), k]));
  for (let i = 0; i < argv.length; i++) {
    const key = keys.get(argv[i]);
    if (key === undefined) {
      problems.push(`unknown flag '${argv[i]}' (known: ${[...keys.keys()].join(', ')})`);
      continue;
    }
    const raw = argv[++i];
    const n = Number(raw);
    if (raw === undefined || !Number.isFinite(n) || n < 0) problems.push(`${argv[i - 1]} needs a non-negative number, got '${raw ?? ''}'`);
    else out[key] = n;
  }
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${name}: ${p}\n`);
    process.exit(2);
  }
  return out as T;
}

/** mulberry32: a reproducible uniform [0, 1) generator for bench data. */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}
