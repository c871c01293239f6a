import * as tf from '@tensorflow/tfjs-core';

/** Live tensors in the active engine (for leak checks across jobs in a reused sandbox). */
export function tensorCount(): number {
  return tf.memory().numTensors;
}
