import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' Node bundle registers every gradient in the global registry (tfjs-core's own
// register_all_gradients is ESM-only and cannot be required from compiled CommonJS).
import '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './kernels/register-wasm-kernels';

/**
 * Makes the tfjs wasm backend the active backend, ready to train.
 *
 * Points the loader at the `.wasm` binaries of the installed `@tensorflow/tfjs-backend-wasm`
 * package (so bundling or a changed working directory cannot break the lookup), activates the
 * backend, waits for it, and registers the gradient kernels and fast paths from
 * `kernels/register-wasm-kernels`. Safe to call more than once.
 *
 * In Node the backend runs the SIMD binary single-threaded: the multi-threaded binary needs web
 * workers and tfjs disables it under Node, so `setThreadsCount` has no effect there. Use one
 * training process per core for parallelism.
 *
 * @throws Error when the wasm backend cannot be initialised
 */
export async function initWasmBackend(): Promise<void> {
  if (tf.findBackendFactory('wasm') == null) {
    throw new Error('The tfjs wasm backend is not registered; is @tensorflow/tfjs-backend-wasm installed?');
  }
  if (!wasmStarted) {
    // The binaries sit next to the package's Node entry point (dist/).
    const entry = require.resolve('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(path.dirname(entry) + path.sep);
    wasmStarted = true;
  }
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('The tfjs wasm backend failed to initialise');
  }
  await tf.ready();
}

let wasmStarted = false;
