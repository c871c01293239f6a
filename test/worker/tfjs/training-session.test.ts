import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { ArrayTrainingSession } from '../../../worker/tfjs/training-session';

before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

test('ArrayTrainingSession makes all of its tensors or none: a bad validation side leaves nothing behind', () => {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 1 })] });
  const baseline = tf.memory().numTensors;
  const train = { x: new Float32Array(8), y: new Float32Array(4), count: 4 };
  // 3 rows of 2 features need 6 values; 5 cannot take the shape [3, 2].
  const validation = { x: new Float32Array(5), y: new Float32Array(3), count: 3 };
  assert.throws(() => new ArrayTrainingSession(model, train, validation, [2], []), /shape/i);
  assert.equal(tf.memory().numTensors, baseline, 'the training tensors made before the failure were disposed');

  const session = new ArrayTrainingSession(model, train, { ...validation, x: new Float32Array(6) }, [2], []);
  assert.equal(tf.memory().numTensors, baseline + 4);
  const modelTensors = model.weights.length;
  session.dispose();
  assert.equal(tf.memory().numTensors, baseline - modelTensors, 'dispose frees the four data tensors and the model');
});
