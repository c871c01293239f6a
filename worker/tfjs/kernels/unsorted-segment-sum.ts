import { UnsortedSegmentSum, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapView } from './wasm-heap';

/**
 * UnsortedSegmentSum for the wasm backend, which ships without it; it is the gradient of
 * `gather` (so of every Embedding layer).
 *
 * out[s, …] = Σ of the slices x[i, …] whose segmentIds[i] = s, over the leading `segmentIds.rank`
 * axes of x (TensorFlow's semantics; output shape [numSegments, ...x.shape.slice(segmentIds.rank)]).
 * Ids outside [0, numSegments) are dropped, as both TensorFlow and the cpu backend do. float32 sums
 * accumulate in float64 and are rounded once.
 */
export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as KernelFunc,
};

function unsortedSegmentSum(args: {
  inputs: { x: TensorInfo; segmentIds: TensorInfo };
  backend: unknown;
  attrs: UnsortedSegmentSumAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, segmentIds } = args.inputs;
  const { numSegments } = args.attrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum supports float32 and int32, got ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum expects int32 segmentIds, got ${segmentIds.dtype}`);
  }
  const idRank = segmentIds.shape.length;
  if (!util.arraysEqual(x.shape.slice(0, idRank), segmentIds.shape)) {
    throw new Error(`segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
  }
  const sliceShape = x.shape.slice(idRank);
  const sliceSize = util.sizeFromShape(sliceShape);
  const count = util.sizeFromShape(segmentIds.shape);
  const acc = x.dtype === 'float32' ? new Float64Array(numSegments * sliceSize) : new Int32Array(numSegments * sliceSize);

  const out = allocate(backend, [numSegments, ...sliceShape], x.dtype);
  const xs = heapView(backend, x);
  const ids = heapView(backend, segmentIds);
  for (let i = 0; i < count; i++) {
    const s = ids[i];
    if (!(s >= 0 && s < numSegments)) continue;
    const src = i * sliceSize;
    const dst = s * sliceSize;
    for (let j = 0; j < sliceSize; j++) acc[dst + j] += xs[src + j];
  }
  heapView(backend, out).set(acc);
  return out;
}
