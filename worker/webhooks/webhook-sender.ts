import type { WebhookEvent, WebhookFormat } from '../../core/webhook-contract';

export type { WebhookEvent };

/** Where a delivery goes. */
export interface WebhookTarget {
  url: string;
  /** `whsec_…` signing secret; absent sends unsigned (for Slack incoming webhooks). */
  secret?: string;
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
