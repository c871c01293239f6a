import { GatherV2, util } from '@tensorflow/tfjs-core';
import type { GatherV2Attrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapView } from './wasm-heap';

/**
 * GatherV2 for the wasm backend with a row-copy path for gathers along axis 0.
 *
 * `model.fit` assembles every batch with `gather(x, shuffledIndices)` along axis 0. The backend's
 * own kernel computes each element's address separately, which made batch assembly a fifth of an
 * MLP epoch; along axis 0 each index selects one contiguous row, copied here with a single
 * `copyWithin` on the heap. Other axes, `batchDims` and dtypes keep the original kernel.
 *
 * @param original - the wasm backend's own GatherV2 config, which this one delegates to
 */
export function fastGatherV2Config(original: KernelConfig): KernelConfig {
  const delegate: KernelFunc = original.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const backend = asWasmBackend(args.backend);
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as GatherV2Attrs;
    const parsedAxis = x.shape.length === 0 ? -1 : util.parseAxisParam(axis, x.shape)[0];
    const rowCopy = parsedAxis === 0 && (batchDims ?? 0) === 0 && indices.dtype === 'int32'
      && (x.dtype === 'float32' || x.dtype === 'int32');
    if (!rowCopy) {
      return delegate(args);
    }
    const rows = x.shape[0];
    const rowSize = util.sizeFromShape(x.shape.slice(1));
    const count = util.sizeFromShape(indices.shape);
    const out = allocate(backend, [...indices.shape, ...x.shape.slice(1)], x.dtype);
    // Views only after the allocation above: it may have grown (and detached) the heap.
    const ids = heapView(backend, indices);
    const src = heapView(backend, x);
    const dst = heapView(backend, out);
    const heap = new Uint8Array(dst.buffer);
    const srcByte = src.byteOffset;
    const dstByte = dst.byteOffset;
    const rowBytes = rowSize * 4;
    for (let i = 0; i < count; i++) {
      const row = ids[i];
      if (!(row >= 0 && row < rows)) {
        backend.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${row} is not in [0, ${rows - 1}]`);
      }
      heap.copyWithin(dstByte + i * rowBytes, srcByte + row * rowBytes, srcByte + (row + 1) * rowBytes);
    }
    return out;
  };
  return {
    kernelName: GatherV2,
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc,
  };
}
