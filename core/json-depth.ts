import { pointerToken } from './errors';

/**
 * Deepest nesting of arrays and objects Kiln accepts in a request body or a dataset record. The
 * deepest real input, a Keras 3 Functional model, nests about a dozen levels
 * (`/model/keras/config/layers/3/inbound_nodes/0/args/0/config/keras_history/0`); 64 leaves room
 * for nested wrappers while keeping every recursive walk (schema validation, model checks,
 * JSON.stringify, BullMQ's serialisation) far from the stack's limit. JSON Schema cannot say
 * "at most N levels", so this limit lives here rather than in the contract.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The JSON pointer of the first value nested deeper than `maxDepth` levels (the top-level value is
 * depth 0, its members depth 1), or null. The walk recurses at most `maxDepth + 1` frames deep
 * whatever the input (it stops at the first value past the limit), so it is safe on anything
 * JSON.parse returns (which itself does not recurse); it allocates nothing on the way down.
 *
 * @param maxDepth - deepest allowed level
 * @defaultValue maxDepth {@link MAX_JSON_DEPTH}
 */
export function tooDeepPointer(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  const path = deepPath(value, 0, maxDepth);
  return path === null ? null : path.reverse().map((t) => '/' + pointerToken(t)).join('');
}

/** Reversed reference tokens to the first too-deep value under `node`, or null. */
function deepPath(node: unknown, depth: number, maxDepth: number): string[] | null {
  if (typeof node !== 'object' || node === null) return null;
  if (depth > maxDepth) return [];
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v !== 'object' || v === null) continue;
      const hit = deepPath(v, depth + 1, maxDepth);
      if (hit) return (hit.push(String(i)), hit);
    }
    return null;
  }
  for (const key in node) {
    if (!Object.prototype.hasOwnProperty.call(node, key)) continue;
    const v = (node as Record<string, unknown>)[key];
    if (typeof v !== 'object' || v === null) continue;
    const hit = deepPath(v, depth + 1, maxDepth);
    if (hit) return (hit.push(key), hit);
  }
  return null;
}

/**
 * The offset in `text` where JSON nesting first goes deeper than `maxDepth` levels, or -1; for raw
 * lines (NDJSON records) before they are parsed. Strings (with their escapes) are skipped, so
 * brackets inside them do not count. Linear in the text, no recursion.
 */
export function tooDeepOffset(text: string, maxDepth = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      // The top-level value counts as depth 0, as in tooDeepPointer.
      if (++depth > maxDepth + 1) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}
