import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { renderCurvesSvg } from '../../core/curves-svg';
import { SAMPLES } from '../core/curves-samples';

// The curves SVG as Chromium draws it, standalone, in the light and the dark colour scheme: real
// XML parsing, real text metrics, computed colours. PNGs land in test-output/ for a human to look at.
const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no browser: ${CHROMIUM} is missing (apt-get install chromium; CI installs it)`;
const OUT = join(__dirname, '../../test-output');
const ORIGIN = 'http://curves.test';

let browser: Browser;

before(async () => {
  if (skip) return;
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
});

/** Serves `body` at ORIGIN/<path> and navigates there, so the SVG is a document of its own. */
async function open(page: Page, path: string, body: string, contentType: string): Promise<void> {
  await page.route(`${ORIGIN}/${path}`, (route) => route.fulfill({ contentType, body }));
  await page.goto(`${ORIGIN}/${path}`);
}

interface Measured {
  parsed: boolean;
  texts: Array<{ text: string; x0: number; x1: number; y0: number; y1: number }>;
  width: number;
  height: number;
  plot: { l: number; r: number; t: number; b: number } | null;
  markers: Array<{ cls: string; x: number }>;
  bands: Array<{ x0: number; x1: number; y0: number; y1: number }>;
  bg: string;
  painted: Array<{ what: string; colour: string; alpha: number; text: boolean }>;
}

/** tsx compiles named inner functions with esbuild's `__name` helper; give the page one. */
const defineNameHelper = (page: Page) => page.evaluate('globalThis.__name = (f) => f');

/** Reads the drawn geometry and the computed colours out of the page. */
async function measure(page: Page): Promise<Measured> {
  await defineNameHelper(page);
  return page.evaluate(() => {
    const root = document.documentElement;
    const parsed = root.localName === 'svg' && root.namespaceURI === 'http://www.w3.org/2000/svg' && !document.getElementsByTagName('parsererror').length;
    const box = (el: Element) => { const r = el.getBoundingClientRect(); return { x0: r.left, x1: r.right, y0: r.top, y1: r.bottom }; };
    const texts = Array.from(document.querySelectorAll('text')).map((t) => ({ text: t.textContent ?? '', ...box(t) }));
    const ax = document.querySelector('.axis-x');
    const ay = document.querySelector('.axis-y');
    const plot = ax && ay ? { l: box(ay).x0, r: box(ax).x1, t: box(ay).y0, b: box(ax).y1 } : null;
    const markers = Array.from(document.querySelectorAll('line.marker')).map((m) => ({ cls: m.getAttribute('class') ?? '', x: (box(m).x0 + box(m).x1) / 2 }));
    const bands = Array.from(document.querySelectorAll('rect.restored')).map(box);
    const bgEl = document.querySelector('.bg');
    const bg = bgEl ? getComputedStyle(bgEl).fill : '';
    const painted: Measured['painted'] = [];
    for (const el of Array.from(document.querySelectorAll('text, .series, .point, .lr, .marker, .axis'))) {
      const cs = getComputedStyle(el);
      const isText = el.localName === 'text';
      const colour = isText || (el.classList.contains('point') && !el.classList.contains('point-val')) ? cs.fill : cs.stroke;
      painted.push({ what: `${el.localName}.${el.getAttribute('class')} ${el.getAttribute('data-series') ?? el.textContent ?? ''}`.trim(), colour, alpha: Number(cs.opacity), text: isText });
    }
    return { parsed, texts, width: innerWidth, height: innerHeight, plot, markers, bands, bg, painted };
  });
}

const rgb = (css: string): [number, number, number] => {
  const m = /^rgba?\((\d+), (\d+), (\d+)/.exec(css);
  assert.ok(m, `a computed colour: ${css}`);
  return [Number(m![1]), Number(m![2]), Number(m![3])];
};
const luminance = (c: [number, number, number]): number => {
  const [r, g, b] = c.map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const contrast = (a: [number, number, number], b: [number, number, number]): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (hi + 0.05) / (lo + 0.05);
};

for (const scheme of ['light', 'dark'] as const) {
  test(`every sample in the ${scheme} scheme: parsed by Chromium, labels apart, markers off the axes, bands in the plot, readable colours`, { skip, timeout: 30_000 }, async () => {
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 720, height: 360 } });
    const page = await context.newPage();
    try {
      for (const [name, input] of Object.entries(SAMPLES)) {
        await open(page, `${name}.svg`, renderCurvesSvg(input), 'image/svg+xml');
        await page.screenshot({ path: join(OUT, `curves-${name}-${scheme}.png`) });
        const m = await measure(page);
        assert.ok(m.parsed, `${name}: Chromium's XML parser took it`);

        for (const t of m.texts) assert.ok(t.x0 >= 0 && t.x1 <= m.width && t.y0 >= 0 && t.y1 <= m.height, `${name}: "${t.text}" leaves the image`);
        for (let i = 0; i < m.texts.length; i++) {
          for (let j = i + 1; j < m.texts.length; j++) {
            const [p, q] = [m.texts[i], m.texts[j]];
            // Glyph boxes include the line's leading, so vertical neighbours may touch; sideways they may not.
            const apart = p.x1 + 2 <= q.x0 || q.x1 + 2 <= p.x0 || p.y1 <= q.y0 + 1 || q.y1 <= p.y0 + 1;
            assert.ok(apart, `${name}: "${p.text}" [${p.x0.toFixed(1)}–${p.x1.toFixed(1)}] runs into "${q.text}" [${q.x0.toFixed(1)}–${q.x1.toFixed(1)}]`);
          }
        }
        if (m.plot) {
          for (const mk of m.markers) {
            assert.ok(mk.x - m.plot.l >= 6 && m.plot.r - mk.x >= 6, `${name}: ${mk.cls} at ${mk.x} on an axis (${m.plot.l}, ${m.plot.r})`);
          }
          for (const b of m.bands) {
            assert.ok(b.x0 >= m.plot.l - 0.5 && b.x1 <= m.plot.r + 0.5 && b.y0 >= m.plot.t - 0.5 && b.y1 <= m.plot.b + 0.5, `${name}: band outside the plot`);
          }
        } else {
          assert.equal(name, 'noEpochs');
          assert.ok(m.texts.some((t) => t.text === 'No epochs yet'));
        }

        // Contrast against the image's own background, opacity composited (WCAG: 4.5 text, 3 lines).
        const bg = rgb(m.bg);
        assert.equal(luminance(bg) > 0.5, scheme === 'light', `${name}: a ${scheme} background (${m.bg})`);
        for (const p of m.painted) {
          const c = rgb(p.colour).map((v, k) => v * p.alpha + bg[k] * (1 - p.alpha)) as [number, number, number];
          const ratio = contrast(c, bg);
          assert.ok(ratio >= (p.text ? 4.5 : 3), `${name} (${scheme}): ${p.what} ${p.colour}×${p.alpha} on ${m.bg}: ${ratio.toFixed(2)}`);
        }
      }
    } finally {
      await context.close();
    }
  });
}

test('inlined into a page, the SVG styles only itself and takes the page\'s --fg/--card', { skip, timeout: 30_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 800, height: 500 } });
  const page = await context.newPage();
  try {
    const host = '<!doctype html><html><head><style>:root{--fg:#102030;--card:#fafaf0} body{color:rgb(1, 2, 3)}</style></head><body>'
      + '<p class="label legend series">page text</p><svg id="other" width="10" height="10"><path class="axis lr marker-stop" d="M0 0h10"/><text class="label" y="9">x</text></svg>'
      + `<div id="curves">${renderCurvesSvg(SAMPLES.finished)}</div></body></html>`;
    await open(page, 'page.html', host, 'text/html');
    await defineNameHelper(page);
    const got = await page.evaluate(() => {
      const cs = (sel: string) => getComputedStyle(document.querySelector(sel)!);
      return {
        pColour: cs('p').color, pFont: cs('p').fontSize,
        otherColour: cs('#other').color, otherStroke: cs('#other path').stroke, otherText: cs('#other text').fill,
        curvesText: cs('#curves text').fill, curvesBg: cs('#curves .bg').fill,
      };
    });
    assert.equal(got.pColour, 'rgb(1, 2, 3)');
    assert.equal(got.pFont, '16px');
    assert.equal(got.otherColour, 'rgb(1, 2, 3)');
    assert.equal(got.otherStroke, 'none');
    assert.equal(got.otherText, 'rgb(0, 0, 0)');
    assert.equal(got.curvesText, 'rgb(16, 32, 48)', 'text in the page\'s --fg');
    assert.equal(got.curvesBg, 'rgb(250, 250, 240)', 'background in the page\'s --card');
    await page.screenshot({ path: join(OUT, 'curves-inlined-light.png') });
  } finally {
    await context.close();
  }
});
