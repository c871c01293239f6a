import type { SchemaJobSpec } from './api.gen';
import { BUILTIN_DATASETS } from './builtin-datasets';
import { checkCallbacks } from './callbacks/check-spec';
import { checkDataSplit } from './check-data-spec';
import { LOSSES, logKeysForCompile, maxClassesFor, optimizerSpec } from './compile-spec';
import { resolveDatasetKey } from './dataset-uri';
import { KilnError, type FieldProblem } from './errors';
import { longKeySegment } from './key-segments';
import { estimateModelCost, modelCostProblems } from './model-cost';
import { checkModelSpec } from './model-spec';
import { checkJobOutboundUrls, type OutboundAllow } from './outbound-policy';

/** What one job may cost a worker (KILN_MAX_MODEL_PARAMS, KILN_WORKER_MEMORY_BYTES; 0 = no cap). */
export interface JobCostLimits {
  maxModelParams: number;
  workerMemoryBytes: number;
}

/**
 * The checks a job passes at submission beyond the contract's schema: what the model, the data and
 * the callbacks mean together, and what the job would cost a worker. Keras would fail on most of
 * these only at epoch N; Kiln rejects them before the job is queued. Pure: the API runs it on
 * every POST.
 */
export function checkJobSpec(spec: SchemaJobSpec, ctx: { tenant: string; storeUri: string; outbound: OutboundAllow; limits?: JobCostLimits }): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const model = checkModelSpec(spec.model, '/model');
  problems.push(...model.problems);
  if (model.topology && ctx.limits) {
    const cost = estimateModelCost(model.layerShapes, model.inputShape, { batchSize: spec.fit.batchSize ?? 32, optimizer: optimizerSpec(spec.compile.optimizer).name });
    problems.push(...modelCostProblems(cost, ctx.limits, { model: '/model', batchSize: '/fit/batchSize' }));
  }

  const data = spec.data;
  const hasValidation = data.validationSplit !== undefined || ('validation' in data && data.validation !== undefined);

  if ('builtin' in data) {
    const facts = BUILTIN_DATASETS[data.builtin];
    const sample = data.reshape ?? [facts.features];
    const product = sample.reduce((a, b) => a * b, 1);
    if (data.reshape && product !== facts.features) {
      problems.push({ pointer: '/data/reshape', detail: `reshape ${JSON.stringify(data.reshape)} holds ${product} values but ${data.builtin} has ${facts.features} features per row; use a shape whose product is ${facts.features}` });
    } else if (model.inputShape && !sameShape(model.inputShape, sample)) {
      problems.push({ pointer: '/model', detail: `the model takes input shape ${JSON.stringify(model.inputShape)} but ${data.builtin} rows are ${JSON.stringify(sample)}; set the model's input shape to ${JSON.stringify(sample)}${data.reshape ? '' : ' (or add data.reshape)'}` });
    }
    const width = model.outputShape ? model.outputShape[model.outputShape.length - 1] : null;
    const classes = facts.classes.length;
    const loss = spec.compile.loss;
    const labels = LOSSES[loss].labels;
    if (width !== null && (labels === 'one-hot' || labels === 'index') && width !== classes) {
      problems.push({ pointer: '/model', detail: `${loss} over ${data.builtin}'s ${classes} classes needs a last layer with ${classes} units, but the model outputs ${width}` });
    }
    if (maxClassesFor(labels) === 2 && classes !== 2) {
      problems.push({ pointer: '/compile/loss', detail: `${loss} needs two classes but ${data.builtin} has ${classes}; use categorical_crossentropy or sparse_categorical_crossentropy` });
    }
  } else {
    for (const [pointer, uri] of [['/data/uri', data.uri], ['/data/validation/uri', data.validation?.uri]] as const) {
      if (uri === undefined) continue;
      try {
        const long = longKeySegment(resolveDatasetKey(uri, ctx.tenant, ctx.storeUri));
        if (long) problems.push({ pointer, detail: long });
      } catch (err) {
        problems.push({ pointer, detail: err instanceof KilnError ? err.message : String(err) });
      }
    }
    if (data.reshape && model.inputShape && !sameShape(model.inputShape, data.reshape)) {
      problems.push({ pointer: '/model', detail: `the model takes input shape ${JSON.stringify(model.inputShape)} but data.reshape makes rows ${JSON.stringify(data.reshape)}; make them equal` });
    }
    if (data.featureColumns?.includes(data.labelColumn)) {
      problems.push({ pointer: '/data/featureColumns', detail: `data.featureColumns includes the label column '${data.labelColumn}'; remove it from the features` });
    }
  }
  problems.push(...checkDataSplit(data, spec.compile.loss));

  const logged = logKeysForCompile(spec.compile, hasValidation);
  problems.push(...logged.problems);
  problems.push(...checkCallbacks(spec.callbacks, { metrics: logged.keys, epochs: spec.fit.epochs }, '/callbacks'));
  problems.push(...checkJobOutboundUrls(spec, ctx.outbound));
  // An alert without a url goes to the job's webhook; with neither it would go nowhere.
  if (!spec.webhook) {
    (spec.callbacks?.alerts ?? []).forEach((rule, i) => {
      if (rule.url === undefined) {
        problems.push({ pointer: `/callbacks/alerts/${i}/url`, detail: "this alert has no url and the job has no webhook to send it to; add the alert's url, or a webhook (url and secret) to the job" });
      }
    });
  }
  return problems;
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === null || v === b[i]);
}
