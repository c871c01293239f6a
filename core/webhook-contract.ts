/**
 * What the API and the worker agree on about webhook delivery: the queue's name and payload, the
 * event types a job may ask for, the Redis keys of the delivery log, the retry schedule, and the
 * bodies Kiln sends. Neither side imports the other; both import this.
 */

export const WEBHOOK_QUEUE = 'webhooks';

/** Every event a job can receive, in the order they happen. */
export const WEBHOOK_EVENT_TYPES = [
  'job.started',
  'job.epoch',
  'checkpoint.improved',
  'alert.triggered',
  'job.succeeded',
  'job.failed',
  'job.cancelled',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * Events sent when a job's `webhook.events` is absent: the three terminal ones, plus
 * `alert.triggered`, which only ever happens when the caller wrote alert rules and so asked for it.
 */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = ['job.succeeded', 'job.failed', 'job.cancelled', 'alert.triggered'];

/** A webhook event as Kiln delivers it (the JSON body of a `json`-format delivery). */
export interface WebhookEvent {
  type: WebhookEventType;
  /** ISO time the event happened. */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Whether a job whose webhook spec is `spec` wants events of `type`. */
export function wantsEvent(spec: { url: string; events?: readonly string[] } | null | undefined, type: WebhookEventType): boolean {
  if (!spec) return false;
  return (spec.events ?? DEFAULT_WEBHOOK_EVENTS).includes(type);
}

/**
 * The message id (`webhook-id`) of one event of a job. Stable, so a repeat after a restart is the
 * same message; `seq` tells apart events that happen more than once (an epoch number, an alert
 * rule and epoch). BullMQ job ids may not contain `:`, so none is used.
 */
export function messageIdFor(jobId: string, type: WebhookEventType, seq?: string | number): string {
  const base = `msg_${jobId}_${type.replace('.', '_')}`;
  return seq === undefined ? base : `${base}_${String(seq).replace(/[^0-9A-Za-z]/g, '_')}`;
}

/** Pattern of delivery ids (= message ids) in URLs. */
export const DELIVERY_ID_PATTERN = /^msg_[0-9A-Za-z_]{1,200}$/;

/** Body format of a delivery: a signed Kiln event, or a Slack incoming-webhook `{ text }` body. */
export type WebhookFormat = 'json' | 'slack';

/** Payload of one job in the `webhooks` queue: everything an attempt needs, so any worker can make it. */
export interface WebhookDeliveryData {
  /** The message id, also the `webhook-id` header and the BullMQ job id. */
  deliveryId: string;
  /** The training job the event belongs to (the delivery log's key). */
  jobId: string;
  url: string;
  /**
   * Sign with the job's webhook secret, which the attempt reads from Redis
   * (`kilnKeys.webhookSecret`): the secret itself is never part of a queued delivery. Absent sends
   * unsigned (Slack incoming webhooks ignore signatures).
   */
  signed?: boolean;
  /** `whsec_…` of a delivery queued before secrets were kept apart; new deliveries use `signed`. */
  secret?: string;
  format: WebhookFormat;
  event: WebhookEvent;
}

/** What one attempt came to. `retrying` means another attempt is scheduled at `nextAttemptAt`. */
export type AttemptOutcome = 'delivered' | 'retrying' | 'failed' | 'disabled' | 'skipped';

/** One line of the delivery log. */
export interface DeliveryAttemptRecord {
  deliveryId: string;
  /** 1-based, counting across manual retries. */
  attempt: number;
  /** ISO time the attempt started. */
  at: string;
  /** HTTP status of the receiver's answer; null when none came (refused, timeout, network error). */
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  outcome: AttemptOutcome;
  nextAttemptAt: string | null;
}

/** Where a delivery stands. */
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'skipped';

/** One delivery of a job (one message to one URL), as the log keeps it. */
export interface DeliverySummary {
  deliveryId: string;
  eventType: WebhookEventType;
  url: string;
  /** ISO time it was queued. */
  createdAt: string;
  state: DeliveryState;
  attempts: number;
  lastAttemptAt: string | null;
}

/** A delivery on the wire (`GET /v1/jobs/{jobId}/deliveries`), attempts oldest first. */
export interface DeliveryView extends DeliverySummary {
  attemptLog: Array<Omit<DeliveryAttemptRecord, 'deliveryId'>>;
  links: { retry: string };
}

export interface DeliveryList {
  items: DeliveryView[];
}

/** The state a delivery is in after an attempt with this outcome. */
export function stateAfter(outcome: AttemptOutcome): DeliveryState {
  switch (outcome) {
    case 'delivered':
      return 'delivered';
    case 'retrying':
      return 'pending';
    case 'failed':
    case 'disabled':
      return 'failed';
    case 'skipped':
      return 'skipped';
  }
}

/** Attempt lines kept per job (oldest dropped first). */
export const DELIVERY_LOG_CAP = 500;

/** How long the delivery log of a job is kept after its last write. */
export const DELIVERY_LOG_TTL_SECONDS = 30 * 24 * 3600;

/** Redis keys of webhook delivery, under the queue prefix. */
export const webhookKeys = {
  /** Hash: deliveryId → JSON DeliverySummary, one field per delivery of the job. */
  deliveries: (prefix: string, jobId: string) => `${prefix}:kiln:webhooks:deliveries:${jobId}`,
  /** List of JSON DeliveryAttemptRecord, newest first, capped at DELIVERY_LOG_CAP. */
  attempts: (prefix: string, jobId: string) => `${prefix}:kiln:webhooks:attempts:${jobId}`,
  /** Set of endpoint URLs that answered 410 Gone; deliveries to them are skipped. */
  disabled: (prefix: string) => `${prefix}:kiln:webhooks:disabled`,
};

/** The form endpoint URLs take in the disabled set, so `HTTPS://Host/x` and `https://host/x` match. */
export function endpointKey(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Delays before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h seven times, so a receiver
 * that is down for about three days (77.6 h) still gets the event. 14 attempts in all.
 */
export const DEFAULT_DELIVERY_SCHEDULE_MS: readonly number[] = [
  5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR, 10 * HOUR, 10 * HOUR, 10 * HOUR, 10 * HOUR, 10 * HOUR,
];

const UNIT_MS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: 24 * HOUR };

/**
 * Parses a retry schedule such as `5s,5m,30m,2h,5h,10h` (units ms, s, m, h, d) into milliseconds;
 * a string describing the problem when it cannot (for `loadConfig`).
 */
export function parseDeliverySchedule(text: string): number[] | string {
  const out: number[] = [];
  for (const raw of text.split(',')) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(raw);
    if (!m) return `'${raw.trim()}' is not a duration like 500ms, 5s, 30m, 2h or 1d`;
    out.push(Math.round(Number(m[1]) * UNIT_MS[m[2]]));
  }
  if (out.length > 100) return 'at most 100 retries';
  return out;
}

/**
 * Parses a `Retry-After` value (delay-seconds or an HTTP date) into milliseconds from `nowMs`;
 * null when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined | null, nowMs: number): number | null {
  if (value === undefined || value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * SECOND;
  if (!/[A-Za-z]/.test(v)) return null;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/**
 * The delay before retry number `retry` (0-based) under `schedule`, jittered by up to ±`jitter`
 * of itself so receivers coming back up are not hit by every sender at once, and never shorter
 * than the receiver's `Retry-After`. Null when the schedule is used up.
 */
export function retryDelayMs(schedule: readonly number[], retry: number, opts: { jitter: number; random: () => number; retryAfterMs: number | null }): number | null {
  if (retry >= schedule.length) return null;
  const base = schedule[retry];
  const jittered = Math.round(base * (1 + opts.jitter * (2 * opts.random() - 1)));
  return Math.max(jittered, opts.retryAfterMs ?? 0, 0);
}

/** Slack's control characters in `text` (everything else passes through). */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A Slack incoming-webhook body for an event: the alert's own line for `alert.triggered`, a short
 * summary otherwise, with a link to the job when the event carries one.
 */
export function slackBody(event: WebhookEvent): { text: string } {
  const d = event.data;
  const jobId = typeof d.jobId === 'string' ? d.jobId : 'job';
  const line = typeof d.text === 'string' ? d.text : `Kiln ${jobId}: ${event.type}${typeof d.stopReason === 'string' ? ` (${d.stopReason})` : ''}`;
  const links = d.links as Record<string, unknown> | undefined;
  const jobLink = links && typeof links.job === 'string' && /^https?:\/\//.test(links.job) ? links.job : null;
  return { text: jobLink ? `${slackEscape(line)} <${jobLink}|${slackEscape(jobId)}>` : slackEscape(line) };
}

/** The exact bytes sent (and signed) for an event in a format. */
export function webhookBody(format: WebhookFormat, event: WebhookEvent): string {
  return JSON.stringify(format === 'slack' ? slackBody(event) : event);
}
