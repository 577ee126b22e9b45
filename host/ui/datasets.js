// Datasets: upload (drag and drop or pick, with a progress bar), the list, and a preview
// with each column's inferred kind, missing count and the first rows.

import { h, s, replace, fmtBytes, fmtDate, fmtNumber, errorBox, tableWrap, toast } from './dom.js';
import { upload, get, del, datasets as listDatasets } from './api.js';

const ACCEPTED = /\.(csv|parquet|pq)$/i;

export async function render({ main, setCleanup }, id) {
  const status = h('div', { class: 'upload-status', id: 'upload-status' });
  const input = h('input', { type: 'file', id: 'file-input', accept: '.csv,.parquet,.pq', class: 'sr-only', tabindex: '-1', 'aria-hidden': 'true' });
  const pick = h('button', { type: 'button', class: 'button primary', id: 'pick-file', 'aria-describedby': 'drop-help' }, 'Choose a file…');
  const drop = h('div', { class: 'drop', id: 'drop-zone' },
    h('p', { id: 'drop-help' }, 'Drag a CSV or Parquet file here, or'), pick, input,
    h('p', { class: 'hint' }, 'Columns are typed automatically; you pick the target when you train.'));
  const listBox = h('div', { id: 'dataset-list', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading datasets…'));
  const preview = h('div', { id: 'dataset-preview' });

  main.append(
    h('h1', {}, 'Datasets'),
    h('section', { class: 'card', 'aria-labelledby': 'upload-h' }, h('h2', { id: 'upload-h' }, 'Upload a table'), drop, status),
    h('div', { class: 'split' },
      h('section', { class: 'card', 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h' }, 'Your datasets'), listBox),
      preview),
  );

  let active = true;
  setCleanup(() => { active = false; });

  pick.addEventListener('click', () => input.click());
  input.addEventListener('change', () => { if (input.files[0]) send(input.files[0]); input.value = ''; });
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  drop.addEventListener('drop', (e) => { const f = e.dataTransfer.files[0]; if (f) send(f); });

  async function send(file) {
    if (!ACCEPTED.test(file.name)) {
      replace(status, errorBox(`“${file.name}” is not a CSV or Parquet file. Choose a file ending in .csv or .parquet.`));
      return;
    }
    const bar = h('progress', { max: '100', value: '0', id: 'upload-progress', 'aria-label': `Uploading ${file.name}` });
    const text = h('span', { class: 'progress-text', 'aria-live': 'polite' }, `Uploading ${file.name}…`);
    replace(status, h('div', { class: 'progress-row' }, bar, text));
    pick.disabled = true;
    try {
      const record = await upload(file, (loaded, total) => {
        const pct = Math.round((loaded / total) * 100);
        bar.value = pct;
        text.textContent = pct < 100 ? `${pct}% of ${fmtBytes(total)} sent` : 'Sent; reading the table…';
      });
      bar.value = 100;
      replace(status, h('p', { class: 'ok', role: 'status' }, `Uploaded “${record.name}”: ${fmtNumber(record.rows)} rows, ${record.columns.length} columns.`));
      toast(`Uploaded ${record.name}`);
      location.hash = `#/datasets/${record.id}`;
    } catch (e) {
      replace(status, errorBox(`Could not upload “${file.name}”: ${e.message}`));
    } finally {
      pick.disabled = false;
    }
  }

  async function refreshList() {
    let items;
    try {
      items = await listDatasets();
    } catch (e) {
      replace(listBox, errorBox(`Could not load the datasets: ${e.message}`));
      return;
    }
    if (!active) return;
    listBox.removeAttribute('aria-busy');
    if (!items.length) { replace(listBox, h('p', { class: 'muted' }, 'No datasets yet. Upload a CSV or Parquet file to begin.')); return; }
    items.sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
    const rows = items.map((d) => h('tr', { class: d.id === id ? 'selected' : '' },
      h('th', { scope: 'row' }, h('a', { href: `#/datasets/${d.id}`, 'aria-current': d.id === id ? 'true' : null }, d.name),
        d.predictOnly ? [' ', h('span', { class: 'tag predict-only', title: 'Uploaded from a job page to predict on; never the train form’s default' }, 'for prediction')] : null),
      h('td', { class: 'num' }, fmtNumber(d.rows)),
      h('td', { class: 'num' }, String(Array.isArray(d.columns) ? d.columns.length : d.columns)),
      h('td', { class: 'num' }, fmtBytes(d.sizeBytes)),
      h('td', {}, fmtDate(d.createdAt)),
      h('td', { class: 'actions' },
        h('a', { class: 'button small', href: `#/train?dataset=${d.id}`, 'aria-label': `Train on ${d.name}` }, 'Train'),
        h('button', { type: 'button', class: 'button small danger', 'aria-label': `Delete ${d.name}`, onclick: () => remove(d) }, 'Delete')),
    ));
    replace(listBox, tableWrap(h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['Name', 'Rows', 'Columns', 'Size', 'Uploaded', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)), 'Datasets'));
  }

  async function remove(d) {
    if (!window.confirm(`Delete the dataset “${d.name}”? Jobs trained on it keep their models.`)) return;
    try {
      await del(`/datasets/${encodeURIComponent(d.id)}`);
      toast(`Deleted ${d.name}`);
      if (d.id === id) location.hash = '#/datasets'; else refreshList();
    } catch (e) {
      replace(listBox.querySelector('.list-error') || listBox.appendChild(h('div', { class: 'list-error' })), errorBox(`Could not delete “${d.name}”: ${e.message}`));
    }
  }

  refreshList();
  if (id) await showPreview(preview, id);
}

async function showPreview(box, id) {
  box.className = 'card';
  box.setAttribute('aria-labelledby', 'preview-h');
  replace(box, h('h2', { id: 'preview-h' }, 'Preview'), h('p', { class: 'muted' }, 'Loading…'));
  let d;
  try {
    d = (await get(`/datasets/${encodeURIComponent(id)}`)).data;
  } catch (e) {
    replace(box, h('h2', { id: 'preview-h' }, 'Preview'), errorBox(e.status === 404 ? 'This dataset does not exist (it may have been deleted).' : `Could not load the dataset: ${e.message}`));
    return;
  }
  const cols = d.columns || [];
  const columnBox = h('div', { id: 'column-pages' });
  const PAGE = 50;
  const showColumns = (page) => {
    const shown = cols.slice(page * PAGE, (page + 1) * PAGE);
    const pages = Math.ceil(cols.length / PAGE);
    const nav = pages > 1 ? h('p', { class: 'row pager' },
      h('button', { type: 'button', class: 'button', id: 'columns-prev', disabled: page === 0, onclick: () => showColumns(page - 1) }, '← Previous'),
      h('span', { id: 'columns-page' }, ` Columns ${page * PAGE + 1}–${page * PAGE + shown.length} of ${cols.length} `),
      h('button', { type: 'button', class: 'button', id: 'columns-next', disabled: page + 1 >= pages, onclick: () => showColumns(page + 1) }, 'Next →')) : null;
    replace(columnBox, nav, tableWrap(h('table', { class: 'data', id: 'column-table' },
      h('caption', {}, 'Columns with their inferred kind and statistics'),
      h('thead', {}, h('tr', {}, ['Column', 'Kind', 'Type', 'Missing', 'Distinct', 'Values', 'Notes'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, shown.map((c) => h('tr', {},
        h('th', { scope: 'row' }, c.name),
        h('td', {}, h('span', { class: `kind kind-${c.kind}` }, c.kind)),
        h('td', { class: 'muted' }, c.dtype),
        h('td', { class: `num${c.missing ? ' warn' : ''}` }, fmtNumber(c.missing)),
        h('td', { class: 'num' }, fmtNumber(c.distinct)),
        h('td', { class: 'col-values' }, columnValues(c.stats)),
        h('td', { class: 'col-notes' }, columnNotes(c)))))), 'Columns'));
  };
  showColumns(0);
  const rows = d.preview || [];
  // The preview keeps only the first columns of a wide table: show those it has.
  const names = cols.map((c) => c.name).filter((n) => !rows.length || n in rows[0]);
  const shownCols = names.length < cols.length ? ` (first ${names.length} of ${cols.length} columns)` : '';
  const rowTable = h('table', { class: 'data compact', id: 'preview-rows' },
    h('caption', {}, `First ${rows.length} rows${shownCols}`),
    h('thead', {}, h('tr', {}, names.map((n) => h('th', { scope: 'col' }, n)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, names.map((n) => {
      const v = r[n];
      return h('td', { class: v === null || v === undefined ? 'missing' : typeof v === 'number' ? 'num' : '' }, v === null || v === undefined ? 'missing' : typeof v === 'number' ? fmtNumber(v) : String(v));
    })))));
  replace(box,
    h('h2', { id: 'preview-h' }, d.name),
    h('p', { class: 'meta' }, `${fmtNumber(d.rows)} rows · ${cols.length} columns · ${d.format} · ${fmtBytes(d.sizeBytes ?? d.size_bytes)}`),
    h('p', {}, h('a', { class: 'button primary', href: `#/train?dataset=${d.id}`, id: 'train-this' }, 'Train a model on this dataset')),
    columnBox,
    tableWrap(rowTable, 'First rows'));
}

/** Range, mean and a small histogram of a number column; the top levels of a category. */
function columnValues(st) {
  if (!st) return '';
  if (st.histogram && st.histogram.length) {
    const max = Math.max(1, ...st.histogram);
    const W = 96, H = 24, bw = W / st.histogram.length;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'spark', role: 'img',
      'aria-label': `histogram from ${fmtNumber(st.min)} to ${fmtNumber(st.max)}: ${st.histogram.join(', ')} rows` });
    st.histogram.forEach((n, i) => { const bh = Math.max(n ? 1 : 0, (n / max) * H); svg.append(s('rect', { x: i * bw + 0.5, y: H - bh, width: bw - 1, height: bh }, s('title', {}, `${n} rows`))); });
    return h('span', { class: 'stats' }, svg, ` ${fmtNumber(st.min)} – ${fmtNumber(st.max)}, mean ${fmtNumber(st.mean)}`);
  }
  if (st.top_levels && st.top_levels.length) return st.top_levels.map(([name, n]) => `${name} (${fmtNumber(n)})`).join(', ');
  return '';
}

function columnNotes(c) {
  const notes = [];
  if (c.excludedByDefault) notes.push(`left out by default: ${c.excludedByDefault.split(';')[0]}`);
  for (const w of (c.stats && c.stats.warnings) || []) notes.push(w);
  return notes.length ? h('ul', { class: 'warn-list' }, notes.map((n) => h('li', {}, n))) : '';
}
