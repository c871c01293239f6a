import { test } from 'node:test';
import assert from 'node:assert/strict';
// fast-xml-parser is installed (through s3rver); its validator catches mismatched and repeated
// tags and attributes. It lets some errors through (`<` in attribute values, undefined entities,
// control characters, several roots), so a strict tokenizer below checks those and builds the
// ordered element list the assertions use. test/browser/curves-svg.test.ts also has Chromium's
// XML parser (the one the run page uses) load every sample.
import { validate } from 'fast-xml-parser';
import { renderCurvesSvg, type CurvesInput } from '../../core/curves-svg';
import { finished, longRun, noEpochs, nonFinite, oneEpoch, runningLong, SAMPLES, stopOnLastEpoch } from './curves-samples';

interface El { name: string; attrs: Record<string, string>; text: string; parent: number }

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const decode = (s: string): string =>
  s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    if (!(e in ENTITIES)) throw new Error(`undefined entity ${m}`);
    return ENTITIES[e];
  });

/** Parses the SVG strictly into elements in document order (text = the element's direct text). */
function parseSvg(svg: string): El[] {
  const verdict = validate(svg);
  assert.equal(verdict, true, `fast-xml-parser: ${JSON.stringify(verdict)}`);
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.exec(svg);
  assert.equal(bad, null, 'characters XML 1.0 does not allow');
  const els: El[] = [];
  const stack: number[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  let pos = 0;
  let roots = 0;
  while (pos < svg.length) {
    re.lastIndex = pos;
    const m = re.exec(svg);
    if (!m) throw new Error(`malformed XML at ${pos}: ${svg.slice(pos, pos + 60)}`);
    pos = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!(#x[0-9a-fA-F]+|#\d+|\w+);)/.test(m[5])) throw new Error(`bare & in text: ${m[5]}`);
      if (!stack.length) { assert.match(m[5], /^\s*$/, 'text outside the root element'); continue; }
      els[stack[stack.length - 1]].text += decode(m[5]);
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open === undefined || els[open].name !== name) throw new Error(`</${name}> closes <${open === undefined ? '' : els[open].name}>`);
      continue;
    }
    if (!stack.length) roots += 1;
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1] in attrs) throw new Error(`repeated attribute ${a[1]} on <${name}>`);
      attrs[a[1]] = decode(a[2]);
    }
    els.push({ name, attrs, text: '', parent: stack.length ? stack[stack.length - 1] : -1 });
    if (!selfClose) stack.push(els.length - 1);
  }
  assert.equal(stack.length, 0, 'unclosed elements');
  assert.equal(roots, 1, 'one root element');
  return els;
}

const classes = (e: El): string[] => (e.attrs.class ?? '').split(/\s+/).filter(Boolean);
const byClass = (els: El[], cls: string, name?: string): El[] => els.filter((e) => classes(e).includes(cls) && (!name || e.name === name));
const epochs = (els: El[], cls: string): number[] => byClass(els, cls).map((e) => Number(e.attrs['data-epoch']));

/** The plot area, read off the axis lines: x axis `M{l} {b}H{r}`, y axis `M{l} {t}V{b}`. */
function plotArea(els: El[]): { l: number; r: number; t: number; b: number } {
  const [, l, b, r] = /^M([\d.]+) ([\d.]+)H([\d.]+)$/.exec(byClass(els, 'axis-x')[0].attrs.d)!.map(Number);
  const [, , t] = /^M([\d.]+) ([\d.]+)V([\d.]+)$/.exec(byClass(els, 'axis-y')[0].attrs.d)!.map(Number);
  return { l, r, t, b };
}

/** Subpaths of a series' `d` as lists of [x, y]. */
function subpaths(d: string): Array<Array<[number, number]>> {
  const out: Array<Array<[number, number]>> = [];
  for (const m of d.matchAll(/([ML])(-?[\d.]+) (-?[\d.]+)/g)) {
    if (m[1] === 'M') out.push([]);
    out[out.length - 1].push([Number(m[2]), Number(m[3])]);
  }
  return out;
}
const seriesPath = (els: El[], key: string): El | undefined => els.find((e) => e.name === 'path' && e.attrs['data-series'] === key);

/** Attributes holding numbers; none may say NaN or Infinity. */
const NUMERIC = ['x', 'y', 'x1', 'x2', 'y1', 'y2', 'cx', 'cy', 'r', 'width', 'height', 'd', 'transform', 'viewBox', 'data-epoch', 'data-epochs'];
function assertFiniteNumbers(els: El[]): void {
  for (const e of els) {
    for (const a of NUMERIC) {
      if (a in e.attrs) assert.doesNotMatch(e.attrs[a], /NaN|Infinity|undefined/, `<${e.name} ${a}="${e.attrs[a]}">`);
    }
    for (const t of ['x', 'y', 'x1', 'x2', 'y1', 'y2', 'cx', 'cy', 'width', 'height']) {
      if (t in e.attrs) assert.ok(Number.isFinite(Number(e.attrs[t])), `<${e.name} ${t}="${e.attrs[t]}">`);
    }
  }
}

/**
 * Text boxes from an estimate of 11px sans-serif (0.6 em a character, wider than DejaVu Sans's
 * lower case and as wide as its digits; ascent 0.8 em, descent 0.25 em), honouring text-anchor
 * and `rotate(a cx cy)`.
 */
function textBoxes(els: El[]): Array<{ text: string; x0: number; x1: number; y0: number; y1: number }> {
  return els.filter((e) => e.name === 'text').map((e) => {
    const size = /empty-message/.test(e.attrs.class ?? '') ? 15 : 11;
    const w = e.text.length * size * 0.6;
    const x = Number(e.attrs.x);
    const y = Number(e.attrs.y);
    const anchor = e.attrs['text-anchor'] ?? 'start';
    const left = anchor === 'middle' ? x - w / 2 : anchor === 'end' ? x - w : x;
    let corners: Array<[number, number]> = [[left, y - size * 0.8], [left + w, y - size * 0.8], [left, y + size * 0.25], [left + w, y + size * 0.25]];
    const rot = /rotate\((-?[\d.]+) (-?[\d.]+) (-?[\d.]+)\)/.exec(e.attrs.transform ?? '');
    if (rot) {
      const [a, cx, cy] = rot.slice(1).map(Number);
      const [c, s] = [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)];
      corners = corners.map(([px, py]) => [cx + (px - cx) * c - (py - cy) * s, cy + (px - cx) * s + (py - cy) * c]);
    }
    const xs = corners.map((p) => p[0]);
    const ys = corners.map((p) => p[1]);
    return { text: e.text, x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
  });
}

test('finished run: valid XML, axes, one path per series, the rate on its own axis, markers at the right epochs', () => {
  const svg = renderCurvesSvg(finished);
  const els = parseSvg(svg);
  assert.equal(els[0].name, 'svg');
  assert.equal(els[0].attrs.xmlns, 'http://www.w3.org/2000/svg');
  assert.equal(els[0].attrs['data-epochs'], '6');
  for (const axis of ['axis-x', 'axis-y', 'axis-lr']) assert.equal(byClass(els, axis).length, 1, axis);

  const series = byClass(els, 'series', 'path').map((e) => e.attrs['data-series']).sort();
  assert.deepEqual(series, ['acc', 'loss', 'val_acc', 'val_loss']);
  assert.deepEqual(byClass(els, 'val', 'path').map((e) => e.attrs['data-series']).sort(), ['val_acc', 'val_loss']);
  // Each series path visits every epoch once, in one stroke.
  for (const e of byClass(els, 'series', 'path')) assert.deepEqual(subpaths(e.attrs.d).map((p) => p.length), [6], e.attrs['data-series']);
  // Train and val of one metric share a colour class; different metrics do not.
  const colour = (key: string) => classes(seriesPath(els, key)!).find((c) => /^s\d$/.test(c));
  assert.equal(colour('loss'), colour('val_loss'));
  assert.equal(colour('acc'), colour('val_acc'));
  assert.notEqual(colour('loss'), colour('acc'));
  assert.equal(byClass(els, 'lr').length, 1);
  assert.equal(byClass(els, 'lr')[0].attrs['data-series'], 'learning_rate');

  assert.deepEqual(epochs(els, 'marker-checkpoint'), [0, 1, 2], 'non-best saves are not markers');
  assert.deepEqual(epochs(els, 'marker-lr-cut'), [3]);
  assert.deepEqual(epochs(els, 'marker-stop'), [5]);
  assert.deepEqual(epochs(els, 'restored'), [2]);
  assert.deepEqual(byClass(els, 'marker').map((e) => e.name), ['line', 'line', 'line', 'line', 'line']);
  // The markers' x is their epoch's x on the curves.
  const loss = subpaths(seriesPath(els, 'loss')!.attrs.d)[0];
  for (const m of byClass(els, 'marker')) assert.equal(Number(m.attrs.x1), loss[Number(m.attrs['data-epoch'])][0], m.attrs.class);
  const band = byClass(els, 'restored')[0];
  assert.ok(Math.abs(Number(band.attrs.x) + Number(band.attrs.width) / 2 - loss[2][0]) < 0.2, 'the band is centred on epoch 2');
  assertFiniteNumbers(els);
});

test('drawing order: the restored band under the curves, the markers over them', () => {
  const els = parseSvg(renderCurvesSvg(finished));
  const index = (cls: string) => els.findIndex((e) => classes(e).includes(cls));
  const last = (cls: string) => els.map((e, i) => (classes(e).includes(cls) ? i : -1)).reduce((a, b) => Math.max(a, b));
  assert.ok(index('restored') < index('series'));
  assert.ok(last('series') < index('marker'));
  assert.ok(last('lr') < index('marker'));
  assert.ok(last('marker-checkpoint') < index('marker-stop'), 'the stop marker is drawn last');
});

test('defect 1: a marker on the last (or first) epoch is clear of every axis line, inside the plot', () => {
  for (const [name, input] of Object.entries({ finished, stopOnLastEpoch, longRun, nonFinite, runningLong })) {
    const els = parseSvg(renderCurvesSvg(input));
    const { l, r, t, b } = plotArea(els);
    const axisXs = [l, r];
    for (const m of byClass(els, 'marker')) {
      const x = Number(m.attrs.x1);
      assert.equal(m.attrs.x1, m.attrs.x2, 'vertical');
      for (const ax of axisXs) assert.ok(Math.abs(x - ax) >= 8, `${name}: ${m.attrs.class}@${m.attrs['data-epoch']} at x=${x} is on the axis at ${ax}`);
      assert.ok(x > l && x < r, `${name}: marker inside the plot`);
      assert.deepEqual([Number(m.attrs.y1), Number(m.attrs.y2)], [t, b], `${name}: marker spans the plot`);
    }
    // Every series point, too, is clear of the y axes and of the x axis.
    for (const s of byClass(els, 'series', 'path')) {
      for (const [x, y] of subpaths(s.attrs.d).flat()) {
        assert.ok(x >= l + 8 && x <= r - 8, `${name}: ${s.attrs['data-series']} x=${x}`);
        assert.ok(y >= t + 4 && y <= b - 4, `${name}: ${s.attrs['data-series']} y=${y}`);
      }
    }
  }
  const els = parseSvg(renderCurvesSvg(stopOnLastEpoch));
  assert.deepEqual(epochs(els, 'marker-stop'), [2]);
  assert.equal(byClass(els, 'axis-lr')[0].attrs.d.startsWith(`M${plotArea(els).r} `), true, 'the rate axis is the right edge');
});

test('defect 2: restored-best bands stay inside the plot area at the first, a middle and the last epoch', () => {
  const history = [0, 1, 2, 3].map((epoch) => ({ epoch, logs: { loss: 1 / (epoch + 1) } }));
  for (const fromEpoch of [0, 2, 3]) {
    for (const n of [4, 40]) {
      const els = parseSvg(renderCurvesSvg({
        history: n === 4 ? history : Array.from({ length: n }, (_, epoch) => ({ epoch, logs: { loss: 1 / (epoch + 1) } })),
        events: [{ type: 'weights_restored', epoch: n - 1, fromEpoch }],
      }));
      const { l, r, t, b } = plotArea(els);
      const [band] = byClass(els, 'restored');
      assert.equal(band.attrs['data-epoch'], String(fromEpoch));
      const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((a) => Number(band.attrs[a]));
      assert.ok(w >= 4, `visible: width ${w}`);
      assert.ok(x >= l && x + w <= r, `epoch ${fromEpoch} of ${n}: band [${x}, ${x + w}] outside [${l}, ${r}]`);
      assert.ok(y >= t && y + h <= b, `epoch ${fromEpoch} of ${n}: band rows`);
    }
  }
});

test('defect 3: no two text labels overlap and all lie inside the image (the "2lr" collision)', () => {
  for (const [name, input] of Object.entries(SAMPLES)) {
    for (const width of [720, 480]) {
      const els = parseSvg(renderCurvesSvg({ ...input, width }));
      const boxes = textBoxes(els);
      const height = Number(els[0].attrs.height);
      for (const bx of boxes) {
        assert.ok(bx.x0 >= 0 && bx.x1 <= width && bx.y0 >= 0 && bx.y1 <= height, `${name}@${width}: "${bx.text}" leaves the image`);
      }
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [p, q] = [boxes[i], boxes[j]];
          // Touching counts: "2" and "lr" 1 px apart read as "2lr".
          const GAP = 2;
          const overlap = p.x0 < q.x1 + GAP && q.x0 < p.x1 + GAP && p.y0 < q.y1 + GAP && q.y0 < p.y1 + GAP;
          assert.ok(!overlap, `${name}@${width}: "${p.text}" touches "${q.text}"`);
        }
      }
    }
  }
  // The rate axis is named, along the right edge, outside the tick labels' column.
  const els = parseSvg(renderCurvesSvg(stopOnLastEpoch));
  const title = byClass(els, 'axis-title-lr')[0];
  assert.equal(title.text, 'learning rate');
  assert.match(title.attrs.transform, /^rotate\(-90 /);
  const rightmostTick = Math.max(...textBoxes(els).filter((bx) => /^[\d.e-]+$/.test(bx.text)).map((bx) => bx.x1));
  assert.ok(textBoxes([title])[0].x0 > rightmostTick);
  assert.ok(byClass(els, 'legend-label').some((e) => e.text === 'learning rate'), 'and in the legend');
});

/** WCAG relative luminance and contrast ratio of #rrggbb colours. */
const luminance = (hex: string): number => {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const contrast = (a: string, b: string): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (hi + 0.05) / (lo + 0.05);
};

test('colours: text follows currentColor; each scheme sets its own background, text and series colours with enough contrast', () => {
  const svg = renderCurvesSvg(longRun);
  const els = parseSvg(svg);
  const css = els.find((e) => e.name === 'style')!.text;
  const [light, dark] = css.split('@media (prefers-color-scheme: dark)');
  assert.ok(dark, 'a dark-scheme block');
  // Every rule is scoped to the image's class, so inlined into a page it styles nothing else.
  for (const rule of css.replace(/@media[^{]*\{/, '').split('}').filter((r) => r.includes('{'))) {
    for (const sel of rule.slice(0, rule.indexOf('{')).split(',')) assert.match(sel.trim(), /^\.kiln-curves\b/, `unscoped selector ${sel}`);
  }
  assert.ok(classes(els[0]).includes('kiln-curves'));
  assert.match(css, /text\{fill:currentColor/);
  for (const t of els.filter((e) => e.name === 'text')) assert.ok(!('fill' in t.attrs) && !('style' in t.attrs), `text "${t.text}" has a fixed colour`);
  assert.ok(els.some((e) => classes(e).includes('bg') && e.name === 'rect'), 'an opaque background of its own');

  const hex = (block: string, re: RegExp): string => { const m = re.exec(block); assert.ok(m, String(re)); return m![1]; };
  for (const [scheme, block] of [['light', light], ['dark', dark]] as const) {
    const bg = hex(block, /\.bg\{fill:var\(--card,(#[0-9a-f]{6})\)/);
    const fg = hex(block, /\.kiln-curves\{color:var\(--fg,(#[0-9a-f]{6})\)/);
    assert.ok(contrast(fg, bg) >= 7, `${scheme}: text ${fg} on ${bg}`);
    const used = new Set(byClass(els, 'series').flatMap((e) => classes(e).filter((c) => /^s\d$/.test(c))));
    assert.ok(used.size >= 5);
    for (const c of used) {
      const colour = hex(block, new RegExp(`\\.${c}\\{--c:(#[0-9a-f]{6})\\}`));
      assert.ok(contrast(colour, bg) >= 3, `${scheme}: series ${c} ${colour} on ${bg}: ${contrast(colour, bg).toFixed(2)}`);
    }
    for (const v of ['ckpt', 'cut', 'stop']) {
      const colour = hex(block, new RegExp(`--${v}:(#[0-9a-f]{6})`));
      assert.ok(contrast(colour, bg) >= 3, `${scheme}: marker ${v} ${colour} on ${bg}`);
    }
  }
});

test('a run in progress: partial history, one epoch, no epochs at all', () => {
  const partial = parseSvg(renderCurvesSvg({ history: finished.history.slice(0, 2) }));
  assert.equal(byClass(partial, 'series', 'path').length, 4);
  assert.equal(byClass(partial, 'marker').length, 0);
  assert.equal(byClass(partial, 'lr').length, 0, 'no rate known, no rate line');
  assert.equal(byClass(partial, 'axis-lr').length, 0);

  // One epoch: a lone `M` draws nothing, so every series gets a dot (hollow for validation).
  const one = parseSvg(renderCurvesSvg(oneEpoch));
  assert.equal(one[0].attrs['data-epochs'], '1');
  for (const key of ['loss', 'val_loss', 'accuracy', 'val_accuracy']) {
    assert.deepEqual(subpaths(seriesPath(one, key)!.attrs.d).map((p) => p.length), [1], key);
    const dot = one.filter((e) => e.name === 'circle' && e.attrs['data-series'] === key);
    assert.equal(dot.length, 1, key);
    assert.ok(classes(dot[0]).includes(key.startsWith('val_') ? 'point-val' : 'point-train'));
    assert.ok(Number(dot[0].attrs.r) >= 2);
  }
  const lr = byClass(one, 'lr')[0].attrs.d;
  const [, x0] = /^M([\d.]+) /.exec(lr)!.map(Number);
  const [, x1] = /H([\d.]+)$/.exec(lr)!.map(Number);
  assert.ok(x1 - x0 > 100, `the known rate is a visible line: ${lr}`);
  assert.deepEqual(epochs(one, 'marker-checkpoint'), [0]);

  for (const input of [noEpochs, { history: [], events: finished.events }, { history: [{ epoch: -1, logs: { loss: 1 } }] }]) {
    const svg = renderCurvesSvg(input as CurvesInput);
    const empty = parseSvg(svg);
    assert.equal(empty[0].attrs['data-epochs'], '0');
    assert.ok(classes(empty[0]).includes('empty'));
    assert.equal(empty.filter((e) => e.name === 'text' && e.text === 'No epochs yet').length, 1);
    assert.equal(byClass(empty, 'series').length + byClass(empty, 'marker').length + byClass(empty, 'lr').length + byClass(empty, 'restored').length, 0);
    assert.match(svg, /prefers-color-scheme: dark/);
    assertFiniteNumbers(empty);
  }
});

test('non-finite values break the lines and never reach the path data', () => {
  const svg = renderCurvesSvg(nonFinite);
  assert.doesNotMatch(svg.replace('stopped on NaN', ''), /NaN|Infinity/, 'not even in a title');
  const els = parseSvg(svg);
  assertFiniteNumbers(els);
  const loss = subpaths(seriesPath(els, 'loss')!.attrs.d);
  const val = subpaths(seriesPath(els, 'val_loss')!.attrs.d);
  const mae = subpaths(seriesPath(els, 'mae')!.attrs.d);
  // loss: 0.9 0.7 | Infinity | 0.6 | NaN; val_loss: 'NaN' | 0.8 0.75 0.7 | '-Infinity'; mae: 0.5 | Infinity | 0.4 0.35 | -Infinity
  assert.deepEqual(loss.map((p) => p.length), [2, 1]);
  assert.deepEqual(val.map((p) => p.length), [3]);
  assert.deepEqual(mae.map((p) => p.length), [1, 2]);
  const dots = (key: string) => els.filter((e) => e.name === 'circle' && e.attrs['data-series'] === key).length;
  assert.deepEqual([dots('loss'), dots('val_loss'), dots('mae')], [1, 0, 1], 'isolated points are dots');
  assert.deepEqual(epochs(els, 'marker-stop'), [4], 'TerminateOnNaN is a stop');
  assert.equal(byClass(els, 'marker-lr-cut').length, 0, 'a change from or to a non-finite rate is not a cut');
  // The only usable rate (0.05 from epoch 3) draws; the NaN initial rate and NaN `to` do not.
  assert.match(byClass(els, 'lr')[0].attrs.d, /^M[\d.]+ [\d.]+H[\d.]+$/);

  // Nothing finite at all, absurd magnitudes, bad epochs and sizes: still a picture, still numbers.
  const worst = renderCurvesSvg({
    history: [
      { epoch: 0, logs: { loss: 'NaN', big: 1.7e308, val_big: -1.7e308 } },
      { epoch: Number.NaN, logs: { loss: 1 } },
      { epoch: 1, logs: { loss: Infinity, big: 1e-300, val_big: 5e-324 } },
    ],
    events: [
      { type: 'early_stopping', epoch: Infinity }, { type: 'checkpoint_saved', epoch: -2, best: {} },
      { type: 'weights_restored', epoch: 1, fromEpoch: Number.NaN },
    ],
    initialLearningRate: -Infinity,
    width: Number.NaN,
    height: Infinity,
  });
  const w = parseSvg(worst);
  assertFiniteNumbers(w);
  assert.doesNotMatch(worst, /NaN|Infinity/);
  assert.equal(seriesPath(w, 'loss'), undefined, 'no finite loss, no loss path');
  assert.deepEqual(subpaths(seriesPath(w, 'big')!.attrs.d).map((p) => p.length), [2]);
  assert.equal(byClass(w, 'marker').length + byClass(w, 'restored').length, 0);
  assert.equal(w[0].attrs.width, '720');
});

test('the learning rate: logged values and change events on the right axis, never a left-axis series', () => {
  const els = parseSvg(renderCurvesSvg(longRun));
  assert.equal(els.filter((e) => e.attrs['data-series'] === 'learning_rate').length, 1, 'one rate path');
  assert.equal(byClass(els, 'series').filter((e) => e.attrs['data-series'] === 'learning_rate').length, 0);
  assert.ok(byClass(els, 'tick-lr').some((e) => /e-4$/.test(e.text)), 'tiny rates in exponent form');

  // Without logged rates the steps come from the events: ReduceLROnPlateau cuts as its epoch ends
  // (the next epoch runs with the new rate), LearningRateScheduler sets it as its epoch begins.
  const history = [0, 1, 2, 3, 4, 5].map((epoch) => ({ epoch, logs: { loss: 1 } }));
  const stepAt = (by: string): number => {
    const e = parseSvg(renderCurvesSvg({ history, events: [{ type: 'learning_rate_changed', epoch: 2, by, from: 0.1, to: 0.05 }] }));
    const xs = subpaths(seriesPath(e, 'loss')!.attrs.d)[0].map((p) => p[0]);
    const d = byClass(e, 'lr')[0].attrs.d;
    const m = /^M([\d.]+) ([\d.]+)H([\d.]+)V([\d.]+)H([\d.]+)$/.exec(d);
    assert.ok(m, d);
    const [, start, y0, step, y1, end] = m!.map(Number);
    assert.equal(start, xs[0]);
    assert.equal(end, xs[5]);
    assert.ok(y1 > y0, 'the rate went down');
    const tick = byClass(e, 'tick-lr');
    assert.ok(tick.length >= 2);
    return xs.indexOf(step);
  };
  assert.equal(stepAt('ReduceLROnPlateau'), 3);
  assert.equal(stepAt('LearningRateScheduler'), 2);
});

test('robustness: escaped names, XML-illegal characters, retried epochs, repeated events', () => {
  const name = 'a<b&"c"\u0001';
  const svg = renderCurvesSvg({
    history: [
      { epoch: 0, logs: { [name]: 1, loss: 0.9 } },
      { epoch: 1, logs: { [name]: 2, loss: 0.8 } },
      { epoch: 1, logs: { [name]: 2, loss: 0.7 } },
      { epoch: 2, logs: { [name]: 3, loss: 0.5 } },
    ],
    events: [
      { type: 'early_stopping', epoch: 2 }, { type: 'early_stopping', epoch: 2 },
      { type: 'checkpoint_saved', epoch: 1, best: { monitor: 'loss', value: 0.7 } },
      { type: 'checkpoint_saved', epoch: 1, best: { monitor: 'loss', value: 0.7 } },
    ],
  });
  const els = parseSvg(svg);
  assert.ok(els.some((e) => e.attrs['data-series'] === 'a<b&"c"\uFFFD'), 'the name survives, the control character becomes U+FFFD');
  assert.deepEqual(subpaths(seriesPath(els, 'loss')!.attrs.d).map((p) => p.length), [3], 'a retried epoch counts once');
  const loss = subpaths(seriesPath(els, 'loss')!.attrs.d)[0];
  assert.ok(loss[1][1] > loss[0][1] + 1 && Math.abs(loss[1][1] - (loss[0][1] + loss[2][1]) / 2) < 0.2, 'the last row of epoch 1 (0.7, halfway between 0.9 and 0.5) wins');
  assert.deepEqual(epochs(els, 'marker-stop'), [2]);
  assert.deepEqual(epochs(els, 'marker-checkpoint'), [1]);

  // A constant series gets a sensible range instead of dividing by zero.
  const flat = parseSvg(renderCurvesSvg({ history: [0, 1, 2].map((epoch) => ({ epoch, logs: { loss: 0.5 } })) }));
  assertFiniteNumbers(flat);
  const ys = new Set(subpaths(seriesPath(flat, 'loss')!.attrs.d)[0].map((p) => p[1]));
  assert.equal(ys.size, 1);
  const { t, b } = plotArea(flat);
  assert.ok(Math.abs([...ys][0] - (t + b) / 2) < 1, 'a constant series sits mid-plot');
});

test('plannedEpochs: a running job\'s x axis spans the planned epochs; an ended or early-stopped run spans the epochs that ran', () => {
  const history = [0, 1, 2, 3, 4].map((epoch) => ({ epoch, logs: { loss: 1 / (epoch + 1), val_loss: 1.1 / (epoch + 1) } }));
  const running: CurvesInput = { history, events: [], initialLearningRate: 0.01, plannedEpochs: 50, status: 'running', stopReason: null };

  /** The epoch at the right end of the plot, read off the geometry: epochs are evenly spaced and the inset is the same on both sides. */
  const axisEnd = (els: El[]): number => {
    const { l, r } = plotArea(els);
    const xs = subpaths(seriesPath(els, 'loss')!.attrs.d)[0].map((p) => p[0]);
    const epochW = (xs[xs.length - 1] - xs[0]) / (xs.length - 1);
    const inset = xs[0] - l;
    return (r - inset - xs[0]) / epochW;
  };

  const live = parseSvg(renderCurvesSvg(running));
  assert.equal(live[0].attrs['data-epochs'], '5');
  assert.equal(live[0].attrs['data-axis-epochs'], '50');
  assert.ok(Math.abs(axisEnd(live) - 49) < 0.1, `the axis ends at epoch 49: ${axisEnd(live)}`);
  const { l, r } = plotArea(live);
  const lossXs = subpaths(seriesPath(live, 'loss')!.attrs.d)[0].map((p) => p[0]);
  assert.ok(lossXs[4] - l < (r - l) * 0.15, 'five of fifty epochs take the left tenth of the plot');
  const ticks = byClass(live, 'tick-x').map((e) => Number(e.text));
  assert.ok(Math.max(...ticks) >= 40 && Math.max(...ticks) <= 49, `epoch labels run to the planned end: ${ticks.join(' ')}`);
  // The known rate holds through the epoch in progress (5), not across the empty rest of the axis.
  const lrEnd = Number(/H([\d.]+)$/.exec(byClass(live, 'lr')[0].attrs.d)![1]);
  assert.ok(Math.abs(lrEnd - (lossXs[4] + (lossXs[4] - lossXs[3]))) < 0.2, `rate line ends at epoch 5: ${lrEnd}`);
  assertFiniteNumbers(live);

  // The axis does not grow as epochs arrive: one more epoch keeps the same scale.
  const next = parseSvg(renderCurvesSvg({ ...running, history: [...history, { epoch: 5, logs: { loss: 0.15, val_loss: 0.17 } }] }));
  assert.equal(next[0].attrs['data-axis-epochs'], '50');
  assert.deepEqual(subpaths(seriesPath(next, 'loss')!.attrs.d)[0].slice(0, 5).map((p) => p[0]), lossXs, 'earlier epochs keep their x');
  // Without a status the run counts as in progress.
  assert.equal(parseSvg(renderCurvesSvg({ ...running, status: undefined }))[0].attrs['data-axis-epochs'], '50');

  // Ended: by status, by stopReason, by an early-stopping or NaN stop event. Exactly the picture
  // of the same run without a plan: the last epoch at the right end, no empty tail.
  const unplanned = renderCurvesSvg({ history, events: [], initialLearningRate: 0.01 });
  for (const status of ['succeeded', 'failed', 'cancelled']) {
    const svg = renderCurvesSvg({ ...running, status, stopReason: status === 'succeeded' ? 'completed' : status === 'failed' ? 'error' : 'cancelled' });
    assert.equal(svg, unplanned, status);
    const els = parseSvg(svg);
    assert.equal(els[0].attrs['data-axis-epochs'], '5', status);
    assert.ok(Math.abs(axisEnd(els) - 4) < 0.1, `${status}: the axis ends at the last epoch: ${axisEnd(els)}`);
  }
  assert.equal(parseSvg(renderCurvesSvg({ ...running, stopReason: 'max_runtime' }))[0].attrs['data-axis-epochs'], '5', 'a stopReason ends the run');
  for (const type of ['early_stopping', 'nan_terminated']) {
    // run.json may still say `running` after the stop event, before the final status is written.
    const stopped = parseSvg(renderCurvesSvg({ ...running, events: [{ type, epoch: 4 }] }));
    assert.equal(stopped[0].attrs['data-axis-epochs'], '5', type);
    assert.ok(Math.abs(axisEnd(stopped) - 4) < 0.1, `${type}: no empty tail: ${axisEnd(stopped)}`);
    const { r: sr } = plotArea(stopped);
    assert.ok(Number(byClass(stopped, 'marker-stop')[0].attrs.x1) >= sr - 24, 'the stop marker sits at the right end');
  }

  // A plan smaller than what ran, or nonsense, never shrinks or breaks the axis.
  for (const plannedEpochs of [3, 0, -5, 2.5, Number.NaN, Infinity]) {
    const els = parseSvg(renderCurvesSvg({ ...running, plannedEpochs }));
    assert.equal(els[0].attrs['data-axis-epochs'], '5', String(plannedEpochs));
    assertFiniteNumbers(els);
  }
  // No epochs yet: still the empty picture, whatever the plan.
  const empty = parseSvg(renderCurvesSvg({ ...running, history: [] }));
  assert.ok(classes(empty[0]).includes('empty'));
});
