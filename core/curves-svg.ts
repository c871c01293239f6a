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
   * @defaultValue the `from` of the first `learning_rate_changed` event, else no rate line
   */
  initialLearningRate?: number;
  /** @defaultValue 720 */
  width?: number;
  /** @defaultValue 360 */
  height?: number;
}

/** Marker kinds drawn as vertical lines; also used as CSS classes (`marker-<kind>`). */
export type CurvesMarkerKind = 'checkpoint' | 'lr-cut' | 'stop' | 'restored';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toPrecision(3));

function epochOf(e: Record<string, unknown>): number | null {
  return typeof e.epoch === 'number' ? e.epoch : null;
}

/**
 * Draws loss and each metric (train solid, `val_` dashed) per epoch on a left axis, the learning
 * rate as a step line on a right axis, and vertical markers for improved checkpoints, rate cuts,
 * the stop epoch and the restored best epoch (highlighted band). Colours follow `currentColor`
 * and a `prefers-color-scheme` media query so the image reads on light and dark pages.
 */
export function renderCurvesSvg(input: CurvesInput): string {
  const width = input.width ?? 720;
  const height = input.height ?? 360;
  const pad = { left: 56, right: 64, top: 28, bottom: 40 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const history = [...input.history].sort((a, b) => a.epoch - b.epoch);
  const events = input.events ?? [];

  // Series keyed by base name so train and val share a colour.
  const names = new Set<string>();
  for (const h of history) for (const k of Object.keys(h.logs)) names.add(k);
  const bases = [...new Set([...names].map((k) => k.replace(/^val_/, '')))].sort((a, b) =>
    a === 'loss' ? -1 : b === 'loss' ? 1 : a.localeCompare(b),
  );

  const values: number[] = [];
  for (const h of history) for (const v of Object.values(h.logs)) if (typeof v === 'number' && Number.isFinite(v)) values.push(v);
  let yMin = values.length ? Math.min(...values) : 0;
  let yMax = values.length ? Math.max(...values) : 1;
  if (yMax === yMin) { yMin -= 0.5; yMax += 0.5; }
  const lastEpoch = history.length ? history[history.length - 1].epoch : 0;
  const xMax = Math.max(1, lastEpoch);
  const x = (epoch: number): number => pad.left + (epoch / xMax) * plotW;
  const y = (v: number): number => pad.top + (1 - (v - yMin) / (yMax - yMin)) * plotH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Training curves">`);
  out.push('<style>svg{color:#222;font:11px sans-serif}.axis,.tick{stroke:currentColor;fill:none}.label{fill:currentColor}'
    + '.series{fill:none;stroke-width:1.5}.val{stroke-dasharray:5 3}.lr{fill:none;stroke:currentColor;stroke-width:1;opacity:.6}'
    + '.marker{stroke-width:1;stroke-dasharray:2 2}.marker-checkpoint{stroke:#2ca02c}.marker-lr-cut{stroke:#9467bd}.marker-stop{stroke:#d62728}'
    + '.restored{fill:#f2c200;opacity:.25}'
    + '@media (prefers-color-scheme: dark){svg{color:#ddd}}</style>');

  // Axes with min/max ticks; the image is small enough that two ticks per axis suffice.
  out.push(`<g class="axes"><path class="axis axis-x" d="M${pad.left} ${pad.top + plotH}H${pad.left + plotW}"/>`);
  out.push(`<path class="axis axis-y" d="M${pad.left} ${pad.top}V${pad.top + plotH}"/>`);
  out.push(`<text class="label" x="${pad.left - 4}" y="${y(yMax) + 4}" text-anchor="end">${fmt(yMax)}</text>`);
  out.push(`<text class="label" x="${pad.left - 4}" y="${y(yMin)}" text-anchor="end">${fmt(yMin)}</text>`);
  for (let e = 0; e <= xMax; e += Math.max(1, Math.ceil(xMax / 10))) {
    out.push(`<text class="label" x="${x(e)}" y="${pad.top + plotH + 14}" text-anchor="middle">${e}</text>`);
  }
  out.push(`<text class="label" x="${pad.left + plotW / 2}" y="${height - 6}" text-anchor="middle">epoch</text></g>`);

  // Restored best epoch first so lines draw over the band.
  for (const e of events) {
    if (e.type === 'weights_restored' && typeof e.fromEpoch === 'number') {
      const band = Math.max(4, plotW / (xMax + 1) / 2);
      out.push(`<rect class="restored" data-epoch="${e.fromEpoch}" x="${x(e.fromEpoch) - band / 2}" y="${pad.top}" width="${band}" height="${plotH}"><title>weights restored from epoch ${e.fromEpoch}</title></rect>`);
    }
  }

  bases.forEach((base, i) => {
    const colour = PALETTE[i % PALETTE.length];
    for (const key of [base, `val_${base}`]) {
      if (!names.has(key)) continue;
      const pts = history.filter((h) => typeof h.logs[key] === 'number' && Number.isFinite(h.logs[key]));
      if (!pts.length) continue;
      const d = pts.map((h, j) => `${j ? 'L' : 'M'}${x(h.epoch).toFixed(1)} ${y(h.logs[key] as number).toFixed(1)}`).join('');
      const cls = key.startsWith('val_') ? 'series val' : 'series train';
      out.push(`<path class="${cls}" data-series="${escapeXml(key)}" stroke="${colour}" d="${d}"><title>${escapeXml(key)}</title></path>`);
    }
  });

  // Learning rate as a step line on its own (right, log-free linear) axis.
  const lrChanges = events
    .filter((e) => e.type === 'learning_rate_changed' && typeof e.to === 'number' && epochOf(e) !== null)
    .map((e) => ({ epoch: e.epoch as number, from: e.from as number, to: e.to as number }))
    .sort((a, b) => a.epoch - b.epoch);
  const lr0 = input.initialLearningRate ?? (lrChanges.length && typeof lrChanges[0].from === 'number' ? lrChanges[0].from : undefined);
  if (lr0 !== undefined && history.length) {
    const rates = [lr0, ...lrChanges.map((c) => c.to)];
    const lrMax = Math.max(...rates);
    const lrMin = Math.min(0, ...rates);
    const ly = (v: number): number => pad.top + (1 - (v - lrMin) / (lrMax - lrMin || 1)) * plotH;
    // A change at epoch e applies from epoch e + 1.
    let d = `M${x(0).toFixed(1)} ${ly(lr0).toFixed(1)}`;
    for (const c of lrChanges) d += `H${x(Math.min(c.epoch + 1, xMax)).toFixed(1)}V${ly(c.to).toFixed(1)}`;
    d += `H${x(xMax).toFixed(1)}`;
    out.push(`<g class="lr-axis"><path class="axis axis-lr" d="M${pad.left + plotW} ${pad.top}V${pad.top + plotH}"/>`);
    out.push(`<text class="label" x="${pad.left + plotW + 4}" y="${ly(lrMax) + 4}">${fmt(lrMax)}</text>`);
    out.push(`<text class="label" x="${pad.left + plotW + 4}" y="${pad.top + plotH + 14}">lr</text></g>`);
    out.push(`<path class="lr" data-series="learning_rate" d="${d}"><title>learning rate</title></path>`);
  }

  const marker = (kind: CurvesMarkerKind, epoch: number, title: string): void => {
    out.push(`<line class="marker marker-${kind}" data-epoch="${epoch}" x1="${x(epoch)}" y1="${pad.top}" x2="${x(epoch)}" y2="${pad.top + plotH}"><title>${escapeXml(title)}</title></line>`);
  };
  for (const e of events) {
    const epoch = epochOf(e);
    if (epoch === null) continue;
    if (e.type === 'checkpoint_saved' && e.best) marker('checkpoint', epoch, `best checkpoint at epoch ${epoch}`);
    else if (e.type === 'learning_rate_changed' && typeof e.to === 'number' && typeof e.from === 'number' && e.to < e.from) {
      marker('lr-cut', epoch, `learning rate ${fmt(e.from)} → ${fmt(e.to)} at epoch ${epoch}`);
    } else if (e.type === 'early_stopping' || e.type === 'nan_terminated') marker('stop', epoch, `${String(e.type)} at epoch ${epoch}`);
  }

  // Legend along the top.
  let lx = pad.left;
  bases.forEach((base, i) => {
    out.push(`<text class="label legend" x="${lx}" y="14" style="fill:${PALETTE[i % PALETTE.length]}">${escapeXml(base)}</text>`);
    lx += 12 + base.length * 7;
  });
  out.push('</svg>');
  return out.join('\n');
}
