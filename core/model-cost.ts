import type { FieldProblem } from './errors';
import type { LayerShapes, SampleShape } from './model-spec';

/** Default of `KILN_MAX_MODEL_PARAMS`: trainable and non-trainable weights of one model. */
export const DEFAULT_MAX_MODEL_PARAMS = 50_000_000;

/**
 * Default of `KILN_WORKER_MEMORY_BYTES` (2 GiB): what one training process may use. The API
 * refuses jobs whose estimate exceeds it; the worker holds its training process to it.
 */
export const DEFAULT_WORKER_MEMORY_BYTES = 2 * 1024 ** 3;

/** Bytes per value: tfjs trains in float32. */
const FLOAT_BYTES = 4;

/**
 * Slot variables per weight each optimizer keeps (tfjs-layers 4.22): Adam's and Adamax's two
 * moments, RMSProp's mean square and momentum accumulators, Adadelta's two accumulators, Adagrad's
 * one, Momentum's velocity; plain SGD none.
 */
const OPTIMIZER_SLOTS: Readonly<Record<string, number>> = {
  sgd: 0, momentum: 1, adam: 2, adamax: 2, rmsprop: 2, adagrad: 1, adadelta: 2,
};

/** What a model costs to train, as estimated from its layers and shapes. */
export interface ModelCost {
  /** Weights of the model (trainable or not). */
  params: number;
  /** Values one sample's forward pass produces (every layer's output). */
  activationsPerSample: number;
  /**
   * Estimated bytes one training step holds: the weights, their gradients and the optimizer's
   * slots, plus a batch of inputs and of every layer's outputs, each twice (the forward value kept
   * for the backward pass and its gradient). Dimensions the model leaves open count as 1, so this
   * is a lower bound: what is refused by it could certainly not run.
   */
  trainingBytes: number;
  /** The layer with the most weights, for the message. */
  largest: { pointer: string; params: number } | null;
  /** The batch size the estimate is for. */
  batchSize: number;
}


/**
 * Parameter count and training-memory estimate of a checked model (checkModelSpec's layerShapes).
 * Pure arithmetic over the layers, in doubles (a 1e9-unit Dense must not overflow into nonsense).
 */
export function estimateModelCost(layers: readonly LayerShapes[], inputShape: SampleShape | null, opts: { batchSize: number; optimizer: string }): ModelCost {
  let params = 0;
  let activations = inputShape ? elements(inputShape) : 0;
  let largest: ModelCost['largest'] = null;
  for (const { layer, pointer, inputs, output } of layers) {
    const n = inputs ? layerParams(layer.class_name, layer.config, inputs, output) : 0;
    params += n;
    if (n > 0 && (largest === null || n > largest.params)) largest = { pointer, params: n };
    if (output) activations += elements(output);
  }
  const slots = Object.prototype.hasOwnProperty.call(OPTIMIZER_SLOTS, opts.optimizer) ? OPTIMIZER_SLOTS[opts.optimizer] : 2;
  const trainingBytes = FLOAT_BYTES * (params * (2 + slots) + 2 * opts.batchSize * activations);
  return { params, activationsPerSample: activations, trainingBytes, largest, batchSize: opts.batchSize };
}

/**
 * Refusals for a model past the limits, naming the field and the limit's variable; empty when it
 * fits. Checked at submission, before the job is queued.
 */
export function modelCostProblems(cost: ModelCost, limits: { maxModelParams: number; workerMemoryBytes: number }, pointers: { model: string; batchSize: string }): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const where = cost.largest?.pointer ?? pointers.model;
  if (limits.maxModelParams > 0 && cost.params > limits.maxModelParams) {
    problems.push({
      pointer: where,
      detail: `the model has ${count(cost.params)} parameters (this layer ${count(cost.largest?.params ?? 0)}), above the limit of ${count(limits.maxModelParams)} (KILN_MAX_MODEL_PARAMS); use fewer units, filters or layers`,
    });
  } else if (limits.workerMemoryBytes > 0 && cost.trainingBytes > limits.workerMemoryBytes) {
    // Point at what dominates: the batch's activations or the weights.
    const batchShare = FLOAT_BYTES * 2 * cost.activationsPerSample * cost.batchSize > cost.trainingBytes / 2;
    problems.push({
      pointer: batchShare ? pointers.batchSize : where,
      detail: `training this model needs an estimated ${mib(cost.trainingBytes)} (weights, gradients and optimizer state for ${count(cost.params)} parameters, plus ${count(cost.activationsPerSample)} activations per sample), above a worker's ${mib(limits.workerMemoryBytes)} (KILN_WORKER_MEMORY_BYTES); ${batchShare ? 'use a smaller fit.batchSize or smaller layer outputs' : 'use a smaller model'}`,
    });
  }
  return problems;
}

/** Weights of one layer for its input shapes (Keras's `count_params`). */
function layerParams(className: string, c: Record<string, unknown>, inputs: SampleShape[], output: SampleShape | null): number {
  const x = inputs[0] ?? [];
  const last = dim(x[x.length - 1]);
  const bias = (units: number) => (c.use_bias === false ? 0 : units);
  const channelsFirst = c.data_format === 'channels_first';
  const channels = dim(channelsFirst ? x[0] : x[x.length - 1]);
  switch (className) {
    case 'Dense': {
      const units = num(c.units);
      return last * units + bias(units);
    }
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv2DTranspose': {
      const filters = num(c.filters);
      return kernel(c.kernel_size, className === 'Conv1D' ? 1 : 2) * channels * filters + bias(filters);
    }
    case 'DepthwiseConv2D': {
      const out = channels * (num(c.depth_multiplier) || 1);
      return kernel(c.kernel_size, 2) * out + bias(out);
    }
    case 'SeparableConv2D': {
      const filters = num(c.filters);
      const depth = channels * (num(c.depth_multiplier) || 1);
      return kernel(c.kernel_size, 2) * depth + depth * filters + bias(filters);
    }
    case 'Embedding':
      return num(c.input_dim) * num(c.output_dim);
    case 'SimpleRNN':
    case 'GRU':
    case 'LSTM': {
      const gates = className === 'LSTM' ? 4 : className === 'GRU' ? 3 : 1;
      const units = num(c.units);
      return gates * (units * (last + units) + bias(units));
    }
    case 'BatchNormalization':
      return 4 * channelsOf(x, c.axis);
    case 'LayerNormalization':
      return 2 * last;
    case 'PReLU':
      return output ? elements(output) : 0;
    case 'Bidirectional':
    case 'TimeDistributed': {
      const inner = c.layer as { class_name?: unknown; config?: unknown } | undefined;
      if (!inner || typeof inner.class_name !== 'string' || typeof inner.config !== 'object' || inner.config === null) return 0;
      const innerInputs = className === 'TimeDistributed' ? [x.slice(1)] : inputs;
      const n = layerParams(inner.class_name, inner.config as Record<string, unknown>, innerInputs, null);
      return className === 'Bidirectional' ? 2 * n : n;
    }
    default:
      return 0;
  }
}

function channelsOf(x: SampleShape, axis: unknown): number {
  const a = typeof axis === 'number' ? axis : -1;
  // Keras counts the batch axis.
  return dim(a < 0 ? x[x.length + a] : x[a - 1]);
}

function elements(shape: SampleShape): number {
  return shape.reduce<number>((a, d) => a * dim(d), 1);
}

/** Kernel elements: `3` means 3×3 for a 2-D convolution, as in Keras. */
function kernel(v: unknown, rank: number): number {
  if (Array.isArray(v)) return v.reduce<number>((a, d) => a * num(d), 1);
  return num(v) ** rank;
}

function dim(d: number | null | undefined): number {
  return typeof d === 'number' && d > 0 ? d : 1;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} billion`;
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} million` : String(Math.round(n));
}

function mib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.ceil(bytes / 1024 ** 2)} MiB`;
}
