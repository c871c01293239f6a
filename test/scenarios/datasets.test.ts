import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore } from '../../store/create-store';
import type { ArtifactStore } from '../../store/artifact-store';
import { startS3Server } from '../support/s3-server';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';

/** Iris as a user would upload it: the species (a string) first, then the four measurements. */
const IRIS = readFileSync(join(__dirname, '../../worker/data/builtin/iris.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => {
    const cells = line.split(',');
    return { species: cells[4], sl: Number(cells[0]), sw: Number(cells[1]), pl: Number(cells[2]), pw: Number(cells[3]) };
  });
const SPECIES = ['setosa', 'versicolor', 'virginica'];
const IRIS_CSV = 'species,sepal_length,sepal_width,petal_length,petal_width\n' + IRIS.map((r) => `${r.species},${r.sl},${r.sw},${r.pl},${r.pw}`).join('\n') + '\n';
const IRIS_NDJSON = IRIS.map((r) => JSON.stringify({ sepal_length: r.sl, sepal_width: String(r.sw), petal_length: r.pl, petal_width: r.pw, species: r.species })).join('\n') + '\n';

function job(data: Record<string, unknown>, loss = 'categorical_crossentropy', inputs = 4): any {
  return {
    model: { inputShape: [inputs], layers: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.03 }, loss, metrics: ['accuracy'] },
    data: { labelColumn: 'species', ...data },
    fit: { epochs: 15, batchSize: 16, seed: 5 },
  };
}

describe('datasets from the artifact store (s3 store, real worker)', () => {
  let stack: KilnStack;
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let store: ArtifactStore;

  before(async () => {
    s3 = await startS3Server();
    stack = await startStack({ name: 'datasets', store: { uri: s3.uri, endpoint: s3.endpoint }, env: { KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0', KILN_TENANT_MAX_RUNNING: '0' } });
    store = createStore({ uri: stack.storeUri, s3: s3.s3Options });
    await store.put('acme/datasets/iris.csv', IRIS_CSV);
    await store.put('acme/datasets/iris.ndjson', IRIS_NDJSON);
  });
  after(async () => {
    await stack?.close();
    await s3?.close();
  });

  const post = (body: unknown) =>
    fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const submit = async (body: unknown): Promise<{ jobId: string; runId: string }> => {
    const res = await post(body);
    assert.equal(res.status, 202, await res.clone().text());
    return (await res.json()) as { jobId: string; runId: string };
  };
  /** The best model's model.json as the API serves it. */
  const servedModel = async (runId: string) => {
    const res = await fetch(`${stack.base}/v1/runs/${runId}/model/model.json`, { headers: stack.auth() });
    assert.equal(res.status, 200);
    return (await res.json()) as any;
  };

  test('a CSV with a string label trains to success; sorted classes and standardisation stats are saved with the model', async () => {
    const { jobId, runId } = await submit(job({ uri: 'datasets/iris.csv', validationSplit: 0.2, stratify: true, standardize: true }));
    const view = await waitForJob(stack, jobId, 60000);
    assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
    assert.ok(view.progress.metrics.val_accuracy > 0.6, `it learned something (val_accuracy ${view.progress.metrics.val_accuracy})`);
    const meta = (await servedModel(runId)).userDefinedMetadata.kiln;
    assert.deepEqual(meta.classes, SPECIES, 'class i is the i-th species in sorted order, so predictions map back');
    assert.deepEqual(meta.featureColumns, ['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
    assert.equal(meta.labelColumn, 'species');
    assert.equal(meta.standardization.mean.length, 4);
    assert.ok(Math.abs(meta.standardization.mean[2] - 3.76) < 0.3, `petal_length mean of the training rows (${meta.standardization.mean[2]})`);
    assert.ok(meta.standardization.std.every((s: number) => s > 0));
  });

  test('the same data as NDJSON (numeric strings among the numbers) trains to success with sparse labels', async () => {
    const { jobId, runId } = await submit(job({ uri: 'datasets/iris.ndjson', format: 'ndjson', validationSplit: 0.2, standardize: true }, 'sparse_categorical_crossentropy'));
    const view = await waitForJob(stack, jobId, 60000);
    assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
    assert.ok(view.progress.metrics.val_accuracy > 0.6, `val_accuracy ${view.progress.metrics.val_accuracy}`);
    const meta = (await servedModel(runId)).userDefinedMetadata.kiln;
    assert.deepEqual(meta.classes, SPECIES);
    assert.deepEqual(meta.featureColumns, ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], 'the first object names the features, minus the label');
  });

  test('bad input fails the job at once (attempts 1) with an error naming the problem', async () => {
    const bad: Array<[string, string | null, Record<string, unknown>, RegExp, number?]> = [
      ['missing object', null, { uri: 'datasets/nowhere.csv' }, /no object 'acme\/datasets\/nowhere\.csv' in the store/],
      ['empty file', '', { uri: 'datasets/empty.csv' }, /the file is empty/],
      ['label column not in the header', 'a,b,kind\n1,2,x\n3,4,y\n', { uri: 'datasets/nolabel.csv' }, /no label column 'species'; set data\.labelColumn to one of the available columns: 'a', 'b', 'kind'/, 2],
      ['feature column not in the header', 'a,b,species\n1,2,x\n3,4,y\n', { uri: 'datasets/nofeature.csv', featureColumns: ['a', 'c'] }, /feature column 'c' not in the header/, 2],
      ['ragged row', 'a,b,species\n1,2,x\n3,4,y\n5,y\n', { uri: 'datasets/ragged.csv' }, /row 3 \(line 4\) has 2 fields but the header has 3/, 2],
      ['non-numeric feature', 'a,b,species\n1,2,x\n3,four,y\n', { uri: 'datasets/text.csv' }, /row 2 \(line 3\), column 'b': "four" is not a number/, 2],
      ['single class', 'a,b,species\n1,2,x\n3,4,x\n', { uri: 'datasets/oneclass.csv' }, /label column 'species' has a single class \('x'\)/, 2],
      ['NDJSON object without a feature', '{"a":1,"b":2,"species":"x"}\n{"a":3,"species":"y"}\n', { uri: 'datasets/nokey.ndjson', format: 'ndjson' }, /row 2 \(line 2\) has no key 'b'/, 2],
    ];
    for (const [, body, data] of bad) {
      if (body !== null) await store.put(`acme/${data.uri as string}`, body);
    }
    const jobs = await Promise.all(bad.map(async ([name, , data, , inputs]) => ({ name, ...(await submit(job(data, 'categorical_crossentropy', inputs ?? 4))) })));
    const views = await Promise.all(jobs.map((j) => waitForJob(stack, j.jobId, 60000)));
    bad.forEach(([name, , , detail], i) => {
      const view = views[i];
      assert.equal(view.status, 'failed', `${name}: ${view.status}`);
      assert.equal(view.attempts, 1, `${name}: not retried`);
      assert.equal(view.error.code, 'DATASET_INVALID', name);
      assert.match(view.error.detail, detail, name);
    });
  });

  test('what is knowable at submission is a 400 naming the field, and nothing is queued', async () => {
    const cases: Array<[Record<string, unknown>, string, string, RegExp]> = [
      [{ uri: 'datasets/iris.csv', featureColumns: ['sepal_length', 'species'] }, 'categorical_crossentropy', '/data/featureColumns', /includes the label column 'species'/],
      [{ uri: 'datasets/iris.csv', validationSplit: 0.2, validation: { uri: 'datasets/iris.csv' } }, 'categorical_crossentropy', '/data/validationSplit', /data\.validationSplit and data\.validation are both set/],
      [{ uri: 'datasets/iris.csv', validationSplit: 0.2, stratify: true }, 'mse', '/data/stratify', /regression loss/],
      [{ uri: 'datasets/iris.csv', stratify: true }, 'categorical_crossentropy', '/data/stratify', /needs data\.validationSplit/],
      [{ uri: 'datasets/iris.tsv', format: 'tsv' }, 'categorical_crossentropy', '/data/format', /./],
    ];
    for (const [data, loss, pointer, detail] of cases) {
      const res = await post(job(data, loss));
      assert.equal(res.status, 400, JSON.stringify(data));
      assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
      const problem = (await res.json()) as any;
      const entry = (problem.errors ?? []).find((e: any) => e.pointer === pointer);
      assert.ok(entry, `${pointer} named in ${JSON.stringify(problem)}`);
      assert.match(entry.detail ?? problem.detail, detail);
    }
  });
});
