import { backend_util, DepthwiseConv2dNativeBackpropInput } from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropInputAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapView } from './wasm-heap';

/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend, which ships without it.
 *
 * Scatters each output gradient back through the filter taps that produced it:
 * dx[b, oh·sh + kh·dh − padTop, ow·sw + kw·dw − padLeft, c] += Σₘ dy[b,oh,ow,c·M+m] · W[kh,kw,c,m],
 * accumulating in float64 and rounding once into the float32 output. NHWC only, like the op.
 * Unlike the cpu kernel, dilations > 1 are applied (tfjs-core's gradient never asks for them today).
 */
export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as KernelFunc,
};

function depthwiseBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: unknown;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, filter } = args.inputs;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`DepthwiseConv2dNativeBackpropInput expects float32 tensors, got ${dy.dtype} and ${filter.dtype}`);
  }
  const c = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, true);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = c;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const mult = outChannels / inChannels;
  const padTop = c.padInfo.top;
  const padLeft = c.padInfo.left;
  const acc = new Float64Array(batchSize * inHeight * inWidth * inChannels);

  const out = allocate(backend, [...inputShape]);
  const gs = heapView(backend, dy);
  const ws = heapView(backend, filter);
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
              const o = ch * mult;
              let s = 0;
              for (let m = 0; m < mult; m++) s += gs[g + o + m] * ws[wBase + o + m];
              acc[xBase + ch] += s;
            }
          }
        }
      }
    }
  }
  heapView(backend, out).set(acc);
  return out;
}
