import { backend_util, MaxPoolGrad } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapView } from './wasm-heap';

/**
 * MaxPoolGrad for the wasm backend, replacing the stock kernel (a loop that, for every input
 * position, rescans each pooling window covering it — the second most expensive kernel of a CNN
 * step). Here each window is scanned once: its first maximum (row-major, strictly greater, as in
 * the cpu backend's kernel) receives the window's gradient, accumulated where windows overlap.
 * Padded positions never win.
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
  dx.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = c;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = c;
  const dh = c.dilationHeight;
  const dw = c.dilationWidth;
  const padTop = c.padInfo.top;
  const padLeft = c.padInfo.left;
  const rowStride = inWidth * channels;
  const imageStride = inHeight * rowStride;
  let g = 0;
  for (let b = 0; b < batchSize; b++) {
    const image = b * imageStride;
    for (let oh = 0; oh < outHeight; oh++) {
      const top = oh * sh - padTop;
      let hFirst = top;
      while (hFirst < 0) hFirst += dh;
      const hEnd = Math.min(inHeight, top + fh);
      for (let ow = 0; ow < outWidth; ow++) {
        const left = ow * sw - padLeft;
        let wFirst = left;
        while (wFirst < 0) wFirst += dw;
        const wEnd = Math.min(inWidth, left + fw);
        for (let ch = 0; ch < channels; ch++, g++) {
          let best = -Infinity;
          let at = -1;
          for (let h = hFirst; h < hEnd; h += dh) {
            let i = image + h * rowStride + wFirst * channels + ch;
            for (let w = wFirst; w < wEnd; w += dw, i += dw * channels) {
              const v = xs[i];
              if (v > best || at < 0) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] += gs[g];
        }
      }
    }
  }
  return out;
}
