import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { startStack, type KilnStack } from '../support/kiln-stack';
import { freePort } from '../support/ports';

// The real binary (bin/kiln.js → dist/cli/kiln.js, so `npm run build` first) against a whole Kiln
// on loopback. execFile, not spawnSync: the API and worker live in this process and must keep
// answering while the CLI runs.
const BIN = resolve(__dirname, '../../bin/kiln.js');

interface Result {
  code: number | null;
  out: string;
  err: string;
}

let stack: KilnStack;
const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-api-'));

function kiln(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, KILN_URL: stack.base, KILN_API_KEY: stack.keys.acme, ...env }, timeout: 120_000 }, (error, out, err) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null) : 0;
      done({ code, out, err });
    });
  });
}

function jobFile(name: string, body: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(body));
  return p;
}

function irisJob(epochs = 8): any {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
    fit: { epochs, batchSize: 16, seed: 5 },
    callbacks: {
      modelCheckpoint: { filepath: 'best', monitor: 'val_loss', saveBestOnly: true },
      // min_delta this large cuts the rate on the second epoch, so the marker always shows.
      reduceLROnPlateau: { monitor: 'loss', factor: 0.5, patience: 1, minDelta: 10 },
      csvLogger: {},
    },
    tags: { suite: 'cli' },
  };
}


/** Reads a downloaded model folder the way tfjs-node's file:// handler does: weights beside model.json. */
function fromFolder(folder: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((g) => g.weights);
        const buffers = manifest.flatMap((g) => g.paths.map((p) => readFileSync(join(folder, p))));
        const data = Buffer.concat(buffers);
        return [specs, data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)];
      });
    },
  };
}

describe('kiln CLI against a running API and worker', () => {
  before(async () => {
    await tf.setBackend('cpu');
    stack = await startStack({ name: 'cli' });
  });
  after(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let jobId = '';
  let runId = '';

  test('submit --wait prints the job id, one line per epoch, the markers and the outcome, and exits 0', async () => {
    const r = await kiln(['submit', jobFile('iris.json', irisJob()), '--wait']);
    assert.equal(r.code, 0, r.err + r.out);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0], /^job_[0-9A-Za-z]+$/);
    jobId = lines[0];
    assert.ok(lines.includes('queued') || lines.includes('running (attempt 1)'), r.out);
    assert.ok(lines.some((l) => /^epoch 1\/8  loss=\S+ accuracy=\S+ val_loss=\S+ val_accuracy=\S+ lr=0\.02$/.test(l)), r.out);
    assert.ok(lines.some((l) => /^epoch 8\/8 /.test(l)), r.out);
    assert.ok(lines.some((l) => /^★ epoch 1: new best val_loss=\S+ \(checkpoint best\)$/.test(l)), r.out);
    assert.ok(lines.some((l) => /^↓ epoch 2: learning rate 0\.02 → 0\.01 \(ReduceLROnPlateau\)$/.test(l)), r.out);
    assert.match(lines.at(-1)!, /^succeeded; stop reason completed; best epoch \d+ val_loss=\S+$/);
    assert.ok(!r.out.includes('\x1b['), 'no terminal control sequences when stdout is not a TTY');
  });

  test('status, list and logs --json print one parseable document each', async () => {
    const status = await kiln(['status', jobId, '--json']);
    assert.equal(status.code, 0, status.err);
    const job = JSON.parse(status.out);
    assert.equal(job.jobId, jobId);
    assert.equal(job.status, 'succeeded');
    runId = job.runId;

    const list = await kiln(['list', '--status', 'succeeded', '--limit', '5', '--json']);
    assert.equal(list.code, 0, list.err);
    const page = JSON.parse(list.out);
    assert.ok(page.items.some((j: any) => j.jobId === jobId));
    assert.ok(page.items.every((j: any) => j.status === 'succeeded'));

    const logs = await kiln(['logs', jobId, '--json']);
    assert.equal(logs.code, 0, logs.err);
    const csv = JSON.parse(logs.out);
    assert.equal(csv.runId, runId);
    assert.deepEqual(csv.columns.slice(0, 1), ['epoch']);
    assert.deepEqual(csv.rows.map((r: any) => r.epoch), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(typeof csv.rows[0].val_loss, 'number');
  });

  test('status and list print for people; logs prints the CSV as an aligned table', async () => {
    const status = await kiln(['status', jobId]);
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, /^status\s+succeeded$/m);
    assert.match(status.out, /^progress\s+epoch 8\/8  loss=/m);
    assert.match(status.out, /^best\s+epoch \d+ val_loss=\S+ \(best\)$/m);

    const list = await kiln(['list']);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^JOB\s+STATUS\s+EPOCH\s+BEST\s+CREATED\s+TAGS$/m);
    assert.match(list.out, new RegExp(`^${jobId}\\s+succeeded\\s+8/8\\s+val_loss=`, 'm'));

    const logs = await kiln(['logs', runId]);
    assert.equal(logs.code, 0, logs.err);
    const lines = logs.out.trimEnd().split('\n');
    assert.equal(lines.length, 9, 'a header and one row per epoch');
    assert.match(lines[0], /^epoch\s+accuracy\s+/);
    // Aligned: every column starts at the same offset on every line.
    const starts = (l: string) => [...l.matchAll(/(?<=^|\s)\S/g)].map((m) => m.index! + m[0].length);
    const ends = lines.slice(1).map((l) => starts(l).length);
    assert.ok(ends.every((n) => n === starts(lines[0]).length), logs.out);
    const widths = new Set(lines.map((l) => l.length));
    assert.equal(widths.size, 1, `right-aligned numbers make every line equally long:\n${logs.out}`);
  });

  test('download writes model.json and its weights; they load with tfjs and predict', async () => {
    const target = join(dir, 'model');
    const r = await kiln(['download', jobId, target, '--json']);
    assert.equal(r.code, 0, r.err);
    const result = JSON.parse(r.out);
    assert.equal(result.runId, runId);
    assert.deepEqual(result.files.map((f: any) => f.file.slice(target.length + 1)).sort(), ['model.json', 'weights.bin']);
    for (const f of result.files) assert.equal(readFileSync(f.file).byteLength, f.bytes);
    const model = await loadLayersModel(fromFolder(target));
    const out = model.predict(tf.tensor2d([[0.1, 0.2, -0.5, -0.4]])) as tf.Tensor;
    assert.deepEqual(out.shape, [1, 3]);
    assert.ok(Math.abs(Array.from(out.dataSync()).reduce((a, b) => a + b, 0) - 1) < 1e-4);
    out.dispose();
    model.dispose();
    // The same bytes the API serves for the best checkpoint.
    const served = await fetch(`${stack.base}/v1/runs/${runId}/model/weights.bin`, { headers: stack.auth() });
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), readFileSync(join(target, 'weights.bin')));
  });

  test('a job that fails (its dataset object is missing) exits 1 and prints the error', async () => {
    const r = await kiln(['submit', '--wait', jobFile('missing.json', {
      model: { inputShape: [2], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
      compile: { optimizer: { name: 'sgd' }, loss: 'categorical_crossentropy' },
      data: { uri: 'datasets/missing.csv', labelColumn: 'label' },
      fit: { epochs: 2 },
    })]);
    assert.equal(r.code, 1, r.err + r.out);
    assert.match(r.out, /^failed( \(.*\))?; stop reason error$/m);
    assert.match(r.out, /^error DATASET_INVALID: .*missing\.csv/m);
  });

  test('watch --json streams NDJSON events ending with end; cancel stops a running job and watch then exits 1', async () => {
    const job = irisJob(400);
    job.data = { builtin: 'digits', validationSplit: 0.2, standardize: true };
    job.model = { inputShape: [64], layers: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dense', units: 10, activation: 'softmax' }] };
    job.fit.batchSize = 8;
    const submitted = await kiln(['submit', jobFile('long.json', job), '--json']);
    assert.equal(submitted.code, 0, submitted.err);
    const id = JSON.parse(submitted.out).jobId;
    const watching = kiln(['watch', id, '--json']);
    for (let i = 0; ; i++) {
      const view = JSON.parse((await kiln(['status', id, '--json'])).out);
      if (view.status === 'running' && view.progress.epoch !== null) break;
      assert.ok(i < 300, 'the job started training');
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancel = await kiln(['cancel', id]);
    assert.equal(cancel.code, 0, cancel.err);
    assert.match(cancel.out, new RegExp(`^${id} (cancelled|cancelling)`));
    const w = await watching;
    assert.equal(w.code, 1, w.err);
    const events = w.out.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.ok(events.some((e) => e.event === 'epoch' && e.data.epochs === 400));
    const end = events.at(-1);
    assert.equal(end.event, 'end');
    assert.equal(end.data.status, 'cancelled');
    const again = await kiln(['cancel', id]);
    assert.equal(again.code, 3, 'cancelling an ended job is refused by the API');
    assert.match(again.err, /HTTP 409/);
  });

  test('usage errors exit 2; an unknown job exits 4; a wrong key exits 5; an invalid job prints the pointer and exits 3', async () => {
    for (const args of [['frobnicate'], ['status'], ['status', 'not-a-job'], ['list', '--limit', 'x'], ['list', '--status', 'done'], ['logs', 'abc'], ['submit', join(dir, 'nope.json')], ['watch', 'job_0123456789', '--bogus']]) {
      const r = await kiln(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.ok(r.err.length > 0);
    }
    const missing = await kiln(['status', 'job_0000000000000000unknown']);
    assert.equal(missing.code, 4, missing.err);
    const missingJson = await kiln(['logs', 'run_0000000000000000unknown', '--json']);
    assert.equal(missingJson.code, 4);
    assert.equal(JSON.parse(missingJson.err).error.status, 404);

    const denied = await kiln(['list'], { KILN_API_KEY: 'wrong-key' });
    assert.equal(denied.code, 5, denied.err);
    assert.match(denied.err, /HTTP 401/);
    const deniedFlag = await kiln(['status', jobId, '--key', 'wrong-key']);
    assert.equal(deniedFlag.code, 5);

    const bad = irisJob();
    bad.callbacks.earlyStopping = { monitor: 'val_loss', paitence: 2 };
    const invalid = await kiln(['submit', jobFile('typo.json', bad)]);
    assert.equal(invalid.code, 3, invalid.err);
    assert.match(invalid.err, /\/callbacks\/earlyStopping\/paitence/);
    assert.match(invalid.err, /remove it or use one of/);
    assert.equal(invalid.out, '');

    const port = await freePort();
    const unreachable = await kiln(['list', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.err, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  });

  test('a download of a run without a best model exits 4 and leaves no files', async () => {
    const r = await kiln(['download', 'run_0000000000000000unknown', join(dir, 'none')]);
    assert.equal(r.code, 4, r.err);
    assert.equal(existsSync(join(dir, 'none')), false);
  });
});
