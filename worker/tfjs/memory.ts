import * as tf from '@tensorflow/tfjs-core';
// Registers TOPOLOGICAL_SORT_CACHE_MAX_ENTRIES (and the caches it sizes).
import '@tensorflow/tfjs-layers';

/** Live tensors in the active engine (for leak checks across jobs in a reused sandbox). */
export function tensorCount(): number {
  return tf.memory().numTensors;
}

const SORT_CACHE_FLAG = 'TOPOLOGICAL_SORT_CACHE_MAX_ENTRIES';

/**
 * Empties tfjs-layers' process-wide topological-sort caches (`cachedSorted` and
 * `cachedRecipientCounts` in its engine/executor.ts): LRU maps of up to
 * TOPOLOGICAL_SORT_CACHE_MAX_ENTRIES (default 100) entries, keyed by tensor names, whose values hold
 * the SymbolicTensors — and through them the layers — of every model that ran `fit`, `evaluate` or
 * `predict`. Layer names are unique within a process, so a disposed model's entries are never hit
 * again: in a reused sandbox they only keep each finished job's layer graph alive until 100 newer
 * entries push it out. Setting the flag runs its hook, which evicts down to the new size; 0 then
 * the old size empties both caches and keeps the limit. A cleared entry is only recomputed, so this
 * is safe while another model trains in the same process.
 */
export function releaseModelCaches(): void {
  const env = tf.env();
  const limit = env.getNumber(SORT_CACHE_FLAG);
  env.set(SORT_CACHE_FLAG, 0);
  env.set(SORT_CACHE_FLAG, limit);
}
