import type { KilnClient } from '../client/index';

/** Where a command writes; injectable so tests can capture output. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stdout is a terminal (progress bars redraw in place only then). */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

/** The exit codes `kiln --help` and the README document. */
export const EXIT = {
  OK: 0,
  /** The job failed or was cancelled (simulate: the request is invalid). */
  JOB_FAILED: 1,
  USAGE: 2,
  /** The API refused the request, could not be reached, or a local file could not be written. */
  API: 3,
  NOT_FOUND: 4,
  AUTH: 5,
} as const;

/** A command line that cannot be run as given; exits 2 with the command's usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What every command gets: output, the API client and the global options. */
export interface CliContext {
  io: CliIo;
  /** The command's name, for messages (`kiln status: ...`). */
  command: string;
  /** The API's base URL (`--url`, `KILN_URL`). */
  url: string;
  /** The typed API client, carrying `--key` / `KILN_API_KEY`. */
  client: KilnClient;
  /** `--json`: one JSON document on stdout (NDJSON for event streams); errors as JSON on stderr. */
  json: boolean;
}

/** Option values as node:util parseArgs returns them. */
export type OptionValues = Record<string, string | boolean | undefined>;

/** One subcommand: its usage line, options and what it does; resolves to the exit code. */
export interface Command {
  usage: string;
  summary: string;
  /** Options besides the global ones, in node:util parseArgs form. */
  options?: Record<string, { type: 'string' | 'boolean'; short?: string; description: string; valueName?: string }>;
  /** How many positional arguments it takes. */
  positionals: { min: number; max: number };
  run: (ctx: CliContext, args: string[], values: OptionValues) => Promise<number>;
}

/** Writes one JSON document (one line) to stdout. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.io.out(JSON.stringify(value) + '\n');
}

/** `job_…` passes; anything else is a usage error naming the argument. */
export function requireJobId(value: string): string {
  if (!/^job_[0-9A-Za-z]{10,40}$/.test(value)) throw new UsageError(`'${value}' is not a job id (job_ followed by 10-40 letters or digits)`);
  return value;
}

/** Parses `--limit`-style integer options within bounds. */
export function integerOption(name: string, value: string | boolean | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not '${String(value)}'`);
  return n;
}
