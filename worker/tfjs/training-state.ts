import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/**
 * The tensor half of a BackupAndRestore backup: model weights, optimizer state and EarlyStopping's
 * best weights as self-describing binary bundles (a length-prefixed JSON header naming each
 * tensor's shape and dtype, then the raw little-endian values). Restoring gives bit-identical
 * tensors, so a seeded run on a deterministic backend continues exactly as if never interrupted.
 */

interface BundleEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  /** May be a view of the wasm heap (see {@link valuesOf}): encode it before any other tensor work. */
  values: Float32Array | Int32Array;
}

interface BundleHeader {
  version: 1;
  /** Numbers that are not tensors (the optimizer's step count). */
  scalars: Record<string, number>;
  tensors: Array<{ name: string; shape: number[]; dtype: 'float32' | 'int32'; byteLength: number }>;
}

/**
 * Packs tensors' values and plain numbers into one buffer, allocated once at its final size: a
 * backup writes a few megabytes every epoch, and every extra copy is garbage the training thread
 * collects. The buffer spans its own ArrayBuffer, so an uploader can move it to its write thread.
 */
export function encodeBundle(entries: BundleEntry[], scalars: Record<string, number> = {}): Buffer {
  const header: BundleHeader = {
    version: 1,
    scalars,
    tensors: entries.map((e) => ({ name: e.name, shape: e.shape, dtype: e.dtype, byteLength: e.values.byteLength })),
  };
  const head = JSON.stringify(header);
  const headBytes = Buffer.byteLength(head, 'utf8');
  const size = 4 + headBytes + entries.reduce((n, e) => n + e.values.byteLength, 0);
  // Every byte is written below; "slow" = its own ArrayBuffer even when small, never Node's shared pool.
  const out = Buffer.allocUnsafeSlow(size);
  out.writeUInt32LE(headBytes, 0);
  out.write(head, 4, 'utf8');
  let offset = 4 + headBytes;
  for (const e of entries) {
    // A heap view goes empty if the wasm memory grew since it was taken: never store that silently.
    if (e.values.length !== e.shape.reduce((n, d) => n * d, 1)) throw new Error(`backup bundle: the values of ${e.name} do not match its shape [${e.shape}]`);
    out.set(new Uint8Array(e.values.buffer, e.values.byteOffset, e.values.byteLength), offset);
    offset += e.values.byteLength;
  }
  return out;
}

/** Unpacks {@link encodeBundle}; throws on a truncated or foreign buffer. */
export function decodeBundle(buf: Buffer): { entries: BundleEntry[]; scalars: Record<string, number> } {
  if (buf.length < 4) throw new Error('backup bundle is truncated');
  const headLen = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + headLen).toString('utf8')) as BundleHeader;
  if (header.version !== 1 || !Array.isArray(header.tensors)) throw new Error('backup bundle has an unknown format');
  let offset = 4 + headLen;
  const entries = header.tensors.map((t) => {
    if (offset + t.byteLength > buf.length) throw new Error('backup bundle is truncated');
    // Copy into an aligned buffer: typed arrays need an offset that is a multiple of 4.
    const bytes = new Uint8Array(t.byteLength);
    bytes.set(buf.subarray(offset, offset + t.byteLength));
    offset += t.byteLength;
    const values = t.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return { name: t.name, shape: t.shape, dtype: t.dtype, values };
  });
  return { entries, scalars: header.scalars ?? {} };
}

/**
 * A tensor's values, without a copy where the backend allows: on the wasm backend a view of its
 * bytes in the module's heap, valid until the heap next grows (so copy it out before any other
 * tensor work); elsewhere `dataSync()`. Weights, optimizer state and best weights are read every
 * epoch for backups, and a copy of each is megabytes of garbage on the training thread.
 */
function valuesOf(t: tf.Tensor): tf.TypedArray {
  const backend = tf.backend() as Partial<BackendWasm>;
  if (typeof backend.typedArrayFromHeap === 'function' && backend.dataIdMap?.has(t.dataId) === true) {
    return backend.typedArrayFromHeap(t) as tf.TypedArray;
  }
  return t.dataSync();
}

/** A tensor's entry; its values are {@link valuesOf}, converted (copied) only when of another type. */
function entryOf(name: string, t: tf.Tensor): BundleEntry {
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = valuesOf(t);
  const values = dtype === 'int32'
    ? (data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>))
    : (data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
  return { name, shape: [...t.shape], dtype, values };
}

/** Tensors (in order) as a bundle. */
export function encodeTensors(tensors: tf.Tensor[]): Buffer {
  return encodeBundle(tensors.map((t, i) => entryOf(String(i), t)));
}

/** New tensors from {@link encodeTensors}; the caller owns them. */
export function decodeTensors(buf: Buffer): tf.Tensor[] {
  return decodeBundle(buf).entries.map((e) => tf.tensor(e.values, e.shape, e.dtype));
}

/** The model's weights, in `model.weights` order. */
export function encodeModelWeights(model: LayersModel): Buffer {
  return encodeBundle(model.weights.map((w) => entryOf(w.originalName ?? w.name, w.read())));
}

/** Overwrites the model's weights with a bundle from {@link encodeModelWeights} of the same model. */
export function restoreModelWeights(model: LayersModel, buf: Buffer): void {
  const { entries } = decodeBundle(buf);
  if (entries.length !== model.weights.length) {
    throw new Error(`backup holds ${entries.length} weights, the model has ${model.weights.length}`);
  }
  const tensors = entries.map((e) => tf.tensor(e.values, e.shape, e.dtype));
  try {
    model.setWeights(tensors);
  } finally {
    tensors.forEach((t) => t.dispose());
  }
}

/** A slot variable list as tfjs optimizers keep them (Adam's moments, Momentum's accumulations, ...). */
type Slots = Array<{ originalName: string; variable: tf.Variable } | null | undefined>;

function isSlots(v: unknown): v is Slots {
  return Array.isArray(v) && v.length > 0 && v.every((s) => s == null || (typeof s === 'object' && (s as { variable?: unknown }).variable instanceof tf.Variable));
}

/**
 * The optimizer's whole state: its step count and every variable it holds (slot variables per
 * model weight, and scalars such as Adam's running beta powers). tfjs's own `getWeights()` misses
 * those scalars (it recomputes them as `beta^(t+1)`, which differs in the last float32 bits from
 * the running product) and is missing for Adamax, so the fields are read directly.
 */
export function encodeOptimizer(optimizer: tf.Optimizer): Buffer {
  const entries: BundleEntry[] = [];
  const o = optimizer as unknown as Record<string, unknown>;
  for (const [prop, value] of Object.entries(o)) {
    if (value instanceof tf.Variable) entries.push(entryOf(`var:${prop}`, value));
    else if (isSlots(value)) {
      value.forEach((slot, i) => {
        if (slot) entries.push(entryOf(`slot:${prop}:${i}:${slot.originalName}`, slot.variable));
      });
    }
  }
  const iterations = typeof o.iterations_ === 'number' ? o.iterations_ : 0;
  return encodeBundle(entries, { iterations });
}

/** Restores {@link encodeOptimizer} into a fresh optimizer of the same kind and model. */
export function restoreOptimizer(optimizer: tf.Optimizer, buf: Buffer): void {
  const { entries, scalars } = decodeBundle(buf);
  const o = optimizer as unknown as Record<string, unknown>;
  o.iterations_ = scalars.iterations ?? 0;
  for (const e of entries) {
    const m = /^(var|slot):([^:]+)(?::(\d+):(.*))?$/.exec(e.name);
    if (!m) throw new Error(`backup optimizer entry ${e.name} is not one Kiln writes`);
    const [, kind, prop, index, originalName] = m;
    if (kind === 'var') {
      const v = o[prop];
      if (!(v instanceof tf.Variable)) throw new Error(`the optimizer has no variable ${prop} to restore`);
      tf.tidy(() => v.assign(tf.tensor(e.values, e.shape, e.dtype)));
      continue;
    }
    let slots = o[prop];
    if (slots === undefined || slots === null) o[prop] = slots = [];
    if (!Array.isArray(slots)) throw new Error(`the optimizer has no slot list ${prop} to restore`);
    const i = Number(index);
    const existing = (slots as Slots)[i];
    if (existing) {
      tf.tidy(() => existing.variable.assign(tf.tensor(e.values, e.shape, e.dtype)));
    } else {
      const t = tf.tensor(e.values, e.shape, e.dtype);
      (slots as Slots)[i] = { originalName, variable: t.variable(false) };
      t.dispose();
    }
  }
}
