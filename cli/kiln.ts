import { readFile } from 'node:fs/promises';
import type { SchemaSimulateRequest } from '../core/api.gen';
import { simulate } from '../core/callbacks/simulate';
import { isKilnError } from '../core/errors';

/** Where a command writes; injectable so tests can capture output. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** One subcommand: its usage line and what it does; resolves to the exit code. */
interface Command {
  usage: string;
  summary: string;
  run: (args: string[], io: CliIo) => Promise<number>;
}

/** Exit codes: 0 ok, 1 the input was read but is invalid, 2 usage or unreadable input. */
const EXIT_INVALID = 1;
const EXIT_USAGE = 2;

async function simulateCommand(args: string[], io: CliIo): Promise<number> {
  if (args.length !== 1) {
    io.err(`usage: kiln ${COMMANDS.simulate.usage}\n`);
    return EXIT_USAGE;
  }
  let body: unknown;
  try {
    body = JSON.parse(await readFile(args[0], 'utf8'));
  } catch (e) {
    io.err(`kiln simulate: cannot read ${args[0]} as JSON: ${(e as Error).message}\n`);
    return EXIT_USAGE;
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
      io.err(`kiln simulate: ${args[0]}${where} is invalid (${e.code}):\n${lines.join('\n')}\n`);
      return EXIT_INVALID;
    }
  }
  io.out(JSON.stringify(Array.isArray(body) ? responses : responses[0], null, 2) + '\n');
  return 0;
}

const COMMANDS: Record<string, Command> = {
  simulate: {
    usage: 'simulate <file.json>',
    summary: 'replay metric histories through callback configurations (one request body or an array)',
    run: simulateCommand,
  },
};

function help(): string {
  const rows = Object.values(COMMANDS).map((c) => `  kiln ${c.usage}\n      ${c.summary}`);
  return `usage:\n${rows.join('\n')}\n`;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(help());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`kiln: unknown command '${name}'\n${help()}`);
    return EXIT_USAGE;
  }
  return command.run(rest, io);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`kiln: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
