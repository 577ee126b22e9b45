// Jobs side by side (#/compare?ids=a,b,...), from GET /jobs/compare: which run is
// which, the parameters (those that differ first, the rest behind a toggle), the
// host's metrics with the best of each row marked, and every per-epoch metric
// drawn once with one line per job.

import { h, replace, fmtNumber, fmtDate, statusBadge, errorBox, tableWrap } from './dom.js';
import { get, datasets as loadDatasets } from './api.js';
import { seriesChart, seriesLegend } from './charts.js';
import { runLabel } from './jobs.js';

/** Metrics where lower is better; every other one (accuracy, R², AUC, ...) is higher-is-better. */
const LOWER_IS_BETTER = /^(rmse|mae|mse|log_loss|cost|loss|train_loss|validation_loss|brier)$/;
/** Per-epoch names that count progress rather than measure the model (as on the job page). */
const COUNTER = /^(epoch|epochs|iteration|iterations|round|rounds|rounds_run|trees|n_trees|run|runs|restart|restarts|init)$/;

const short = (j) => j.name || j.jobId.slice(0, 8);
const cellValue = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? fmtNumber(v) : String(v));

export async function render({ main, query }) {
  const ids = (query.get('ids') || '').split(',').filter(Boolean);
  main.append(h('h1', {}, `Compare ${ids.length} jobs`));
  let data;
  try {
    data = (await get(`/jobs/compare?ids=${ids.map(encodeURIComponent).join(',')}`)).data;
  } catch (e) {
    main.append(errorBox(e.status === 404 ? `One of these jobs does not exist: ${e.message}` : `Could not compare these jobs: ${e.message}`),
      h('p', {}, h('a', { href: '#/jobs' }, 'Choose jobs in the history')));
    return;
  }
  const names = new Map((await loadDatasets().catch(() => [])).map((d) => [d.id, d.name]));
  const jobs = data.jobs;
  main.append(runsCard(jobs, names), paramsCard(jobs, data.differingParams), metricsCard(jobs), curvesCard(jobs));
}

function header(jobs) {
  return h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), jobs.map((j) => h('th', { scope: 'col' }, h('a', { href: `#/jobs/${j.jobId}` }, short(j))))));
}

function runsCard(jobs, names) {
  const row = (label, f) => h('tr', {}, h('th', { scope: 'row' }, label), jobs.map((j) => h('td', {}, f(j))));
  return h('section', { class: 'card', 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Runs'),
    tableWrap(h('table', { class: 'data compact compare-table', id: 'compare-runs' }, header(jobs), h('tbody', {},
      row('Job', (j) => [h('code', {}, j.jobId.slice(0, 8)), runLabel(j)]),
      row('Status', (j) => statusBadge(j.status)),
      row('Algorithm', (j) => j.plugin),
      row('Dataset', (j) => names.get(j.datasetId) || h('span', { class: 'muted' }, 'deleted dataset')),
      row('Task', (j) => `${j.taskType}${j.targetColumn ? ` → ${j.targetColumn}` : ''}`),
      row('Score', (j) => (j.score === null || j.score === undefined ? (j.evaluatedOn === 'train' ? 'none (scored on its training rows)' : '—') : `${fmtNumber(j.score)} ${j.headlineMetric || ''}`)),
      row('Submitted', (j) => fmtDate(j.createdAt)))), 'Runs compared'));
}

function paramsCard(jobs, differing) {
  const all = [...new Set(jobs.flatMap((j) => Object.keys(j.params)))].sort();
  const same = all.filter((p) => !differing.includes(p));
  const rowOf = (p, differs) => h('tr', { class: differs ? 'differs' : '', 'data-param': p }, h('th', { scope: 'row' }, p),
    jobs.map((j) => h('td', { class: 'num' }, p === 'selectedModel' ? j.plugin : cellValue(j.params[p]))));
  const body = h('tbody', {}, differing.map((p) => rowOf(p, true)));
  const toggle = h('input', { type: 'checkbox', id: 'show-same-params' });
  toggle.addEventListener('change', () => replace(body, differing.map((p) => rowOf(p, true)), toggle.checked ? same.map((p) => rowOf(p, false)) : []));
  return h('section', { class: 'card', 'aria-labelledby': 'params-h' }, h('h2', { id: 'params-h' }, 'Parameters'),
    h('p', { class: 'muted', id: 'params-summary' }, differing.length ? `${differing.length} differ${differing.length === 1 ? 's' : ''}; ${same.length} are the same in every job.` : 'Every parameter is the same in every job.'),
    same.length ? h('label', { class: 'check' }, toggle, ' Show the parameters that are the same too') : null,
    tableWrap(h('table', { class: 'data compact compare-table', id: 'compare-params' }, header(jobs), body), 'Parameters compared'));
}

function metricsCard(jobs) {
  const names = [...new Set(jobs.flatMap((j) => Object.keys(j.metrics || {})))];
  const rows = names.map((m) => {
    const values = jobs.map((j) => (j.metrics || {})[m]);
    const finite = values.filter((v) => Number.isFinite(v));
    const best = finite.length > 1 ? (LOWER_IS_BETTER.test(m) ? Math.min(...finite) : Math.max(...finite)) : NaN;
    return h('tr', { 'data-metric': m }, h('th', { scope: 'row' }, m), values.map((v) => h('td', { class: `num${v === best ? ' best' : ''}`, title: v === best ? 'best of these jobs' : null }, cellValue(v))));
  });
  const on = [...new Set(jobs.map((j) => j.evaluatedOn).filter(Boolean))];
  return h('section', { class: 'card', 'aria-labelledby': 'metrics-h' }, h('h2', { id: 'metrics-h' }, 'Metrics'),
    h('p', { class: 'muted' }, 'Computed by the host', on.includes('train') ? '; a job with no test rows is scored on its training rows, which flatters it' : ' on test rows the algorithms never saw', '. The best of each row is in bold.'),
    names.length ? tableWrap(h('table', { class: 'data compact compare-table', id: 'compare-metrics' }, header(jobs), h('tbody', {}, rows)), 'Metrics compared')
      : h('p', { class: 'muted' }, 'None of these jobs has completed yet.'));
}

function curvesCard(jobs) {
  const names = [...new Set(jobs.flatMap((j) => Object.keys(j.curves || {})))].filter((n) => !COUNTER.test(n)).sort();
  const box = h('div', { class: 'charts', id: 'compare-charts' });
  const width = () => Math.max(300, Math.min(560, (box.clientWidth || 480) - 4));
  const draw = () => replace(box, names.map((n) => h('figure', { class: 'chart-box', 'data-metric': n }, h('figcaption', {}, n),
    seriesChart(n, jobs.map((j) => ({ label: short(j), points: ((j.curves || {})[n] || []).map((p) => [p.epoch, p.value]) })), width()))));
  const card = h('section', { class: 'card', 'aria-labelledby': 'curves-h' }, h('h2', { id: 'curves-h' }, 'Per epoch'),
    names.length ? [seriesLegend(jobs.map(short)), box] : h('p', { class: 'muted' }, 'These jobs reported no metric per epoch (or their events are no longer kept).'));
  if (names.length) requestAnimationFrame(draw);
  return card;
}
