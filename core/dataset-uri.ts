import { KilnError } from './errors';

/**
 * Resolves a job's dataset URI to a key in the artifact store, allowing only the tenant's own area:
 * a relative key (`datasets/train.csv` → `<tenant>/datasets/train.csv`) or the configured store's
 * full URI followed by `<tenant>/…`. Anything else — another bucket, another tenant, `..`, empty
 * segments — is refused with the accepted forms named.
 */
export function resolveDatasetKey(uri: string, tenant: string, storeUri: string): string {
  const base = storeUri.replace(/\/+$/, '');
  const forms = `a key relative to your area such as 'datasets/train.csv', or '${base}/${tenant}/datasets/train.csv'`;
  let key: string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    if (!uri.startsWith(base + '/')) {
      throw new KilnError('DATASET_INVALID', `'${uri}' is not in this Kiln's artifact store; use ${forms}`);
    }
    key = uri.slice(base.length + 1);
    if (!key.startsWith(tenant + '/')) {
      throw new KilnError('DATASET_INVALID', `'${uri}' is outside your tenant's area; use ${forms}`);
    }
  } else {
    key = `${tenant}/${uri.replace(/^\/+/, '')}`;
  }
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..') || /[\u0000-\u001f\\]/.test(key)) {
    throw new KilnError('DATASET_INVALID', `'${uri}' has an empty, '.' or '..' segment or a control character; use ${forms}`);
  }
  return key;
}
