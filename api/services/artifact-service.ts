import { Readable } from 'node:stream';
import type { SchemaArtifactEntry, SchemaArtifactList, SchemaBestCheckpoint } from '../../core/api.gen';
import { isKilnError, KilnError } from '../../core/errors';
import { toKerasExport, type KerasFormat, type TfjsModelJson } from '../../core/keras-export';
import { isValidKey, type ArtifactStore, type ByteRange, type ListedObject } from '../../store/artifact-store';
import { bestPointerKey, runArtifactKey, runPrefix, runRelativePath } from '../../store/run-layout';
import { kerasArchive, legacyH5 } from './keras-archive';
import type { RunService } from './run-service';
import { END_OF_ARCHIVE, ustarArchiveSize, ustarHeader, ustarPadding, type UstarMember } from './ustar';

/** A stored object opened for a response. */
export interface ArtifactDownload {
  stream: NodeJS.ReadableStream;
  /** The whole object's size. */
  size: number;
  /** The bytes that stream when a satisfiable `Range` was asked for (then the answer is a 206). */
  range?: { start: number; end: number };
  contentType: string;
  /** The last path segment, for `Content-Disposition`. */
  fileName: string;
}

/** A member of the model archive: bytes in hand (small JSON) or a store key streamed on demand. */
type ArchiveMember = UstarMember & ({ bytes: Buffer } | { key: string } | { directory: true });

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  csv: 'text/csv; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
};
const CHECKPOINT_PATH = /^checkpoints\/(.+)\/a\d+-\d+\/[^/]+$/;
const CHECKPOINT_FOLDER = /^checkpoints\/.+\/a\d+-\d+$/;

/**
 * A run's artifacts as the store holds them: the listing, any one object streamed, and the best
 * model as a tar archive. Tenancy is the store layout's (every key starts with the tenant) plus
 * {@link RunService.getRun} for "is there such a run at all", so another tenant's run is a 404.
 */
export class ArtifactService {
  constructor(private readonly store: ArtifactStore, private readonly runs: RunService) {}

  /** One page of the run's objects, sorted by path. */
  async listRunArtifacts(tenant: string, runId: string, query: { limit?: number; cursor?: string }): Promise<SchemaArtifactList> {
    const prefix = runPrefix(tenant, runId);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const page = await this.store.listPage(prefix, { limit: query.limit ?? 1000, startAfter: after === undefined ? undefined : prefix + after });
    // An empty first page is a run that has not started, or no run of this tenant at all (404).
    if (page.objects.length === 0 && after === undefined) await this.runs.getRun(tenant, runId);
    const items = page.objects.map((o) => entry(tenant, runId, o));
    const next = page.next === null ? null : runRelativePath(tenant, runId, page.next);
    return { items, nextCursor: next === null ? null : encodeCursor(next) };
  }

  /**
   * The object at `path` (relative to the run), opened for streaming; with `rangeHeader` (a
   * `Range` header's value) only those bytes. A range the object cannot satisfy answers
   * `unsatisfiable` with the object's size (for the 416's `Content-Range: bytes *\/<size>`).
   */
  async downloadRunArtifact(tenant: string, runId: string, path: string, rangeHeader?: string)
    : Promise<ArtifactDownload | { unsatisfiable: KilnError; size: number }> {
    if (!isValidKey(path)) {
      throw new KilnError('BAD_REQUEST',
        `/query/path: ${JSON.stringify(path)} is not a path inside the run; give it relative to the run as listRunArtifacts does (no leading "/", no ".", ".." or empty segments, no "\\")`,
        { errors: [{ pointer: '/query/path', detail: 'must be a relative path inside the run, e.g. logs/training_log.csv' }] });
    }
    const key = runArtifactKey(tenant, runId, path);
    const range = parseRangeHeader(rangeHeader);
    let opened;
    try {
      opened = await this.store.getStream(key, { range });
    } catch (e) {
      if (!(isKilnError(e) && e.code === 'RANGE_NOT_SATISFIABLE')) throw e;
      const info = await this.store.head(key);
      if (info !== null) {
        return { size: info.size, unsatisfiable: new KilnError('RANGE_NOT_SATISFIABLE', `${path} has ${info.size} bytes; Range ${rangeHeader} selects none of them`, { cause: e }) };
      }
      opened = null; // removed meanwhile: a 404 like any missing path
    }
    if (opened === null) {
      await this.runs.getRun(tenant, runId); // 404 for a run this tenant does not have
      throw new KilnError('NOT_FOUND', `run ${runId} has no artifact '${path}'; GET /v1/runs/${runId}/artifacts lists what it has`);
    }
    const fileName = path.slice(path.lastIndexOf('/') + 1);
    return { stream: opened.stream, size: opened.size, range: opened.range, contentType: contentTypeOf(fileName), fileName };
  }

  /**
   * The best checkpoint as a ustar archive under `<runId>/`: model.json, the weight files it names
   * and kiln.json. Sizes come from `head`, so the length is known before any weight byte is read;
   * weights stream from the store as the client reads.
   */
  async getRunModelArchive(tenant: string, runId: string): Promise<{ stream: Readable; size: number; fileName: string }> {
    const pointer = await this.store.get(bestPointerKey(tenant, runId));
    if (pointer === null) {
      await this.runs.getRun(tenant, runId);
      throw new KilnError('NOT_FOUND', `run ${runId} has no best checkpoint yet; model.tar is available once the first checkpoint is stored`);
    }
    const best = JSON.parse(pointer.toString('utf8')) as NonNullable<SchemaBestCheckpoint>;
    const folder = best.key !== undefined ? runRelativePath(tenant, runId, best.key) : null;
    if (folder === null || !isValidKey(folder)) {
      throw new KilnError('INTERNAL', `best.json of run ${runId} names checkpoint ${JSON.stringify(best.key)}, which is not inside the run`);
    }
    const modelJson = await this.store.get(`${best.key}/model.json`);
    if (modelJson === null) throw missingCheckpointFile(runId, folder, 'model.json');
    const model = JSON.parse(modelJson.toString('utf8')) as {
      weightsManifest?: Array<{ paths?: string[] }>;
      userDefinedMetadata?: { kiln?: Record<string, unknown> };
    };
    const weightPaths = [...new Set((model.weightsManifest ?? []).flatMap((group) => group.paths ?? []))];
    const run = await this.runs.getRun(tenant, runId);
    const mtime = Number.isFinite(Date.parse(best.savedAt ?? '')) ? new Date(best.savedAt!) : new Date();
    const weights: ArchiveMember[] = [];
    for (const path of weightPaths) {
      if (!isValidKey(path)) {
        throw new KilnError('INTERNAL', `model.json of run ${runId}'s best checkpoint names weights file ${JSON.stringify(path)}, which is not a relative path`);
      }
      const info = await this.store.head(`${best.key}/${path}`);
      if (info === null) throw missingCheckpointFile(runId, folder, path);
      weights.push({ name: `${runId}/${path}`, size: info.size, mtime, key: info.key });
    }
    const meta = model.userDefinedMetadata?.kiln ?? {};
    const kiln = Buffer.from(`${JSON.stringify({
      runId,
      jobId: run.jobId,
      epoch: best.epoch,
      monitor: best.monitor ?? null,
      value: best.value ?? null,
      checkpoint: folder,
      savedAt: best.savedAt ?? null,
      backend: run.backend,
      standardization: meta.standardization ?? null,
      ...Object.fromEntries(['classes', 'featureColumns', 'labelColumn', 'featureShape']
        .filter((k) => meta[k] !== undefined).map((k) => [k, meta[k]])),
    }, null, 2)}\n`);
    const members: ArchiveMember[] = [
      { name: `${runId}/`, size: 0, mtime, directory: true },
      { name: `${runId}/model.json`, size: modelJson.length, mtime, bytes: modelJson },
      ...weights,
      { name: `${runId}/kiln.json`, size: kiln.length, mtime, bytes: kiln },
    ];
    // Headers are built now, so a name or size ustar cannot hold fails before the response starts.
    const headers = members.map((m) => ustarHeader(m));
    const stream = new ArchiveStream(this.store, members, headers);
    return { stream, size: ustarArchiveSize(members), fileName: `${runId}-model.tar` };
  }

  /**
   * A checkpoint as a Keras model file: the Keras 3 `.keras` archive or, with `format: 'h5'`, the
   * legacy full-model HDF5 (see {@link KerasModelQuery}). 404 for another tenant's run or a run
   * without that checkpoint, 409 MODEL_NOT_EXPORTABLE naming a layer the format cannot hold.
   */
  async getRunKerasModel(tenant: string, runId: string, query: KerasModelQuery): Promise<KerasModelDownload> {
    return exportKerasModel(this.store, this.runs, tenant, runId, query);
  }
}

/** A Keras export, ready to send. */
export interface KerasModelDownload {
  stream: Readable;
  size: number;
  fileName: string;
  contentType: string;
}

/** Which checkpoint and format `getRunKerasModel` exports. */
export interface KerasModelQuery {
  /**
   * `best`, `final` (the model as training left it) or a checkpoint folder relative to the run
   * (`checkpoints/best/a001-000003`, as listRunArtifacts names it; a trailing `/model.json` is accepted).
   * @defaultValue 'best'
   */
  checkpoint?: string;
  /** @defaultValue 'keras' */
  format?: KerasFormat;
}

/**
 * The conversion is core/keras-export.ts; the files are written in memory (the size of the weights
 * plus a few KiB) and then streamed with a known length.
 */
async function exportKerasModel(store: ArtifactStore, runs: RunService, tenant: string, runId: string, query: KerasModelQuery): Promise<KerasModelDownload> {
  const format = query.format ?? 'keras';
  const folder = await checkpointFolder(store, runs, tenant, runId, query.checkpoint ?? 'best');
  const key = runArtifactKey(tenant, runId, folder);
  const modelJson = await store.get(`${key}/model.json`);
  if (modelJson === null) throw new KilnError('NOT_FOUND', `run ${runId} has no checkpoint ${folder} (no model.json there); GET /v1/runs/${runId}/artifacts lists the checkpoints`);
  const model = JSON.parse(modelJson.toString('utf8')) as TfjsModelJson;
  const parts: Buffer[] = [];
  for (const path of [...new Set((model.weightsManifest ?? []).flatMap((g) => g.paths ?? []))]) {
    if (!isValidKey(path)) throw new KilnError('INTERNAL', `model.json of ${folder} names weights file ${JSON.stringify(path)}, which is not a relative path`);
    const bytes = await store.get(`${key}/${path}`);
    if (bytes === null) throw missingCheckpointFile(runId, folder, path);
    parts.push(bytes);
  }
  const exp = toKerasExport(model, Buffer.concat(parts), format);
  const listed = await store.listPage(`${key}/`, { limit: 100 });
  const savedAt = listed.objects.find((o) => o.key === `${key}/model.json`)?.lastModified ?? new Date();
  if (format === 'h5') {
    const bytes = await legacyH5(exp);
    return { stream: Readable.from([bytes]), size: bytes.length, fileName: `${runId}.h5`, contentType: 'application/x-hdf5' };
  }
  const archive = await kerasArchive(exp, savedAt);
  return { stream: archive.stream(), size: archive.size, fileName: `${runId}.keras`, contentType: 'application/zip' };
}

/** The run-relative folder of the checkpoint `which` names; 404 (with the run's state) when there is none. */
async function checkpointFolder(store: ArtifactStore, runs: RunService, tenant: string, runId: string, which: string): Promise<string> {
  const none = async (what: string) => {
    const run = await runs.getRun(tenant, runId); // 404 for a run this tenant does not have
    const state = run.status === 'failed' || run.status === 'cancelled' ? `run ${runId} ${run.status} before storing a ${what}` : `run ${runId} (${run.status}) has no ${what} yet`;
    return new KilnError('NOT_FOUND', `${state}, so there is no model to export; GET /v1/runs/${runId}/artifacts lists what it has`);
  };
  if (which === 'best') {
    const pointer = await store.get(bestPointerKey(tenant, runId));
    if (pointer === null) throw await none('best checkpoint');
    const best = JSON.parse(pointer.toString('utf8')) as NonNullable<SchemaBestCheckpoint>;
    const folder = best.key !== undefined ? runRelativePath(tenant, runId, best.key) : null;
    if (folder === null || !isValidKey(folder)) throw new KilnError('INTERNAL', `best.json of run ${runId} names checkpoint ${JSON.stringify(best.key)}, which is not inside the run`);
    return folder;
  }
  if (which === 'final') {
    const prefix = `${runPrefix(tenant, runId)}checkpoints/final/`;
    const page = await store.listPage(prefix);
    // Versions sort chronologically (store/run-layout.ts), so the last model.json is the newest attempt's.
    const latest = page.objects.map((o) => o.key).filter((k) => k.endsWith('/model.json')).sort().pop();
    if (latest === undefined) throw await none('final model');
    return runRelativePath(tenant, runId, latest.slice(0, -'/model.json'.length))!;
  }
  const folder = which.replace(/\/model\.json$/, '').replace(/\/$/, '');
  if (!isValidKey(folder) || !CHECKPOINT_FOLDER.test(folder)) {
    throw new KilnError('BAD_REQUEST',
      `/query/checkpoint: ${JSON.stringify(which)} is not a checkpoint; give best, final or a checkpoint folder as listRunArtifacts names it, e.g. checkpoints/best/a001-000003`,
      { errors: [{ pointer: '/query/checkpoint', detail: 'best, final, or checkpoints/<path>/a<attempt>-<seq>' }] });
  }
  return folder;
}

/**
 * The archive's bytes: each member's header, its bytes (in hand, or the store object's chunks as
 * they arrive, passed on as they are), its padding, then the end-of-archive blocks. A store object
 * is read in flowing mode and paused while the client is behind, so memory stays at a few chunks
 * and no promise is made per chunk. An object that is not the size its header promised ends the
 * stream with an error (the client sees a cut response, never a wrong archive).
 */
class ArchiveStream extends Readable {
  private index = -1;
  private source: Readable | null = null;
  private opening = false;

  constructor(private readonly store: ArtifactStore, private readonly members: ArchiveMember[], private readonly headers: Buffer[]) {
    super();
  }

  override _read(): void {
    if (this.source !== null) this.source.resume();
    else if (!this.opening) void this.nextMember();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // The client went away (or a member failed): free the store stream's socket or file.
    this.source?.destroy();
    this.source = null;
    callback(err);
  }

  /** Sends members until one is a store object (which continues from its 'end') or the archive ends. */
  private async nextMember(): Promise<void> {
    while (!this.destroyed) {
      this.index++;
      if (this.index === this.members.length) {
        this.push(END_OF_ARCHIVE);
        this.push(null);
        return;
      }
      const member = this.members[this.index];
      this.push(this.headers[this.index]);
      if ('key' in member) {
        await this.streamObject(member.key, member.size);
        return;
      }
      if ('bytes' in member) this.push(member.bytes);
      this.push(ustarPadding(member.size));
    }
  }

  private async streamObject(key: string, size: number): Promise<void> {
    this.opening = true;
    let opened: Awaited<ReturnType<ArtifactStore['getStream']>>;
    try {
      opened = await this.store.getStream(key);
    } catch (err) {
      this.destroy(err as Error);
      return;
    } finally {
      this.opening = false;
    }
    if (opened === null) {
      this.destroy(new KilnError('INTERNAL', `${key} disappeared while the model archive was being sent`));
      return;
    }
    const source = opened.stream as Readable;
    if (this.destroyed) {
      source.destroy();
      return;
    }
    const changed = () => new KilnError('INTERNAL', `${key} is no longer the ${size} bytes it was when the archive started`);
    let sent = 0;
    this.source = source;
    source.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      sent += bytes.length;
      // The header already promised `size` bytes; a changed object cannot be sent honestly.
      if (sent > size) {
        this.destroy(changed());
        return;
      }
      if (!this.push(bytes)) source.pause();
    });
    source.once('error', (err) => this.destroy(err));
    source.once('end', () => {
      this.source = null;
      if (sent !== size) {
        this.destroy(changed());
        return;
      }
      this.push(ustarPadding(size));
      void this.nextMember();
    });
  }
}

/**
 * The single byte range of a `Range` header, or `undefined` to ignore the header and answer the
 * whole object, as RFC 9110 allows: absent, not `bytes`, malformed, or several ranges.
 */
export function parseRangeHeader(header: string | undefined): ByteRange | undefined {
  const m = header === undefined ? null : /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') return { suffix: Number(m[2]) };
  const start = Number(m[1]);
  if (m[2] === '') return { start };
  const end = Number(m[2]);
  return end < start ? undefined : { start, end };
}

function entry(tenant: string, runId: string, o: ListedObject): SchemaArtifactEntry {
  const path = runRelativePath(tenant, runId, o.key) ?? o.key;
  return {
    path,
    size: o.size,
    kind: kindOf(path),
    lastModified: o.lastModified === null ? null : o.lastModified.toISOString(),
    href: `/v1/runs/${runId}/artifacts/download?path=${encodeURIComponent(path)}`,
  };
}

/** What a run-relative path holds, by the run layout (store/run-layout.ts). */
export function kindOf(path: string): SchemaArtifactEntry['kind'] {
  if (path === 'run.json') return 'manifest';
  if (path === 'best.json') return 'pointer';
  if (path.startsWith('logs/')) return 'log';
  if (path.startsWith('tensorboard/')) return 'tensorboard';
  if (path.startsWith('backup/')) return 'backup';
  const checkpoint = CHECKPOINT_PATH.exec(path);
  if (checkpoint) return checkpoint[1] === 'final' ? 'model' : 'checkpoint';
  return 'other';
}

function contentTypeOf(fileName: string): string {
  const dot = fileName.lastIndexOf('.');
  return (dot > 0 ? CONTENT_TYPES[fileName.slice(dot + 1).toLowerCase()] : undefined) ?? 'application/octet-stream';
}

function encodeCursor(path: string): string {
  return Buffer.from(path, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const path = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isValidKey(path) || encodeCursor(path) !== cursor) {
    throw new KilnError('BAD_REQUEST', '/query/cursor: not a cursor this endpoint gave; pass the nextCursor of the previous page, or leave it out for the first page',
      { errors: [{ pointer: '/query/cursor', detail: 'pass the nextCursor of the previous page' }] });
  }
  return path;
}

function missingCheckpointFile(runId: string, folder: string, file: string): KilnError {
  return new KilnError('NOT_FOUND', `the best checkpoint of run ${runId} (${folder}) has no ${file} in the store; it may have been deleted`);
}
