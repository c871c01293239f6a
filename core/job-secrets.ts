/**
 * Secrets are write-only: a job's webhook signing secret is kept apart from its spec (in Redis,
 * under `kilnKeys.webhookSecret`), and every copy of the spec that is stored, queued, logged or
 * answered carries {@link SECRET_SET} in its place.
 */
import type { SchemaJobSpec } from './api.gen';

/** What a stored or shown spec holds where the caller wrote a secret. */
export const SECRET_SET = 'whsec_…(set)';

/** The spec without its secrets, and the webhook secret taken out of it (`null` when it had none or only the marker). */
export function separateSecrets(spec: SchemaJobSpec): { spec: SchemaJobSpec; webhookSecret: string | null } {
  const hook = spec.webhook;
  if (!hook || typeof hook.secret !== 'string' || hook.secret === SECRET_SET) return { spec, webhookSecret: null };
  return { spec: { ...spec, webhook: { ...hook, secret: SECRET_SET } }, webhookSecret: hook.secret };
}

/** `spec` as it may be shown: any secret replaced by {@link SECRET_SET}. */
export function withoutSecrets<T extends { webhook?: { secret?: string } | null }>(spec: T): T {
  const hook = spec.webhook;
  if (!hook || typeof hook.secret !== 'string' || hook.secret === SECRET_SET) return spec;
  return { ...spec, webhook: { ...hook, secret: SECRET_SET } };
}
