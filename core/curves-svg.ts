/**
 * Renders a run's training curves as a standalone SVG document. Pure: takes the run manifest's
 * `history` and `events` (so it works while the run is still going) and returns text.
 */

/** One finished epoch as run.json records it. */
export interface CurvesEpoch {
  epoch: number;
  /** Non-finite values arrive as the strings `NaN`/`Infinity` in JSON and are left out. */
  logs: Record<string, number | string | null | undefined>;
}

/** Input of {@link renderCurvesSvg}; a subset of the Run resource. */
export interface CurvesInput {
  history: CurvesEpoch[];
  /** The callbacks' decisions (run.json `events`); unknown event types are ignored. */
  events?: Array<Record<string, unknown>>;
  /**
   * Learning rate before the first epoch, when known; the rate line starts from it.
   * @defaultValue the `from` of the first `learning_rate_changed` event, else the logged
   * `learning_rate`, else no rate line
   */
  initialLearningRate?: number;
  /**
   * Epochs the run is planned to train (`spec.fit.epochs`). While the run is in progress the x
   * axis spans all of them, so it does not grow as epochs arrive; once the run ended (see
   * `status`) it spans only the epochs that ran, so an early stop leaves no empty tail.
   * @defaultValue the epochs that ran
   */
  plannedEpochs?: number;
  /**
   * The run's status (`queued`, `running`, `succeeded`, `failed`, `cancelled`). A terminal status,
   * a `stopReason` or an `early_stopping` / `nan_terminated` event means the run ended.
   * @defaultValue in progress, unless the events or `stopReason` say it stopped
   */
  status?: string;
  /** Why training ended, when it did (the Run's `stopReason`). @defaultValue null */
  stopReason?: string | null;
  /** Pixels, at least 320. @defaultValue 720 */
  width?: number;
  /** Pixels, at least 200. @defaultValue 360 */
  height?: number;
}

/** Marker kinds drawn as vertical lines; also used as CSS classes (`marker-<kind>`). */
export type CurvesMarkerKind = 'checkpoint' | 'lr-cut' | 'stop' | 'restored';

/**
 * Series colours as [light scheme, dark scheme]. Each has at least 3:1 contrast (WCAG 1.4.11,
 * graphical objects) against the background of its scheme, #fff/#f7f7f8 and #0d1117/#161b22.
 */
const PALETTE: ReadonlyArray<readonly [string, string]> = [
  ['#1f77b4', '#58a6ff'],
  ['#d95f02', '#ff9f43'],
  ['#0f7f8c', '#39c5cf'],
  ['#c2399e', '#f778ba'],
  ['#8c564b', '#d2a679'],
  ['#6b6b00', '#c9c94a'],
  ['#9467bd', '#bc8cff'],
  ['#1a7f37', '#56d364'],
];
/** Everything else that has a colour, per scheme; `bg`/`fg` yield to a host page's `--card`/`--fg`. */
const THEME = {
  light: { bg: '#ffffff', fg: '#1b1b1b', checkpoint: '#1a7f37', cut: '#8250df', stop: '#cf222e', band: '#d4a72c' },
  dark: { bg: '#161b22', fg: '#e6edf3', checkpoint: '#3fb950', cut: '#a371f7', stop: '#ff7b72', band: '#d29922' },
} as const;

/** Statuses of a run that will log no more epochs. */
const TERMINAL_STATUSES = new Set(['succeeded', 'failed', 'cancelled']);
/** Logged keys that hold the learning rate: drawn on the right axis, never as a left-axis series. */
const RATE_KEYS = new Set(['learning_rate', 'lr']);
/** A generous advance of an 11px sans-serif character (DejaVu Sans: 5.3 on average, 7 for digits). */
const CHAR_W = 6.6;
const textWidth = (s: string): number => s.length * CHAR_W;

/** Escapes markup and drops the characters XML 1.0 does not allow at all (even as references). */
const escapeXml = (s: string): string =>
  s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A 0-based epoch index, or null for anything else (missing, negative, fractional, non-finite). */
const epochIndex = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);

/** A coordinate for path data and attributes: one decimal, and never `NaN` whatever goes wrong. */
const px = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 10) / 10) : '0');

/** A value in a tooltip. */
const fmtValue = (n: number): string => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4))));

/** A tick label: as many decimals as the tick step needs; exponent form for tiny steps or huge values. */
function fmtTick(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6 || step < 1e-3) {
    const [mantissa, exp] = v.toExponential(2).split('e');
    return `${String(Number(mantissa))}e${exp.replace('+', '')}`;
  }
  let decimals = Math.max(0, -Math.floor(Math.log10(step)));
  if (Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-9) decimals += 1;
  return v.toFixed(decimals);
}

/** A linear axis: its domain and ticks. */
interface Scale { lo: number; hi: number; step: number; ticks: number[] }

/**
 * "Nice" ticks (1, 2, 2.5 or 5 × 10^k apart) whose span covers [lo, hi], about `count` intervals.
 * Overflow-safe for any finite input (hi − lo may exceed Number.MAX_VALUE).
 */
function niceScale(lo: number, hi: number, count: number): Scale {
  if (!(hi > lo)) {
    const d = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
    lo -= d; hi += d;
  }
  const raw = ((hi / 2 - lo / 2) / count) * 2;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const n = Math.round(end / step - start / step);
  if (!(step > 0) || !Number.isFinite(start) || !Number.isFinite(end) || !(n >= 1) || n > 2 * count + 2) {
    return { lo, hi, step: hi / 2 - lo / 2, ticks: [lo, hi] };
  }
  const ticks = Array.from({ length: n + 1 }, (_, i) => Number((start + i * step).toPrecision(12)));
  return { lo: ticks[0], hi: ticks[n], step, ticks };
}

/** Where on [0, 1] `v` sits between `lo` and `hi`, without overflowing. */
const fraction = (v: number, lo: number, hi: number): number => (v / 2 - lo / 2) / (hi / 2 - lo / 2 || 1);

interface Marker { kind: Exclude<CurvesMarkerKind, 'restored'>; epoch: number; title: string }
interface LegendEntry { label: string; swatch: (x: number, y: number) => string; width: number }

const STYLE = (() => {
  const s = '.kiln-curves';
  const themed = (t: (typeof THEME)['light' | 'dark'], dark: boolean): string =>
    `${s}{color:var(--fg,${t.fg});--ckpt:${t.checkpoint};--cut:${t.cut};--stop:${t.stop};--band:${t.band}}`
    + `${s} .bg{fill:var(--card,${t.bg})}`
    + PALETTE.map((c, i) => `${s} .s${i}{--c:${c[dark ? 1 : 0]}}`).join('');
  return `${themed(THEME.light, false)}${s}{font:11px sans-serif}${s} text{fill:currentColor;stroke:none}`
    + `${s} .axis,${s} .tick{stroke:currentColor;fill:none}${s} .grid{stroke:currentColor;opacity:.12}`
    + `${s} .series{fill:none;stroke:var(--c);stroke-width:1.75;stroke-linejoin:round;stroke-linecap:round}`
    + `${s} .val,${s} .key-val{stroke-dasharray:6 3}${s} .point{fill:var(--c);stroke:none}${s} .point-val{fill:none;stroke:var(--c);stroke-width:1.5}`
    + `${s} .swatch{stroke:var(--c);stroke-width:2}${s} .key-val{stroke:currentColor;stroke-width:1.5}`
    + `${s} .lr,${s} .key-lr{fill:none;stroke:currentColor;stroke-width:1.5;stroke-dasharray:9 3 2 3;opacity:.7}`
    + `${s} .marker,${s} .key{stroke-width:1.5;fill:none}`
    + `${s} .marker-checkpoint,${s} .key-checkpoint{stroke:var(--ckpt);stroke-dasharray:2 3}`
    + `${s} .marker-lr-cut,${s} .key-lr-cut{stroke:var(--cut);stroke-dasharray:6 3}`
    + `${s} .marker-stop,${s} .key-stop{stroke:var(--stop);stroke-width:2.5}`
    + `${s} .restored,${s} .key-restored{fill:var(--band);opacity:.3;stroke:none}`
    + `${s} .empty-message{font-size:15px}`
    + `@media (prefers-color-scheme: dark){${themed(THEME.dark, true)}}`;
})();

/**
 * Draws loss and each metric (train solid, `val_` dashed) per epoch on a left axis, the learning
 * rate as a step line on a right axis, and vertical markers for improved checkpoints, rate cuts,
 * the stop epoch and the restored best epoch (highlighted band). Epochs sit inside the plot area,
 * never on an axis line; a legend along the top names every series, the right axis and the marker
 * kinds. Colours follow `currentColor` and a `prefers-color-scheme` media query, on the image's
 * own background, so it reads on light and dark pages; inlined into a page (the run page), the
 * page's `--fg`/`--card` custom properties win. All selectors are scoped to `.kiln-curves`. With no
 * finished epoch the picture says so. Non-finite values break the line instead of appearing in it.
 * Given `plannedEpochs`, a run in progress gets an x axis for all of them; an ended run, for the
 * epochs that ran.
 */
export function renderCurvesSvg(input: CurvesInput): string {
  const width = isFiniteNumber(input.width) ? Math.max(320, Math.round(input.width)) : 720;
  const height = isFiniteNumber(input.height) ? Math.max(200, Math.round(input.height)) : 360;
  // A retried epoch keeps its last row.
  const rows = new Map<number, CurvesEpoch>();
  for (const h of input.history) {
    const epoch = epochIndex(h?.epoch);
    if (epoch !== null && h.logs && typeof h.logs === 'object') rows.set(epoch, h);
  }
  const history = [...rows.values()].sort((a, b) => a.epoch - b.epoch);
  const events = (input.events ?? []).filter((e): e is Record<string, unknown> => !!e && typeof e === 'object');

  // `data-axis-epochs`: how many epochs the x axis has room for (0 … n − 1).
  const open = (cls: string, axisEpochs = 0): string =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Training curves" class="${cls}" data-epochs="${history.length}" data-axis-epochs="${axisEpochs}">`
    + `<title>Training curves</title><style>${STYLE}</style><rect class="bg" width="${width}" height="${height}" rx="4"/>`;

  if (!history.length) {
    return [
      open('kiln-curves empty'),
      `<rect class="grid" x="16.5" y="16.5" width="${width - 33}" height="${height - 33}" fill="none" stroke-dasharray="4 4"/>`,
      `<text class="empty-message" x="${width / 2}" y="${height / 2 - 4}" text-anchor="middle">No epochs yet</text>`,
      `<text class="empty-hint" x="${width / 2}" y="${height / 2 + 16}" text-anchor="middle">The curves appear when the first epoch ends.</text>`,
      '</svg>',
    ].join('\n');
  }

  // ---- data ------------------------------------------------------------------------------------
  // Series keyed by base name so train and val share a colour; loss first.
  const keys = new Set<string>();
  for (const h of history) for (const k of Object.keys(h.logs)) if (!RATE_KEYS.has(k)) keys.add(k);
  const bases = [...new Set([...keys].map((k) => k.replace(/^val_/, '')))].sort((a, b) =>
    a === 'loss' ? -1 : b === 'loss' ? 1 : a.localeCompare(b),
  );
  const values: number[] = [];
  for (const h of history) for (const k of keys) if (isFiniteNumber(h.logs[k])) values.push(h.logs[k] as number);

  const markers = new Map<string, Marker>();
  const addMarker = (m: Marker): void => { if (!markers.has(`${m.kind}@${m.epoch}`)) markers.set(`${m.kind}@${m.epoch}`, m); };
  const restored = new Set<number>();
  for (const e of events) {
    const epoch = epochIndex(e.epoch);
    if (e.type === 'weights_restored') {
      const from = epochIndex(e.fromEpoch);
      if (from !== null) restored.add(from);
    }
    if (epoch === null) continue;
    if (e.type === 'checkpoint_saved' && e.best && typeof e.best === 'object') {
      const best = e.best as Record<string, unknown>;
      const what = typeof best.monitor === 'string' && isFiniteNumber(best.value) ? ` (${best.monitor} = ${fmtValue(best.value)})` : '';
      addMarker({ kind: 'checkpoint', epoch, title: `best checkpoint at epoch ${epoch}${what}` });
    } else if (e.type === 'learning_rate_changed' && isFiniteNumber(e.from) && isFiniteNumber(e.to) && e.to < e.from) {
      addMarker({ kind: 'lr-cut', epoch, title: `learning rate ${fmtValue(e.from)} → ${fmtValue(e.to)} at epoch ${epoch}` });
    } else if (e.type === 'early_stopping' || e.type === 'nan_terminated') {
      addMarker({ kind: 'stop', epoch, title: `${e.type === 'early_stopping' ? 'early stopping' : 'stopped on NaN'} at epoch ${epoch}` });
    }
  }
  const order: Record<Marker['kind'], number> = { checkpoint: 0, 'lr-cut': 1, stop: 2 };
  const markerList = [...markers.values()].sort((a, b) => order[a.kind] - order[b.kind] || a.epoch - b.epoch);

  const lastEpoch = history[history.length - 1].epoch;
  // Events normally refer to logged epochs; one that runs ahead of the history still gets its place.
  const dataMax = Math.max(1, lastEpoch, ...markerList.map((m) => m.epoch), ...restored);
  // While the run goes on, the axis spans the planned epochs (so it does not grow under the
  // reader's eyes); once it ended, only the epochs that ran (no empty tail after an early stop).
  const ended = TERMINAL_STATUSES.has(String(input.status)) || (typeof input.stopReason === 'string' && input.stopReason !== '')
    || markerList.some((m) => m.kind === 'stop');
  const planned = epochIndex(input.plannedEpochs);
  const inProgress = !ended && planned !== null && planned >= 1;
  const xMax = inProgress ? Math.max(dataMax, planned - 1) : dataMax;
  // The rate line holds to the last epoch drawn; while running, through the epoch in progress.
  const rateEnd = inProgress ? Math.max(dataMax, Math.min(xMax, lastEpoch + 1)) : dataMax;

  // The learning rate as "rate from this epoch on" steps: the logged `learning_rate` (the rate an
  // epoch ran with) wins; otherwise the initial rate and the change events. LearningRateScheduler
  // sets the rate as its epoch begins; ReduceLROnPlateau cuts it as its epoch ends, for the next.
  const steps: Array<{ epoch: number; rate: number; rank: number }> = [];
  const lrEvents = events.filter((e) => e.type === 'learning_rate_changed' && epochIndex(e.epoch) !== null && isFiniteNumber(e.to) && e.to >= 0);
  const firstFrom = lrEvents.find((e) => isFiniteNumber(e.from) && (e.from as number) >= 0)?.from as number | undefined;
  const lr0 = isFiniteNumber(input.initialLearningRate) && input.initialLearningRate >= 0 ? input.initialLearningRate : firstFrom;
  if (lr0 !== undefined) steps.push({ epoch: 0, rate: lr0, rank: 0 });
  for (const e of lrEvents) {
    const at = (e.epoch as number) + (e.by === 'LearningRateScheduler' ? 0 : 1);
    steps.push({ epoch: at, rate: e.to as number, rank: 1 });
  }
  for (const h of history) {
    const logged = isFiniteNumber(h.logs.learning_rate) ? h.logs.learning_rate : h.logs.lr;
    if (isFiniteNumber(logged) && logged >= 0) steps.push({ epoch: h.epoch, rate: logged, rank: 2 });
  }
  const rateSteps = steps.filter((s) => s.epoch <= rateEnd).sort((a, b) => a.epoch - b.epoch || a.rank - b.rank);

  // ---- scales and layout -----------------------------------------------------------------------
  const yTickCount = Math.max(2, Math.min(8, Math.floor((height - 90) / 50)));
  const yScale = values.length ? niceScale(Math.min(...values), Math.max(...values), yTickCount) : niceScale(0, 1, yTickCount);
  // Head room above the highest rate, so a constant rate does not run along the top grid line.
  const lrScale = rateSteps.length ? niceScale(0, Math.max(...rateSteps.map((s) => s.rate)) * 1.1, Math.max(2, yTickCount - 1)) : null;
  const yLabels = yScale.ticks.map((v) => fmtTick(v, yScale.step));
  const lrLabels = lrScale ? lrScale.ticks.map((v) => fmtTick(v, lrScale.step)) : [];
  const LR_TITLE = 'learning rate';

  const left = Math.max(36, Math.ceil(12 + Math.max(...yLabels.map(textWidth))));
  // Right of the plot: tick labels, then the axis title turned to run along the axis.
  const right = lrScale ? Math.ceil(10 + Math.max(...lrLabels.map(textWidth)) + 8 + 14) : 16;

  const hasVal = [...keys].some((k) => k.startsWith('val_'));
  const legend: LegendEntry[] = [];
  const line = (cls: string) => (x: number, y: number): string => `<path class="${cls}" d="M${px(x)} ${px(y - 4)}h18"/>`;
  const tall = (cls: string) => (x: number, y: number): string => `<path class="key ${cls}" d="M${px(x + 9)} ${px(y - 10)}v12"/>`;
  bases.forEach((base, i) => legend.push({ label: base, swatch: line(`swatch s${i % PALETTE.length}`), width: 0 }));
  if (hasVal) legend.push({ label: 'validation (dashed)', swatch: line('key-val'), width: 0 });
  if (lrScale) legend.push({ label: LR_TITLE, swatch: line('key-lr'), width: 0 });
  const kinds = new Set(markerList.map((m) => m.kind));
  if (kinds.has('checkpoint')) legend.push({ label: 'best checkpoint', swatch: tall('key-checkpoint'), width: 0 });
  if (kinds.has('lr-cut')) legend.push({ label: 'rate cut', swatch: tall('key-lr-cut'), width: 0 });
  if (kinds.has('stop')) legend.push({ label: 'stop', swatch: tall('key-stop'), width: 0 });
  if (restored.size) {
    legend.push({ label: 'restored best', width: 0, swatch: (x, y) => `<rect class="key-restored" x="${px(x + 3)}" y="${px(y - 10)}" width="12" height="12"/>` });
  }
  for (const e of legend) e.width = 18 + 5 + textWidth(e.label) + 12;
  const legendLeft = 8;
  const legendRight = width - 8;
  const placed: Array<{ entry: LegendEntry; x: number; row: number }> = [];
  let lx = legendLeft;
  let row = 0;
  for (const entry of legend) {
    if (lx > legendLeft && lx + entry.width - 12 > legendRight) { row += 1; lx = legendLeft; }
    placed.push({ entry, x: lx, row });
    lx += entry.width;
  }
  const top = 16 + 16 * row + 16;
  const bottom = 40;

  const plotL = left;
  const plotR = width - right;
  const plotT = top;
  const plotB = height - bottom;
  const plotW = plotR - plotL;
  const plotH = plotB - plotT;
  // Epochs stay clear of the axis lines (half an epoch, 8–24 px), values a little clear of the x axis.
  const xInset = Math.min(24, Math.max(8, plotW / (xMax + 1) / 2));
  const yInset = 6;
  const epochW = (plotW - 2 * xInset) / xMax;
  const x = (epoch: number): number => plotL + xInset + epoch * epochW;
  const y = (v: number): number => plotB - yInset - fraction(v, yScale.lo, yScale.hi) * (plotH - 2 * yInset);
  const ly = (v: number): number => (lrScale ? plotB - yInset - fraction(v, lrScale.lo, lrScale.hi) * (plotH - 2 * yInset) : plotB);

  // ---- drawing ---------------------------------------------------------------------------------
  const out: string[] = [open('kiln-curves', xMax + 1)];

  // Restored best epoch first so everything draws over the band; clamped to the plot area.
  for (const epoch of [...restored].sort((a, b) => a - b)) {
    const half = Math.min(xInset, Math.max(3, epochW * 0.35));
    const x0 = Math.max(plotL, x(epoch) - half);
    const x1 = Math.min(plotR, x(epoch) + half);
    out.push(`<rect class="restored" data-epoch="${epoch}" x="${px(x0)}" y="${px(plotT)}" width="${px(x1 - x0)}" height="${px(plotH)}"><title>weights restored from epoch ${epoch}</title></rect>`);
  }

  out.push('<g class="axes">');
  for (const v of yScale.ticks) out.push(`<path class="grid" d="M${px(plotL)} ${px(y(v))}H${px(plotR)}"/>`);
  out.push(`<path class="axis axis-x" d="M${plotL} ${plotB}H${plotR}"/>`);
  out.push(`<path class="axis axis-y" d="M${plotL} ${plotT}V${plotB}"/>`);
  yScale.ticks.forEach((v, i) => {
    out.push(`<path class="tick" d="M${plotL - 4} ${px(y(v))}h4"/>`);
    out.push(`<text class="label tick-y" x="${plotL - 6}" y="${px(y(v) + 4)}" text-anchor="end">${yLabels[i]}</text>`);
  });
  // Integer epochs 1, 2 or 5 × 10^k apart, as many as fit.
  const maxXTicks = Math.max(2, Math.floor((plotW - 2 * xInset) / Math.max(32, textWidth(String(xMax)) + 14)));
  const rawXStep = xMax / maxXTicks;
  const xMag = 10 ** Math.max(0, Math.floor(Math.log10(rawXStep)));
  const xStep = Math.max(1, [1, 2, 5, 10].map((m) => m * xMag).find((s) => s >= rawXStep) ?? 10 * xMag);
  for (let e = 0; e <= xMax; e += xStep) {
    out.push(`<path class="tick" d="M${px(x(e))} ${plotB}v4"/>`);
    out.push(`<text class="label tick-x" x="${px(x(e))}" y="${plotB + 15}" text-anchor="middle">${e}</text>`);
  }
  out.push(`<text class="label axis-title" x="${px(plotL + plotW / 2)}" y="${height - 6}" text-anchor="middle">epoch</text></g>`);

  bases.forEach((base, i) => {
    const c = i % PALETTE.length;
    for (const key of [base, `val_${base}`]) {
      if (!keys.has(key)) continue;
      // A non-finite value breaks the line; a key that is merely absent (validation every N
      // epochs) does not. A point with no neighbour gets a dot, as a lone `M` draws nothing.
      let d = '';
      const dots: Array<[number, number]> = [];
      let run: Array<[number, number]> = [];
      const flush = (): void => {
        if (run.length === 1) dots.push(run[0]);
        run.forEach(([px0, py0], j) => { d += `${j ? 'L' : 'M'}${px(px0)} ${px(py0)}`; });
        run = [];
      };
      for (const h of history) {
        const v = h.logs[key];
        if (isFiniteNumber(v)) run.push([x(h.epoch), y(v)]);
        else if (v !== undefined && v !== null) flush();
      }
      flush();
      if (!d) continue;
      const kind = key.startsWith('val_') ? 'val' : 'train';
      const name = escapeXml(key);
      out.push(`<path class="series ${kind} s${c}" data-series="${name}" stroke="${PALETTE[c][0]}" d="${d}"><title>${name}</title></path>`);
      for (const [cx, cy] of dots) out.push(`<circle class="point point-${kind} s${c}" data-series="${name}" cx="${px(cx)}" cy="${px(cy)}" r="3"/>`);
    }
  });

  if (lrScale) {
    let d = '';
    let current: number | null = null;
    for (const s of rateSteps) {
      if (current === null) { d = `M${px(x(s.epoch))} ${px(ly(s.rate))}`; current = s.rate; continue; }
      if (s.rate !== current) { d += `H${px(x(s.epoch))}V${px(ly(s.rate))}`; current = s.rate; }
    }
    // The last rate holds to the last epoch (for a running job: the epoch in progress).
    d += `H${px(x(rateEnd))}`;
    out.push(`<g class="lr-axis"><path class="axis axis-lr" d="M${plotR} ${plotT}V${plotB}"/>`);
    lrScale.ticks.forEach((v, i) => {
      out.push(`<path class="tick" d="M${plotR} ${px(ly(v))}h4"/>`);
      out.push(`<text class="label tick-lr" x="${plotR + 6}" y="${px(ly(v) + 4)}">${lrLabels[i]}</text>`);
    });
    const tx = width - 8;
    const ty = plotT + plotH / 2;
    out.push(`<text class="label axis-title axis-title-lr" x="${px(tx)}" y="${px(ty)}" transform="rotate(-90 ${px(tx)} ${px(ty)})" text-anchor="middle">${LR_TITLE}</text></g>`);
    out.push(`<path class="lr" data-series="learning_rate" d="${d}"><title>learning rate</title></path>`);
  }

  // Markers last, over the curves; the stop marker last of all.
  for (const m of markerList) {
    out.push(`<line class="marker marker-${m.kind}" data-epoch="${m.epoch}" x1="${px(x(m.epoch))}" y1="${px(plotT)}" x2="${px(x(m.epoch))}" y2="${px(plotB)}"><title>${escapeXml(m.title)}</title></line>`);
  }

  out.push('<g class="legend">');
  for (const { entry, x: ex, row: r } of placed) {
    const by = 16 + 16 * r;
    out.push(entry.swatch(ex, by));
    out.push(`<text class="label legend-label" x="${px(ex + 23)}" y="${by}">${escapeXml(entry.label)}</text>`);
  }
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n');
}
