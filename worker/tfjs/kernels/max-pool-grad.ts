import { backend_util, MaxPoolGrad } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapView, type HeapView } from './wasm-heap';

/**
 * MaxPoolGrad for the wasm backend, replacing the stock kernel (a loop that, for every input
 * position, rescans each pooling window covering it — the second most expensive kernel of a CNN
 * step). Here each window is scanned once: its first maximum (row-major, strictly greater, as in
 * the cpu backend's kernel) receives the window's gradient, accumulated where windows overlap.
 * Padded positions never win. The scan runs over all channels of a tap at once, so reads follow
 * memory order.
 */
export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};

function maxPoolGrad(args: { inputs: { dy: TensorInfo; input: TensorInfo }; backend: unknown; attrs: MaxPoolGradAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, input } = args.inputs;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`MaxPoolGrad expects float32 tensors, got ${input.dtype} and ${dy.dtype}`);
  }
  const c = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const out = allocate(backend, input.shape);
  const xs = heapView(backend, input);
  const gs = heapView(backend, dy);
  const dx = heapView(backend, out);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = c;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = c;
  const dh = c.dilationHeight;
  const dw = c.dilationWidth;
  const padTop = c.padInfo.top;
  const padLeft = c.padInfo.left;
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && padTop === 0 && padLeft === 0 && 2 * outHeight <= inHeight && 2 * outWidth <= inWidth) {
    tiles2x2(xs, gs, dx, batchSize, inHeight, inWidth, channels, outHeight, outWidth);
    return out;
  }
  dx.fill(0);
  const rowStride = inWidth * channels;
  const imageStride = inHeight * rowStride;
  // Per window: the offsets of its in-image taps, row-major; per channel: the running maximum and
  // where it is. Channels are innermost in memory, so every pass below reads contiguously.
  const taps = new Int32Array(Math.ceil(fh / dh) * Math.ceil(fw / dw));
  const best = new Float32Array(channels);
  const at = new Int32Array(channels);
  let g = 0;
  for (let b = 0; b < batchSize; b++) {
    const image = b * imageStride;
    for (let oh = 0; oh < outHeight; oh++) {
      const top = oh * sh - padTop;
      let hFirst = top;
      while (hFirst < 0) hFirst += dh;
      const hEnd = Math.min(inHeight, top + fh);
      for (let ow = 0; ow < outWidth; ow++, g += channels) {
        const left = ow * sw - padLeft;
        let wFirst = left;
        while (wFirst < 0) wFirst += dw;
        const wEnd = Math.min(inWidth, left + fw);
        let n = 0;
        for (let h = hFirst; h < hEnd; h += dh) {
          for (let w = wFirst; w < wEnd; w += dw) taps[n++] = image + h * rowStride + w * channels;
        }
        if (n === 0) continue;
        const first = taps[0];
        for (let ch = 0; ch < channels; ch++) {
          best[ch] = xs[first + ch];
          at[ch] = first + ch;
        }
        for (let t = 1; t < n; t++) {
          const base = taps[t];
          for (let ch = 0; ch < channels; ch++) {
            const v = xs[base + ch];
            if (v > best[ch]) {
              best[ch] = v;
              at[ch] = base + ch;
            }
          }
        }
        for (let ch = 0; ch < channels; ch++) dx[at[ch]] += gs[g + ch];
      }
    }
  }
  return out;
}

/**
 * The common case (2×2 windows, stride 2, no padding: every CNN tutorial's MaxPooling2D): windows
 * do not overlap, so each input position gets either its window's gradient or 0 and is written
 * once, without clearing the output first. Unrolled over the four taps, which roughly halves the
 * time of the general loop. Rows and columns no window covers (odd sizes) are zeroed.
 */
function tiles2x2(xs: HeapView, gs: HeapView, dx: HeapView, batchSize: number, inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number): void {
  const rowStride = inWidth * channels;
  const imageStride = inHeight * rowStride;
  if (2 * outHeight !== inHeight || 2 * outWidth !== inWidth) dx.fill(0);
  let g = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      let p0 = b * imageStride + 2 * oh * rowStride;
      for (let ow = 0; ow < outWidth; ow++, g += channels, p0 += 2 * channels) {
        const p1 = p0 + channels;
        const p2 = p0 + rowStride;
        const p3 = p2 + channels;
        for (let ch = 0; ch < channels; ch++) {
          // The first maximum in row-major order wins, as in the cpu kernel (ties after a relu are common).
          let best = xs[p0 + ch];
          let k = 0;
          const v1 = xs[p1 + ch];
          if (v1 > best) { best = v1; k = 1; }
          const v2 = xs[p2 + ch];
          if (v2 > best) { best = v2; k = 2; }
          if (xs[p3 + ch] > best) k = 3;
          const grad = gs[g + ch];
          dx[p0 + ch] = k === 0 ? grad : 0;
          dx[p1 + ch] = k === 1 ? grad : 0;
          dx[p2 + ch] = k === 2 ? grad : 0;
          dx[p3 + ch] = k === 3 ? grad : 0;
        }
      }
    }
  }
}
