// The job history: name and tags, status, algorithm, dataset, score and duration, with
// filters (status, algorithm, dataset, tag) and the order (newest or best score first)
// kept in the address so a reload shows the same list. Ticking two or more jobs
// opens them side by side (#/compare).

import { h, replace, fmtNumber, fmtDate, fmtDuration, statusBadge, errorBox, tableWrap } from './dom.js';
import { get, plugins as loadPlugins, datasets as loadDatasets } from './api.js';

const PAGE = 25;
const STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'];
const FILTERS = ['status', 'plugin', 'datasetId', 'tag', 'sort'];

/** The score column: the headline metric on test rows; a score on the training rows is marked so. */
function scoreText(j) {
  const r = j.results || {};
  if (j.score !== null && j.score !== undefined) return `${fmtNumber(j.score)}${r.headline_metric ? ` ${r.headline_metric}` : ''}`;
  if (r.accuracy === null || r.accuracy === undefined) return '—';
  return h('span', { class: 'muted', title: 'Scored on the rows it was trained on (no test rows): not comparable with real scores' }, `${fmtNumber(r.accuracy)} ${r.headline_metric || ''} (training rows)`);
}

/** A job's name and tags, or nothing. */
export function runLabel(j) {
  return [j.name ? h('span', { class: 'run-name' }, j.name) : null,
    j.tags && j.tags.length ? h('span', { class: 'tags' }, j.tags.map((t) => h('span', { class: 'tag' }, t))) : null];
}

export async function render({ main, query, setCleanup }) {
  const filters = { status: query.get('status') || '', plugin: query.get('plugin') || '', datasetId: query.get('datasetId') || '', tag: query.get('tag') || '', sort: query.get('sort') || '', offset: Number(query.get('offset')) || 0 };
  main.append(h('h1', {}, 'Jobs'));
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const plugin = h('select', { id: 'filter-plugin' }, h('option', { value: '' }, 'any algorithm'));
  const dataset = h('select', { id: 'filter-dataset' }, h('option', { value: '' }, 'any dataset'));
  const tag = h('input', { type: 'search', id: 'filter-tag', value: filters.tag, placeholder: 'any tag', autocomplete: 'off', spellcheck: 'false' });
  const sort = h('select', { id: 'sort-jobs' }, h('option', { value: '' }, 'newest first'), h('option', { value: 'score' }, 'best score first'));
  const refresh = h('button', { type: 'button', class: 'button', id: 'refresh-jobs' }, 'Refresh');
  const selected = new Set();
  const compare = h('button', { type: 'button', class: 'button', id: 'compare-jobs', disabled: true }, 'Compare selected');
  compare.addEventListener('click', () => { location.hash = `#/compare?ids=${[...selected].join(',')}`; });
  const showCompare = () => {
    compare.disabled = !(selected.size >= 2 && selected.size <= 10);
    compare.textContent = selected.size ? `Compare selected (${selected.size})` : 'Compare selected';
    compare.title = compare.disabled ? 'Tick 2 to 10 jobs to compare them' : '';
  };
  const box = h('div', { id: 'jobs-list', 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading jobs…'));
  const pager = h('div', { class: 'row pager' });
  main.append(
    h('form', { class: 'card filters', role: 'search', 'aria-label': 'Filter jobs', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
      h('div', { class: 'field' }, h('label', { for: 'filter-plugin' }, 'Algorithm'), plugin),
      h('div', { class: 'field' }, h('label', { for: 'filter-dataset' }, 'Dataset'), dataset),
      h('div', { class: 'field' }, h('label', { for: 'filter-tag' }, 'Tag'), tag),
      h('div', { class: 'field' }, h('label', { for: 'sort-jobs' }, 'Order'), sort),
      h('div', { class: 'field end' }, h('div', { class: 'row' }, refresh, compare))),
    h('section', { class: 'card', 'aria-label': 'Job history' }, box, pager));
  status.value = filters.status;
  sort.value = filters.sort === 'score' ? 'score' : '';
  showCompare();

  let names = new Map();
  let active = true;
  let timer = null;
  setCleanup(() => { active = false; clearTimeout(timer); });

  const [ps, ds] = await Promise.all([loadPlugins().catch(() => []), loadDatasets().catch(() => [])]);
  for (const p of ps) plugin.append(h('option', { value: p.name }, p.name));
  for (const d of ds) { names.set(d.id, d.name); dataset.append(h('option', { value: d.id }, d.name)); }
  if (filters.plugin && !ps.some((p) => p.name === filters.plugin)) plugin.append(h('option', { value: filters.plugin }, filters.plugin));
  plugin.value = filters.plugin;
  dataset.value = filters.datasetId;

  function syncAddress() {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) q.set(k, filters[k]);
    if (filters.offset) q.set('offset', String(filters.offset));
    const hash = `#/jobs${q.toString() ? `?${q}` : ''}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }
  const onFilter = () => {
    filters.status = status.value; filters.plugin = plugin.value; filters.datasetId = dataset.value;
    filters.tag = tag.value.trim(); filters.sort = sort.value; filters.offset = 0;
    syncAddress(); load();
  };
  tag.addEventListener('change', onFilter);
  sort.addEventListener('change', onFilter);
  status.addEventListener('change', onFilter);
  plugin.addEventListener('change', onFilter);
  dataset.addEventListener('change', onFilter);
  refresh.addEventListener('click', load);

  // Filters can change faster than the server answers: only the newest request may draw.
  let latest = 0;
  async function load() {
    clearTimeout(timer);
    const request = ++latest;
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(filters.offset) });
    for (const k of FILTERS) if (filters[k]) q.set(k, filters[k]);
    let page;
    try {
      page = await get(`/jobs?${q}`);
    } catch (e) {
      if (request !== latest) return;
      replace(box, errorBox(`Could not load the jobs: ${e.message}`));
      return;
    }
    if (!active || request !== latest) return;
    box.removeAttribute('aria-busy');
    const jobs = page.data || [];
    if (!jobs.length) {
      const filtered = filters.status || filters.plugin || filters.datasetId || filters.tag;
      replace(box, h('p', { class: 'muted' }, filtered ? 'No job matches these filters.' : 'No job yet. ', !filtered ? h('a', { href: '#/train' }, 'Train a model') : null));
    } else {
      replace(box, tableWrap(h('table', { class: 'data jobs', id: 'jobs-table' },
        h('caption', { class: 'sr-only' }, filters.sort === 'score' ? 'Jobs, best score first' : 'Jobs, newest first'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Compare')), ['Job', 'Status', 'Algorithm', 'Dataset', 'Task', 'Score', 'Duration', 'Submitted'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, jobs.map((j) => {
          const pick = h('input', { type: 'checkbox', class: 'pick-job', 'aria-label': `Compare job ${j.name || j.jobId.slice(0, 8)}`, checked: selected.has(j.jobId) });
          pick.addEventListener('change', () => { if (pick.checked) selected.add(j.jobId); else selected.delete(j.jobId); showCompare(); });
          return h('tr', { 'data-job': j.jobId },
            h('td', { 'data-label': 'Compare' }, pick),
            h('th', { scope: 'row', 'data-label': 'Job' }, h('a', { href: `#/jobs/${j.jobId}` }, h('code', {}, j.jobId.slice(0, 8))), runLabel(j)),
            h('td', { 'data-label': 'Status' }, statusBadge(j.status), j.status === 'running' ? h('span', { class: 'muted' }, ` ${j.progress || 0}%`) : null),
            h('td', { 'data-label': 'Algorithm' }, j.modelConfig?.selectedModel || '—'),
            h('td', { 'data-label': 'Dataset' }, names.get(j.datasetId) || h('span', { class: 'muted', title: j.datasetId }, 'deleted dataset')),
            h('td', { 'data-label': 'Task' }, j.taskType, j.targetColumn ? h('span', { class: 'muted' }, ` → ${j.targetColumn}`) : null),
            h('td', { class: 'num', 'data-label': 'Score' }, scoreText(j)),
            h('td', { class: 'num', 'data-label': 'Duration' }, j.startedAt ? fmtDuration(j.startedAt, j.completedAt) : '—'),
            h('td', { 'data-label': 'Submitted' }, fmtDate(j.createdAt)));
        }))), 'Jobs'));
    }
    const total = page.total ?? jobs.length;
    const prev = h('button', { type: 'button', class: 'button', disabled: filters.offset === 0, onclick: () => { filters.offset = Math.max(0, filters.offset - PAGE); syncAddress(); load(); } }, filters.sort === 'score' ? 'Better' : 'Newer');
    const next = h('button', { type: 'button', class: 'button', disabled: filters.offset + PAGE >= total, onclick: () => { filters.offset += PAGE; syncAddress(); load(); } }, filters.sort === 'score' ? 'Worse' : 'Older');
    replace(pager, h('span', { class: 'muted' }, total ? `${filters.offset + 1}–${filters.offset + jobs.length} of ${total}` : ''), prev, next);
    // Keep running jobs' rows fresh while this screen is open.
    if (jobs.some((j) => j.status === 'running' || j.status === 'queued')) timer = setTimeout(load, 2000);
  }
  load();
}
