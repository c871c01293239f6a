import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TensorBoard, rewindTensorBoardFiles } from '../../../worker/callbacks/tensorboard';
import { FakeModel } from '../../core/callbacks/fake-model';
import { readEvents, summaryValues } from '../tensorboard/tfevents-reader';

const weights = (epoch: number) => [{ name: 'dense/kernel', values: Float32Array.from({ length: 64 }, (_, i) => (i - 32) * 0.01 * (epoch + 1)) }];

/** Runs `epochs` epochs of the callback, recording every upload (path, size). */
async function run(maxFileBytes: number | undefined, epochs: number) {
  const uploads: Array<{ path: string; bytes: number }> = [];
  const stored = new Map<string, Buffer>();
  let epoch = 0;
  const tb = new TensorBoard({ histogramFreq: 1 }, () => weights(epoch), async (path, content) => {
    uploads.push({ path, bytes: content.length });
    stored.set(path, Buffer.from(content));
  }, maxFileBytes);
  tb.setModel(new FakeModel());
  await tb.onTrainBegin();
  for (; epoch < epochs; epoch++) {
    await tb.onEpochBegin(epoch);
    await tb.onEpochEnd(epoch, { loss: 1 / (epoch + 1), val_loss: 2 / (epoch + 1) });
  }
  return { tb, uploads, stored };
}

test('TensorBoard rotates its event files, so the bytes uploaded per epoch stay bounded and completed files are not uploaded again', async () => {
  const epochs = 40;
  const whole = await run(undefined, epochs);
  const rotated = await run(2048, epochs);

  const total = (u: Array<{ bytes: number }>) => u.reduce((n, x) => n + x.bytes, 0);
  const last = (u: Array<{ path: string; bytes: number }>) => Math.max(...u.slice(-2).map((x) => x.bytes));
  // Without rotation the train file is re-sent whole every epoch: the last upload holds all 40 epochs.
  assert.ok(last(whole.uploads) > 10_000, `unrotated last upload ${last(whole.uploads)} bytes`);
  assert.ok(last(rotated.uploads) < 2048 + 1024, `rotated last upload ${last(rotated.uploads)} bytes`);
  assert.ok(total(rotated.uploads) * 4 < total(whole.uploads), `uploaded ${total(rotated.uploads)} vs ${total(whole.uploads)} bytes`);

  // A completed file's last upload is its final content: no path is uploaded after a newer file of its directory began.
  for (const dir of ['train', 'validation']) {
    const order = rotated.uploads.filter((u) => u.path.startsWith(`${dir}/`)).map((u) => u.path);
    const firstSeen = [...new Set(order)];
    assert.deepEqual([...firstSeen].sort(), firstSeen, `${dir}/ files are named in writing order`);
    for (let i = 1; i < order.length; i++) assert.ok(firstSeen.indexOf(order[i]!) >= firstSeen.indexOf(order[i - 1]!), `${dir}/ went back to a completed file`);
  }

  // Together the stored files hold every epoch's scalars and histograms once, as without rotation.
  const records = (stored: Map<string, Buffer>, dir: string) =>
    [...stored.keys()].filter((p) => p.startsWith(`${dir}/`)).sort()
      .flatMap((p) => summaryValues(readEvents(stored.get(p)!)).map((v) => `${v.tag}@${v.step}`));
  for (const dir of ['train', 'validation']) assert.deepEqual(records(rotated.stored, dir), records(whole.stored, dir));

  // The backup state names every file with its stored size, completed ones included, so a resume
  // can cut the stored files back to it.
  const state = rotated.tb.state() as { sizes: Record<string, number> };
  assert.deepEqual(Object.keys(state.sizes).sort(), [...rotated.stored.keys()].sort());
  for (const [path, size] of Object.entries(state.sizes)) assert.equal(size, rotated.stored.get(path)!.length, path);
  const cut: string[] = [];
  await rewindTensorBoardFiles(state, async (p) => rotated.stored.get(p) ?? null, async (p) => { cut.push(p); });
  assert.deepEqual(cut, [], 'nothing to cut when the state is as new as the stored files');
});
