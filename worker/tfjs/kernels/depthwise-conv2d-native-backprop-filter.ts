import { backend_util, DepthwiseConv2dNativeBackpropFilter } from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropFilterAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapView } from './wasm-heap';

/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend, which ships without it.
 *
 * dW[kh,kw,c,m] = Σ over (b,oh,ow) of x[b, oh·sh + kh·dh − padTop, ow·sw + kw·dw − padLeft, c] ·
 * dy[b,oh,ow,c·M+m], with M the channel multiplier. One pass over dy, accumulating in float64 (the
 * cpu backend's kernel also sums in doubles), then rounded once into the float32 output. NHWC only,
 * like the op. Unlike the cpu kernel, dilations > 1 are applied (tfjs-core's gradient never asks for
 * them today).
 */
export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as KernelFunc,
};

function depthwiseBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: unknown;
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs;
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`DepthwiseConv2dNativeBackpropFilter expects float32 tensors, got ${x.dtype} and ${dy.dtype}`);
  }
  const c = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = c;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const mult = outChannels / inChannels;
  const padTop = c.padInfo.top;
  const padLeft = c.padInfo.left;
  const acc = new Float64Array(filterHeight * filterWidth * outChannels);

  const out = allocate(backend, [...filterShape]);
  const xs = heapView(backend, x);
  const gs = heapView(backend, dy);
  let g = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, g += outChannels) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * sh + kh * dh - padTop;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * sw + kw * dw - padLeft;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = ((b * inHeight + ih) * inWidth + iw) * inChannels;
            const wBase = (kh * filterWidth + kw) * outChannels;
            for (let ch = 0; ch < inChannels; ch++) {
              const xv = xs[xBase + ch];
              const o = ch * mult;
              for (let m = 0; m < mult; m++) acc[wBase + o + m] += xv * gs[g + o + m];
            }
          }
        }
      }
    }
  }
  heapView(backend, out).set(acc);
  return out;
}
