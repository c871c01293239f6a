import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderCurvesSvg } from '../../core/curves-svg';

/**
 * A small well-formedness check (no XML parser is installed): every tag closes in order, attribute
 * values are quoted, and no bare `<` or `&` appears in text.
 */
function parseXml(text: string): { tags: Array<{ name: string; attrs: Record<string, string> }> } {
  const stack: string[] = [];
  const tags: Array<{ name: string; attrs: Record<string, string> }> = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    m = re.exec(text);
    if (!m) throw new Error(`malformed XML at ${pos}: ${text.slice(pos, pos + 40)}`);
    pos = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bare & in text: ${m[5]}`);
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    tags.push({ name, attrs });
    if (!selfClose) stack.push(name);
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(',')}`);
  return { tags };
}

const history = [0.9, 0.7, 0.6, 0.62, 0.64, 0.66].map((v, epoch) => ({
  epoch,
  logs: { loss: 1 - epoch * 0.1, val_loss: v, acc: 0.5 + epoch * 0.05, val_acc: 0.5 + epoch * 0.04 },
}));
const events = [
  { type: 'checkpoint_saved', epoch: 0, path: 'a', weightsOnly: false, best: { monitor: 'val_loss', value: 0.9, mode: 'min' } },
  { type: 'checkpoint_saved', epoch: 1, path: 'a', weightsOnly: false, best: { monitor: 'val_loss', value: 0.7, mode: 'min' } },
  { type: 'checkpoint_saved', epoch: 2, path: 'a', weightsOnly: false, best: { monitor: 'val_loss', value: 0.6, mode: 'min' } },
  { type: 'checkpoint_saved', epoch: 3, path: 'a', weightsOnly: false },
  { type: 'learning_rate_changed', epoch: 3, by: 'ReduceLROnPlateau', from: 0.01, to: 0.005 },
  { type: 'early_stopping', epoch: 5, monitors: ['val_loss'], bestEpoch: 2, bestValue: 0.6, wait: 3 },
  { type: 'weights_restored', epoch: 5, fromEpoch: 2 },
];

test('finished run: valid XML, axes, one path per series, markers at the right epochs', () => {
  const svg = renderCurvesSvg({ history, events });
  const { tags } = parseXml(svg);
  assert.equal(tags[0].name, 'svg');
  assert.equal(tags[0].attrs.xmlns, 'http://www.w3.org/2000/svg');
  const byClass = (cls: string) => tags.filter((t) => (t.attrs.class ?? '').split(' ').includes(cls));
  assert.equal(byClass('axis-x').length, 1);
  assert.equal(byClass('axis-y').length, 1);
  assert.equal(byClass('axis-lr').length, 1);

  const series = byClass('series').map((t) => t.attrs['data-series']).sort();
  assert.deepEqual(series, ['acc', 'loss', 'val_acc', 'val_loss']);
  assert.deepEqual(byClass('val').map((t) => t.attrs['data-series']).sort(), ['val_acc', 'val_loss']);
  // Each series path visits every epoch once: one M and five L commands.
  for (const t of byClass('series')) assert.equal(t.attrs.d.match(/[ML]/g)?.length, 6, t.attrs['data-series']);

  const epochs = (cls: string) => byClass(cls).map((t) => Number(t.attrs['data-epoch']));
  assert.deepEqual(epochs('marker-checkpoint'), [0, 1, 2], 'non-best saves are not markers');
  assert.deepEqual(epochs('marker-lr-cut'), [3]);
  assert.deepEqual(epochs('marker-stop'), [5]);
  assert.deepEqual(epochs('restored'), [2]);
  assert.equal(byClass('lr').length, 1);
  assert.match(svg, /prefers-color-scheme: dark/);
  assert.match(svg, /currentColor/);
});

test('markers sit at the x of their epoch', () => {
  const { tags } = parseXml(renderCurvesSvg({ history, events, width: 600 }));
  const stop = tags.find((t) => t.attrs.class?.includes('marker-stop'));
  const xAxis = tags.find((t) => t.attrs.class?.includes('axis-x'));
  const [, x0, x1] = /^M([\d.]+) [\d.]+H([\d.]+)$/.exec(xAxis!.attrs.d)!;
  // Epoch 5 is the last epoch, so the stop marker is at the right end of the x axis.
  assert.equal(Number(stop!.attrs.x1), Number(x1));
  const ckpt = tags.filter((t) => t.attrs.class?.includes('marker-checkpoint'));
  assert.equal(Number(ckpt[0].attrs.x1), Number(x0));
  assert.ok(Math.abs(Number(ckpt[1].attrs.x1) - (Number(x0) + (Number(x1) - Number(x0)) / 5)) < 1e-9);
});

test('running run: partial history without events, and an empty history, still render', () => {
  const partial = parseXml(renderCurvesSvg({ history: history.slice(0, 2) }));
  assert.equal(partial.tags.filter((t) => t.attrs.class?.includes('series')).length, 4);
  assert.equal(partial.tags.filter((t) => t.attrs.class?.startsWith('marker')).length, 0);
  assert.equal(partial.tags.filter((t) => t.attrs.class === 'lr').length, 0, 'no rate known, no rate line');
  const empty = parseXml(renderCurvesSvg({ history: [] }));
  assert.equal(empty.tags.filter((t) => t.attrs.class?.includes('series')).length, 0);
});

test('metric names are escaped and non-finite values skipped', () => {
  const svg = renderCurvesSvg({
    history: [{ epoch: 0, logs: { 'a<b&c': 1, loss: NaN } }, { epoch: 1, logs: { 'a<b&c': 2, loss: 0.5 } }],
  });
  const { tags } = parseXml(svg);
  const loss = tags.find((t) => t.attrs['data-series'] === 'loss');
  assert.equal(loss!.attrs.d.match(/[ML]/g)?.length, 1);
  assert.ok(tags.some((t) => t.attrs['data-series'] === 'a&lt;b&amp;c'));
});
