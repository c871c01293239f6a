import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SchemaCompileSpec } from '../../core/api.gen';
import { resolveOptimizer, tfjsLossName, tfjsMetricNames, type ResolvedOptimizer } from '../../core/compile-spec';

/**
 * Compiles a model with the job's optimizer (every given option, Keras defaults for the rest), loss
 * and the metrics tfjs computes itself. precision/recall/f1/auc are left to the worker, which
 * computes them on validation data (see core/compile-spec.ts). `model.dispose()` also disposes the
 * optimizer created here.
 */
export function compileModel(model: LayersModel, compile: SchemaCompileSpec): void {
  model.compile({
    optimizer: createOptimizer(resolveOptimizer(compile.optimizer)),
    loss: compile.loss === 'huber' ? huber : tfjsLossName(compile.loss),
    metrics: tfjsMetricNames(compile.metrics),
  });
  // tfjs disposes an optimizer with the model only when it created it from a name; this one was
  // built here for the model alone, so hand it over, or its slot variables outlive every job.
  (model as unknown as { isOptimizerOwned: boolean }).isOptimizerOwned = true;
}

/** Creates the tfjs optimizer for a resolved Keras optimizer. */
export function createOptimizer(o: ResolvedOptimizer): tf.Optimizer {
  switch (o.kind) {
    case 'sgd':
      return tf.train.sgd(o.learningRate);
    case 'momentum':
      return tf.train.momentum(o.learningRate, o.momentum ?? 0.9);
    case 'adam':
      return tf.train.adam(o.learningRate, o.beta1, o.beta2, o.epsilon);
    case 'adamax':
      return tf.train.adamax(o.learningRate, o.beta1, o.beta2, o.epsilon);
    case 'rmsprop':
      return tf.train.rmsprop(o.learningRate, o.rho, o.momentum, o.epsilon);
    case 'adagrad':
      return tf.train.adagrad(o.learningRate, o.initialAccumulatorValue);
    case 'adadelta':
      return tf.train.adadelta(o.learningRate, o.rho, o.epsilon);
  }
}

/**
 * Keras `Huber(delta=1.0)`: mean over all elements. tfjs-layers has no huber loss by name, so it
 * comes from tfjs-core (and logs as plain `loss`, like every loss).
 */
function huber(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.losses.huberLoss(yTrue, yPred, undefined, 1.0, tf.Reduction.MEAN);
}
