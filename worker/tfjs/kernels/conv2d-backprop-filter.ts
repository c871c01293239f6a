import { backend_util, Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, Conv2DBackpropFilterInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, asWasmBackend, callKernel, heapView, release, reshaped, toChannelsLast, wasmKernel, type HeapView } from './wasm-heap';

/**
 * Conv2DBackpropFilter for the wasm backend, which ships without it (so no Conv2D could train).
 *
 * dW[kh,kw,ci,co] = Σ over (b,oh,ow) of x[b, oh·sh + kh·dh − padTop, ow·sw + kw·dw − padLeft, ci] ·
 * dy[b,oh,ow,co]. Written as a matrix product: dW (K×Co) = Pᵀ (K×M) · dy (M×Co), with
 * K = kh·kw·ci and M = b·oh·ow, where P is the im2col patch matrix. Pᵀ is built here, row by row,
 * straight into the wasm heap — the layout makes every row a strided read of one input channel —
 * and the product runs on the backend's XNNPACK fully-connected route (no transposed operand, one
 * batch), so the heavy part executes as SIMD wasm rather than JavaScript.
 *
 * Follows the semantics of the cpu backend's kernel, including `dataFormat` NCHW (handled by
 * transposing to NHWC first). Also honours an optional `dilations` attribute, which tfjs-core never
 * passes today (its Conv2D gradient rejects dilations > 1).
 */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};

type Attrs = Conv2DBackpropFilterAttrs & { dilations?: [number, number] | number };

function conv2DBackpropFilter(args: { inputs: Conv2DBackpropFilterInputs; backend: unknown; attrs: Attrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs;
  const dilations = args.attrs.dilations ?? 1;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropFilter expects float32 tensors, got ${x.dtype} and ${dy.dtype}`);
  }
  const format = backend_util.convertConv2DDataFormat(dataFormat);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, false, format);

  const temps: TensorInfo[] = [];
  try {
    const xNhwc = format === 'channelsFirst' ? track(temps, toChannelsLast(backend, x)) : x;
    const dyNhwc = format === 'channelsFirst' ? track(temps, toChannelsLast(backend, dy)) : dy;
    const rows = info.filterHeight * info.filterWidth * info.inChannels;
    const cols = info.batchSize * info.outHeight * info.outWidth;
    const patchesT = track(temps, allocate(backend, [1, rows, cols]));
    // Position by position beats row by row once a tap's channels make a contiguous run worth reading.
    if (info.inChannels >= 8) fillByPosition(heapView(backend, xNhwc), heapView(backend, patchesT), info);
    else fillTransposedPatches(backend, xNhwc, patchesT, info);
    const dy2d = track(temps, reshaped(backend, dyNhwc, [1, cols, info.outChannels]));
    const dw = callKernel(wasmKernel('BatchMatMul'), backend, { a: patchesT, b: dy2d }, { transposeA: false, transposeB: false });
    return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' };
  } finally {
    for (const t of temps) release(backend, t);
  }
}

function track(temps: TensorInfo[], t: TensorInfo): TensorInfo {
  temps.push(t);
  return t;
}

/**
 * Writes Pᵀ: row (kh,kw,ci) holds, for every output position (b,oh,ow) in order, the input value
 * that filter tap meets there, or 0 where it falls in the padding.
 */
function fillTransposedPatches(backend: BackendWasm, x: TensorInfo, out: TensorInfo, c: backend_util.Conv2DInfo): void {
  const xs = heapView(backend, x);
  const ps = heapView(backend, out);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = c;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const padTop = c.padInfo.top;
  const padLeft = c.padInfo.left;
  const rowStride = inWidth * inChannels;
  const imageStride = inHeight * rowStride;
  const stepW = sw * inChannels;
  let p = 0;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const colOffset = kw * dw - padLeft;
      // Output columns whose input column lies inside the image: iw = ow·sw + colOffset ∈ [0, inWidth).
      const owFirst = Math.min(outWidth, Math.max(0, Math.ceil(-colOffset / sw)));
      const owEnd = Math.max(owFirst, Math.min(outWidth, Math.ceil((inWidth - colOffset) / sw)));
      for (let ci = 0; ci < inChannels; ci++) {
        for (let b = 0; b < batchSize; b++) {
          const imageBase = b * imageStride + ci;
          for (let oh = 0; oh < outHeight; oh++) {
            const ih = oh * sh + kh * dh - padTop;
            if (ih < 0 || ih >= inHeight) {
              ps.fill(0, p, p + outWidth);
              p += outWidth;
              continue;
            }
            for (let ow = 0; ow < owFirst; ow++) ps[p++] = 0;
            let src = imageBase + ih * rowStride + (owFirst * sw + colOffset) * inChannels;
            for (let ow = owFirst; ow < owEnd; ow++) {
              ps[p++] = xs[src];
              src += stepW;
            }
            for (let ow = owEnd; ow < outWidth; ow++) ps[p++] = 0;
          }
        }
      }
    }
  }
}

/**
 * The same Pᵀ, filled position by position: for one filter tap, each output position reads the
 * tap's input channels as one contiguous run and writes them into their channel rows. With many
 * input channels this beats the row-by-row fill (about 1.8× at 16 channels), whose reads stride
 * over the channels; with few channels the row-by-row fill wins, so it is kept for those.
 */
function fillByPosition(xs: HeapView, ps: HeapView, c: backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = c;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const padTop = c.padInfo.top;
  const padLeft = c.padInfo.left;
  const rowStride = inWidth * inChannels;
  const imageStride = inHeight * rowStride;
  const positions = batchSize * outHeight * outWidth;
  const zero = (row0: number, from: number, to: number) => {
    for (let ci = 0, r = row0; ci < inChannels; ci++, r += positions) ps.fill(0, r + from, r + to);
  };
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const row0 = (kh * filterWidth + kw) * inChannels * positions;
      const colOffset = kw * dw - padLeft;
      const owFirst = Math.min(outWidth, Math.max(0, Math.ceil(-colOffset / sw)));
      const owEnd = Math.max(owFirst, Math.min(outWidth, Math.ceil((inWidth - colOffset) / sw)));
      let m = 0;
      for (let b = 0; b < batchSize; b++) {
        for (let oh = 0; oh < outHeight; oh++, m += outWidth) {
          const ih = oh * sh + kh * dh - padTop;
          if (ih < 0 || ih >= inHeight) {
            zero(row0, m, m + outWidth);
            continue;
          }
          if (owFirst > 0) zero(row0, m, m + owFirst);
          if (owEnd < outWidth) zero(row0, m + owEnd, m + outWidth);
          let src = b * imageStride + ih * rowStride + (owFirst * sw + colOffset) * inChannels;
          for (let ow = owFirst; ow < owEnd; ow++, src += sw * inChannels) {
            let dst = row0 + m + ow;
            for (let ci = 0; ci < inChannels; ci++, dst += positions) ps[dst] = xs[src + ci];
          }
        }
      }
    }
  }
}
