import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { KernelBackend, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { initWasmBackend } from '../../../../worker/tfjs/wasm-backend';

/**
 * Runs one kernel on a named backend, outside the engine, from plain arrays to plain arrays, so a
 * test can feed the same inputs to the wasm kernel under test and to the cpu backend's reference.
 */

export interface HostTensor {
  values: Float32Array | Int32Array;
  shape: number[];
}

let ready: Promise<void> | undefined;

/** Initialises cpu and wasm (with the training kernels) once per test process; wasm stays active. */
export function backendsReady(): Promise<void> {
  ready ??= (async () => {
    await tf.setBackend('cpu');
    await initWasmBackend();
  })();
  return ready;
}

function backendNamed(name: 'cpu' | 'wasm'): KernelBackend {
  const backend = tf.findBackend(name);
  if (backend == null) throw new Error(`backend ${name} not initialised; await backendsReady() first`);
  return backend;
}

/** Live tensor records on the wasm backend, to prove a kernel released its intermediates. */
export function wasmDataIds(): number {
  return backendNamed('wasm').numDataIds();
}

export function runKernel(
  on: 'cpu' | 'wasm',
  kernelName: string,
  inputs: Record<string, HostTensor>,
  attrs: object,
): HostTensor {
  const backend = backendNamed(on);
  const config = tf.getKernel(kernelName, on);
  assert.ok(config, `${on} has no ${kernelName} kernel`);
  const infos: Record<string, TensorInfo> = {};
  for (const [name, t] of Object.entries(inputs)) {
    const dtype = t.values instanceof Int32Array ? 'int32' : 'float32';
    infos[name] = { dataId: backend.write(t.values.slice(), t.shape, dtype), shape: t.shape, dtype };
  }
  try {
    const out = config.kernelFunc({ inputs: infos, backend, attrs: attrs as NamedAttrMap }) as TensorInfo;
    const values = backend.readSync(out.dataId) as Float32Array | Int32Array;
    backend.disposeData(out.dataId);
    return { values, shape: [...out.shape] };
  } finally {
    for (const info of Object.values(infos)) backend.disposeData(info.dataId);
  }
}

/** Deterministic N(0,1)-ish values (sum of uniforms) so failures reproduce. */
export function randn(shape: number[], seed: number): HostTensor {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = next() + next() + next() - 1.5;
  return { values, shape };
}

/**
 * Element-wise |actual − expected| ≤ rtol · max(|expected|, rms(expected)): relative error 1e-4
 * on each element, with the array's RMS as the floor for elements that are sums cancelling to ~0.
 */
export function assertClose(actual: HostTensor, expected: HostTensor, rtol = 1e-4, label = ''): void {
  assert.deepEqual(actual.shape, expected.shape, `${label} shape`);
  const e = expected.values;
  let sq = 0;
  for (let i = 0; i < e.length; i++) sq += e[i] * e[i];
  const rms = Math.sqrt(sq / Math.max(1, e.length));
  for (let i = 0; i < e.length; i++) {
    const tol = rtol * Math.max(Math.abs(e[i]), rms);
    const diff = Math.abs(actual.values[i] - e[i]);
    if (!(diff <= tol)) {
      assert.fail(`${label} element ${i}: got ${actual.values[i]}, want ${e[i]} (|diff| ${diff} > ${tol})`);
    }
  }
}

/**
 * The filter a dilated convolution effectively applies: taps spread `rate` apart, zeros between.
 * Lets a dilation-1 reference kernel check a dilated one.
 */
export function dilateFilter(filter: HostTensor, rateH: number, rateW: number): HostTensor {
  const [fh, fw, a, b] = filter.shape;
  const eh = (fh - 1) * rateH + 1;
  const ew = (fw - 1) * rateW + 1;
  const values = new Float32Array(eh * ew * a * b);
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const src = (i * fw + j) * a * b;
      values.set(filter.values.subarray(src, src + a * b), (i * rateH * ew + j * rateW) * a * b);
    }
  }
  return { values, shape: [eh, ew, a, b] };
}

/** The taps of an effective (dilated) filter gradient that belong to the real filter. */
export function undilateFilter(effective: HostTensor, rateH: number, rateW: number): HostTensor {
  const [eh, ew, a, b] = effective.shape;
  const fh = (eh - 1) / rateH + 1;
  const fw = (ew - 1) / rateW + 1;
  const values = new Float32Array(fh * fw * a * b);
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const src = (i * rateH * ew + j * rateW) * a * b;
      values.set(effective.values.subarray(src, src + a * b), (i * fw + j) * a * b);
    }
  }
  return { values, shape: [fh, fw, a, b] };
}
