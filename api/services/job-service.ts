import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SchemaInterruption, SchemaJob, SchemaJobAccepted, SchemaJobList, SchemaJobSpec, SchemaJobStatus } from '../../core/api.gen';
import { KilnError, parseFailure, specInvalid } from '../../core/errors';
import { newJobIds, runIdForJob } from '../../core/ids';
import { checkJobSpec, type JobCostLimits } from '../../core/check-job-spec';
import { callbackWarnings } from '../../core/callbacks/registry';
import type { OutboundAllow } from '../../core/outbound-policy';
import { kilnKeys, SECRET_TTL_SECONDS } from '../../core/queue-contract';
import { separateSecrets } from '../../core/job-secrets';
import { epochRowsProblem, type TenantLimit } from '../../core/tenant-limits';
import { BUILTIN_DATASETS } from '../../core/builtin-datasets';
import { SubmissionAdmission, type SubmissionKeys } from './submission-admission';
import type { JobSnapshot, TrainingQueue } from './training-queue';

const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
const UNLIMITED: TenantLimit = { fallback: 0, overrides: new Map() };

/** Runs a Redis-backed step, turning connection failures into a 503 the caller can retry. */
export async function withRedis<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError('QUEUE_UNAVAILABLE', `the job queue is unavailable (${what}); nothing was changed, retry shortly`, { cause: err, retryAfter: 5 });
  }
}

export function jobLinks(jobId: string) {
  const runId = runIdForJob(jobId);
  return {
    self: `/v1/jobs/${jobId}`,
    run: `/v1/runs/${runId}`,
    model: `/v1/runs/${runId}/model/model.json`,
    logs: `/v1/runs/${runId}/logs.csv`,
  };
}

/** Jobs as the API sees them: submission, status, listing and cancellation, per tenant. */
export class JobService {
  private readonly admission: SubmissionAdmission;

  constructor(
    private readonly redis: Redis,
    private readonly queue: TrainingQueue,
    private readonly prefix: string,
    private readonly storeUri: string,
    private readonly outbound: OutboundAllow,
    private readonly limits: { submissionsPerMinute: TenantLimit; maxEpochRows: number; cost?: JobCostLimits } = { submissionsPerMinute: UNLIMITED, maxEpochRows: 0 },
  ) {
    this.admission = new SubmissionAdmission(redis, prefix, limits.submissionsPerMinute, IDEMPOTENCY_TTL_SECONDS);
  }

  /** Validates the spec's meaning, then queues it (or returns the job an Idempotency-Key already made). */
  async createJob(tenant: string, spec: SchemaJobSpec, idempotencyKey?: string): Promise<{ accepted: SchemaJobAccepted; replayed: boolean }> {
    const problems = checkJobSpec(spec, { tenant, storeUri: this.storeUri, outbound: this.outbound, limits: this.limits.cost });
    if (problems.length > 0) throw specInvalid(problems);
    if ('builtin' in spec.data) {
      const tooBig = epochRowsProblem(spec.fit.epochs, BUILTIN_DATASETS[spec.data.builtin].rows, this.limits.maxEpochRows);
      if (tooBig) throw new KilnError('LIMIT_EXCEEDED', tooBig, { errors: [{ pointer: '/fit/epochs', detail: tooBig }] });
    }

    const { jobId, runId } = newJobIds();
    const submission: SubmissionKeys = { tenant, jobId };
    let bodyHash = '';
    if (idempotencyKey !== undefined) {
      // Only a keyed request needs it: hashing every body cost ~3% of submission throughput.
      bodyHash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
      submission.idempotencyKey = kilnKeys.idempotency(this.prefix, tenant, createHash('sha256').update(idempotencyKey).digest('hex'));
    }
    // One round trip decides everything but the queueing itself: replay, rate limit, the tenant's index.
    const admission = await withRedis('admission', () => this.admission.admit(submission, submission.idempotencyKey ? JSON.stringify({ jobId, bodyHash }) : ''));
    if (admission.kind === 'replay') {
      const prior = JSON.parse(admission.record) as { jobId: string; bodyHash: string };
      if (prior.bodyHash !== bodyHash) {
        throw new KilnError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key was already used for job ${prior.jobId} with a different body; use a new key for a new job`);
      }
      return { accepted: { jobId: prior.jobId, runId: runIdForJob(prior.jobId), status: 'queued', links: jobLinks(prior.jobId), warnings: callbackWarnings(spec.callbacks) }, replayed: true };
    }
    if (admission.kind === 'refused') {
      throw new KilnError('RATE_LIMITED', `tenant ${tenant} may submit ${admission.max} jobs per minute and has reached that; nothing was queued, retry after ${admission.retryAfterSeconds} s`, { retryAfter: admission.retryAfterSeconds });
    }
    // Secrets are write-only: the queued spec (and so run.json, events and every answer) carries a
    // marker, and the secret waits apart in Redis for the deliveries that sign with it.
    const { spec: queued, webhookSecret } = separateSecrets(spec);
    const secretKey = kilnKeys.webhookSecret(this.prefix, jobId);
    try {
      if (webhookSecret !== null) await withRedis('enqueue', () => this.redis.set(secretKey, webhookSecret, 'EX', SECRET_TTL_SECONDS));
      await withRedis('enqueue', () => this.queue.add({ tenant, jobId, runId, spec: queued, createdAt: new Date().toISOString() }));
    } catch (err) {
      // Not queued: free the key, the rate-limit slot and the index entry so the client's retry can succeed.
      await this.admission.release(submission).catch(() => undefined);
      if (webhookSecret !== null) await this.redis.del(secretKey).catch(() => undefined);
      throw err;
    }
    return { accepted: { jobId, runId, status: 'queued', links: jobLinks(jobId), warnings: callbackWarnings(spec.callbacks) }, replayed: false };
  }

  async getJob(tenant: string, jobId: string): Promise<SchemaJob> {
    const snap = await withRedis('read job', () => this.queue.get(jobId));
    if (!snap || snap.data.tenant !== tenant) throw notFound(jobId);
    const cancelledAt = await withRedis('read job', () => this.redis.get(kilnKeys.cancel(this.prefix, jobId)));
    return toJobView(snap, cancelledAt, await this.interruptions(jobId));
  }

  /** Newest first; the cursor is the last job id of the previous page (ids sort by time). */
  async listJobs(tenant: string, opts: { status?: SchemaJobStatus; limit?: number; cursor?: string }): Promise<SchemaJobList> {
    const limit = opts.limit ?? 20;
    if (opts.cursor !== undefined && !/^job_[0-9A-Z]{26}$/.test(opts.cursor)) {
      throw new KilnError('BAD_REQUEST', "cursor is not one this API returned; pass the previous page's nextCursor unchanged", { errors: [{ pointer: '/query/cursor', detail: 'not a cursor from nextCursor' }] });
    }
    const key = kilnKeys.tenantJobs(this.prefix, tenant);
    const items: SchemaJob[] = [];
    let from = opts.cursor ? `(${opts.cursor}` : '+';
    let scanned = 0;
    // With a status filter a page may need several reads; bound the scan so one call stays cheap.
    while (items.length < limit && scanned < 2000) {
      const ids = await withRedis('list jobs', () => this.redis.zrevrangebylex(key, from, '-', 'LIMIT', 0, 100));
      if (ids.length === 0) return { items, nextCursor: null };
      for (const id of ids) {
        scanned++;
        from = `(${id}`;
        const snap = await withRedis('list jobs', () => this.queue.get(id));
        if (!snap || snap.data.tenant !== tenant) continue;
        const cancelledAt = await withRedis('list jobs', () => this.redis.get(kilnKeys.cancel(this.prefix, id)));
        const view = toJobView(snap, cancelledAt, await this.interruptions(id));
        if (opts.status && view.status !== opts.status) continue;
        items.push(view);
        if (items.length === limit) return { items, nextCursor: id };
      }
    }
    return { items, nextCursor: from.slice(1) };
  }

  /** The job's interruption history as the worker records it (crashes, faults, hand-backs). */
  private async interruptions(jobId: string): Promise<SchemaInterruption[]> {
    const raw = await withRedis('read job', () => this.redis.lrange(kilnKeys.interruptions(this.prefix, jobId), 0, -1));
    return raw.flatMap((r) => {
      try {
        return [JSON.parse(r) as SchemaInterruption];
      } catch {
        // A record that is not JSON is not ours to show.
        return [];
      }
    });
  }

  async cancelJob(tenant: string, jobId: string): Promise<SchemaJob> {
    const job = await this.getJob(tenant, jobId);
    if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') {
      throw new KilnError('JOB_NOT_CANCELLABLE', `job ${jobId} already ended ${job.status}; nothing to cancel`);
    }
    const at = new Date().toISOString();
    await withRedis('cancel', async () => {
      await this.redis.set(kilnKeys.cancel(this.prefix, jobId), at, 'EX', 30 * 24 * 3600, 'NX');
      await this.redis.publish(kilnKeys.cancelChannel(this.prefix), jobId);
    });
    return this.getJob(tenant, jobId);
  }
}

function notFound(jobId: string): KilnError {
  return new KilnError('NOT_FOUND', `no job ${jobId} for this API key`);
}

export function toJobView(snap: JobSnapshot, cancelledAt: string | null, interruptions: SchemaInterruption[] = []): SchemaJob {
  const { data, progress, result } = snap;
  const iso = (ms: number) => new Date(ms).toISOString();
  let status: SchemaJobStatus;
  if (snap.state === 'completed' && result) status = result.status;
  else if (snap.state === 'failed') status = 'failed';
  else if (snap.state === 'queued' && cancelledAt) status = 'cancelled';
  else status = snap.state === 'running' ? 'running' : snap.state === 'completed' ? 'succeeded' : 'queued';
  const transitions: SchemaJob['transitions'] = [{ status: 'queued', at: data.createdAt }];
  if (snap.processedOn && (status !== 'cancelled' || result)) transitions.push({ status: 'running', at: iso(snap.processedOn) });
  if (status === 'cancelled' && !result && cancelledAt) transitions.push({ status: 'cancelled', at: cancelledAt, reason: 'cancelled before it started' });
  else if (snap.finishedOn && status !== 'running' && status !== 'queued') transitions.push({ status, at: iso(snap.finishedOn) });
  const failure = status === 'failed' ? parseFailure(snap.failedReason) : null;
  return {
    jobId: data.jobId,
    runId: data.runId,
    status,
    stopReason: result?.stopReason ?? (status === 'failed' ? 'error' : status === 'cancelled' ? 'cancelled' : null),
    progress: {
      epoch: result?.epoch ?? progress?.epoch ?? null,
      epochs: data.spec.fit.epochs,
      metrics: result?.metrics ?? progress?.metrics ?? {},
    },
    best: result?.best ?? progress?.best ?? null,
    backend: result?.backend ?? progress?.backend ?? null,
    attempts: snap.attemptsMade + (snap.state === 'running' ? 1 : 0),
    error: failure,
    tags: data.spec.tags ?? {},
    createdAt: data.createdAt,
    transitions,
    interruptions,
    // Warnings are a pure function of the spec: computed on read, nothing stored.
    warnings: callbackWarnings(data.spec.callbacks),
    waiting: status === 'running' ? progress?.waiting ?? null : null,
    links: jobLinks(data.jobId),
  };
}

