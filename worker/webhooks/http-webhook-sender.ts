import type { OutboundAllow } from '../../core/outbound-policy';
import { webhookBody } from '../../core/webhook-contract';
import { safePost } from './safe-request';
import { signWebhook } from './sign';
import type { WebhookEvent, WebhookSender, WebhookTarget } from './webhook-sender';

/**
 * Posts events directly over HTTP with Standard Webhooks headers, retrying a few times with backoff
 * within the process. Only a 2xx counts as delivered. Nothing survives a restart: the durable
 * `QueueWebhookSender` (delivery-queue.ts) replaces this behind the same interface.
 */
export class HttpWebhookSender implements WebhookSender {
  constructor(private readonly opts: {
    timeoutMs: number;
    /** @defaultValue 4 */
    attempts?: number;
    /** @defaultValue 1000 */
    backoffMs?: number;
    /**
     * Private addresses this sender may reach (`KILN_OUTBOUND_ALLOW`). Absent: no address policy
     * at all, which only the pre-queue wiring relies on; pass it.
     * @defaultValue undefined
     */
    outbound?: OutboundAllow;
    log?: (msg: string, fields: object) => void;
  }) {}

  async send(target: WebhookTarget, messageId: string, event: WebhookEvent): Promise<void> {
    const body = webhookBody(target.format ?? 'json', event);
    const attempts = this.opts.attempts ?? 4;
    // Without a policy every address is allowed: an allow-list covering both families' whole space.
    const allow = this.opts.outbound ?? { hosts: [], cidrs: [{ bytes: new Uint8Array(4), prefix: 0, text: '0.0.0.0/0' }, { bytes: new Uint8Array(16), prefix: 0, text: '::/0' }] };
    let lastError = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const timestamp = Math.floor(Date.now() / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'Kiln-Webhooks/1',
        'webhook-id': messageId,
        'webhook-timestamp': String(timestamp),
      };
      if (target.secret) headers['webhook-signature'] = signWebhook([target.secret], messageId, timestamp, body);
      const res = await safePost(target.url, body, { allow, timeoutMs: this.opts.timeoutMs, headers });
      if (res.kind === 'response' && res.status >= 200 && res.status < 300) return;
      lastError = res.kind === 'response' ? `HTTP ${res.status}` : res.reason;
      if (res.kind === 'refused' || (res.kind === 'response' && res.status === 410)) break;
      this.opts.log?.('webhook attempt failed', { url: target.url, messageId, attempt, error: lastError });
      if (attempt < attempts) await new Promise((r) => setTimeout(r, (this.opts.backoffMs ?? 1000) * 2 ** (attempt - 1)));
    }
    throw new Error(`webhook ${messageId} to ${target.url} not delivered: ${lastError}`);
  }
}
