import type { SchemaJobSpec } from '../../core/api.gen';
import { SECRET_SET } from '../../core/job-secrets';
import type { TrainingJobData } from '../../core/queue-contract';
import { messageIdFor, wantsEvent, type WebhookEventType } from '../../core/webhook-contract';
import type { WebhookSender, WebhookTarget } from './webhook-sender';

/**
 * Turns what happens to a job into webhook events for the job's endpoint, when the job asked for
 * that kind of event. Message ids are stable per job, type and sequence (epoch, alert), so a repeat
 * after a restart is the same message and is delivered once.
 */
export class JobNotifier {
  constructor(
    private readonly sender: WebhookSender,
    private readonly publicUrl: string | null,
    private readonly log: (msg: string, fields?: object) => void,
  ) {}

  /** Sends `type` to the job's webhook if it wants it. Never throws: a webhook must not fail a job. */
  async notify(job: TrainingJobData, type: WebhookEventType, fields: Record<string, unknown>, opts: { seq?: string | number; target?: WebhookTarget } = {}): Promise<void> {
    const hook = (job.spec as SchemaJobSpec).webhook;
    const target = opts.target ?? (hook && wantsEvent(hook, type) ? { url: hook.url, ...signing(hook.secret) } : null);
    if (!target) return;
    const base = this.publicUrl ?? '';
    const messageId = messageIdFor(job.jobId, type, opts.seq);
    try {
      await this.sender.send(target, messageId, {
        type,
        timestamp: new Date().toISOString(),
        data: {
          jobId: job.jobId,
          runId: job.runId,
          tags: job.spec.tags ?? {},
          ...fields,
          links: {
            job: `${base}/v1/jobs/${job.jobId}`,
            run: `${base}/v1/runs/${job.runId}`,
            model: `${base}/v1/runs/${job.runId}/model/model.json`,
            logs: `${base}/v1/runs/${job.runId}/logs.csv`,
          },
        },
      });
      this.log('webhook queued', { jobId: job.jobId, type, messageId });
    } catch (err) {
      this.log('webhook not queued', { jobId: job.jobId, type, messageId, err: (err as Error).message });
    }
  }

  /** An alert goes to the rule's own URL when it has one (signed with the job's secret if any), else to the job's webhook. */
  alertTarget(job: TrainingJobData, alert: { url?: string; format: 'json' | 'slack' }): WebhookTarget | null {
    const hook = (job.spec as SchemaJobSpec).webhook;
    if (alert.url) return { url: alert.url, ...signing(hook?.secret), format: alert.format };
    if (hook && wantsEvent(hook, 'alert.triggered')) return { url: hook.url, ...signing(hook.secret), format: alert.format };
    return null;
  }
}

/**
 * How a delivery is signed: with the job's secret kept in Redis when the spec shows the marker,
 * or with the secret a spec queued before secrets were kept apart still holds.
 */
function signing(secret: string | undefined): { signed?: true; secret?: string } {
  if (secret === undefined) return {};
  return secret === SECRET_SET ? { signed: true } : { secret };
}
