import { BatchMatMul, Conv2DBackpropInput, GatherV2, getKernel, MaxPoolGrad, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { fastBatchMatMulConfig } from './batch-mat-mul';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { fastConv2DBackpropInputConfig } from './conv2d-backprop-input';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-native-backprop-filter';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-native-backprop-input';
import { maxPoolGradConfig } from './max-pool-grad';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum';
import { fastGatherV2Config } from './gather-v2';

/** Kernels the wasm backend lacks and training needs; registered only where still missing. */
const MISSING: KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/** Faster stand-ins for kernels the wasm backend has, each built around the original it wraps. */
const REPLACEMENTS: Array<[string, (original: KernelConfig) => KernelConfig]> = [
  [BatchMatMul, fastBatchMatMulConfig],
  [GatherV2, fastGatherV2Config],
  [Conv2DBackpropInput, fastConv2DBackpropInputConfig],
  [MaxPoolGrad, () => maxPoolGradConfig],
];

/** Names of the kernels this module already put in place of the wasm backend's own. */
const replaced = new Set<string>();

/**
 * Completes the tfjs wasm backend for training: registers the gradient kernels it ships without
 * (Conv2DBackpropFilter, …) and swaps in faster versions of kernels whose stock implementation
 * misses XNNPACK on training-shaped inputs (BatchMatMul with a transposed operand).
 *
 * Idempotent: a kernel already registered for 'wasm' (by an earlier call, or by a future tfjs
 * release that ships it) is left alone. Works before or after the wasm backend is initialised.
 *
 * @returns the kernel names registered by this call (empty on a repeat call)
 */
export function registerWasmTrainingKernels(): string[] {
  const registered: string[] = [];
  for (const config of MISSING) {
    if (getKernel(config.kernelName, 'wasm') == null) {
      registerKernel(config);
      registered.push(config.kernelName);
    }
  }
  for (const [name, replacement] of REPLACEMENTS) {
    const original = getKernel(name, 'wasm');
    if (replaced.has(name) || original == null) continue;
    unregisterKernel(name, 'wasm');
    registerKernel(replacement(original));
    replaced.add(name);
    registered.push(name);
  }
  return registered;
}
