import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { unwrap } from '../client/index';
import { EXIT, UsageError, printJson, type CliContext, type Command } from './cli-context';
import { formatValue, parseCsv, renderTable } from './format';

/** A run id as given, or the run of a job id (looked up, not derived). */
async function resolveRunId(ctx: CliContext, id: string): Promise<string> {
  if (/^run_[0-9A-Za-z]{10,40}$/.test(id)) return id;
  if (/^job_[0-9A-Za-z]{10,40}$/.test(id)) {
    const job = await unwrap(ctx.client.GET('/v1/jobs/{jobId}', { params: { path: { jobId: id } } }));
    return job.runId;
  }
  throw new UsageError(`'${id}' is neither a run id (run_…) nor a job id (job_…)`);
}

/** A CSV cell as JSON: numbers as numbers, Keras's non-finite spellings and anything else as strings. */
function csvValue(cell: string): number | string {
  if (cell.trim() === '' || !/^[-+]?(\d|\.\d)/.test(cell)) return cell;
  const n = Number(cell);
  return Number.isFinite(n) ? n : cell;
}

const logs: Command = {
  usage: 'logs <runId|jobId>',
  summary: "the run's CSVLogger file as an aligned table (--json: columns and rows, numbers parsed)",
  positionals: { min: 1, max: 1 },
  async run(ctx, [id]) {
    const runId = await resolveRunId(ctx, id);
    const text = await unwrap(ctx.client.GET('/v1/runs/{runId}/logs.csv', { params: { path: { runId } }, parseAs: 'text' }));
    const [header = [], ...rows] = parseCsv(text ?? '');
    if (ctx.json) {
      printJson(ctx, { runId, columns: header, rows: rows.map((r) => Object.fromEntries(header.map((h, i) => [h, csvValue(r[i] ?? '')]))) });
      return EXIT.OK;
    }
    if (header.length === 0) {
      ctx.io.err(`${runId}: the log is empty (no epoch has finished yet)\n`);
      return EXIT.OK;
    }
    const shown = rows.map((r) => r.map((cell) => (typeof csvValue(cell) === 'number' && !/^-?\d+$/.test(cell) ? formatValue(Number(cell)) : cell)));
    ctx.io.out(renderTable([header, ...shown]));
    return EXIT.OK;
  },
};

/** File names model.json may name: plain names in the run's model folder, never a path. */
const SAFE_FILE = /^[A-Za-z0-9._-]{1,128}$/;

const download: Command = {
  usage: 'download <runId|jobId> [dir]',
  summary: "the run's best model (model.json and its weight files, for tf.loadLayersModel) into dir (default ./<runId>)",
  positionals: { min: 1, max: 2 },
  async run(ctx, [id, dirArg]) {
    const runId = await resolveRunId(ctx, id);
    const dir = resolve(dirArg ?? runId);
    const modelText = await unwrap(ctx.client.GET('/v1/runs/{runId}/model/{file}', { params: { path: { runId, file: 'model.json' } }, parseAs: 'text' }));
    let manifest: { weightsManifest?: { paths?: unknown[] }[] };
    try {
      manifest = JSON.parse(modelText as unknown as string);
    } catch (e) {
      throw new Error(`model.json of ${runId} is not JSON: ${(e as Error).message}`, { cause: e });
    }
    const weightFiles = [...new Set((manifest.weightsManifest ?? []).flatMap((g) => g.paths ?? []))];
    for (const f of weightFiles) {
      if (typeof f !== 'string' || !SAFE_FILE.test(f) || f === '.' || f === '..' || f === 'model.json') throw new Error(`model.json of ${runId} names a weights file '${String(f)}' that is not a plain file name; refusing to write it`);
    }
    const files: { name: string; bytes: Uint8Array }[] = [{ name: 'model.json', bytes: Buffer.from(modelText as unknown as string, 'utf8') }];
    for (const name of weightFiles as string[]) {
      const data = await unwrap(ctx.client.GET('/v1/runs/{runId}/model/{file}', { params: { path: { runId, file: name } }, parseAs: 'arrayBuffer' }));
      files.push({ name, bytes: new Uint8Array(data as unknown as ArrayBuffer) });
    }
    await mkdir(dir, { recursive: true });
    // Weights first and model.json last, each renamed into place, so a model.json on disk always
    // has its weights beside it.
    for (const f of [...files.slice(1), files[0]]) {
      const tmp = join(dir, `.${f.name}.${process.pid}.part`);
      await writeFile(tmp, f.bytes);
      await rename(tmp, join(dir, f.name));
    }
    const written = files.map((f) => ({ file: join(dir, f.name), bytes: f.bytes.byteLength }));
    if (ctx.json) {
      printJson(ctx, { runId, dir, files: written });
    } else {
      for (const w of written) ctx.io.out(`${w.file}  ${w.bytes} bytes\n`);
      ctx.io.err(`load it with tf.loadLayersModel('file://${join(dir, 'model.json')}') (tfjs-node) or serve the folder over HTTP\n`);
    }
    return EXIT.OK;
  },
};

export const runCommands: Record<string, Command> = { logs, download };
