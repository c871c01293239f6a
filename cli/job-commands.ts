import { readFile } from 'node:fs/promises';
import { isTerminal, streamEvents, unwrap, type JobEvent } from '../client/index';
import type { SchemaJob, SchemaJobSpec, SchemaJobStatus, SchemaJobStreamEnd } from '../core/api.gen';
import { EXIT, UsageError, integerOption, printJson, requireJobId, type CliContext, type Command } from './cli-context';
import { formatMetrics, formatValue, renderTable } from './format';
import { ProgressView } from './progress-view';

const STATUSES: SchemaJobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/**
 * Follows a job's event stream until its `end` event: a progress view for people, NDJSON events
 * with `--json`. Exits 0 when the job succeeded and 1 when it failed or was cancelled.
 */
async function follow(ctx: CliContext, jobId: string): Promise<number> {
  const view = ctx.json ? null : new ProgressView(ctx.io.out, { tty: ctx.io.isTTY === true, columns: ctx.io.columns });
  let end: SchemaJobStreamEnd | null = null;
  try {
    for await (const event of streamEvents(ctx.client, jobId)) {
      if (view) view.onEvent(event);
      else printJson(ctx, event satisfies JobEvent);
      if (event.event === 'end') end = event.data;
    }
  } finally {
    view?.close();
  }
  if (!end) throw new Error('the event stream ended without an end event');
  return end.status === 'succeeded' ? EXIT.OK : EXIT.JOB_FAILED;
}

async function readJobFile(path: string): Promise<SchemaJobSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as SchemaJobSpec;
  } catch (e) {
    throw new UsageError(`${path} is not JSON: ${(e as Error).message}`);
  }
}

const submit: Command = {
  usage: 'submit <job.json> [--wait] [--idempotency-key <key>]',
  summary: 'submit a training job and print its id; --wait follows it like watch (exit 0 succeeded, 1 failed or cancelled)',
  positionals: { min: 1, max: 1 },
  options: {
    wait: { type: 'boolean', short: 'w', description: 'follow the job until it ends' },
    'idempotency-key': { type: 'string', valueName: 'key', description: 'a retried submit with the same key and body returns the original job' },
  },
  async run(ctx, [file], values) {
    const spec = await readJobFile(file);
    const key = values['idempotency-key'];
    const accepted = await unwrap(
      ctx.client.POST('/v1/jobs', {
        body: spec,
        params: { header: typeof key === 'string' ? { 'Idempotency-Key': key } : undefined },
      }),
    );
    if (ctx.json) printJson(ctx, values.wait ? { event: 'accepted', data: accepted } : accepted);
    else ctx.io.out(accepted.jobId + '\n');
    if (!values.wait) return EXIT.OK;
    return follow(ctx, accepted.jobId);
  },
};

const watch: Command = {
  usage: 'watch <jobId>',
  summary: 'follow a job live: progress per epoch, new best checkpoints, learning-rate cuts, early stopping (exit 0 succeeded, 1 failed or cancelled)',
  positionals: { min: 1, max: 1 },
  async run(ctx, [jobId]) {
    return follow(ctx, requireJobId(jobId));
  },
};

async function getJob(ctx: CliContext, jobId: string): Promise<SchemaJob> {
  return unwrap(ctx.client.GET('/v1/jobs/{jobId}', { params: { path: { jobId: requireJobId(jobId) } } }));
}

function describeStatus(job: SchemaJob): string {
  const running = job.status === 'running' && job.attempts > 1 ? ` (attempt ${job.attempts})` : '';
  return job.status + running;
}

function describeProgress(job: SchemaJob): string {
  const { epoch, epochs, metrics } = job.progress;
  if (epoch === null) return `0/${epochs} epochs`;
  return `epoch ${epoch + 1}/${epochs}  ${formatMetrics(metrics)}`.trimEnd();
}

const status: Command = {
  usage: 'status <jobId>',
  summary: "a job's status, progress, best checkpoint and error",
  positionals: { min: 1, max: 1 },
  async run(ctx, [jobId]) {
    const job = await getJob(ctx, jobId);
    if (ctx.json) {
      printJson(ctx, job);
      return EXIT.OK;
    }
    const rows: [string, string][] = [
      ['job', job.jobId],
      ['run', job.runId],
      ['status', describeStatus(job)],
      ['progress', describeProgress(job)],
    ];
    if (job.best) rows.push(['best', `epoch ${job.best.epoch + 1}${job.best.monitor ? ` ${job.best.monitor}=${formatValue(job.best.value as number | string | null)}` : ''} (${job.best.path})`]);
    if (job.stopReason) rows.push(['stopped', job.stopReason]);
    if (job.error) rows.push(['error', [job.error.code, job.error.detail].filter(Boolean).join(': ')]);
    if (job.backend) rows.push(['backend', job.backend]);
    rows.push(['attempts', String(job.attempts)]);
    for (const i of job.interruptions ?? []) rows.push(['interrupted', `attempt ${i.attempt} at ${i.at}: ${i.reason}${i.detail ? ` (${i.detail})` : ''}`]);
    rows.push(['created', job.createdAt]);
    const tags = Object.entries(job.tags ?? {}).map(([k, v]) => `${k}=${v}`);
    if (tags.length > 0) rows.push(['tags', tags.join(' ')]);
    ctx.io.out(rows.map(([k, v]) => `${k.padEnd(12)}${v}`).join('\n') + '\n');
    return EXIT.OK;
  },
};

const list: Command = {
  usage: 'list [--status <status>] [--limit <n>] [--cursor <cursor>]',
  summary: "the tenant's jobs, newest first (one page; the next page's --cursor is printed to stderr)",
  positionals: { min: 0, max: 0 },
  options: {
    status: { type: 'string', valueName: 'status', description: `only jobs in this status: ${STATUSES.join(', ')}` },
    limit: { type: 'string', valueName: 'n', description: 'jobs per page, 1-100 (default 20)' },
    cursor: { type: 'string', valueName: 'cursor', description: 'the page after the one that printed this cursor' },
  },
  async run(ctx, _args, values) {
    const s = values.status;
    if (s !== undefined && !STATUSES.includes(s as SchemaJobStatus)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, not '${String(s)}'`);
    const limit = integerOption('limit', values.limit, 1, 100);
    const cursor = typeof values.cursor === 'string' ? values.cursor : undefined;
    const page = await unwrap(ctx.client.GET('/v1/jobs', { params: { query: { status: s as SchemaJobStatus | undefined, limit, cursor } } }));
    if (ctx.json) {
      printJson(ctx, page);
      return EXIT.OK;
    }
    if (page.items.length === 0) {
      ctx.io.err('no jobs\n');
      return EXIT.OK;
    }
    const rows = [['JOB', 'STATUS', 'EPOCH', 'BEST', 'CREATED', 'TAGS']];
    for (const job of page.items) {
      const epoch = job.progress.epoch === null ? `0/${job.progress.epochs}` : `${job.progress.epoch + 1}/${job.progress.epochs}`;
      const best = job.best?.monitor ? `${job.best.monitor}=${formatValue(job.best.value as number | string | null)}` : job.best ? `epoch ${job.best.epoch + 1}` : '';
      const tags = Object.entries(job.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      rows.push([job.jobId, describeStatus(job), epoch, best, job.createdAt, tags]);
    }
    ctx.io.out(renderTable(rows));
    if (page.nextCursor) ctx.io.err(`more: kiln list --cursor ${page.nextCursor}${s ? ` --status ${s}` : ''}${limit ? ` --limit ${limit}` : ''}\n`);
    return EXIT.OK;
  },
};

const cancel: Command = {
  usage: 'cancel <jobId>',
  summary: 'cancel a job (a running job stops within one batch and keeps its best checkpoint)',
  positionals: { min: 1, max: 1 },
  async run(ctx, [jobId]) {
    const job = await unwrap(ctx.client.DELETE('/v1/jobs/{jobId}', { params: { path: { jobId: requireJobId(jobId) } } }));
    if (ctx.json) printJson(ctx, job);
    else ctx.io.out(isTerminal(job.status) ? `${job.jobId} ${job.status}\n` : `${job.jobId} cancelling (still ${job.status}; it stops within one batch)\n`);
    return EXIT.OK;
  },
};

export const jobCommands: Record<string, Command> = { submit, status, list, watch, cancel };
