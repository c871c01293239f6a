import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createKilnClient, KilnApiError, KilnNetworkError } from '../client/index';
import type { SchemaSimulateRequest } from '../core/api.gen';
import { simulate } from '../core/callbacks/simulate';
import { isKilnError } from '../core/errors';
import { EXIT, UsageError, type CliContext, type CliIo, type Command } from './cli-context';
import { jobCommands } from './job-commands';
import { runCommands } from './run-commands';

export type { CliIo } from './cli-context';

// The API's own default port (api/config.ts PORT).
const DEFAULT_URL = 'http://127.0.0.1:8080';

async function simulateCommand(ctx: CliContext, [file]: string[]): Promise<number> {
  let body: unknown;
  try {
    body = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    ctx.io.err(`kiln simulate: cannot read ${file} as JSON: ${(e as Error).message}\n`);
    return EXIT.USAGE;
  }
  const requests = Array.isArray(body) ? body : [body];
  const responses: unknown[] = [];
  for (const [i, req] of requests.entries()) {
    try {
      responses.push(await simulate(req as SchemaSimulateRequest));
    } catch (e) {
      if (!isKilnError(e)) throw e;
      const where = Array.isArray(body) ? ` (request ${i})` : '';
      const lines = e.errors.length > 0 ? e.errors.map((p) => `  ${p.pointer || '/'}: ${p.detail}`) : [`  ${e.message}`];
      ctx.io.err(`kiln simulate: ${file}${where} is invalid (${e.code}):\n${lines.join('\n')}\n`);
      return EXIT.JOB_FAILED;
    }
  }
  const result = Array.isArray(body) ? responses : responses[0];
  ctx.io.out(ctx.json ? JSON.stringify(result) + '\n' : JSON.stringify(result, null, 2) + '\n');
  return EXIT.OK;
}

const COMMANDS: Record<string, Command> = {
  ...jobCommands,
  ...runCommands,
  simulate: {
    usage: 'simulate <file.json>',
    summary: 'replay metric histories through callback configurations, locally (one request body or an array)',
    positionals: { min: 1, max: 1 },
    run: simulateCommand,
  },
};

const GLOBAL_OPTIONS = {
  url: { type: 'string', valueName: 'url', description: `the API (env KILN_URL, default ${DEFAULT_URL})` },
  key: { type: 'string', valueName: 'key', description: 'the API key (env KILN_API_KEY)' },
  json: { type: 'boolean', description: 'machine output: one JSON document on stdout (watch, submit --wait: NDJSON events); errors as JSON on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
} as const;

const EXIT_HELP = `exit codes:
  0  success (submit --wait, watch: the job succeeded)
  1  the job failed or was cancelled (simulate: the request is invalid)
  2  usage error (unknown command or option, missing argument, unreadable job file)
  3  the API refused the request (its problem detail is printed), could not be reached, or a file could not be written
  4  not found (job, run, log or model)
  5  authentication failed (missing or wrong API key)`;

function optionLines(options: Command['options'] | typeof GLOBAL_OPTIONS): string[] {
  return Object.entries(options ?? {}).map(([name, o]) => {
    const flag = `${'short' in o && o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` <${'valueName' in o ? o.valueName : 'value'}>` : ''}`;
    return `  ${flag.padEnd(28)}${o.description}`;
  });
}

function help(): string {
  const rows = Object.values(COMMANDS).map((c) => `  kiln ${c.usage}\n      ${c.summary}`);
  return `usage: kiln <command> [options]\n\ncommands:\n${rows.join('\n')}\n\nglobal options (every command):\n${optionLines(GLOBAL_OPTIONS).join('\n')}\n\n${EXIT_HELP}\n\nRun 'kiln <command> --help' for a command's options.\n`;
}

function commandHelp(c: Command): string {
  const own = optionLines(c.options);
  return `usage: kiln ${c.usage}\n  ${c.summary}\n${own.length ? `\noptions:\n${own.join('\n')}\n` : ''}\nglobal options:\n${optionLines(GLOBAL_OPTIONS).join('\n')}\n\n${EXIT_HELP}\n`;
}

/** The first argument that is neither an option nor the value of a global option that takes one. */
function findCommand(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (a === '--url' || a === '--key') i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

function problemLines(e: KilnApiError): string[] {
  const p = e.problem;
  const head = p.detail && p.detail !== p.title ? `${p.title}: ${p.detail}` : p.title;
  const lines = [`${head} (${p.code}, HTTP ${e.status})`];
  // The detail usually repeats the first pointer's message; list every pointer when there are several.
  for (const item of p.errors ?? []) if (!(p.errors!.length === 1 && p.detail?.includes(item.detail))) lines.push(`  ${item.pointer || '/'}: ${item.detail}`);
  return lines;
}

/** Prints an error for people (or as JSON with --json) and returns its exit code. */
function report(io: CliIo, command: string, json: boolean, url: string, e: unknown, usage?: string): number {
  let code: number;
  let lines: string[];
  let doc: Record<string, unknown>;
  if (e instanceof UsageError) {
    code = EXIT.USAGE;
    lines = [e.message, ...(usage ? [`usage: kiln ${usage}`] : [])];
    doc = { code: 'USAGE', detail: e.message };
  } else if (e instanceof KilnApiError) {
    code = e.status === 401 || e.status === 403 ? EXIT.AUTH : e.status === 404 ? EXIT.NOT_FOUND : EXIT.API;
    lines = problemLines(e);
    if (code === EXIT.AUTH) lines.push('  pass --key <key> or set KILN_API_KEY');
    doc = { ...e.problem, status: e.status };
  } else if (e instanceof KilnNetworkError) {
    code = EXIT.API;
    lines = [`cannot reach ${url}: ${e.reason}`, '  is the API running? pass --url <url> or set KILN_URL'];
    doc = { code: 'NETWORK', detail: `cannot reach ${url}: ${e.reason}` };
  } else {
    code = EXIT.API;
    const message = e instanceof Error ? e.message : String(e);
    lines = [message];
    doc = { code: 'ERROR', detail: message };
  }
  if (json) io.err(JSON.stringify({ error: doc }) + '\n');
  else io.err(`kiln${command ? ` ${command}` : ''}: ${lines.join('\n')}\n`);
  return code;
}

const defaultIo = (): CliIo => ({
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns,
});

/**
 * Runs the CLI with `argv` (without node and script) and resolves to the exit code (see
 * {@link EXIT}). `env` supplies `KILN_URL` and `KILN_API_KEY`; this entry point is the only place
 * that reads the process environment.
 */
export async function main(argv: string[], io: CliIo = defaultIo(), env: Record<string, string | undefined> = process.env): Promise<number> {
  const at = findCommand(argv);
  const name = at === -1 ? undefined : argv[at];
  const rest = at === -1 ? argv : [...argv.slice(0, at), ...argv.slice(at + 1)];
  const wantsJson = rest.includes('--json');
  if (name === undefined || name === 'help') {
    const asked = rest.includes('--help') || rest.includes('-h') || name === 'help';
    (asked ? io.out : io.err)(help());
    return asked ? EXIT.OK : EXIT.USAGE;
  }
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`kiln: unknown command '${name}'\n${help()}`);
    return EXIT.USAGE;
  }
  let url = env.KILN_URL || DEFAULT_URL;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.out(commandHelp(command));
      return EXIT.OK;
    }
    if (positionals.length < command.positionals.min || positionals.length > command.positionals.max) {
      const n = command.positionals;
      throw new UsageError(`expects ${n.min === n.max ? n.min : `${n.min} to ${n.max}`} argument${n.max === 1 ? '' : 's'}, got ${positionals.length}`);
    }
    if (typeof values.url === 'string') url = values.url;
    if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`the API URL must start with http:// or https://, not '${url}'`);
    const key = typeof values.key === 'string' ? values.key : env.KILN_API_KEY || undefined;
    const ctx: CliContext = { io, command: name, url, json: values.json === true, client: createKilnClient({ baseUrl: url, apiKey: key }) };
    return await command.run(ctx, positionals, values as Record<string, string | boolean | undefined>);
  } catch (e) {
    // parseArgs reports unknown options and missing values as TypeErrors with ERR_PARSE_ARGS_* codes.
    const parseError = typeof (e as { code?: unknown })?.code === 'string' && (e as { code: string }).code.startsWith('ERR_PARSE_ARGS');
    return report(io, name, wantsJson, url, parseError ? new UsageError((e as Error).message) : e, command.usage);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`kiln: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = EXIT.API;
    },
  );
}
