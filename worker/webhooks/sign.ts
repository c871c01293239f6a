import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signing: the signed content is `${id}.${timestamp}.${body}` with the secret's
 * base64 bytes (after the `whsec_` prefix) as the HMAC-SHA256 key; the header carries
 * `v1,<base64 signature>`, space-separated when several secrets sign during a rotation.
 */
export function signWebhook(secrets: string[], id: string, timestampSeconds: number, body: string): string {
  return secrets.map((s) => `v1,${createHmac('sha256', secretBytes(s)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`).join(' ');
}

/**
 * Verifies a `webhook-signature` header against one secret (for receivers and tests). Like the
 * Standard Webhooks libraries, a timestamp more than `toleranceSeconds` away from now fails, so a
 * captured request cannot be replayed later.
 */
export function verifyWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
  header: string,
  opts: {
    /** @defaultValue the current time */
    nowSeconds?: number;
    /** @defaultValue 300 */
    toleranceSeconds?: number;
  } = {},
): boolean {
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (!Number.isFinite(timestampSeconds) || Math.abs(now - timestampSeconds) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook([secret], id, timestampSeconds, body).slice(3), 'base64');
  return header.split(' ').some((part) => {
    const [version, sig] = part.split(',');
    if (version !== 'v1' || !sig) return false;
    const got = Buffer.from(sig, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}
