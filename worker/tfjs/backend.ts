import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Backend } from '../../core/queue-contract';
import { initWasmBackend } from './wasm-backend';

export type BackendPreference = 'auto' | Backend;

export interface BackendChoice {
  backend: Backend;
  /** Why the faster candidates were passed over, for the log. */
  skipped: string[];
  gpu: boolean;
}

/**
 * Picks the fastest tfjs backend this machine can run, in the order node-gpu → node → wasm → cpu,
 * or exactly the preferred one. The native packages are optional dependencies: where their
 * libtensorflow could not be installed, loading them throws and the next candidate is tried.
 * With `requireGpu`, anything but a GPU-backed TensorFlow is an error, so a GPU worker never
 * trains on its CPU by accident.
 */
export async function selectBackend(preference: BackendPreference, opts: { requireGpu?: boolean } = {}): Promise<BackendChoice> {
  const order: Backend[] = preference === 'auto' ? ['node-gpu', 'node', 'wasm', 'cpu'] : [preference];
  const skipped: string[] = [];
  for (const candidate of order) {
    try {
      const gpu = await activate(candidate);
      if (opts.requireGpu && !gpu) throw new Error(`backend ${candidate} sees no GPU`);
      return { backend: candidate, skipped, gpu };
    } catch (err) {
      skipped.push(`${candidate}: ${(err as Error).message.split('\n')[0]}`);
      if (opts.requireGpu && (candidate === 'node-gpu' || preference !== 'auto')) break;
    }
  }
  throw new Error(`no usable tfjs backend (${skipped.join('; ')})`);
}

async function activate(candidate: Backend): Promise<boolean> {
  switch (candidate) {
    case 'node-gpu':
    case 'node': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(candidate === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tensorflow backend did not initialise');
      await tf.ready();
      return candidate === 'node-gpu' && gpuVisible();
    }
    case 'wasm':
      await initWasmBackend();
      return false;
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend did not initialise');
      await tf.ready();
      return false;
  }
}

function gpuVisible(): boolean {
  // tfjs-node's kernel backend records whether libtensorflow placed ops on a CUDA device.
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean; binding?: { isUsingGpuDevice?: () => boolean } };
  if (typeof backend.isUsingGpuDevice === 'boolean') return backend.isUsingGpuDevice;
  return backend.binding?.isUsingGpuDevice?.() === true;
}
