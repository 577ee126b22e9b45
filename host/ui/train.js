// The training form: dataset, task, algorithm and target, then a hyperparameter form
// drawn from the plugin's schema. Values are checked here, with the same rules as the
// server, and explained next to the field before anything is sent.

import { h, s, replace, fmtNumber, errorBox } from './dom.js';
import { post, plugins as loadPlugins, datasets as loadDatasets, get, TASKS } from './api.js';

/** Checks one parameter's text the way the server will. Returns [value, error]. */
export function checkParam(p, raw) {
  const range = () => {
    const has = (v) => v !== undefined && v !== null;
    if (has(p.min) && has(p.max)) return `from ${fmtNumber(p.min)} to ${fmtNumber(p.max)}`;
    if (has(p.min)) return `of at least ${fmtNumber(p.min)}`;
    if (has(p.max)) return `of at most ${fmtNumber(p.max)}`;
    return '';
  };
  const inRange = (n) => (p.min === undefined || p.min === null || n >= p.min) && (p.max === undefined || p.max === null || n <= p.max);
  if (p.type === 'bool') return [!!raw, null];
  if (p.type === 'choice') {
    const c = (p.choices || []).find((x) => x.toLowerCase() === String(raw).trim().toLowerCase());
    return c ? [c, null] : [null, `Choose one of: ${(p.choices || []).join(', ')}.`];
  }
  const text = String(raw ?? '').trim();
  if (p.type === 'choice_or_number') {
    const c = (p.choices || []).find((x) => x.toLowerCase() === text.toLowerCase());
    if (c) return [c, null];
    if (text === '') return [null, `Enter one of ${(p.choices || []).join(', ')}, or a number ${range()}.`];
    const n = Number(text);
    if (!Number.isFinite(n)) return [null, `“${text}” is neither one of ${(p.choices || []).join(', ')} nor a number.`];
    if (!inRange(n)) return [null, `Must be a number ${range()}; ${fmtNumber(n)} is out of range.`];
    return [n, null];
  }
  const whole = p.type === 'int';
  if (text === '') return [null, `Enter a ${whole ? 'whole number' : 'number'} ${range()} (default ${p.default}).`];
  const n = Number(text);
  if (!Number.isFinite(n)) return [null, `“${text}” is not a number. Enter a ${whole ? 'whole number' : 'number'} ${range()}.`];
  if (whole && !Number.isInteger(n)) return [null, `Must be a whole number; ${text} has a fraction.`];
  if (!inRange(n)) return [null, `Must be ${whole ? 'a whole number' : 'a number'} ${range()}; ${fmtNumber(n)} is out of range.`];
  return [n, null];
}

function describeType(p) {
  const has = (v) => v !== undefined && v !== null;
  const r = has(p.min) && has(p.max) ? ` from ${fmtNumber(p.min)} to ${fmtNumber(p.max)}` : has(p.min) ? `, at least ${fmtNumber(p.min)}` : has(p.max) ? `, at most ${fmtNumber(p.max)}` : '';
  switch (p.type) {
    case 'int': return `Whole number${r}. Default ${p.default}.`;
    case 'float': return `Number${r}. Default ${p.default}.`;
    case 'bool': return `On or off. Default ${p.default ? 'on' : 'off'}.`;
    case 'choice': return `One of ${(p.choices || []).join(', ')}. Default ${p.default}.`;
    default: return `One of ${(p.choices || []).join(', ')}, or a number${r}. Default ${p.default}.`;
  }
}

/** A fraction field's value and whether it is one from 0 to 0.9 (reported through `fail`). */
function checkFraction(fld, example, fail) {
  const text = fld.control.value.trim();
  const value = Number(text);
  const ok = text !== '' && Number.isFinite(value) && value >= 0 && value <= 0.9;
  fail(fld, ok ? null : `Enter a fraction from 0 to 0.9, for example ${example}.`);
  return [value, ok];
}

/** A tag as the server takes it (`validate::labels_of`). */
const TAG = /^[\p{L}\p{N}_.:-]{1,32}$/u;

export function field(id, labelText, control, help, extra) {
  const err = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const helpEl = help ? h('p', { class: 'help', id: `${id}-help` }, help) : null;
  control.id = id;
  control.setAttribute('aria-describedby', [helpEl && `${id}-help`, `${id}-error`].filter(Boolean).join(' '));
  const isCheck = control.type === 'checkbox';
  const label = h('label', { for: id }, labelText);
  const box = h('div', { class: `field${isCheck ? ' check' : ''}` }, isCheck ? [control, label] : [label, control], extra, helpEl, err);
  return { box, control, err };
}

export function setError(f, message) {
  if (message) {
    f.err.textContent = message;
    f.err.hidden = false;
    f.control.setAttribute('aria-invalid', 'true');
    f.box.classList.add('invalid');
  } else {
    f.err.textContent = '';
    f.err.hidden = true;
    f.control.removeAttribute('aria-invalid');
    f.box.classList.remove('invalid');
  }
}

export async function render({ main, query }) {
  main.append(h('h1', {}, 'Train a model'));
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
  if (!datasets.length) {
    main.append(h('div', { class: 'card' }, h('p', {}, 'There is no dataset yet. '), h('a', { class: 'button primary', href: '#/datasets' }, 'Upload a dataset first')));
    return;
  }
  if (!plugins.length) {
    main.append(errorBox('No algorithm is enabled on this server. An administrator adds plugins in trainhost.toml.'));
    return;
  }
  // Newest first, but tables uploaded only to predict on go last: never the default.
  datasets.sort((a, b) => (!!a.predictOnly - !!b.predictOnly) || (b.createdAt || 0) - (a.createdAt || 0));
  const tasks = TASKS.filter((t) => plugins.some((p) => p.tasks.includes(t)));

  const f = {};
  f.dataset = field('f-dataset', 'Dataset', h('select', { name: 'datasetId', required: true },
    datasets.map((d) => h('option', { value: d.id }, `${d.name} (${fmtNumber(d.rows)} rows${d.predictOnly ? ', uploaded to predict on' : ''})`))));
  f.task = field('f-task', 'Task', h('select', { name: 'taskType' }, tasks.map((t) => h('option', { value: t }, t))),
    'Classification predicts a category, regression a number, clustering finds groups without a target.');
  f.plugin = field('f-plugin', 'Algorithm', h('select', { name: 'selectedModel' }));
  f.target = field('f-target', 'Target column', h('select', { name: 'targetColumn' }));
  f.test = field('f-test-fraction', 'Test fraction', h('input', { type: 'text', inputmode: 'decimal', value: '0.2', name: 'testFraction' }),
    'Share of rows kept aside to score the model. The algorithm never sees them. From 0 to 0.9; default 0.2; 0 scores the model on its own training rows.');
  f.pluginValidation = field('f-plugin-validation', 'Validation fraction (for the algorithm)',
    h('input', { type: 'text', inputmode: 'decimal', value: '0.1', name: 'pluginValidationFraction' }),
    'Share of rows handed to the algorithm to check itself while it trains (early stopping, progress). Not used for the score. Default 0.1; 0 for none. With the test fraction, at most 0.9.');
  f.folds = field('f-folds', 'Cross-validation folds', h('input', { type: 'text', inputmode: 'numeric', value: '0', name: 'folds' }),
    'Before the final model: this many fits on folds of the training rows (never the test rows), scored as mean ± standard deviation. 0 for none; else 2 to 20. Each fold is one more fit: the job takes that much longer.');
  f.seed = field('f-seed', 'Random seed', h('input', { type: 'text', inputmode: 'numeric', value: '42', name: 'seed' }),
    'Same seed, same split and same model. Whole number, at least 0.');
  f.name = field('f-name', 'Run name (optional)', h('input', { type: 'text', name: 'name', maxlength: '100', autocomplete: 'off' }),
    'Shown in the job history and when comparing runs. At most 100 characters.');
  f.tags = field('f-tags', 'Tags (optional)', h('input', { type: 'text', name: 'tags', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. baseline, deep-trees' }),
    'Comma-separated, to filter the history by. Up to 10; each 1 to 32 letters, digits, -, _, . or :.');
  const pluginDesc = h('p', { class: 'help', id: 'plugin-desc' });
  const paramsBox = h('div', { class: 'params', id: 'params' });
  const formError = h('div', { id: 'form-error' });
  const columnsNote = h('div', { id: 'columns-note' });
  const balanceBox = h('div', { id: 'target-balance', 'aria-live': 'polite' });
  const columnsBox = h('div', { class: 'columns-box', id: 'columns-box' });
  const columnsErr = h('p', { class: 'field-error', id: 'columns-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary big', id: 'train-submit' }, 'Train Model');
  const reset = h('button', { type: 'button', class: 'button', id: 'reset-params' }, 'Reset to defaults');

  const form = h('form', { class: 'card train-form', novalidate: true, 'aria-labelledby': 'setup-h' },
    h('h2', { id: 'setup-h' }, 'What to train'),
    h('div', { class: 'grid' }, f.dataset.box, f.task.box, f.plugin.box, f.target.box),
    pluginDesc,
    balanceBox,
    columnsNote,
    h('details', { class: 'advanced-columns', id: 'columns-details' }, h('summary', {}, 'Columns the model learns from'), columnsErr, columnsBox),
    h('fieldset', { class: 'hyper' }, h('legend', {}, 'Hyperparameters'), paramsBox, h('div', { class: 'row' }, reset)),
    h('details', { class: 'advanced' }, h('summary', {}, 'Split, cross-validation and seed'), h('div', { class: 'grid' }, f.test.box, f.pluginValidation.box, f.folds.box, f.seed.box)),
    h('div', { class: 'grid' }, f.name.box, f.tags.box),
    formError,
    h('div', { class: 'row' }, submit));
  main.append(form);

  let paramFields = [];
  let columns = [];
  let columnRows = [];

  const want = query.get('dataset');
  if (want && datasets.some((d) => d.id === want)) f.dataset.control.value = want;

  const selectedPlugin = () => plugins.find((p) => p.name === f.plugin.control.value);

  function fillPlugins() {
    const task = f.task.control.value;
    const keep = f.plugin.control.value;
    const usable = plugins.filter((p) => p.tasks.includes(task));
    replace(f.plugin.control, usable.map((p) => h('option', { value: p.name }, `${p.name} (v${p.version})`)));
    if (usable.some((p) => p.name === keep)) f.plugin.control.value = keep;
    else { const rf = usable.find((p) => p.name === 'random_forest'); if (rf) f.plugin.control.value = rf.name; }
    fillParams();
  }

  function fillParams() {
    const p = selectedPlugin();
    pluginDesc.textContent = p ? p.description : '';
    paramFields = [];
    if (!p) { replace(paramsBox, h('p', { class: 'muted' }, 'No algorithm does this task.')); return; }
    if (!p.params.length) { replace(paramsBox, h('p', { class: 'muted' }, `${p.name} takes no hyperparameters.`)); return; }
    const boxes = p.params.map((param) => {
      const id = `param-${param.name}`;
      let control, extra = null;
      if (param.type === 'bool') control = h('input', { type: 'checkbox', name: param.name, checked: !!param.default });
      else if (param.type === 'choice') control = h('select', { name: param.name }, param.choices.map((c) => h('option', { value: c, selected: c === param.default }, c)));
      else {
        const isNum = param.type === 'int' || param.type === 'float';
        control = h('input', { type: 'text', name: param.name, value: String(param.default), inputmode: isNum ? (param.type === 'int' ? 'numeric' : 'decimal') : null, autocomplete: 'off', spellcheck: 'false' });
        if (param.type === 'choice_or_number') {
          const listId = `${id}-choices`;
          control.setAttribute('list', listId);
          extra = h('datalist', { id: listId }, param.choices.map((c) => h('option', { value: c })));
        }
      }
      const fld = field(id, param.name, control, [param.help, param.help && !/[.!?]$/.test(param.help.trim()) ? '. ' : ' ', describeType(param)].join('').trim(), extra);
      fld.param = param;
      const check = () => { const [, err] = checkParam(param, control.type === 'checkbox' ? control.checked : control.value); setError(fld, err); return !err; };
      control.addEventListener('input', check); // explained while typing, so nothing moves under the pointer on submit
      control.addEventListener('change', check);
      control.addEventListener('blur', check);
      paramFields.push(fld);
      return fld.box;
    });
    replace(paramsBox, boxes);
  }

  async function fillTargets() {
    const id = f.dataset.control.value;
    try {
      const d = (await get(`/datasets/${encodeURIComponent(id)}`)).data;
      columns = d.columns || [];
    } catch (e) {
      columns = [];
      setError(f.dataset, `Could not read this dataset's columns: ${e.message}`);
      return;
    }
    setError(f.dataset, null);
    updateTargets();
  }

  function updateTargets() {
    const task = f.task.control.value;
    const keep = f.target.control.value;
    const sel = f.target.control;
    if (task === 'clustering') {
      replace(sel, h('option', { value: '' }, 'none (clustering has no target)'));
      sel.disabled = true;
      setError(f.target, null);
      return;
    }
    sel.disabled = false;
    replace(sel, h('option', { value: '' }, 'Choose a column…'), columns.map((c) => {
      const bad = (task === 'regression' && c.kind !== 'numeric') || c.kind === 'text';
      return h('option', { value: c.name, disabled: bad }, `${c.name} (${c.kind}${bad ? task === 'regression' && c.kind !== 'text' ? ', not numeric' : ', free text' : ''})`);
    }));
    const usable = (name) => columns.some((c) => c.name === name) && !sel.querySelector(`option[value="${CSS.escape(name)}"]`).disabled;
    if (keep && usable(keep)) sel.value = keep;
    fillColumns();
  }

  /** One row per column but the target: use it or not, and as what. Left out by default: unticked, with the reason. */
  function fillColumns() {
    const target = f.task.control.value === 'clustering' ? null : f.target.control.value;
    const chosen = columns.find((c) => c.name === target);
    replace(balanceBox, chosen ? targetBalance(chosen, f.task.control.value) : '');
    const shown = columns.filter((c) => c.name !== target);
    const left = shown.filter((c) => c.excludedByDefault);
    replace(columnsNote, left.length ? h('div', { class: 'notice', role: 'note' },
      h('strong', {}, `Left out by default (${left.length}): `),
      left.slice(0, 5).map((c) => `${c.name}: ${c.excludedByDefault.split(';')[0]}`).join(' · '),
      left.length > 5 ? ` · and ${left.length - 5} more` : '', '. Change this under “Columns the model learns from”.') : '');
    columnRows = shown.map((c, i) => {
      const useId = `column-use-${i}`, kindId = `column-kind-${i}`;
      const use = h('input', { type: 'checkbox', id: useId, checked: !c.excludedByDefault, 'data-column': c.name });
      const numberLike = ['numeric', 'boolean', 'datetime'].includes(c.kind);
      const kind = h('select', { id: kindId }, h('option', { value: '' }, `as inferred (${c.kind})`),
        numberLike ? h('option', { value: 'numeric' }, 'numeric') : null, h('option', { value: 'categorical' }, 'categorical'));
      const note = c.excludedByDefault ? `${c.excludedByDefault.split(';')[0]}. Tick “Use” to include it anyway.` : '';
      return { column: c, use, kind, row: h('tr', {}, h('td', {}, use), h('th', { scope: 'row' }, h('label', { for: useId }, c.name)),
        h('td', {}, h('label', { for: kindId, class: 'sr-only' }, `kind of ${c.name}`), kind), h('td', { class: 'muted' }, note)) };
    });
    replace(columnsBox, shown.length > 12 ? h('p', { class: 'help' }, `${shown.length} columns.`) : '',
      h('div', { class: 'table-wrap columns-scroll' }, h('table', { class: 'columns-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Use'), h('th', {}, 'Column'), h('th', {}, 'Kind'), h('th', {}, 'Note'))),
        h('tbody', {}, columnRows.map((r) => r.row)))));
  }

  /** `excludeColumns` and `columnKinds` for the choices made above; a column left out by default but ticked is brought back with a kind. */
  function columnChoices() {
    const excludeColumns = [];
    const columnKinds = {};
    for (const { column, use, kind } of columnRows) {
      if (!use.checked) { if (!column.excludedByDefault) excludeColumns.push(column.name); continue; }
      if (kind.value) columnKinds[column.name] = kind.value;
      else if (column.excludedByDefault) columnKinds[column.name] = ['numeric', 'boolean', 'datetime'].includes(column.kind) ? 'numeric' : 'categorical';
    }
    return { excludeColumns, columnKinds };
  }

  function checkAll() {
    let first = null;
    const fail = (fld, msg) => { setError(fld, msg); if (msg && !first) first = fld; };
    fail(f.dataset, f.dataset.control.value ? null : 'Choose a dataset.');
    fail(f.plugin, f.plugin.control.value ? null : 'Choose an algorithm that does this task.');
    if (f.task.control.value !== 'clustering') fail(f.target, f.target.control.value ? null : 'Choose the column to predict.');
    else setError(f.target, null);
    const config = { selectedModel: f.plugin.control.value };
    for (const fld of paramFields) {
      const c = fld.control;
      const [value, err] = checkParam(fld.param, c.type === 'checkbox' ? c.checked : c.value);
      fail(fld, err);
      if (!err) config[fld.param.name] = value;
    }
    const [testFraction, testOk] = checkFraction(f.test, '0.2', fail);
    const [pluginValidationFraction, pvOk] = checkFraction(f.pluginValidation, '0.1', fail);
    if (testOk && pvOk && testFraction + pluginValidationFraction > 0.9 + 1e-9) {
      fail(f.pluginValidation, `With a test fraction of ${testFraction}, this may be at most ${Math.max(0, Math.round((0.9 - testFraction) * 1000) / 1000)}: the algorithm must keep at least a tenth of the rows to train on.`);
    }
    const seedText = f.seed.control.value.trim();
    const seed = Number(seedText);
    fail(f.seed, seedText !== '' && Number.isInteger(seed) && seed >= 0 ? null : 'Enter a whole number of at least 0, for example 42.');
    const foldsText = f.folds.control.value.trim();
    const folds = foldsText === '' ? 0 : Number(foldsText);
    const foldsOk = Number.isInteger(folds) && (folds === 0 || (folds >= 2 && folds <= 20));
    fail(f.folds, !foldsOk ? 'Enter 0 for none, or a whole number from 2 to 20.'
      : folds && f.task.control.value === 'clustering' ? 'Clustering is not cross-validated (it is scored on every row): enter 0.' : null);
    const name = f.name.control.value.trim();
    fail(f.name, name.length <= 100 ? null : 'At most 100 characters.');
    const tags = [...new Set(f.tags.control.value.split(',').map((t) => t.trim()).filter(Boolean))];
    const badTag = tags.find((t) => !TAG.test(t));
    fail(f.tags, badTag !== undefined ? `“${badTag}” is not a tag: use 1 to 32 letters, digits, -, _, . or :, and commas between tags.` : tags.length > 10 ? `At most 10 tags (${tags.length} given).` : null);
    const labels = { ...(name ? { name } : {}), ...(tags.length ? { tags } : {}) };
    return { first, body: { datasetId: f.dataset.control.value, targetColumn: f.task.control.value === 'clustering' ? null : f.target.control.value, taskType: f.task.control.value, modelConfig: config, testFraction, pluginValidationFraction, seed, ...(folds ? { folds } : {}), ...columnChoices(), ...labels } };
  }

  function fieldFor(name) {
    if (!name) return null;
    if (name === 'datasetId') return f.dataset;
    if (name === 'targetColumn') return f.target;
    if (name === 'taskType') return f.task;
    if (name === 'seed') return f.seed;
    if (name === 'folds') return f.folds;
    if (name === 'name') return f.name;
    if (name === 'tags') return f.tags;
    if (name === 'testFraction' || name === 'validationFraction') return f.test;
    if (name === 'pluginValidationFraction') return f.pluginValidation;
    if (name === 'excludeColumns' || name === 'columnKinds') return { box: columnsBox, control: columnsBox.querySelector('input') || f.target.control, err: columnsErr };
    if (name === 'modelConfig' || name === 'modelConfig.selectedModel') return f.plugin;
    const m = /^modelConfig\.(.+)$/.exec(name);
    return m ? paramFields.find((x) => x.param.name === m[1]) || null : null;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(formError);
    const { first, body } = checkAll();
    if (first) {
      replace(formError, errorBox('Some values need fixing before training can start; see the messages next to the fields.'));
      first.control.focus();
      if (first.box.closest('details')) first.box.closest('details').open = true;
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Starting…';
    try {
      const res = await post('/train', body);
      location.hash = `#/jobs/${res.data.jobId}`;
    } catch (err) {
      const fld = fieldFor(err.field);
      const message = friendly(err);
      if (fld) {
        setError(fld, message);
        if (fld.box.closest('details')) fld.box.closest('details').open = true;
        fld.control.focus();
        const label = fld.box.querySelector('label')?.textContent || 'a field';
        replace(formError, errorBox(`The server refused to start training; see the message at “${label}”.`));
      } else {
        replace(formError, errorBox(`Training could not start: ${message}`));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = 'Train Model';
    }
  });

  reset.addEventListener('click', fillParams);
  const showReset = () => { reset.hidden = !paramFields.length; };
  f.plugin.control.addEventListener('change', showReset);
  f.task.control.addEventListener('change', showReset);
  f.task.control.addEventListener('change', () => { fillPlugins(); updateTargets(); });
  f.plugin.control.addEventListener('change', fillParams);
  f.dataset.control.addEventListener('change', fillTargets);
  f.target.control.addEventListener('change', () => { if (f.target.control.value) setError(f.target, null); fillColumns(); });

  fillPlugins();
  showReset();
  await fillTargets();
}

/** The server's refusal in the words of this form (its messages also serve API clients). */
function friendly(err) {
  switch (err.code) {
    case 'dataset_not_found': return 'This dataset no longer exists (it may have been deleted). Choose another one, or upload it again.';
    case 'unknown_column': return 'This column is not in the dataset. Choose one of the listed columns.';
    case 'invalid_parameter': return err.message.replace(/^modelConfig\.[A-Za-z0-9]+: /, '').replace(/^must/, 'Must');
    case 'offline': return err.message;
    default: return err.message;
  }
}

/** How the chosen target's rows are spread, from the dataset's column statistics:
 *  the most common classes with their counts, or a small histogram of a number. */
function targetBalance(c, task) {
  const st = c.stats;
  if (!st) return '';
  const title = h('strong', {}, `Target balance (${c.name}): `);
  if (st.top_levels && st.top_levels.length) {
    const more = Number.isFinite(c.distinct) && c.distinct > st.top_levels.length ? ` and ${fmtNumber(c.distinct - st.top_levels.length)} more classes` : '';
    return h('div', { class: 'notice target-balance', role: 'note' }, title,
      h('ul', { class: 'balance-list' }, st.top_levels.map(([name, n]) => h('li', {}, h('span', { class: 'level' }, name), ` ${fmtNumber(n)}`))), more);
  }
  if (st.histogram && st.histogram.length) {
    const max = Math.max(1, ...st.histogram);
    const W = 180, H = 36, bw = W / st.histogram.length;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'spark', role: 'img',
      'aria-label': `histogram of ${c.name} from ${fmtNumber(st.min)} to ${fmtNumber(st.max)}: ${st.histogram.join(', ')} rows` });
    st.histogram.forEach((n, i) => { const bh = Math.max(n ? 1 : 0, (n / max) * H); svg.append(s('rect', { x: i * bw + 0.5, y: H - bh, width: bw - 1, height: bh }, s('title', {}, `${fmtNumber(n)} rows`))); });
    const classes = task === 'classification' && Number.isFinite(c.distinct) ? `, ${fmtNumber(c.distinct)} classes` : '';
    return h('div', { class: 'notice target-balance', role: 'note' }, title, svg, ` ${fmtNumber(st.min)} – ${fmtNumber(st.max)}, mean ${fmtNumber(st.mean)}${classes}`);
  }
  return '';
}
