import { backend_util, Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, asWasmBackend, callKernel, heapView, release, toChannelsFirst, toChannelsLast, wasmKernel } from './wasm-heap';

/**
 * Conv2DBackpropInput for the wasm backend that runs on XNNPACK's convolution.
 *
 * The backend's own kernel is a scalar seven-deep loop, the single most expensive kernel of a CNN
 * training step. For stride 1 the input gradient is itself a convolution: correlate dy, padded by
 * (filter − 1 − original padding) on each side, with the filter rotated 180° and its in/out
 * channels swapped — dx[b,i,j,ci] = Σ dy[b, i+pt−kh, j+pl−kw, co] · W[kh,kw,ci,co]. That convolution
 * goes through the backend's Conv2D kernel (XNNPACK). Strides > 1 and paddings that would need
 * cropping keep the original kernel.
 *
 * @param original - the wasm backend's own Conv2DBackpropInput config, which this one delegates to
 */
export function fastConv2DBackpropInputConfig(original: KernelConfig): KernelConfig {
  const delegate: KernelFunc = original.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const backend = asWasmBackend(args.backend);
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const format = backend_util.convertConv2DDataFormat(dataFormat);
    const info = backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, format);
    const padTop = info.filterHeight - 1 - info.padInfo.top;
    const padLeft = info.filterWidth - 1 - info.padInfo.left;
    const padBottom = info.inHeight - info.outHeight - padTop + info.filterHeight - 1;
    const padRight = info.inWidth - info.outWidth - padLeft + info.filterWidth - 1;
    const asConvolution = info.strideHeight === 1 && info.strideWidth === 1
      && dy.dtype === 'float32' && filter.dtype === 'float32'
      && Math.min(padTop, padLeft, padBottom, padRight) >= 0;
    if (!asConvolution) {
      return delegate(args);
    }
    const temps: TensorInfo[] = [];
    try {
      const dyNhwc = format === 'channelsFirst' ? keep(temps, toChannelsLast(backend, dy)) : dy;
      const flipped = keep(temps, rotatedTransposedFilter(backend, filter));
      const dx = callKernel(wasmKernel('Conv2D'), backend, { x: dyNhwc, filter: flipped }, {
        strides: 1,
        dilations: 1,
        pad: [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]],
        dataFormat: 'NHWC',
      } as never);
      if (format !== 'channelsFirst') return dx;
      keep(temps, dx);
      return toChannelsFirst(backend, dx);
    } finally {
      for (const t of temps) release(backend, t);
    }
  };
  return {
    kernelName: Conv2DBackpropInput,
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc,
  };
}

function keep(temps: TensorInfo[], t: TensorInfo): TensorInfo {
  temps.push(t);
  return t;
}

/** W'[kh,kw,co,ci] = W[KH−1−kh, KW−1−kw, ci, co]. */
function rotatedTransposedFilter(backend: BackendWasm, filter: TensorInfo): TensorInfo {
  const [fh, fw, ci, co] = filter.shape;
  const out = allocate(backend, [fh, fw, co, ci]);
  const w = heapView(backend, filter);
  const r = heapView(backend, out);
  let p = 0;
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const tap = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * ci * co;
      for (let o = 0; o < co; o++) {
        for (let i = 0; i < ci; i++) r[p++] = w[tap + i * co + o];
      }
    }
  }
  return out;
}
