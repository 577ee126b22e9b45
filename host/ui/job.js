// One job: a progress bar, epoch counter, a chart per reported metric and a log, fed by
// the WebSocket (the server replays every event from seq 1, then goes live; we drop
// anything at or below the last seq seen). Then the results: holdout metrics, confusion
// matrix / predicted-vs-actual / cluster sizes, feature importances, the plugin's result
// tables (coefficients, cluster modes...; sortable), model download and prediction on an
// uploaded file.

import { h, replace, fmtNumber, fmtDate, fmtDuration, statusBadge, errorBox, tableWrap, toast, downloadBlob } from './dom.js';
import { get, post, postForBlob, upload, datasets as loadDatasets, plain } from './api.js';
import { lineChart, lossChart, scatter, residuals, bars, confusionMatrix, seriesChart, seriesLegend } from './charts.js';
import { baselineLine, evaluationPanel, normalised } from './evaluation.js';
import { runLabel } from './jobs.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const LOG_LIMIT = 2000;
// Series drawn together on the loss chart rather than one chart each.
const LOSS_SERIES = new Set(['train_loss', 'validation_loss', 'best_iteration']);

/** The model's best iteration from a finished job's plugin metrics, if it has one. */
function bestIterationOf(job) {
  const v = job && job.results && job.results.summary && job.results.summary.plugin_metrics && job.results.summary.plugin_metrics.best_iteration;
  return Number.isFinite(v) ? v : undefined;
}

export async function render({ main, setCleanup }, id) {
  const title = h('h1', {}, 'Job ', h('code', {}, id.slice(0, 8)));
  main.append(title);
  let job;
  try {
    job = (await get(`/jobs/${encodeURIComponent(id)}`)).data;
  } catch (e) {
    main.append(errorBox(e.status === 404 ? `There is no job with the id “${id}”.` : `Could not load the job: ${e.message}`),
      h('p', {}, h('a', { href: '#/jobs' }, 'See all jobs')));
    return;
  }

  const state = { lastSeq: 0, status: job.status, progress: job.progress || 0, epoch: 0, total: 0, series: new Map(), restarts: new Map(), terminal: TERMINAL.has(job.status), announced: -1 };
  let datasetName = job.datasetId;
  loadDatasets().then((ds) => { const d = ds.find((x) => x.id === job.datasetId); if (d) { datasetName = d.name; dsCell.textContent = d.name; } }).catch(() => {});

  // --- header
  const badge = h('span', { id: 'job-status' }, statusBadge(job.status));
  const dsCell = h('a', { href: `#/datasets/${job.datasetId}` }, datasetName);
  const timing = h('dd', { id: 'job-duration' }, fmtDuration(job.startedAt, job.completedAt));
  const cancelBtn = h('button', { type: 'button', class: 'button danger', id: 'cancel-job' }, 'Cancel');
  const rerunBtn = h('button', { type: 'button', class: 'button', id: 'rerun-job', title: 'Train again with the same dataset, settings and seed, as a new job' }, 'Re-run');
  const cancelMsg = h('div', { id: 'cancel-msg' });
  const params = Object.entries(job.modelConfig || {}).filter(([k]) => k !== 'selectedModel');
  main.append(h('section', { class: 'card job-head', 'aria-label': 'Job summary' },
    h('div', { class: 'row spread' }, badge, h('div', { class: 'row' }, rerunBtn, cancelBtn)),
    cancelMsg,
    job.name || (job.tags && job.tags.length) ? h('p', { id: 'job-label' }, runLabel(job)) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Algorithm'), h('dd', { id: 'job-plugin' }, job.modelConfig?.selectedModel || '—'),
      h('dt', {}, 'Task'), h('dd', {}, job.taskType),
      h('dt', {}, 'Dataset'), h('dd', {}, dsCell),
      h('dt', {}, 'Target'), h('dd', {}, job.targetColumn || 'none'),
      h('dt', {}, 'Submitted'), h('dd', {}, fmtDate(job.createdAt)),
      job.rerunOf ? [h('dt', {}, 'Re-run of'), h('dd', {}, h('a', { href: `#/jobs/${job.rerunOf}`, id: 'rerun-of' }, h('code', {}, job.rerunOf.slice(0, 8))))] : null,
      h('dt', {}, 'Duration'), timing),
    params.length ? h('details', {}, h('summary', {}, `Hyperparameters (${params.length} set)`),
      h('ul', { class: 'params-list' }, params.map(([k, v]) => h('li', {}, h('code', {}, k), ' = ', String(v))))) : null));

  // --- live
  const bar = h('progress', { max: '100', value: String(state.progress), id: 'job-progress', 'aria-labelledby': 'progress-h', 'aria-describedby': 'epoch-text' });
  const pct = h('span', { class: 'pct', id: 'progress-pct' }, `${state.progress}%`);
  const epochText = h('p', { id: 'epoch-text', class: 'epoch' }, state.terminal ? '' : 'Waiting for the first epoch…');
  const live = h('p', { class: 'sr-only', 'aria-live': 'polite', id: 'live-announce' });
  const charts = h('div', { class: 'charts', id: 'charts' });
  const logList = h('ol', { class: 'log', id: 'job-log', 'aria-label': 'Event log' });
  const logBox = h('div', { class: 'log-box', tabindex: '0', role: 'region', 'aria-label': 'Event log' }, logList);
  const connection = h('p', { class: 'muted small', id: 'ws-state' });
  main.append(h('section', { class: 'card', 'aria-labelledby': 'progress-h' },
    h('h2', { id: 'progress-h' }, 'Progress'),
    h('div', { class: 'progress-row big' }, bar, pct), epochText, live,
    h('h3', {}, 'Metrics per epoch'), charts,
    h('h3', {}, 'Log'), logBox, connection));

  const results = h('section', { class: 'card', id: 'results', 'aria-labelledby': 'results-h', hidden: true });
  main.append(results);

  // --- cancel
  const showCancel = () => { cancelBtn.hidden = state.terminal; };

  // --- while queued: where the job waits, refreshed until a worker takes it
  let queueTimer = null;
  const showQueued = (j) => {
    if (state.status !== 'queued' || state.epoch) return;
    epochText.textContent = Number.isFinite(j.queuePosition)
      ? (j.queuePosition === 1 ? 'Queued at position 1: it starts when a worker is free.' : `Queued at position ${j.queuePosition}: ${j.queuePosition - 1} job${j.queuePosition === 2 ? '' : 's'} will start before it.`)
      : 'Queued: waiting for a worker.';
  };
  const pollQueue = async () => {
    if (state.status !== 'queued') return;
    try { showQueued((await get(`/jobs/${encodeURIComponent(id)}`)).data); } catch { /* the socket still tells */ }
    queueTimer = setTimeout(pollQueue, 2000);
  };
  if (job.status === 'queued') { showQueued(job); queueTimer = setTimeout(pollQueue, 2000); }
  showCancel();
  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    try {
      const r = await post(`/jobs/${encodeURIComponent(id)}/cancel`);
      replace(cancelMsg, h('p', { class: 'muted', role: 'status' }, r.data.message));
    } catch (e) {
      replace(cancelMsg, errorBox(e.code === 'job_finished' ? 'The job had already ended, so there was nothing to cancel.' : `Could not cancel the job: ${e.message}`));
    } finally {
      cancelBtn.disabled = false;
    }
  });

  rerunBtn.addEventListener('click', async () => {
    rerunBtn.disabled = true;
    try {
      const r = await post(`/jobs/${encodeURIComponent(id)}/rerun`);
      toast('Re-run queued');
      location.hash = `#/jobs/${r.data.jobId}`;
    } catch (e) {
      replace(cancelMsg, errorBox(`Could not re-run the job: ${e.message}`));
      rerunBtn.disabled = false;
    }
  });

  // --- events
  let chartFrame = 0;
  function drawCharts() {
    chartFrame = 0;
    if (!state.series.size) { replace(charts, h('p', { class: 'muted', id: 'no-metrics' }, state.terminal ? 'The plugin reported no metric per epoch.' : 'No metric reported yet.')); return; }
    const sorted = (name) => [...(state.series.get(name) || new Map()).entries()].sort((a, b) => a[0] - b[0]);
    const boxes = [];
    // Training and validation loss share one chart, with the best iteration marked.
    if (state.series.has('train_loss') || state.series.has('validation_loss')) {
      const bestPts = sorted('best_iteration');
      const best = state.bestIteration ?? (bestPts.length ? bestPts[bestPts.length - 1][1] : NaN);
      boxes.push(h('figure', { class: 'chart-box', id: 'loss-chart' }, h('figcaption', {}, 'training and validation loss'),
        lossChart(sorted('train_loss'), sorted('validation_loss'), best, chartWidth(charts))));
    }
    for (const name of state.series.keys()) {
      if (LOSS_SERIES.has(name)) continue;
      const runs = state.restarts.get(name);
      if (runs && runs.size > 1) {
        // One line per restart, each from its own first iteration: joined end to end they would read as one curve.
        const series = [...runs.entries()].sort((a, b) => a[0] - b[0])
          .map(([r, pts]) => ({ label: `restart ${r}`, points: [...pts.entries()].sort((a, b) => a[0] - b[0]) }));
        boxes.push(h('figure', { class: 'chart-box restarts', 'data-metric': name }, h('figcaption', {}, `${name} per restart`),
          seriesChart(name, series, chartWidth(charts), 'iteration'), seriesLegend(series.map((x) => x.label))));
        continue;
      }
      boxes.push(h('figure', { class: 'chart-box' }, h('figcaption', {}, name), lineChart(name, sorted(name), chartWidth(charts))));
    }
    replace(charts, boxes);
  }
  // At most one redraw per frame; a hidden tab gets no frames, so it redraws on a timer.
  const scheduleCharts = () => {
    if (chartFrame) return;
    chartFrame = document.hidden ? -setTimeout(drawCharts, 200) : requestAnimationFrame(drawCharts);
  };

  function log(seq, kind, text) {
    logList.append(h('li', { class: `log-${kind}`, 'data-seq': seq }, h('span', { class: 'seq' }, `#${seq}`), ' ', text));
    while (logList.children.length > LOG_LIMIT) logList.firstChild.remove();
    logBox.scrollTop = logBox.scrollHeight;
  }

  function setStatus(status) {
    state.status = status;
    replace(badge, statusBadge(status));
  }

  function setProgress(p) {
    state.progress = p;
    bar.value = p;
    bar.setAttribute('value', String(p));
    pct.textContent = `${p}%`;
    const step = Math.floor(p / 10);
    if (step !== state.announced) { state.announced = step; live.textContent = `${p}% done`; }
  }

  function onEvent(ev) {
    if (typeof ev.seq !== 'number' || ev.seq <= state.lastSeq) return;
    state.lastSeq = ev.seq;
    switch (ev.type) {
      case 'status':
        setStatus(ev.status);
        if (ev.status === 'running' && ev.attempt > 1) { state.series.clear(); state.restarts.clear(); scheduleCharts(); }
        log(ev.seq, 'status', ev.message ? `${cap(ev.status)}: ${plain(ev.message)}` : `${cap(ev.status)}${ev.attempt ? ` (attempt ${ev.attempt})` : ''}`);
        // The worker says `storing the model` (events.rs STORING_MODEL) once the holdout is scored.
        // A cross-validation names each fit: `fold 2 of 5`, then the final fit (crossval.rs).
        if (ev.status === 'running' && /^fold \d+ of \d+$|^refit /.test(ev.message || '')) { state.phase = ev.message; epochText.textContent = `Cross-validation: ${ev.message}…`; break; }
        if (ev.status === 'running' && ev.message === 'storing the model') epochText.textContent = `${state.total ? `Epoch ${state.epoch} of ${state.total} done; ` : ''}holdout scored: storing the model…`;
        else if (ev.status === 'running' && !state.epoch) epochText.textContent = 'Training started; waiting for the first epoch…';
        break;
      case 'progress': {
        setProgress(ev.progress);
        // A cross-validation's fold (events.rs: `fold`, from 1): its epochs are told, not charted;
        // the charts are the final model's.
        if (Number.isInteger(ev.fold)) {
          epochText.textContent = `Cross-validation, ${state.phase || `fold ${ev.fold}`}: epoch ${ev.epoch} of ${ev.total_epochs}`;
          if (state.status !== 'running') setStatus('running');
          log(ev.seq, 'progress', ev.message);
          break;
        }
        state.epoch = ev.epoch;
        state.total = ev.total_epochs;
        // After the last epoch the host scores the model on the test rows and stores it.
        const lead = state.phase ? 'Final fit: ' : '';
        epochText.textContent = ev.epoch >= ev.total_epochs ? `${lead}Epoch ${ev.epoch} of ${ev.total_epochs} done: scoring the holdout…` : `${lead}Epoch ${ev.epoch} of ${ev.total_epochs}`;
        const metrics = ev.metrics || {};
        // A plugin that restarts (kmodes' `init`) numbers the restart and the iteration within it.
        const restart = RESTART_KEYS.map((k) => metrics[k]).find(Number.isFinite);
        const step = Number.isFinite(metrics.iteration) ? metrics.iteration : ev.epoch;
        for (const [k, v] of Object.entries(metrics)) {
          if (COUNTER.test(k)) continue; // a count of trees or rounds is progress, not a metric to chart
          if (!state.series.has(k)) state.series.set(k, new Map());
          state.series.get(k).set(ev.epoch, v);
          if (restart !== undefined) {
            if (!state.restarts.has(k)) state.restarts.set(k, new Map());
            const runs = state.restarts.get(k);
            if (!runs.has(restart)) runs.set(restart, new Map());
            runs.get(restart).set(step, v);
          }
        }
        scheduleCharts();
        if (state.status !== 'running') setStatus('running');
        log(ev.seq, 'progress', ev.message);
        break;
      }
      case 'complete':
        finish('completed', ev.seq, ev.message || 'Training completed');
        setProgress(100);
        break;
      case 'error':
        finish('failed', ev.seq, `Failed: ${plain(ev.message)}`);
        replace(cancelMsg, errorBox(`Training failed: ${plain(ev.message)}`));
        break;
      case 'cancelled':
        replace(cancelMsg);
        finish('cancelled', ev.seq, plain(ev.message) || 'Cancelled');
        break;
      default:
        log(ev.seq, 'other', JSON.stringify(ev));
    }
  }

  function finish(status, seq, message) {
    state.terminal = true;
    setStatus(status);
    log(seq, status, message);
    showCancel();
    epochText.textContent = status === 'completed' ? `Finished${state.total ? ` after ${state.epoch} of ${state.total} epochs` : ''}.`
      : status === 'cancelled' ? `Cancelled${state.total ? ` at epoch ${state.epoch} of ${state.total}` : ''}.` : 'The job failed.';
    live.textContent = `Job ${status}.`;
    scheduleCharts();
    refreshJob();
  }

  async function refreshJob() {
    try {
      job = (await get(`/jobs/${encodeURIComponent(id)}`)).data;
    } catch { return; }
    timing.textContent = fmtDuration(job.startedAt, job.completedAt);
    if (job.status === 'completed' && job.results) {
      state.bestIteration = bestIterationOf(job);
      scheduleCharts();
      showResultsOnce();
    }
    if (job.status === 'failed' && job.error && !cancelMsg.firstChild) replace(cancelMsg, errorBox(`Training failed: ${plain(job.error)}`));
  }

  let resultsShown = false;
  // --- socket with reconnect (the server replays from seq 1; seq dedupes)
  let ws = null, closed = false, retry = 0, retryTimer = null;
  const ticker = setInterval(() => { if (!state.terminal && job.startedAt) timing.textContent = fmtDuration(job.startedAt, null); }, 1000);
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}/ws/${encodeURIComponent(id)}`);
    connection.textContent = 'Connecting for live updates…';
    ws.onopen = () => { retry = 0; connection.textContent = state.terminal ? '' : 'Live: updates arrive as they happen.'; };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      onEvent(ev);
      if (ev.type === 'status' && ev.status === 'running' && !job.startedAt) job.startedAt = Date.now();
    };
    ws.onclose = () => {
      if (closed) return;
      if (state.terminal) { connection.textContent = ''; return; }
      retry = Math.min(retry + 1, 6);
      const wait = 500 * 2 ** (retry - 1);
      connection.textContent = `Connection lost; reconnecting in ${Math.round(wait / 1000) || 1} s…`;
      retryTimer = setTimeout(connect, wait);
    };
  }
  setCleanup(() => { closed = true; clearTimeout(retryTimer); clearTimeout(queueTimer); clearInterval(ticker); if (ws) ws.close(); if (chartFrame > 0) cancelAnimationFrame(chartFrame); else if (chartFrame < 0) clearTimeout(-chartFrame); });
  state.bestIteration = bestIterationOf(job);
  drawCharts();
  connect();
  if (state.terminal && job.status === 'completed') showResultsOnce();

  // A completed job's results never change: drawn once, so that the socket's
  // replay of its end (which refreshes the job) does not redraw the panel
  // under a user who has already chosen a file to predict on.
  function showResultsOnce() {
    if (resultsShown) return;
    resultsShown = true;
    showResults(results, job, datasetName);
  }
}

/** The folds' scores (results.rs CrossValidation): mean ± standard deviation, then each fold's value. */
function crossValidationTable(cv) {
  const folds = Array.from({ length: cv.folds }, (_, i) => i + 1);
  const rows = Object.entries(cv.metrics || {}).map(([k, s]) => h('tr', {},
    h('th', { scope: 'row' }, metricName(k)),
    h('td', { class: 'num cv-mean' }, `${fmtNumber(s.mean)} ± ${fmtNumber(s.std)}`),
    (s.values || []).map((v) => h('td', { class: 'num' }, fmtNumber(v)))));
  return h('section', { id: 'cross-validation', 'aria-labelledby': 'cv-h' },
    h('h3', { id: 'cv-h' }, `Cross-validation (${cv.folds} folds of the training rows; the test rows were in none)`),
    tableWrap(h('table', { class: 'data metrics', id: 'cv-table' },
      h('caption', { class: 'sr-only' }, 'Cross-validation metrics per fold'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Metric'), h('th', { scope: 'col' }, 'Mean ± std'), folds.map((i) => h('th', { scope: 'col' }, `Fold ${i}`)))),
      h('tbody', {}, rows)), 'Cross-validation'));
}

/** Draw charts at about their on-screen width, so their text stays readable on a phone. */
const chartWidth = (el) => Math.max(300, Math.min(560, (el.clientWidth || 480) - 4));

const cap = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

/** Names plugins report per epoch that count progress rather than measure the model. */
const COUNTER = /^(epoch|epochs|iteration|iterations|round|rounds|rounds_run|trees|n_trees|run|runs|restart|restarts|init)$/;
/** Per-epoch names that number a restart (kmodes reports `init`, 1 for the first). */
const RESTART_KEYS = ['init', 'restart'];

const METRIC_NAMES = {
  accuracy: 'Accuracy', f1: 'F1 (macro)', f1_macro: 'F1 (macro)', precision: 'Precision (macro)', recall: 'Recall (macro)', log_loss: 'Log-loss',
  rmse: 'RMSE', mae: 'MAE', r2: 'R²', silhouette: 'Silhouette', cost: 'Cost', ari: 'Adjusted Rand index', purity: 'Purity',
  roc_auc: 'ROC AUC', average_precision: 'Average precision', roc_auc_ovr_macro: 'ROC AUC (one-vs-rest, macro)', roc_auc_ovr_weighted: 'ROC AUC (one-vs-rest, weighted)',
};
const metricName = (k) => METRIC_NAMES[k] || k;

/** How many rows each part of the split had. Jobs from before the three-way split have no test count. */
function splitRows(summary, threeWay) {
  const item = (id, count, text) => h('li', { id }, h('strong', { class: 'num' }, fmtNumber(count)), ` ${text}`);
  const items = [item('rows-train', summary.rows_train, 'trained on')];
  if (threeWay) {
    items.push(item('rows-validation', summary.rows_validation, 'handed to the algorithm as its validation rows (early stopping, progress; not scored)'));
    items.push(item('rows-test', summary.rows_test, summary.rows_test
      ? 'test rows: scored by the host, never shown to the algorithm' : 'test rows: the metrics are on the training rows'));
  } else {
    items.push(item('rows-validation', summary.rows_validation,
      'held out and scored (this job ran before the three-way split: the algorithm was also handed these rows for validation)'));
  }
  return h('div', { class: 'split-rows' }, h('h3', {}, 'Rows'), h('ul', { id: 'split-rows' }, items));
}

function showResults(box, job, datasetName) {
  const r = job.results || {};
  const summary = r.summary || {};
  const m = summary.metrics || {};
  const values = m.values || r.metrics || {};
  const headlineName = r.headline_metric || m.headline_name;
  const threeWay = summary.rows_test !== undefined && summary.rows_test !== null;
  const on = summary.evaluated_on === 'train' ? 'the training rows (no test rows)'
    : threeWay ? `${fmtNumber(summary.rows_test)} test rows` : `${fmtNumber(summary.rows_validation)} holdout rows`;
  box.hidden = false;
  const parts = [h('h2', { id: 'results-h' }, 'Results')];
  parts.push(h('p', { class: 'headline', id: 'headline' },
    h('span', { class: 'headline-value' }, fmtNumber(r.accuracy)), ' ',
    h('span', {}, `${metricName(headlineName || 'score')} on ${on}`),
    summary.rows_train ? h('span', { class: 'muted' }, ` · trained on ${fmtNumber(summary.rows_train)} rows`) : null));
  const baseline = baselineLine(m, headlineName);
  if (baseline) parts.push(baseline);
  if (summary.rows_train !== undefined) parts.push(splitRows(summary, threeWay));
  if (r.crossValidation) parts.push(crossValidationTable(r.crossValidation));
  parts.push(h('h3', {}, summary.evaluated_on === 'train' ? 'Metrics (computed by the host on the training rows)'
    : threeWay ? 'Test metrics (computed by the host on rows the algorithm never saw)' : 'Holdout metrics (computed by the host)'));
  parts.push(tableWrap(h('table', { class: 'data metrics', id: 'metrics-table' },
    h('caption', { class: 'sr-only' }, 'Metrics computed by the host'),
    h('tbody', {}, Object.entries(values).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, metricName(k)), h('td', { class: 'num' }, fmtNumber(v)))))), 'Metrics'));
  const pm = Object.entries(summary.plugin_metrics || {});
  if (pm.length) {
    parts.push(h('details', {}, h('summary', {}, 'Reported by the plugin'),
      h('table', { class: 'data metrics' }, h('tbody', {}, pm.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'num' }, fmtNumber(v))))))));
  }
  const viz = h('div', { class: 'viz' });
  if (m.confusion_matrix) {
    const matrixBox = h('div', {}, tableWrap(confusionMatrix(m.confusion_matrix, summary.class_labels), 'Confusion matrix'));
    const toggle = h('input', { type: 'checkbox', id: 'normalise-confusion' });
    toggle.addEventListener('change', () => replace(matrixBox, tableWrap(confusionMatrix(toggle.checked ? normalised(m.confusion_matrix) : m.confusion_matrix, summary.class_labels), 'Confusion matrix')));
    viz.append(h('figure', { class: 'viz-box', id: 'confusion' }, h('label', { class: 'check' }, toggle, ' Share of each true class'), matrixBox));
  }
  for (const panel of evaluationPanel(m, summary.class_labels, chartWidth(box))) viz.append(panel);
  if (summary.holdout && summary.holdout.actual && summary.holdout.actual.length) {
    viz.append(h('figure', { class: 'viz-box', id: 'pred-vs-actual' }, h('figcaption', {}, `Predicted against actual ${job.targetColumn || ''} (holdout${summary.holdout.sampled ? ', a sample' : ''})`),
      scatter(summary.holdout.actual, summary.holdout.predicted, job.targetColumn || 'value', chartWidth(box))));
    viz.append(h('figure', { class: 'viz-box', id: 'residuals' }, h('figcaption', {}, `Residuals: actual − predicted ${job.targetColumn || ''} against predicted (holdout${summary.holdout.sampled ? ', a sample' : ''})`),
      residuals(summary.holdout.actual, summary.holdout.predicted, job.targetColumn || 'value', chartWidth(box))));
  } else if (job.taskType === 'regression') {
    viz.append(h('p', { class: 'muted' }, 'This server did not return the holdout predictions, so there is no predicted-against-actual plot.'));
  }
  if (m.cluster_sizes) {
    viz.append(h('figure', { class: 'viz-box', id: 'cluster-sizes' }, h('figcaption', {}, 'Cluster sizes (rows per cluster)'),
      bars(m.cluster_sizes.map((v, i) => ({ label: `cluster ${i}`, value: v })), { caption: 'Cluster sizes', format: (v) => fmtNumber(v) })));
  }
  if (summary.feature_importances && summary.feature_importances.length) {
    const items = summary.feature_importances.map(([label, value]) => ({ label, value })).sort((a, b) => b.value - a.value);
    viz.append(h('figure', { class: 'viz-box', id: 'importances' }, h('figcaption', {}, 'Feature importances (from the plugin)'), bars(items, { caption: 'Feature importances' })));
  }
  parts.push(viz);
  if (Array.isArray(r.tables)) parts.push(...r.tables.map(resultTable));
  if (Array.isArray(r.log) && r.log.length) {
    const dropped = r.dropped_log_lines ? ` (${fmtNumber(r.dropped_log_lines)} more lines were dropped: the plugin's log limit)` : '';
    parts.push(h('details', { id: 'plugin-log', open: r.log.some((l) => l.level === 'warn' || l.level === 'error') },
      h('summary', {}, `Plugin log (${r.log.length} line${r.log.length === 1 ? '' : 's'})${dropped}`),
      h('ol', { class: 'plugin-log' }, r.log.map((l) => h('li', { class: `log-${l.level}` }, h('span', { class: 'log-level' }, l.level), ' ', l.message)))));
  }
  if (summary.skipped_columns && summary.skipped_columns.length) {
    parts.push(h('p', { class: 'muted' }, 'Left out: ', summary.skipped_columns.map((c) => `${c.name || c.column || JSON.stringify(c)}${c.reason ? ` (${c.reason})` : ''}`).join('; ')));
  }
  parts.push(modelPanel(job));
  replace(box, parts);
}

/** A completed job's model: its download (from `href`, the job's own by default;
 * the Tune page passes its sweep's) and the predict form. */
export function modelPanel(job, href = `/jobs/${encodeURIComponent(job.jobId)}/model`) {
  return h('div', { class: 'model-panel' }, h('h3', {}, 'Model'),
    h('p', {}, h('a', { class: 'button primary', href, download: `${job.jobId}.trainhost`, id: 'download-model' }, 'Download the model'),
      ' ', h('span', { class: 'muted' }, 'Use it with “trainhost predict”, or predict below.')),
    predictPanel(job));
}

// A number in a result table: four significant digits, exponent notation when it is
// very small or large (a p-value of 4e-14, an AIC of 1.2e7), whole numbers as they are.
function fmtCell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

// One table the plugin returned with its model: click a column heading to sort by it
// (again to reverse); empty cells sort last either way.
function resultTable(t, index) {
  const columns = Array.isArray(t.columns) ? t.columns : [];
  const rows = Array.isArray(t.rows) ? t.rows.slice() : [];
  const id = `result-table-${String(t.name || index).replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const body = h('tbody');
  const heads = columns.map((c, i) => h('th', { scope: 'col', 'aria-sort': 'none' },
    h('button', { type: 'button', class: 'sort', 'data-column': i }, c)));
  const numeric = columns.map((_, i) => rows.some((r) => typeof r[i] === 'number'));
  const draw = () => replace(body, rows.map((r) => h('tr', {}, columns.map((_, i) =>
    i === 0 && !numeric[0] ? h('th', { scope: 'row' }, fmtCell(r[i])) : h('td', { class: typeof r[i] === 'number' ? 'num' : '' }, fmtCell(r[i]))))));
  let sorted = { column: -1, dir: 1 };
  heads.forEach((th, i) => th.firstChild.addEventListener('click', () => {
    const dir = sorted.column === i ? -sorted.dir : 1;
    sorted = { column: i, dir };
    rows.sort((a, b) => {
      const x = a[i], y = b[i];
      if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === 'number' && typeof y === 'number') return dir * (x - y);
      return dir * String(x).localeCompare(String(y));
    });
    heads.forEach((other, j) => other.setAttribute('aria-sort', j === i ? (dir > 0 ? 'ascending' : 'descending') : 'none'));
    draw();
  }));
  draw();
  return h('section', { class: 'result-table', id, 'data-name': t.name || '' },
    h('h3', {}, t.title || t.name || 'Table'),
    tableWrap(h('table', { class: 'data compact sortable' },
      h('caption', { class: 'sr-only' }, `${t.title || t.name}: select a column heading to sort`),
      h('thead', {}, h('tr', {}, heads)), body), t.title || t.name || 'Result table'));
}

function predictPanel(job) {
  const status = h('div', { id: 'predict-status', 'aria-live': 'polite' });
  const output = h('div', { id: 'predict-output' });
  const input = h('input', { type: 'file', id: 'predict-file', accept: '.csv,.parquet,.pq' });
  const select = h('select', { id: 'predict-dataset' }, h('option', { value: '' }, 'Choose an uploaded dataset…'));
  loadDatasets().then((ds) => {
    for (const d of ds) select.append(h('option', { value: d.id }, d.name));
  }).catch(() => {});
  const btn = h('button', { type: 'submit', class: 'button primary', id: 'predict-submit' }, 'Predict');
  const form = h('form', { class: 'predict', novalidate: true },
    h('h3', {}, 'Predict'),
    h('p', { class: 'help' }, 'Upload a file with the same feature columns (the target may be missing), or pick an uploaded dataset.'),
    h('div', { class: 'grid' },
      h('div', { class: 'field' }, h('label', { for: 'predict-file' }, 'File to predict on'), input),
      h('div', { class: 'field' }, h('label', { for: 'predict-dataset' }, 'or an uploaded dataset'), select)),
    h('div', { class: 'row' }, btn), status, output);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(output);
    const file = input.files[0];
    if (!file && !select.value) { replace(status, errorBox('Choose a file to upload or an uploaded dataset first.')); input.focus(); return; }
    btn.disabled = true;
    try {
      let datasetId = select.value, name = select.selectedOptions[0]?.textContent;
      if (file) {
        if (!/\.(csv|parquet|pq)$/i.test(file.name)) throw Object.assign(new Error(`“${file.name}” is not a CSV or Parquet file.`), { field: 'file' });
        replace(status, h('p', { class: 'muted' }, `Uploading ${file.name}…`));
        datasetId = (await upload(file, () => {}, 'predict')).id;
        name = file.name;
      }
      replace(status, h('p', { class: 'muted' }, 'Predicting…'));
      const pred = (await post(`/jobs/${encodeURIComponent(job.jobId)}/predict`, { datasetId })).data;
      replace(status, h('p', { class: 'ok' }, `Predicted ${fmtNumber(pred.rows)} rows of ${name}.`));
      showPredictions(output, pred, job, name, { datasetId });
    } catch (err) {
      replace(status, errorBox(`Could not predict: ${err.message}`));
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

function predictionColumns(pred) {
  const cols = [];
  if (pred.labels) cols.push(['prediction', (i) => pred.labels[i]]);
  if (pred.values) cols.push(['prediction', (i) => pred.values[i]]);
  if (pred.clusters) cols.push(['cluster', (i) => pred.clusters[i]]);
  if (pred.probabilities && pred.classes) pred.classes.forEach((c, j) => cols.push([`p(${c})`, (i) => pred.probabilities[i]?.[j]]));
  return cols;
}

function showPredictions(box, pred, job, name, request) {
  const cols = predictionColumns(pred);
  const shown = Math.min(pred.rows, 20);
  const table = h('table', { class: 'data compact', id: 'predictions-table' },
    h('caption', {}, `First ${shown} of ${fmtNumber(pred.rows)} predictions`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'row'), cols.map(([c]) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, Array.from({ length: shown }, (_, i) => h('tr', {}, h('td', { class: 'num' }, String(i + 1)), cols.map(([, f]) => {
      const v = f(i);
      return h('td', { class: typeof v === 'number' ? 'num' : '' }, typeof v === 'number' ? fmtNumber(v) : String(v ?? ''));
    })))));
  // The server writes the CSV: a row id, the input columns as given, the prediction, probabilities rounded.
  const dl = h('button', { type: 'button', class: 'button', id: 'download-predictions' }, 'Download predictions (CSV)');
  dl.addEventListener('click', async () => {
    dl.disabled = true;
    try {
      const blob = await postForBlob(`/jobs/${encodeURIComponent(job.jobId)}/predict?format=csv`, request);
      const base = String(name || 'data').replace(/\.[^.]+$/, '');
      downloadBlob(blob, `predictions-${base}-${job.jobId.slice(0, 8)}.csv`);
      toast('Predictions downloaded');
    } catch (e) {
      toast(`Could not download the predictions: ${e.message}`);
    } finally {
      dl.disabled = false;
    }
  });
  replace(box, pred.score ? predictionScore(pred.score) : null, h('p', {}, dl), tableWrap(table, 'Predictions'));
}

/** The predictions scored against the target column the file held. */
function predictionScore(score) {
  const left = score.rowsWithoutTarget ? `; ${fmtNumber(score.rowsWithoutTarget)} rows without a known ${score.target} were left out` : '';
  return h('section', { id: 'prediction-score', 'aria-labelledby': 'prediction-score-h' },
    h('h4', { id: 'prediction-score-h' }, `Scored against “${score.target}” in this file`),
    h('p', { class: 'headline' }, h('span', { class: 'headline-value' }, fmtNumber(score.metrics[score.headlineMetric])), ' ',
      `${metricName(score.headlineMetric)} on ${fmtNumber(score.rowsScored)} rows${left}`),
    tableWrap(h('table', { class: 'data metrics', id: 'prediction-metrics' }, h('tbody', {},
      Object.entries(score.metrics).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, metricName(k)), h('td', { class: 'num' }, fmtNumber(v)))))), 'Metrics on this file'));
}
