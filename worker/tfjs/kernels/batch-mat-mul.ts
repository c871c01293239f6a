import { BatchMatMul, util } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasmBackend, release, transposeLastTwo } from './wasm-heap';

/**
 * Below this many multiply-adds the wasm backend's plain loop beats transposing an operand and
 * packing an XNNPACK operator for it.
 */
const MIN_MACS_FOR_FAST_PATH = 64 * 64 * 64;

/**
 * BatchMatMul for the wasm backend that keeps transposed products on XNNPACK.
 *
 * The backend's own kernel sends a product to XNNPACK's fully-connected operator only when neither
 * operand is transposed and there is a single batch; anything else runs a scalar triple loop about
 * ten times slower. Training hits that loop twice per Dense layer and step (`dy·Wᵀ` for the input
 * gradient, `xᵀ·dy` for the weight gradient). Here a transposed operand is first transposed
 * explicitly (a memory-bound copy, cheap next to the product) and the product then takes the fast
 * route. Batched products (batch > 1) and small ones keep the original kernel.
 *
 * @param original - the wasm backend's own BatchMatMul config, which this one delegates to
 */
export function fastBatchMatMulConfig(original: KernelConfig): KernelConfig {
  const delegate: KernelFunc = original.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const backend = asWasmBackend(args.backend);
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    if ((!transposeA && !transposeB) || !worthTransposing(a, b, transposeA)) {
      return delegate(args);
    }
    const temps: TensorInfo[] = [];
    const a2 = transposeA ? keep(temps, transposeLastTwo(backend, a)) : a;
    const b2 = transposeB ? keep(temps, transposeLastTwo(backend, b)) : b;
    try {
      return delegate({
        inputs: { a: a2, b: b2 },
        backend,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) release(backend, t);
    }
  };
  return {
    kernelName: BatchMatMul,
    backendName: 'wasm',
    // Registered before the backend initialises, the original's setup (its cwrap) must still run.
    setupFunc: original.setupFunc,
    kernelFunc,
  };
}

function keep(temps: TensorInfo[], t: TensorInfo): TensorInfo {
  temps.push(t);
  return t;
}

function worthTransposing(a: TensorInfo, b: TensorInfo, transposeA: boolean): boolean {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return false;
  if (util.sizeFromShape(a.shape.slice(0, -2)) !== 1 || util.sizeFromShape(b.shape.slice(0, -2)) !== 1) {
    return false;
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const shared = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const macs = a.shape[ra - 1] * a.shape[ra - 2] * (b.shape[rb - 1] * b.shape[rb - 2]) / shared;
  return macs >= MIN_MACS_FOR_FAST_PATH;
}
