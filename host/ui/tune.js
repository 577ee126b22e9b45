// The Tune page. #/tune: a sweep's form drawn from the plugins' schemas (the
// ranges prefilled from what each plugin suggests, `tunable` in GET /plugins,
// else its declared bounds), sent as POST /sweeps. #/tune/<id>: one sweep live
// from WS /ws/sweeps/<id> (the leaderboard, every trial's validation curve from
// its job's socket with pruned trials cut off, score against each parameter,
// and the best model's download and predict, the job page's own).
//
// Owns these two screens. It must not decide anything a sweep does (the
// server does) nor redraw a job's results (job.js does).

import { h, replace, fmtNumber, fmtDate, statusBadge, errorBox, tableWrap, toast } from './dom.js';
import { get, post, plugins as loadPlugins, datasets as loadDatasets, plain, TASKS } from './api.js';
import { seriesChart, seriesLegend, paramChart } from './charts.js';
import { field, setError, checkParam } from './train.js';
import { modelPanel } from './job.js';

/** The metrics a sweep ranks by, per task (the server's `metric_direction`); the first is the default. */
const METRICS = {
  classification: ['accuracy', 'f1', 'precision', 'recall', 'roc_auc', 'average_precision', 'log_loss'],
  regression: ['r2', 'rmse', 'mae'],
  clustering: ['silhouette'],
};
const STRATEGIES = [
  ['asha', 'ASHA: random settings, the weakest stopped at each rung'],
  ['random', 'Random settings, every one trained in full'],
  ['grid', 'Grid: every combination of the listed values'],
  ['auto', 'Auto: every algorithm for the task, over the space it suggests'],
];
const NUMERIC = new Set(['int', 'float', 'choice_or_number']);

export async function render(ctx, id) {
  return id ? renderSweep(ctx, id) : renderForm(ctx);
}

// ---------------------------------------------------------------- the form

async function renderForm({ main }) {
  main.append(h('h1', {}, 'Tune: find the best model'));
  const loading = h('p', { class: 'muted' }, 'Loading plugins and datasets…');
  main.append(loading);
  let plugins, datasets;
  try {
    [plugins, datasets] = await Promise.all([loadPlugins(true), loadDatasets()]);
  } catch (e) {
    replace(loading, errorBox(`Could not load the form: ${e.message}`));
    return;
  }
  loading.remove();
  datasets = datasets.filter((d) => !d.predictOnly);
  if (!datasets.length) {
    main.append(h('div', { class: 'card' }, h('p', {}, 'There is no dataset yet. '), h('a', { class: 'button primary', href: '#/datasets' }, 'Upload a dataset first')));
    return;
  }
  const f = formFields(datasets, plugins);
  const spaceBox = h('div', { id: 'tune-space' });
  const formError = h('div', { id: 'tune-error' });
  const submit = h('button', { type: 'submit', class: 'button primary', id: 'tune-submit' }, 'Start the sweep');
  const form = h('form', { class: 'card', id: 'tune-form', novalidate: true },
    h('div', { class: 'grid' }, f.dataset.box, f.task.box, f.target.box, f.metric.box, f.strategy.box),
    h('div', { class: 'grid' }, f.trials.box, f.budget.box, f.parallel.box, f.folds.box, f.seed.box),
    spaceBox, formError, h('div', { class: 'row' }, submit));
  main.append(form, await recentSweeps());

  let columns = [];
  let rows = [];
  const drawSpace = () => {
    const task = f.task.control.value;
    const metric = f.metric.control.value;
    replace(f.metric.control, METRICS[task].map((m) => h('option', { value: m }, m)));
    if (METRICS[task].includes(metric)) f.metric.control.value = metric;
    if (f.strategy.control.value === 'auto') {
      rows = [];
      replace(spaceBox, h('p', { class: 'help', id: 'auto-note' }, 'Every enabled algorithm that does this task is searched over the parameters it suggests (its declared bounds where it suggests none).'));
      return;
    }
    const candidates = plugins.filter((p) => p.tasks.includes(task));
    const suggests = (p) => p.params.some((q) => q.tunable && q.tunable[task]);
    const picked = new Set(candidates.filter(suggests).map((p) => p.name));
    if (!picked.size && candidates.length) picked.add(candidates[0].name);
    rows = [];
    replace(spaceBox, candidates.map((p) => pluginSpace(p, task, picked.has(p.name), rows)));
  };
  const fillTargets = async () => {
    try { columns = (await get(`/datasets/${encodeURIComponent(f.dataset.control.value)}`)).data.columns || []; } catch { columns = []; }
    const task = f.task.control.value;
    f.target.control.disabled = task === 'clustering';
    replace(f.target.control, task === 'clustering' ? h('option', { value: '' }, 'none (clustering has no target)')
      : columns.filter((c) => c.kind !== 'text' && (task !== 'regression' || c.kind === 'numeric')).map((c) => h('option', { value: c.name }, `${c.name} (${c.kind})`)));
    const last = columns[columns.length - 1];
    if (last && task !== 'clustering' && [...f.target.control.options].some((o) => o.value === last.name)) f.target.control.value = last.name;
  };
  f.dataset.control.addEventListener('change', fillTargets);
  f.task.control.addEventListener('change', () => { fillTargets(); drawSpace(); });
  f.strategy.control.addEventListener('change', drawSpace);
  drawSpace();
  await fillTargets();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(formError);
    const body = requestOf(f, rows);
    if (!body) return;
    submit.disabled = true;
    try {
      const answer = (await post('/sweeps', body)).data;
      toast('Sweep started');
      location.hash = `#/tune/${answer.sweepId}`;
    } catch (err) {
      replace(formError, errorBox(`The sweep was refused: ${err.message}${err.field ? ` (${err.field})` : ''}`));
    } finally {
      submit.disabled = false;
    }
  });
}

function formFields(datasets, plugins) {
  const tasks = TASKS.filter((t) => plugins.some((p) => p.tasks.includes(t)));
  const text = (name, value, mode = 'numeric') => h('input', { type: 'text', inputmode: mode, name, value, autocomplete: 'off' });
  return {
    dataset: field('tune-dataset', 'Dataset', h('select', { name: 'datasetId' }, datasets.map((d) => h('option', { value: d.id }, `${d.name} (${fmtNumber(d.rows)} rows)`)))),
    task: field('tune-task', 'Task', h('select', { name: 'taskType' }, tasks.map((t) => h('option', { value: t }, t)))),
    target: field('tune-target', 'Target column', h('select', { name: 'targetColumn' })),
    metric: field('tune-metric', 'Metric to optimise', h('select', { name: 'metric' }), 'Computed by the host on rows no trial trains on.'),
    strategy: field('tune-strategy', 'Strategy', h('select', { name: 'strategy' }, STRATEGIES.map(([v, t]) => h('option', { value: v }, t)))),
    trials: field('tune-trials', 'Trials', text('trials', '12'), 'How many settings to try; empty for as many as the budget allows.'),
    budget: field('tune-budget', 'Time budget (seconds)', text('budgetSeconds', '600'), 'When it is spent no trial starts and running ones stop; empty for none.'),
    parallel: field('tune-parallel', 'Trials at once', text('parallelTrials', ''), 'Empty for one per worker slot. Trials side by side train in one instance each.'),
    folds: field('tune-folds', 'Cross-validation folds', text('folds', '0'), '0 scores each trial on the holdout; 2 or more fits K folds per trial.'),
    seed: field('tune-seed', 'Random seed', text('seed', '1'), 'Same seed, same settings tried in the same order.'),
  };
}

/** One plugin's fieldset: a row per parameter, searched (a range or values) or fixed. */
function pluginSpace(plugin, task, checked, rows) {
  const on = h('input', { type: 'checkbox', id: `tune-plugin-${plugin.name}`, 'data-plugin': plugin.name, checked });
  const body = h('tbody', {}, plugin.params.map((q) => paramRow(plugin, q, task, rows)));
  const table = tableWrap(h('table', { class: 'data compact tune-space', 'data-plugin': plugin.name },
    h('thead', {}, h('tr', {}, ['Parameter', 'Search', 'From', 'To', 'Scale', 'Values, or the fixed value'].map((t) => h('th', { scope: 'col' }, t)))), body), `${plugin.name} search space`);
  table.hidden = !checked;
  on.addEventListener('change', () => { table.hidden = !on.checked; });
  return h('fieldset', { class: 'hyper', id: `tune-space-${plugin.name}` },
    h('legend', {}, h('label', { class: 'check' }, on, ` ${plugin.name}`)), h('p', { class: 'help' }, plugin.description), table);
}

function paramRow(plugin, q, task, rows) {
  const sugg = (q.tunable || {})[task];
  const id = `tune-${plugin.name}-${q.name}`;
  const numeric = NUMERIC.has(q.type);
  const mode = h('select', { id: `${id}-mode`, 'aria-label': `${q.name}: how to search it` },
    h('option', { value: 'fixed' }, 'fixed'), numeric ? h('option', { value: 'range' }, 'range') : null, h('option', { value: 'values' }, 'values'));
  const bound = (v) => (v === undefined || v === null ? '' : String(v));
  const min = h('input', { type: 'text', inputmode: 'decimal', id: `${id}-min`, 'aria-label': `${q.name} from`, value: sugg && 'min' in sugg ? String(sugg.min) : bound(q.min) });
  const max = h('input', { type: 'text', inputmode: 'decimal', id: `${id}-max`, 'aria-label': `${q.name} to`, value: sugg && 'max' in sugg ? String(sugg.max) : bound(q.max) });
  const scale = h('select', { id: `${id}-scale`, 'aria-label': `${q.name} scale` }, h('option', { value: 'linear' }, 'linear'), h('option', { value: 'log' }, 'log'));
  const listed = sugg && sugg.values ? sugg.values.join(', ') : q.type === 'bool' ? 'true, false' : q.type === 'choice' ? (q.choices || []).join(', ') : String(q.default);
  const values = h('input', { type: 'text', id: `${id}-values`, 'aria-label': `${q.name} values`, value: sugg && sugg.values ? listed : String(q.default), autocomplete: 'off' });
  const err = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  mode.value = sugg ? (sugg.values ? 'values' : 'range') : 'fixed';
  if (sugg && sugg.scale) scale.value = sugg.scale;
  const sync = () => {
    const m = mode.value;
    min.disabled = max.disabled = scale.disabled = m !== 'range';
    if (m === 'values' && values.value === String(q.default) && !sugg) values.value = listed;
    if (m === 'fixed' && !sugg) values.value = String(q.default);
  };
  mode.addEventListener('change', sync);
  sync();
  const row = h('tr', { 'data-param': q.name, 'data-suggested': sugg ? 'yes' : 'no' },
    h('th', { scope: 'row', title: q.help }, q.name), h('td', {}, mode), h('td', {}, min), h('td', {}, max), h('td', {}, scale), h('td', {}, values, err));
  rows.push({ plugin: plugin.name, param: q, mode, min, max, scale, values, err });
  return row;
}

/** A row's part of the plugin's space: [value, error]; value undefined leaves the default. */
function rowValue(r) {
  const q = r.param;
  const one = (text) => checkParam(q, q.type === 'bool' ? /^(true|on|yes|1)$/i.test(text.trim()) : text.trim());
  if (r.mode.value === 'range') {
    const lo = Number(r.min.value.trim()), hi = Number(r.max.value.trim());
    if (r.min.value.trim() === '' || r.max.value.trim() === '' || !Number.isFinite(lo) || !Number.isFinite(hi)) return [null, 'Enter both ends of the range as numbers.'];
    if (lo > hi) return [null, 'The range must go from the smaller number to the larger.'];
    if (r.scale.value === 'log' && lo <= 0) return [null, 'A log scale needs a range above 0.'];
    for (const v of [lo, hi]) { const [, e] = checkParam(q.type === 'choice_or_number' ? { ...q, choices: [] } : q, String(v)); if (e) return [null, e]; }
    return [{ min: lo, max: hi, scale: r.scale.value }, null];
  }
  const parts = r.values.value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (r.mode.value === 'fixed') {
    if (parts.length !== 1) return [null, 'Enter one value, or search it over values or a range.'];
    const [v, e] = one(parts[0]);
    return e ? [null, e] : [v === q.default ? undefined : v, null];
  }
  if (!parts.length) return [null, 'List at least one value, separated by commas.'];
  const out = [];
  for (const p of parts) { const [v, e] = one(p); if (e) return [null, `${p}: ${e}`]; out.push(v); }
  return [{ values: out }, null];
}

/** The POST /sweeps body, or null once the first problem is shown next to its field. */
function requestOf(f, rows) {
  let ok = true;
  const num = (fld, { optional, min }) => {
    const text = fld.control.value.trim();
    if (text === '' && optional) { setError(fld, null); return undefined; }
    const n = Number(text);
    const bad = text === '' || !Number.isInteger(n) || n < min;
    setError(fld, bad ? `Enter a whole number of at least ${min}${optional ? ', or leave it empty' : ''}.` : null);
    if (bad) ok = false;
    return n;
  };
  const task = f.task.control.value;
  const body = {
    datasetId: f.dataset.control.value, targetColumn: task === 'clustering' ? null : f.target.control.value, taskType: task,
    metric: f.metric.control.value, strategy: f.strategy.control.value,
    trials: num(f.trials, { optional: true, min: 1 }), budgetSeconds: num(f.budget, { optional: true, min: 1 }),
    parallelTrials: num(f.parallel, { optional: true, min: 1 }),
    folds: num(f.folds, { optional: false, min: 0 }), seed: num(f.seed, { optional: false, min: 0 }),
  };
  if (body.strategy !== 'auto') {
    const chosen = [...document.querySelectorAll('#tune-space input[data-plugin]')].filter((c) => c.checked).map((c) => c.dataset.plugin);
    if (!chosen.length) { replace(document.getElementById('tune-error'), errorBox('Choose at least one algorithm to search.')); return null; }
    body.space = chosen.map((name) => {
      const entry = { selectedModel: name };
      for (const r of rows.filter((x) => x.plugin === name)) {
        const [v, e] = rowValue(r);
        r.err.textContent = e || '';
        r.err.hidden = !e;
        if (e) ok = false; else if (v !== undefined) entry[r.param.name] = v;
      }
      return entry;
    });
  }
  return ok ? body : null;
}

async function recentSweeps() {
  let sweeps = [];
  try { sweeps = (await get('/sweeps')).data || []; } catch { /* no sweeps API on this server */ }
  if (!sweeps.length) return h('p', { class: 'muted', id: 'recent-sweeps' }, 'No sweep yet.');
  return h('section', { class: 'card', id: 'recent-sweeps', 'aria-labelledby': 'recent-h' }, h('h2', { id: 'recent-h' }, 'Recent sweeps'),
    tableWrap(h('table', { class: 'data compact' }, h('thead', {}, h('tr', {}, ['Sweep', 'Status', 'Task', 'Metric', 'Trials', 'Best', 'Started'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, sweeps.slice(0, 20).map((w) => h('tr', {},
        h('td', {}, h('a', { href: `#/tune/${w.sweepId}` }, h('code', {}, w.sweepId.slice(0, 8)))), h('td', {}, statusBadge(w.status)),
        h('td', {}, w.taskType), h('td', {}, w.metric), h('td', { class: 'num' }, fmtNumber(w.trialCount)),
        h('td', { class: 'num' }, w.best ? `${fmtNumber(w.best.score)} (${w.best.plugin})` : '—'), h('td', {}, fmtDate(w.createdAt)))))), 'Recent sweeps'));
}

// ---------------------------------------------------------------- one sweep, live

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const TRIAL_DONE = new Set(['completed', 'failed', 'cancelled', 'pruned']);
/** Most trial sockets open at once: the curves of the others fill in as these close. */
const MAX_TRIAL_SOCKETS = 24;
const chartWidth = (el) => Math.max(300, Math.min(720, (el.clientWidth || 560) - 4));
const wsUrl = (path) => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;

/** The validation figure a trial's epochs report: the one the sweep's pruning reads. */
function validationKey(metrics) {
  const keys = Object.keys(metrics || {});
  return ['validation_accuracy', 'validation_r2'].find((k) => keys.includes(k)) || keys.find((k) => k.startsWith('validation_') && k !== 'validation_loss') || null;
}

async function renderSweep({ main, setCleanup }, id) {
  main.append(h('h1', {}, 'Sweep ', h('code', {}, id.slice(0, 8))));
  let sweep;
  try {
    sweep = (await get(`/sweeps/${encodeURIComponent(id)}`)).data;
  } catch (e) {
    main.append(errorBox(e.status === 404 ? `There is no sweep with the id “${id}”.` : `Could not load the sweep: ${e.message}`), h('p', {}, h('a', { href: '#/tune' }, 'Start a sweep')));
    return;
  }
  const state = { lastSeq: 0, sweep, trials: new Map(), curves: new Map(), key: null, sockets: new Map(), bestJob: null };
  for (const t of sweep.trials || []) state.trials.set(t.index, { ...t });

  const badge = h('span', { id: 'sweep-status' }, statusBadge(sweep.status));
  const message = h('div', { id: 'sweep-message' });
  const cancel = h('button', { type: 'button', class: 'button danger', id: 'cancel-sweep' }, 'Cancel the sweep');
  const counts = h('dd', { id: 'sweep-counts' });
  const board = h('tbody', {});
  const curves = h('div', { id: 'trial-curves' });
  const params = h('div', { class: 'charts', id: 'param-charts' });
  const best = h('section', { class: 'card', id: 'sweep-best', 'aria-labelledby': 'best-h', hidden: true });
  const live = h('p', { class: 'sr-only', 'aria-live': 'polite', id: 'sweep-announce' });
  main.append(
    h('section', { class: 'card job-head', 'aria-label': 'Sweep summary' }, h('div', { class: 'row spread' }, badge, cancel), message, live,
      h('dl', { class: 'facts' },
        h('dt', {}, 'Strategy'), h('dd', {}, String(sweep.strategy)), h('dt', {}, 'Metric'), h('dd', {}, `${sweep.metric} (${sweep.higherIsBetter ? 'higher' : 'lower'} is better)`),
        h('dt', {}, 'Algorithms'), h('dd', {}, (sweep.plugins || []).join(', ')), h('dt', {}, 'Task'), h('dd', {}, sweep.taskType),
        h('dt', {}, 'Trials'), counts, h('dt', {}, 'Started'), h('dd', {}, fmtDate(sweep.startedAt || sweep.createdAt)))),
    h('section', { class: 'card', 'aria-labelledby': 'board-h' }, h('h2', { id: 'board-h' }, 'Leaderboard'),
      h('p', { class: 'help' }, `Completed trials by ${sweep.metric} on the host's judged rows, best first; then the running, pruned and failed ones. A row opens its job.`),
      tableWrap(h('table', { class: 'data compact', id: 'leaderboard' }, h('thead', {}, h('tr', {},
        ['Rank', 'Trial', 'Algorithm', 'Parameters', 'Status', 'Epoch', 'Validation', sweep.metric].map((t) => h('th', { scope: 'col' }, t)))), board), 'Leaderboard')),
    h('section', { class: 'card', 'aria-labelledby': 'curves-h' }, h('h2', { id: 'curves-h' }, 'Validation by epoch'),
      h('p', { class: 'help' }, 'One line per trial; a pruned trial’s line ends with ✕ where the sweep stopped it.'), curves),
    h('section', { class: 'card', 'aria-labelledby': 'params-h' }, h('h2', { id: 'params-h' }, `${sweep.metric} against each parameter`), params),
    best);

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try { await post(`/sweeps/${encodeURIComponent(id)}/cancel`); toast('Cancelling the sweep'); } catch (e) { replace(message, errorBox(`Could not cancel: ${e.message}`)); cancel.disabled = false; }
  });

  let frame = 0;
  const schedule = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); }); };
  function draw() {
    const s = state.sweep;
    replace(badge, statusBadge(s.status));
    cancel.hidden = TERMINAL.has(s.status);
    if (s.message) replace(message, s.status === 'failed' ? errorBox(`The sweep failed: ${plain(s.message)}`) : h('p', { class: 'muted' }, plain(s.message)));
    const trials = [...state.trials.values()];
    const n = (st) => trials.filter((t) => t.status === st).length;
    counts.textContent = `${trials.length} (${n('completed')} completed, ${n('running')} running, ${n('pruned')} pruned, ${n('failed')} failed)`;
    replace(board, leaderboardRows(trials, s));
    drawCurves(curves, trials, state);
    drawParams(params, trials, s);
    showBest(best, s, state);
  }

  // --- each trial's job socket: its validation curve, epoch by epoch
  function follow(trial) {
    if (!trial.jobId || state.sockets.has(trial.jobId) || state.curves.get(trial.jobId)?.done) return;
    if ([...state.sockets.values()].filter((x) => x.open).length >= MAX_TRIAL_SOCKETS) return;
    const curve = state.curves.get(trial.jobId) || { points: new Map(), lastSeq: 0, done: false };
    state.curves.set(trial.jobId, curve);
    const socket = { ws: new WebSocket(wsUrl(`/ws/${encodeURIComponent(trial.jobId)}`)), open: true };
    state.sockets.set(trial.jobId, socket);
    socket.ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (typeof ev.seq !== 'number' || ev.seq <= curve.lastSeq) return;
      curve.lastSeq = ev.seq;
      if (ev.type === 'progress') {
        state.key = state.key || validationKey(ev.metrics);
        const v = (ev.metrics || {})[state.key];
        if (Number.isFinite(v)) { curve.points.set(ev.epoch, v); schedule(); }
      } else if (ev.type === 'complete' || ev.type === 'error' || ev.type === 'cancelled') {
        curve.done = true;
        socket.ws.close();
      }
    };
    socket.ws.onclose = () => { socket.open = false; state.sockets.delete(trial.jobId); if (!closed) for (const t of state.trials.values()) follow(t); };
  }

  // --- the sweep's socket: replay from seq 1, then live; seq dedupes a reconnect's replay
  let ws = null, closed = false, retry = 0, retryTimer = null;
  function onEvent(ev) {
    if (typeof ev.seq !== 'number' || ev.seq <= state.lastSeq) return;
    state.lastSeq = ev.seq;
    if (ev.type === 'trial' && ev.event === 'rung') {
      const t = state.trials.get(ev.trial);
      if (t) { t.rungs = (t.rungs || []).filter((r) => r.epoch !== ev.epoch).concat([{ epoch: ev.epoch, score: ev.score }]); }
    } else if (ev.type === 'trial') {
      const t = { ...(state.trials.get(ev.trial) || {}), index: ev.trial, jobId: ev.jobId, plugin: ev.plugin, params: ev.params, status: ev.status,
        epoch: ev.epoch, score: ev.score, validationScore: ev.validationScore, message: ev.message };
      state.trials.set(ev.trial, t);
      follow(t);
      if (ev.event === 'pruned') live.textContent = `Trial ${ev.trial + 1} pruned at epoch ${ev.epoch}.`;
    } else if (ev.type === 'sweep') {
      Object.assign(state.sweep, { status: ev.status, message: ev.message, best: ev.best });
      live.textContent = `Sweep ${ev.status}.`;
      if (TERMINAL.has(ev.status)) refresh();
    } else if (ev.type === 'leaderboard') {
      state.sweep.leaderboard = ev.leaderboard;
      state.sweep.best = (ev.leaderboard || [])[0] || state.sweep.best;
    }
    schedule();
  }
  async function refresh() {
    try {
      const fresh = (await get(`/sweeps/${encodeURIComponent(id)}`)).data;
      state.sweep = fresh;
      for (const t of fresh.trials || []) state.trials.set(t.index, { ...state.trials.get(t.index), ...t });
      schedule();
    } catch { /* the socket's events stand */ }
  }
  function connect() {
    ws = new WebSocket(wsUrl(`/ws/sweeps/${encodeURIComponent(id)}`));
    ws.onopen = () => { retry = 0; };
    ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch { /* not an event */ } };
    ws.onclose = () => {
      if (closed || TERMINAL.has(state.sweep.status)) return;
      retry = Math.min(retry + 1, 6);
      retryTimer = setTimeout(connect, 500 * 2 ** (retry - 1));
    };
  }
  setCleanup(() => {
    closed = true;
    clearTimeout(retryTimer);
    if (frame) cancelAnimationFrame(frame);
    if (ws) ws.close();
    for (const x of state.sockets.values()) x.ws.close();
  });
  for (const t of state.trials.values()) follow(t);
  draw();
  connect();
}

const paramText = (params) => Object.entries(params || {}).filter(([k]) => k !== 'selectedModel').map(([k, v]) => `${k}=${typeof v === 'number' ? fmtNumber(v) : v}`).join(', ');

/** Completed trials best first, then running, queued, pruned, failed and cancelled. */
function leaderboardRows(trials, sweep) {
  const order = { completed: 0, running: 1, queued: 2, pruned: 3, failed: 4, cancelled: 5 };
  const sign = sweep.higherIsBetter ? -1 : 1;
  const sorted = trials.slice().sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9)
    || (a.status === 'completed' ? sign * ((a.score ?? NaN) - (b.score ?? NaN)) || 0 : 0) || a.index - b.index);
  const bestId = sweep.best && sweep.best.jobId;
  let rank = 0;
  return sorted.map((t) => {
    const ranked = t.status === 'completed' && Number.isFinite(t.score);
    if (ranked) rank += 1;
    const status = t.status === 'pruned' ? [statusBadge('pruned'), h('span', { class: 'muted' }, ` at epoch ${t.epoch}`)] : statusBadge(t.status);
    return h('tr', { class: `trial trial-${t.status}${t.jobId === bestId ? ' best' : ''}`, 'data-status': t.status, 'data-job': t.jobId, 'data-trial': t.index },
      h('td', { class: 'num' }, ranked ? String(rank) : '—'),
      h('td', {}, h('a', { href: `#/jobs/${t.jobId}`, class: 'trial-link' }, `#${t.index + 1}`)),
      h('td', {}, t.plugin), h('td', { class: 'params-cell' }, paramText(t.params)),
      h('td', { title: t.message ? plain(t.message) : null }, status),
      h('td', { class: 'num' }, t.epoch ? String(t.epoch) : '—'),
      h('td', { class: 'num' }, fmtNumber(t.validationScore)),
      h('td', { class: 'num' }, fmtNumber(t.score)));
  });
}

function drawCurves(box, trials, state) {
  const shown = trials.filter((t) => state.curves.get(t.jobId)?.points.size || (t.rungs || []).length);
  if (!shown.length) { replace(box, h('p', { class: 'muted' }, 'No trial has reported an epoch yet.')); return; }
  const series = shown.map((t) => {
    const c = state.curves.get(t.jobId);
    // Without the job's events (no longer kept, or not followed), the rungs it reached.
    const points = c && c.points.size ? [...c.points.entries()] : (t.rungs || []).map((r) => [r.epoch, r.score]);
    points.sort((a, b) => a[0] - b[0]);
    return { label: `#${t.index + 1} ${t.plugin}${t.status === 'pruned' ? ` (pruned at ${t.epoch})` : ''}`, points, cut: t.status === 'pruned' };
  });
  const name = state.key || 'validation';
  replace(box, h('figure', { class: 'chart-box', 'data-metric': name }, h('figcaption', {}, `${name} per epoch`),
    seriesChart(name, series, chartWidth(box))), seriesLegend(series.map((x) => x.label)));
}

/** One chart per parameter the trials differ in: the sweep's score of each completed trial. */
function drawParams(box, trials, sweep) {
  const done = trials.filter((t) => t.status === 'completed' && Number.isFinite(t.score));
  const names = [...new Set(done.flatMap((t) => Object.keys(t.params || {})))].filter((k) => k !== 'selectedModel'
    && new Set(done.map((t) => JSON.stringify((t.params || {})[k]))).size > 1);
  if (done.length && new Set(done.map((t) => t.plugin)).size > 1) names.unshift('algorithm');
  if (!names.length) { replace(box, h('p', { class: 'muted' }, done.length ? 'The completed trials share every parameter.' : 'No trial has completed yet.')); return; }
  const width = Math.max(300, Math.min(480, chartWidth(box) / 2 - 8));
  replace(box, names.map((k) => {
    const points = done.map((t) => ({ x: k === 'algorithm' ? t.plugin : (t.params || {})[k], y: t.score, label: `#${t.index + 1}`, best: sweep.best && t.jobId === sweep.best.jobId }))
      .filter((p) => p.x !== undefined && p.x !== null);
    return h('figure', { class: 'chart-box', 'data-param': k }, h('figcaption', {}, k), paramChart(k, sweep.metric, points, width));
  }));
}

/** The best trial: its parameters, its job, and the job page's download and predict. */
async function showBest(box, sweep, state) {
  const b = sweep.best;
  if (!b || !b.jobId) { box.hidden = true; return; }
  if (box.dataset.job === b.jobId) return;
  box.dataset.job = b.jobId;
  box.hidden = false;
  replace(box, h('h2', { id: 'best-h' }, 'Best model'),
    h('p', { class: 'headline', id: 'best-summary' }, h('span', { class: 'headline-value' }, fmtNumber(b.score)), ` ${sweep.metric}: ${b.plugin}`,
      h('span', { class: 'muted' }, ` (${paramText(b.params) || 'defaults'})`)),
    h('p', {}, h('a', { href: `#/jobs/${b.jobId}`, id: 'best-job-link' }, 'Open the best trial’s job')));
  try {
    const job = (await get(`/jobs/${encodeURIComponent(b.jobId)}`)).data;
    if (box.dataset.job !== b.jobId) return;
    state.bestJob = job;
    box.append(modelPanel(job, `/sweeps/${encodeURIComponent(sweep.sweepId)}/model`));
  } catch (e) {
    box.append(errorBox(`Could not load the best trial’s job: ${e.message}`));
  }
}
