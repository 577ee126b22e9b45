// The host's evaluation of a job beyond its headline: the baseline to read the
// score against, the per-class table, and for two classes the ROC and
// precision-recall curves with a threshold slider (the confusion matrix at
// any threshold, from the curve's counts). Reads only `summary.metrics`.

import { h, s, fmtNumber, tableWrap } from './dom.js';

/** The sentence under the headline: what a model that learnt nothing scores on the same rows. */
export function baselineLine(metrics, headlineName) {
  const b = metrics && metrics.baseline;
  if (!b || !b.values) return null;
  const name = headlineName === 'r2' ? 'r2' : 'accuracy';
  const value = b.values[name];
  if (value === undefined || value === null) return null;
  return h('p', { class: 'baseline', id: 'baseline' }, `Baseline: ${b.rule} scores ${name === 'r2' ? 'R²' : 'accuracy'} ${fmtNumber(value)}`,
    b.values.rmse !== undefined ? ` (RMSE ${fmtNumber(b.values.rmse)})` : '', ' on the same rows.');
}

/** The per-class table and, for two classes, the curves with a threshold slider. */
export function evaluationPanel(metrics, labels, chartWidth) {
  const parts = [];
  if (metrics && Array.isArray(metrics.per_class)) parts.push(perClassTable(metrics.per_class, labels));
  if (metrics && metrics.curve) parts.push(curvesWithThreshold(metrics.curve, labels, chartWidth));
  return parts;
}

function perClassTable(rows, labels) {
  const name = (i) => (labels && labels[i] !== undefined ? labels[i] : `class ${i}`);
  return h('figure', { class: 'viz-box', id: 'per-class' }, h('figcaption', {}, 'Per class (test rows)'),
    tableWrap(h('table', { class: 'data metrics' },
      h('thead', {}, h('tr', {}, ['class', 'precision', 'recall', 'F1', 'support'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((r, i) => h('tr', {}, h('th', { scope: 'row' }, name(i)),
        h('td', { class: 'num' }, fmtNumber(r.precision, 3)), h('td', { class: 'num' }, fmtNumber(r.recall, 3)),
        h('td', { class: 'num' }, fmtNumber(r.f1, 3)), h('td', { class: 'num' }, fmtNumber(r.support)))))), 'Per-class scores'));
}

/** Rates at each kept threshold of the curve. */
function rates(curve) {
  return curve.thresholds.map((t, i) => {
    const tp = curve.true_positives[i], fp = curve.false_positives[i];
    return { threshold: t, tp, fp, tpr: tp / (curve.positives || 1), fpr: fp / (curve.negatives || 1), precision: tp + fp ? tp / (tp + fp) : 1 };
  });
}

function unitCurve(points, { xLabel, yLabel, id, W }) {
  const H = 220, m = { l: 44, r: 10, t: 10, b: 36 };
  const px = (x) => m.l + x * (W - m.l - m.r), py = (y) => H - m.b - y * (H - m.t - m.b);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `${yLabel} against ${xLabel}`, id });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s('line', { x1: px(0), x2: px(1), y1: py(t), y2: py(t), class: 'grid' }));
    svg.append(s('text', { x: m.l - 6, y: py(t) + 4, 'text-anchor': 'end', class: 'tick' }, String(t)));
    svg.append(s('text', { x: px(t), y: H - m.b + 16, 'text-anchor': 'middle', class: 'tick' }, String(t)));
  }
  svg.append(s('text', { x: (m.l + W - m.r) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, xLabel));
  svg.append(s('text', { x: 12, y: (m.t + H - m.b) / 2, transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`, 'text-anchor': 'middle', class: 'axis-label' }, yLabel));
  svg.append(s('polyline', { points: points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' '), class: 'series s0', fill: 'none' }));
  const marker = s('circle', { r: 5, class: 'threshold-marker' });
  svg.append(marker);
  return { svg, mark: (x, y) => { marker.setAttribute('cx', px(x)); marker.setAttribute('cy', py(y)); } };
}

function curvesWithThreshold(curve, labels, chartWidth) {
  const points = rates(curve);
  const W = Math.min(360, Math.max(240, (chartWidth || 720) / 2 - 20));
  const roc = unitCurve([[0, 0], ...points.map((p) => [p.fpr, p.tpr])], { xLabel: 'false positive rate', yLabel: 'true positive rate', id: 'roc-curve', W });
  const pr = unitCurve(points.map((p) => [p.tpr, p.precision]), { xLabel: 'recall', yLabel: 'precision', id: 'pr-curve', W });
  const positive = labels && labels[1] !== undefined ? labels[1] : 'class 1';
  const negative = labels && labels[0] !== undefined ? labels[0] : 'class 0';
  const slider = h('input', { type: 'range', min: 0, max: points.length - 1, step: 1, id: 'threshold', 'aria-label': `threshold for ${positive}` });
  const readout = h('div', { id: 'threshold-readout', 'aria-live': 'polite' });
  const show = () => {
    const p = points[Number(slider.value)];
    roc.mark(p.fpr, p.tpr);
    pr.mark(p.tpr, p.precision);
    const fn = curve.positives - p.tp, tn = curve.negatives - p.fp;
    readout.replaceChildren(
      h('p', {}, `Predict “${positive}” when its probability is at least ${fmtNumber(p.threshold, 3)}: precision ${fmtNumber(p.precision, 3)}, recall ${fmtNumber(p.tpr, 3)}, false positive rate ${fmtNumber(p.fpr, 3)}.`),
      h('table', { class: 'confusion small', id: 'threshold-confusion' },
        h('thead', {}, h('tr', {}, h('th', {}, 'true ↓ / predicted →'), h('th', {}, negative), h('th', {}, positive))),
        h('tbody', {}, h('tr', {}, h('th', {}, negative), h('td', {}, String(tn)), h('td', {}, String(p.fp))),
          h('tr', {}, h('th', {}, positive), h('td', {}, String(fn)), h('td', {}, String(p.tp))))));
  };
  // Start at the threshold nearest 0.5, the one the predicted labels use.
  slider.value = String(points.reduce((best, p, i) => (Math.abs(p.threshold - 0.5) < Math.abs(points[best].threshold - 0.5) ? i : best), 0));
  slider.addEventListener('input', show);
  show();
  return h('figure', { class: 'viz-box wide', id: 'curves' }, h('figcaption', {}, `ROC and precision-recall curves for “${positive}” (test rows)`),
    h('div', { class: 'curve-pair' }, roc.svg, pr.svg), h('label', { for: 'threshold' }, 'Threshold '), slider, readout);
}

/** Row-normalised copy of a confusion matrix (each true class sums to 1). */
export function normalised(matrix) {
  return matrix.map((row) => { const n = row.reduce((a, b) => a + b, 0) || 1; return row.map((v) => Math.round((v / n) * 1000) / 1000); });
}
