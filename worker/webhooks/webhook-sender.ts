import type { WebhookEvent, WebhookFormat } from '../../core/webhook-contract';

export type { WebhookEvent };

/** Where a delivery goes. */
export interface WebhookTarget {
  url: string;
  /**
   * A `whsec_…` signing secret to sign with; the sender keeps it apart from what it queues (as the
   * job's webhook secret in Redis).
   */
  secret?: string;
  /**
   * Sign with the job's webhook secret as already kept in Redis (`kilnKeys.webhookSecret`). With
   * neither this nor `secret` the delivery goes unsigned (for Slack incoming webhooks).
   */
  signed?: boolean;
  /**
   * Body format: the Kiln event as JSON, or a Slack `{ "text": … }` body.
   * @defaultValue 'json'
   */
  format?: WebhookFormat;
}

/**
 * Delivers webhook events. The message id is stable per job and event, so a receiver can
 * de-duplicate a delivery repeated after a worker restart. Implementations decide how hard to try.
 */
export interface WebhookSender {
  send(target: WebhookTarget, messageId: string, event: WebhookEvent): Promise<void>;
}
