// Charts drawn as inline SVG (and HTML for bars and the confusion matrix).
// Every chart has a text alternative: an aria-label, or a real <table>.

import { h, s, fmtNumber } from './dom.js';

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; return [lo - d, hi + d]; }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

const H = 240, M = { l: 56, r: 14, t: 14, b: 40 };

// Tick labels must fit the 56 px margin: 30,000,000 is written 30M.
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumSignificantDigits: 3 });
export const fmtTick = (t) => (Math.abs(t) >= 1e4 ? compact.format(t) : fmtNumber(t, 3));

/** Labels for ticks spaced `step` apart: as many decimals as the spacing needs,
 * so ticks near 1 (0.9995, 0.9996) never all read "1". Steps are 1, 2, 2.5 or 5 × 10^k. */
export function tickLabeller(step) {
  if (!(step > 0)) return fmtTick;
  const k = Math.floor(Math.log10(step) + 1e-9);
  const quarter = Math.abs(step / 10 ** k - 2.5) < 1e-6;
  const decimals = Math.min(12, Math.max(0, -k + (quarter ? 1 : 0)));
  return (t) => (Math.abs(t) >= 1e4 ? compact.format(t) : t.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
}

const stepOf = (ts) => (ts.length > 1 ? ts[1] - ts[0] : 0);

function frame({ xDomain, yDomain, xLabel, yLabel, integerX = false, W = 480, xTicks = null }) {
  const [x0, x1] = xDomain, [y0, y1] = yDomain;
  const px = (x) => M.l + ((x - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const py = (y) => H - M.b - ((y - y0) / (y1 - y0 || 1)) * (H - M.t - M.b);
  const g = s('g', { class: 'axes' });
  const yt = ticks(y0, y1, 4);
  const yLabelOf = tickLabeller(stepOf(yt));
  for (const t of yt) {
    if (t < y0 || t > y1) continue;
    g.append(s('line', { x1: M.l, x2: W - M.r, y1: py(t), y2: py(t), class: 'grid' }));
    g.append(s('text', { x: M.l - 6, y: py(t) + 4, 'text-anchor': 'end', class: 'tick' }, yLabelOf(t)));
  }
  let xt = ticks(x0, x1, W < 400 ? 4 : 6);
  if (integerX) xt = xt.filter((t) => Number.isInteger(t));
  const xLabelOf = integerX ? fmtTick : tickLabeller(stepOf(xt));
  // `xTicks`: [position, text] of a log or categorical axis, instead of round numbers.
  for (const [t, text] of xTicks || xt.map((t) => [t, xLabelOf(t)])) {
    if (t < x0 || t > x1) continue;
    g.append(s('line', { x1: px(t), x2: px(t), y1: H - M.b, y2: H - M.b + 4, class: 'axis' }));
    g.append(s('text', { x: px(t), y: H - M.b + 16, 'text-anchor': 'middle', class: 'tick' }, text));
  }
  g.append(s('line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: 'axis' }));
  g.append(s('line', { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, class: 'axis' }));
  if (xLabel) g.append(s('text', { x: (M.l + W - M.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'label' }, xLabel));
  if (yLabel) g.append(s('text', { x: 12, y: (M.t + H - M.b) / 2, 'text-anchor': 'middle', class: 'label', transform: `rotate(-90 12 ${(M.t + H - M.b) / 2})` }, yLabel));
  return { g, px, py };
}

/** A metric per epoch: points are [epoch, value], sorted by epoch. */
export function lineChart(name, points, W = 480) {
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const xDomain = [Math.min(1, ...xs), Math.max(2, ...xs)];
  const { g, px, py } = frame({ xDomain, yDomain: extent(ys), xLabel: 'epoch', yLabel: name, integerX: true, W });
  const last = points[points.length - 1];
  const label = last ? `${name} per epoch: ${points.length} epochs, latest ${fmtNumber(last[1])} at epoch ${last[0]}` : `${name}: no epochs yet`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label, 'data-metric': name, 'data-points': points.length },
    s('title', {}, label), g);
  const finite = points.filter((p) => Number.isFinite(p[1]));
  if (finite.length > 1) svg.append(s('polyline', { class: 'line', points: finite.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ') }));
  if (finite.length) { const p = finite[finite.length - 1]; svg.append(s('circle', { class: 'dot', cx: px(p[0]), cy: py(p[1]), r: 3.5 })); }
  svg.append(hoverPoints(finite, px, py, name));
  return svg;
}

/** Invisible targets that show "epoch N: value" on hover (at most 300, evenly spread). */
function hoverPoints(points, px, py, name, xLabel = 'epoch') {
  const group = s('g', { class: 'hover-points' });
  const step = Math.max(1, Math.ceil(points.length / 300));
  for (let i = 0; i < points.length; i += step) {
    const [x, y] = points[i];
    group.append(s('circle', { cx: px(x).toFixed(1), cy: py(y).toFixed(1), r: 6, class: 'hover' }, s('title', {}, `${xLabel} ${x}: ${name} ${fmtNumber(y, 6)}`)));
  }
  return group;
}

/** Predicted against actual values, with the y = x line. */
export function scatter(actual, predicted, name = 'value', W = 480) {
  const all = actual.concat(predicted);
  const dom = extent(all);
  const { g, px, py } = frame({ xDomain: dom, yDomain: dom, xLabel: `actual ${name}`, yLabel: `predicted ${name}`, W });
  const label = `Predicted against actual ${name} for ${actual.length} holdout rows`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart scatter', role: 'img', 'aria-label': label }, s('title', {}, label), g);
  svg.append(s('line', { class: 'ideal', x1: px(dom[0]), y1: py(dom[0]), x2: px(dom[1]), y2: py(dom[1]) }));
  const pts = s('g', { class: 'points' });
  actual.forEach((a, i) => {
    const p = predicted[i];
    if (Number.isFinite(a) && Number.isFinite(p)) pts.append(s('circle', { cx: px(a).toFixed(1), cy: py(p).toFixed(1), r: 2.5 }));
  });
  svg.append(pts);
  return svg;
}

/** Residuals (actual − predicted) against the predicted value, with the zero line:
 *  a pattern or a funnel here says the model is biased where the points bend. */
export function residuals(actual, predicted, name = 'value', W = 480) {
  const pairs = [];
  actual.forEach((a, i) => { const p = predicted[i]; if (Number.isFinite(a) && Number.isFinite(p)) pairs.push([p, a - p]); });
  const xDom = extent(pairs.map((q) => q[0]));
  const worst = Math.max(1e-12, ...pairs.map((q) => Math.abs(q[1])));
  const yDom = [-worst, worst];
  const { g, px, py } = frame({ xDomain: xDom, yDomain: yDom, xLabel: `predicted ${name}`, yLabel: 'actual − predicted', W });
  const label = `Residuals against predicted ${name} for ${pairs.length} holdout rows`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart scatter residuals', role: 'img', 'aria-label': label }, s('title', {}, label), g);
  svg.append(s('line', { class: 'ideal', x1: px(xDom[0]), y1: py(0), x2: px(xDom[1]), y2: py(0) }));
  const pts = s('g', { class: 'points' });
  for (const [p, r] of pairs) pts.append(s('circle', { cx: px(p).toFixed(1), cy: py(r).toFixed(1), r: 2.5 }, s('title', {}, `predicted ${fmtNumber(p)}: residual ${fmtNumber(r)}`)));
  svg.append(pts);
  return svg;
}

/** Horizontal bars as an HTML list (label, bar, value). */
export function bars(items, { caption, format = (v) => fmtNumber(v) } = {}) {
  const max = Math.max(...items.map((i) => Math.abs(i.value)), 1e-12);
  const list = h('ul', { class: 'bars', 'aria-label': caption });
  for (const item of items) {
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${Math.max(0, (Math.abs(item.value) / max) * 100).toFixed(1)}%`;
    list.append(h('li', {}, h('span', { class: 'bar-label', title: item.label }, item.label), h('span', { class: 'bar-track' }, bar), h('span', { class: 'bar-value' }, format(item.value))));
  }
  return list;
}

/** Confusion matrix as a table: rows are the true class, columns the predicted one. */
export function confusionMatrix(matrix, labels) {
  const names = matrix.map((_, i) => (labels && labels[i] !== undefined ? labels[i] : `class ${i}`));
  const max = Math.max(1, ...matrix.flat());
  const head = h('tr', {}, h('th', { scope: 'col', class: 'corner' }, h('span', { class: 'sr-only' }, 'true class \\ predicted class'), h('span', { 'aria-hidden': 'true' }, 'true ↓ / predicted →')),
    names.map((n) => h('th', { scope: 'col' }, n)));
  const body = matrix.map((row, i) => h('tr', {}, h('th', { scope: 'row' }, names[i]), row.map((v, j) => {
    const td = h('td', { class: i === j ? 'diag' : 'off', title: `true ${names[i]}, predicted ${names[j]}: ${v}` }, String(v));
    const alpha = v / max;
    td.style.setProperty('--a', alpha.toFixed(3));
    if (alpha > 0.55) td.classList.add('dark');
    return td;
  })));
  return h('table', { class: 'confusion' }, h('caption', {}, 'Confusion matrix on the holdout rows (rows: true class, columns: predicted class)'),
    h('thead', {}, head), h('tbody', {}, body));
}

/**
 * Training and validation loss per epoch as two lines on one chart, with the
 * best iteration (lowest validation loss, when the plugin says which) marked
 * by a vertical line. `train` and `validation` are [epoch, value] sorted by epoch.
 */
export function lossChart(train, validation, best, W = 480) {
  const all = train.concat(validation);
  const xs = all.map((p) => p[0]);
  const xDomain = [Math.min(1, ...xs), Math.max(2, ...xs)];
  const { g, px, py } = frame({ xDomain, yDomain: extent(all.map((p) => p[1])), xLabel: 'epoch', yLabel: 'loss', integerX: true, W });
  const lastOf = (pts) => pts[pts.length - 1];
  const parts = [];
  if (train.length) parts.push(`training loss ${fmtNumber(lastOf(train)[1])}`);
  if (validation.length) parts.push(`validation loss ${fmtNumber(lastOf(validation)[1])}`);
  const at = all.length ? Math.max(...xs) : 0;
  let label = parts.length ? `Loss per epoch up to epoch ${at}: ${parts.join(', ')}` : 'Loss: no epochs yet';
  if (Number.isFinite(best) && best > 0) label += `; best iteration ${best}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart loss-chart', role: 'img', 'aria-label': label, 'data-metric': 'loss',
    'data-train-points': train.length, 'data-validation-points': validation.length, 'data-best': Number.isFinite(best) ? best : '' }, s('title', {}, label), g);
  if (Number.isFinite(best) && best >= xDomain[0] && best <= xDomain[1]) {
    const x = px(best);
    svg.append(s('line', { class: 'best', x1: x, x2: x, y1: M.t, y2: H - M.b }));
    // Below the legend, on whichever side of the marker has room.
    const right = x < (M.l + W - M.r) / 2;
    svg.append(s('text', { class: 'best-label', x: right ? x + 4 : x - 4, y: H - M.b - 8, 'text-anchor': right ? 'start' : 'end' }, `best ${best}`));
  }
  for (const [pts, cls] of [[train, 'train'], [validation, 'validation']]) {
    const finite = pts.filter((p) => Number.isFinite(p[1]));
    if (finite.length > 1) svg.append(s('polyline', { class: `line ${cls}`, points: finite.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ') }));
    if (finite.length) { const p = lastOf(finite); svg.append(s('circle', { class: `dot ${cls}`, cx: px(p[0]), cy: py(p[1]), r: 3.5 })); }
  }
  // Legend, top right.
  const legend = s('g', { class: 'legend' });
  [['train', 'training'], ['validation', 'validation']].forEach(([cls, text], i) => {
    const y = M.t + 8 + i * 14, x = W - M.r - 92;
    legend.append(s('line', { class: `line ${cls}`, x1: x, x2: x + 16, y1: y, y2: y }));
    legend.append(s('text', { class: 'tick', x: x + 20, y: y + 4 }, text));
  });
  svg.append(legend);
  return svg;
}

/** Colours of the series of one chart, told apart also by their dash pattern. */
export const SERIES_COLOURS = ['#2457c5', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0e7490', '#a16207', '#be185d', '#4d7c0f', '#475569'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

/**
 * Several series of one metric per epoch on one chart (jobs compared, or a
 * plugin's restarts), with a legend. `series` is [{ label, points }], points
 * [epoch, value] sorted by epoch.
 */
export function seriesChart(name, series, W = 480, xLabel = 'epoch') {
  const all = series.flatMap((x) => x.points);
  const xs = all.map((p) => p[0]);
  const xDomain = [Math.min(1, ...xs), Math.max(2, ...xs)];
  const { g, px, py } = frame({ xDomain, yDomain: extent(all.map((p) => p[1])), xLabel, yLabel: name, integerX: true, W });
  const ends = series.map((x) => { const last = x.points[x.points.length - 1]; return last ? `${x.label} ${fmtNumber(last[1])}` : `${x.label}: none`; });
  const label = `${name} per ${xLabel}, ${series.length} series: ${ends.join('; ')}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart series-chart', role: 'img', 'aria-label': label, 'data-metric': name, 'data-series': series.length,
    'data-cut': series.filter((x) => x.cut).length },
    s('title', {}, label), g);
  series.forEach((x, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length];
    const dash = DASHES[i % DASHES.length];
    const finite = x.points.filter((p) => Number.isFinite(p[1]));
    // Colours through the CSSOM: the page's policy refuses style attributes.
    if (finite.length > 1) {
      const line = s('polyline', { class: 'line series', 'stroke-dasharray': dash || null, 'data-label': x.label, points: finite.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ') });
      line.style.stroke = colour;
      svg.append(line);
    }
    if (finite.length && x.cut) {
      // A series stopped early (a pruned trial) ends in a cross, not a dot.
      const p = finite[finite.length - 1], cx = px(p[0]), cy = py(p[1]), r = 4.5;
      const cross = s('path', { class: 'cut-mark', 'data-label': x.label, d: `M${cx - r},${cy - r}L${cx + r},${cy + r}M${cx - r},${cy + r}L${cx + r},${cy - r}` });
      cross.style.stroke = colour;
      svg.append(cross);
    } else if (finite.length) {
      const p = finite[finite.length - 1];
      const dot = s('circle', { class: 'dot', cx: px(p[0]), cy: py(p[1]), r: 3 });
      dot.style.fill = colour;
      svg.append(dot);
    }
    svg.append(hoverPoints(finite, px, py, `${x.label}: ${name}`, xLabel));
  });
  return svg;
}

/** The legend of a `seriesChart`, as HTML below it (wraps on a phone, readable by screen readers). */
export function seriesLegend(labels) {
  return h('ul', { class: 'series-legend' }, labels.map((text, i) => {
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = SERIES_COLOURS[i % SERIES_COLOURS.length];
    return h('li', {}, swatch, text);
  }));
}

/**
 * A score against one parameter: `points` are { x, y, label, best }, x a number
 * or a choice. Numbers spanning more than a factor of 20 (all above 0) go on a
 * log axis; choices are spread evenly in the order first seen. The best point is ringed.
 */
export function paramChart(name, yName, points, W = 480) {
  const numeric = points.every((p) => typeof p.x === 'number' && Number.isFinite(p.x));
  const xsRaw = numeric ? points.map((p) => p.x) : [];
  const log = numeric && xsRaw.length > 1 && Math.min(...xsRaw) > 0 && Math.max(...xsRaw) / Math.min(...xsRaw) > 20;
  const categories = numeric ? [] : [...new Set(points.map((p) => String(p.x)))];
  const at = (p) => (numeric ? (log ? Math.log10(p.x) : p.x) : categories.indexOf(String(p.x)) + 1);
  const xs = points.map(at);
  let xDomain = numeric ? extent(xs) : [0.5, categories.length + 0.5];
  let xTicks = null;
  if (log) {
    const decades = [];
    for (let k = Math.floor(xDomain[0]); k <= Math.ceil(xDomain[1]); k++) for (const m of [1, 2, 5]) decades.push(k + Math.log10(m));
    const inside = decades.filter((t) => t >= xDomain[0] && t <= xDomain[1]);
    const keep = inside.length > 6 ? inside.filter((t) => Number.isInteger(Number(t.toFixed(9)))) : inside;
    xTicks = keep.map((t) => [t, fmtTick(Number((10 ** t).toPrecision(3)))]);
  } else if (!numeric) {
    xTicks = categories.map((c, i) => [i + 1, c.length > 10 ? `${c.slice(0, 9)}…` : c]);
  }
  if (xDomain[0] === xDomain[1]) xDomain = [xDomain[0] - 1, xDomain[1] + 1];
  const { g, px, py } = frame({ xDomain, yDomain: extent(points.map((p) => p.y)), xLabel: `${name}${log ? ' (log scale)' : ''}`, yLabel: yName, W, xTicks });
  const label = `${yName} against ${name} for ${points.length} trials`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart scatter param-chart', role: 'img', 'aria-label': label, 'data-param': name, 'data-points': points.length },
    s('title', {}, label), g);
  const dots = s('g', { class: 'points' });
  points.forEach((p, i) => {
    if (!Number.isFinite(p.y)) return;
    dots.append(s('circle', { cx: px(xs[i]).toFixed(1), cy: py(p.y).toFixed(1), r: p.best ? 5 : 3, class: p.best ? 'best-point' : null },
      s('title', {}, `${p.label}: ${name} ${typeof p.x === 'number' ? fmtNumber(p.x) : p.x}, ${yName} ${fmtNumber(p.y, 6)}${p.best ? ' (best)' : ''}`)));
  });
  svg.append(dots);
  return svg;
}
