import { getKernel, util } from '@tensorflow/tfjs-core';
import type { Attribute, DataType, KernelFunc, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Helpers shared by the TypeScript kernels that run over the wasm backend's linear memory.
 *
 * Tensor data on the wasm backend lives in the module's heap; a kernel reads and writes it through
 * typed-array views. Views are only valid until the next allocation: `malloc` may grow the memory and
 * detach the old `ArrayBuffer`, so every kernel takes its views after its last `makeOutput`.
 */

/** A float32 or int32 view on a tensor's bytes in the wasm heap. */
export type HeapView = Float32Array | Int32Array;

/** Narrows the `backend` a kernel receives to the wasm backend, or fails loudly. */
export function asWasmBackend(backend: unknown): BackendWasm {
  const b = backend as Partial<BackendWasm> | null;
  if (b == null || b.wasm == null || b.dataIdMap == null) {
    throw new Error('This kernel runs on the tfjs wasm backend only');
  }
  return b as BackendWasm;
}

/** A live view on `info`'s data; take it after the kernel's last allocation (see above). */
export function heapView(backend: BackendWasm, info: TensorInfo): HeapView {
  const view = backend.typedArrayFromHeap(info);
  if (!(view instanceof Float32Array) && !(view instanceof Int32Array)) {
    throw new Error(`Unsupported dtype ${info.dtype} for a wasm training kernel`);
  }
  return view;
}

/** Allocates an output tensor on the wasm heap; its contents are undefined until written. */
export function allocate(backend: BackendWasm, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  return backend.makeOutput(shape, dtype);
}

/** The same data seen with another shape (no copy), owning one reference the caller must release. */
export function reshaped(backend: BackendWasm, info: TensorInfo, shape: number[]): TensorInfo {
  if (util.sizeFromShape(shape) !== util.sizeFromShape(info.shape)) {
    throw new Error(`Cannot view shape [${info.shape}] as [${shape}]`);
  }
  backend.incRef(info.dataId);
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Releases an intermediate tensor a kernel created. */
export function release(backend: BackendWasm, info: TensorInfo): void {
  backend.disposeData(info.dataId);
}

/**
 * Runs another kernel of the wasm backend synchronously, outside the engine: no tape, no profiling,
 * no bookkeeping — the caller owns and releases the result.
 */
export function callKernel(
  kernel: KernelFunc,
  backend: BackendWasm,
  inputs: NamedTensorInfoMap,
  attrs: Record<string, Attribute> = {},
): TensorInfo {
  const out = kernel({ inputs, backend, attrs });
  if (Array.isArray(out)) {
    throw new Error('Expected a single-output kernel');
  }
  return out;
}

/** The kernel function the wasm backend currently has registered for `name`. */
export function wasmKernel(name: string): KernelFunc {
  const config = getKernel(name, 'wasm');
  if (config == null) {
    throw new Error(`The wasm backend has no '${name}' kernel`);
  }
  return config.kernelFunc;
}

/** Transposes the last two axes of `info` with the wasm backend's own Transpose kernel. */
export function transposeLastTwo(backend: BackendWasm, info: TensorInfo): TensorInfo {
  const rank = info.shape.length;
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return callKernel(wasmKernel('Transpose'), backend, { x: info }, { perm });
}

/** NCHW → NHWC with the wasm backend's Transpose kernel. */
export function toChannelsLast(backend: BackendWasm, info: TensorInfo): TensorInfo {
  return callKernel(wasmKernel('Transpose'), backend, { x: info }, { perm: [0, 2, 3, 1] });
}

/** NHWC → NCHW with the wasm backend's Transpose kernel. */
export function toChannelsFirst(backend: BackendWasm, info: TensorInfo): TensorInfo {
  return callKernel(wasmKernel('Transpose'), backend, { x: info }, { perm: [0, 3, 1, 2] });
}
