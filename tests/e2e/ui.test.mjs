// End-to-end tests of the web UI: a real `trainhost serve` (embedded broker, temp data
// dir, free port) driven through Debian's chromium with playwright-core.
// Screenshots of each main screen are kept in tests/e2e/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const artifacts = path.join(here, 'artifacts');
const plugins = path.join(root, 'build/plugins');
const penguins = path.join(root, 'testdata/penguins.csv');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const binary = process.env.E2E_TRAINHOST_BIN || path.join(targetDir, 'debug/trainhost');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

let server, base, browser, tmp, datasetId, signInUrl, adminToken;
const external = [];
const serverLog = [];

function startServer() {
  for (const f of ['baseline.wasm', 'random_forest.wasm', 'kmodes.wasm', 'linear.wasm', 'gbdt.wasm', 'test_slow.wasm']) {
    if (!fs.existsSync(path.join(plugins, f))) throw new Error(`${path.join(plugins, f)} is missing: run scripts/build-plugins (random_forest comes with the random_forest plugin)`);
  }
  if (!fs.existsSync(binary)) throw new Error(`no trainhost binary at ${binary}: run cargo build -p trainhost --bin trainhost (or set E2E_TRAINHOST_BIN)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trainhost-e2e-'));
  const config = path.join(tmp, 'trainhost.toml');
  fs.writeFileSync(config, `plugin_dir = ${JSON.stringify(plugins)}
[server]
bind = "127.0.0.1:0"
[storage]
data_dir = ${JSON.stringify(path.join(tmp, 'data'))}
[workers]
concurrency = 2
[[plugins]]
name = "baseline"
path = ${JSON.stringify(path.join(plugins, 'baseline.wasm'))}
[[plugins]]
name = "random_forest"
path = ${JSON.stringify(path.join(plugins, 'random_forest.wasm'))}
[[plugins]]
name = "kmodes"
path = ${JSON.stringify(path.join(plugins, 'kmodes.wasm'))}
[[plugins]]
name = "linear"
path = ${JSON.stringify(path.join(plugins, 'linear.wasm'))}
[[plugins]]
name = "gbdt"
path = ${JSON.stringify(path.join(plugins, 'gbdt.wasm'))}
[[plugins]]
name = "slow"
path = ${JSON.stringify(path.join(plugins, 'test_slow.wasm'))}
limits = { time_secs = 900.0 }
`);
  server = spawn(binary, ['--config', config, 'serve', '--bind', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRAINHOST_') && k !== 'REDIS_URL')), TRAINHOST_LOG: 'info' } });
  server.stderr.on('data', (d) => serverLog.push(String(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`trainhost did not start within 120 s:\n${serverLog.join('')}`)), 120_000);
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      // The first admin's sign-in link, printed once after the address (accounts are on by default).
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      const link = /admin sign-in[^\n]*?(http:\/\/\S+#token=(\S+))/.exec(out);
      if (m && link) { clearTimeout(timer); signInUrl = link[1]; adminToken = link[2]; resolve(m[1]); }
    });
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`trainhost exited with ${code}:\n${serverLog.join('')}`)); });
  });
}

/** fetch() as the admin (the API needs a token). */
function authed(url, init = {}) {
  return fetch(url, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${adminToken}` } });
}

async function apiGet(p, token = adminToken) {
  const res = await fetch(base + p, { headers: { Authorization: `Bearer ${token}` } });
  return res.json();
}

/** A browser page; signed in as `token` (the admin's by default; null: not signed in). */
async function newPage({ width = 1280, height = 900, token = adminToken } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  if (token) {
    // The session cookie, as the sign-in screen gets it; the page reads its CSRF value from /me.
    const res = await context.request.post(`${base}/auth/session`, { data: { token } });
    assert.equal(res.status(), 201, await res.text());
  }
  // Records each value the job's progress bar takes, to see it move.
  await context.addInitScript(() => {
    window.__progress = [];
    new MutationObserver((muts) => {
      for (const m of muts) if (m.target.id === 'job-progress') window.__progress.push(Number(m.target.getAttribute('value')));
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['value'] });
    // And each line the job page says about what it is doing, in order.
    window.__phases = [];
    new MutationObserver((muts) => {
      for (const m of muts) {
        // The text node each assignment added, not the element's text now (the callback runs later).
        const t = m.target.id === 'epoch-text' && m.addedNodes.length ? m.addedNodes[0].textContent : null;
        if (t && window.__phases[window.__phases.length - 1] !== t) window.__phases.push(t);
      }
    }).observe(document, { subtree: true, childList: true });
  });
  const page = await context.newPage();
  page.on('request', (r) => { const u = r.url(); if (!u.startsWith(base) && !u.startsWith('ws://127.0.0.1') && !u.startsWith('blob:') && !u.startsWith('data:')) external.push(u); });
  page.on('pageerror', (e) => { throw new Error(`error in the page: ${e.message}`); });
  return page;
}

async function shot(page, name) {
  await page.evaluate(() => { const t = document.getElementById('toast'); if (t) { t.style.transition = 'none'; t.classList.remove('show'); } });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

/** No horizontal scrolling of the page itself (wide tables scroll inside their box). */
async function assertFits(page) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `the page is ${scroll}px wide in a ${width}px window`);
}

async function openTrainForm(page, plugin) {
  await page.goto(`${base}/#/train?dataset=${datasetId}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'classification');
  await page.selectOption('#f-plugin', plugin);
  await page.waitForSelector('#f-target option[value="species"]', { state: 'attached' });
  await page.selectOption('#f-target', 'species');
}

async function epochOf(page) {
  const text = await page.textContent('#epoch-text');
  const m = /Epoch (\d+) of (\d+)/.exec(text || '');
  return m ? Number(m[1]) : 0;
}

async function logSeqs(page) {
  return page.$$eval('#job-log li', (lis) => lis.map((li) => Number(li.dataset.seq)));
}

before(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  base = await startServer();
  const ui = await fetch(`${base}/ui/app.js`);
  assert.equal(ui.status, 200, `${binary} does not serve the UI (a build of another branch in a shared target dir?)`);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { server.kill('SIGKILL'); r(); }, 5000); server.on('exit', () => { clearTimeout(t); r(); }); });
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the UI and its files are served by trainhost itself', async () => {
  const index = await fetch(`${base}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /text\/html/);
  assert.match(await index.text(), /<script type="module" src="\/ui\/app.js">/);
  const css = await fetch(`${base}/ui/style.css`);
  assert.match(css.headers.get('content-type'), /text\/css/);
  const js = await fetch(`${base}/ui/job.js`);
  assert.match(js.headers.get('content-type'), /javascript/);
  for (const bad of ['/ui/..%2FCargo.toml', '/ui/nope.js', '/ui/../Cargo.toml']) assert.equal((await authed(base + bad)).status, 404, bad);
});

test('upload penguins.csv with a progress bar and see the preview', async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('#dataset-list:not([aria-busy])');
  assert.match(await page.textContent('#dataset-list'), /No datasets yet/);
  // Watch the upload progress bar appear and fill.
  await page.evaluate(() => {
    window.__upload = [];
    new MutationObserver(() => { const p = document.getElementById('upload-progress'); if (p) window.__upload.push(p.value); })
      .observe(document.getElementById('upload-status'), { subtree: true, childList: true, attributes: true });
  });
  await page.setInputFiles('#file-input', penguins);
  await page.waitForSelector('#column-table');
  assert.ok((await page.evaluate(() => window.__upload.length)) > 0, 'the upload progress bar was shown');
  datasetId = /#\/datasets\/(.+)$/.exec(page.url())[1];

  const columns = await page.$$eval('#column-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())));
  const byName = Object.fromEntries(columns.map((c) => [c[0], c]));
  assert.equal(columns.length, 8);
  assert.equal(byName.species[1], 'categorical');
  assert.equal(byName.bill_length_mm[1], 'numeric');
  assert.equal(byName.sex[3], '11', 'missing count of sex');
  assert.equal(await page.locator('#preview-rows tbody tr').count(), 10);
  assert.match(await page.textContent('#preview-rows tbody tr:first-child'), /Adelie\s*Torgersen\s*39\.1/);
  assert.match(await page.textContent('#dataset-list'), /penguins\.csv/);
  await shot(page, 'datasets-preview');

  await page.setViewportSize({ width: 390, height: 844 });
  await assertFits(page);
  await shot(page, 'datasets-preview-phone');
  await page.context().close();
});

test('a wrong file is refused in plain words where it was dropped', async () => {
  const page = await newPage();
  await page.goto(`${base}/#/datasets`);
  // Dropped on the drop zone.
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['hello'], 'notes.txt', { type: 'text/plain' }));
    return dt;
  });
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dropped });
  assert.match(await page.textContent('#upload-status [role=alert]'), /“notes\.txt” is not a CSV or Parquet file/);
  // The server's own refusal (a CSV it cannot read) is shown the same way.
  await page.setInputFiles('#file-input', { name: 'empty.csv', mimeType: 'text/csv', buffer: Buffer.from('') });
  await page.waitForSelector('#upload-status [role=alert]:has-text("empty.csv")');
  assert.match(await page.textContent('#upload-status [role=alert]'), /^Could not upload “empty\.csv”: /);
  await shot(page, 'datasets-upload-error');
  await page.context().close();
});

test('an invalid parameter is refused with its message before any job is created', async () => {
  const page = await newPage();
  const posted = [];
  page.on('request', (r) => { if (r.method() === 'POST') posted.push(r.url()); });
  await openTrainForm(page, 'random_forest');
  // The form is drawn from the plugin's schema: types, defaults, bounds, help.
  assert.equal(await page.inputValue('#param-nEstimators'), '100');
  assert.match(await page.textContent('#param-nEstimators-help'), /Number of trees.*Whole number from 1 to 5,000\. Default 100\./);
  assert.equal(await page.isChecked('#param-bootstrap'), true);
  assert.deepEqual(await page.$$eval('#param-criterion option', (o) => o.map((x) => x.value)), ['auto', 'gini', 'entropy', 'squared_error']);

  await page.fill('#param-nEstimators', '0');
  await page.click('#train-submit');
  const error = page.locator('#param-nEstimators-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /Must be a whole number from 1 to 5,000; 0 is out of range/);
  assert.equal(await page.getAttribute('#param-nEstimators', 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'param-nEstimators', 'focus moves to the field to fix');
  await page.fill('#param-maxSamples', 'lots');
  await page.locator('#param-maxSamples').blur();
  assert.match(await page.textContent('#param-maxSamples-error'), /“lots” is not a number/);
  await shot(page, 'train-invalid-parameter');

  // The two fractions: each explained, and together they must leave rows to train on.
  await page.click('details.advanced summary');
  assert.match(await page.textContent('#f-test-fraction-help'), /never sees them/);
  assert.match(await page.textContent('#f-plugin-validation-help'), /Not used for the score/);
  await page.fill('#f-plugin-validation', '0.8');
  await page.click('#train-submit');
  assert.match(await page.textContent('#f-plugin-validation-error'), /With a test fraction of 0\.2, this may be at most 0\.7/);
  await page.fill('#f-plugin-validation', '0.1');

  assert.deepEqual(posted, [], 'nothing was sent to the server');
  assert.equal((await apiGet('/jobs')).total, 0, 'no job was created');
  await page.context().close();
});

test('train random_forest on species: progress, chart, metrics, confusion matrix, model, predictions', async () => {
  const page = await newPage();
  await openTrainForm(page, 'random_forest');
  await shot(page, 'train-form');
  await page.fill('#param-nEstimators', '120');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const jobId = /#\/jobs\/(.+)$/.exec(page.url())[1];
  await page.waitForSelector('#results:not([hidden]) #metrics-table', { timeout: 120_000 });

  const job = (await apiGet(`/jobs/${jobId}`)).data;
  assert.equal(job.status, 'completed');
  assert.equal(job.modelConfig.nEstimators, 120, 'the changed hyperparameter was sent');

  // The progress bar moved through intermediate values up to 100.
  const seen = await page.evaluate(() => window.__progress);
  assert.ok(seen.some((v) => v > 0 && v < 100), `progress values seen: ${seen.join(',')}`);
  assert.equal(seen[seen.length - 1], 100);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], 'progress never goes back');
  assert.match(await page.textContent('#epoch-text'), /120 of 120 epochs/);
  // A chart per reported metric, one point per reported epoch. With K instances
  // the forest grows in rounds of K trees and reports the whole forest's scores
  // every few rounds, at most 25 times (one instance: every tree, up to 200).
  const instances = job.results.summary.instances ?? 1;
  const rounds = Math.ceil(120 / instances);
  const reports = Math.ceil(rounds / Math.ceil(rounds / (instances > 1 ? 25 : 200)));
  const charts = await page.$$eval('#charts svg.chart', (svgs) => svgs.map((s) => ({ metric: s.dataset.metric, points: Number(s.dataset.points), line: !!s.querySelector('polyline') })));
  assert.ok(charts.length >= 1, 'at least one metric chart');
  for (const c of charts) { assert.equal(c.points, reports, `${c.metric} has a point per reported epoch (${instances} instances)`); assert.ok(c.line); }
  assert.match(await page.textContent('#job-log'), /#1 Queued/);
  assert.match(await page.textContent('#job-log'), /Training completed successfully!/);

  // Host holdout metrics and the confusion matrix with class names.
  const metrics = Object.fromEntries(await page.$$eval('#metrics-table tr', (trs) => trs.map((tr) => [tr.children[0].textContent, Number(tr.children[1].textContent)])));
  assert.ok(metrics.Accuracy > 0.85, `accuracy ${metrics.Accuracy}`);
  assert.ok('F1 (macro)' in metrics && 'Log-loss' in metrics);
  const classes = await page.$$eval('#confusion tbody th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(classes, ['Adelie', 'Chinstrap', 'Gentoo']);
  const cells = await page.$$eval('#confusion tbody td', (tds) => tds.map((t) => Number(t.textContent)));
  assert.equal(cells.length, 9);
  assert.equal(cells.reduce((a, b) => a + b, 0), 69, 'the holdout is 20% of 344 rows');
  // The three parts of the split: the test rows scored, the algorithm's validation rows, the training rows.
  assert.match(await page.textContent('#rows-test'), /^69 test rows: scored by the host, never shown to the algorithm/);
  assert.match(await page.textContent('#rows-validation'), /^34 handed to the algorithm/);
  assert.match(await page.textContent('#rows-train'), /^241 trained on/);
  assert.ok((await page.locator('#importances li').count()) >= 6, 'feature importances');
  assert.equal(await page.isHidden('#cancel-job'), true, 'no cancel button once the job ended');
  await shot(page, 'job-completed');

  // Download the model.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
  assert.equal(download.suggestedFilename(), `${jobId}.trainhost`);
  const modelPath = path.join(artifacts, 'model.trainhost');
  await download.saveAs(modelPath);
  assert.ok(fs.statSync(modelPath).size > 1000, 'the model file has content');

  // Predict on an uploaded file and download the predictions.
  await page.setInputFiles('#predict-file', penguins);
  await page.click('#predict-submit');
  await page.waitForSelector('#predictions-table');
  assert.match(await page.textContent('#predict-status'), /Predicted 344 rows/);
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#download-predictions')]);
  const csvPath = path.join(artifacts, 'predictions.csv');
  await csv.saveAs(csvPath);
  const lines = fs.readFileSync(csvPath, 'utf8').trim().split('\n');
  assert.equal(lines.length, 345);
  // A row id, the input columns as given, the prediction and rounded probabilities.
  assert.equal(lines[0], 'row,species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year,prediction,p(Adelie),p(Chinstrap),p(Gentoo)');
  assert.match(lines[1], /^1,Adelie,Torgersen,39\.1,18\.7,181(\.0)?,3750(\.0)?,male,2007,Adelie,/);
  const probabilities = lines.slice(1).flatMap((l) => l.split(',').slice(-3));
  assert.ok(probabilities.every((p) => /^(0|1|0\.\d{1,4})$/.test(p)), `probabilities rounded to 4 decimals: ${probabilities.slice(0, 6)}`);
  // The file held the target: the predictions are scored on it.
  assert.match(await page.textContent('#prediction-score'), /Scored against “species” in this file/);
  const scored = Number(await page.textContent('#prediction-score .headline-value'));
  assert.ok(scored > 0.85 && scored <= 1, `accuracy on the file ${scored}`);
  await shot(page, 'job-predictions');

  await page.setViewportSize({ width: 390, height: 844 });
  await assertFits(page);
  await shot(page, 'job-completed-phone');
  await page.context().close();
});

test('reload mid-job and a second tab show the whole history, then continue live', async () => {
  const page = await newPage();
  await openTrainForm(page, 'slow');
  await page.fill('#param-epochs', '40');
  await page.fill('#param-epochMillis', '250');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const url = page.url();
  await page.waitForFunction(() => /Epoch ([6-9]|\d\d) of 40/.test((document.getElementById('epoch-text')?.textContent || '')), null, { timeout: 60_000 });
  await shot(page, 'job-live');
  const before = await epochOf(page);

  await page.reload();
  // Straight after the reload: every event from seq 1, in order, no duplicates.
  await page.waitForFunction((n) => {
    const m = /Epoch (\d+) of 40/.exec(document.getElementById('epoch-text')?.textContent || '');
    return m && Number(m[1]) >= n;
  }, before, { timeout: 30_000 });
  let seqs = await logSeqs(page);
  assert.equal(seqs[0], 1);
  seqs.forEach((s, i) => assert.equal(s, i + 1, 'the log is the history from seq 1 without gaps or duplicates'));
  assert.ok(Number(await page.getAttribute('#charts svg.chart', 'data-points')) >= before, 'the chart has every epoch so far');
  assert.ok(Number(await page.getAttribute('#job-progress', 'value')) > 0);
  await shot(page, 'job-after-reload');

  // The same job in another tab.
  const other = await page.context().newPage();
  await other.goto(url);
  await other.waitForFunction(() => document.querySelectorAll('#job-log li').length > 5);
  assert.equal((await logSeqs(other))[0], 1);

  // Both go on live to the end.
  for (const p of [page, other]) {
    await p.waitForSelector('#job-status .badge-completed', { timeout: 60_000 });
    seqs = await logSeqs(p);
    seqs.forEach((s, i) => assert.equal(s, i + 1));
    await p.waitForFunction(() => document.querySelector('#charts svg.chart')?.dataset.points === '40');
    assert.match(await p.textContent('#epoch-text'), /40 of 40/);
  }
  await page.context().close();
});

test('start a long job and cancel it', async () => {
  const page = await newPage();
  await openTrainForm(page, 'slow');
  await page.fill('#param-epochs', '10000');
  await page.fill('#param-epochMillis', '200');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const jobId = /#\/jobs\/(.+)$/.exec(page.url())[1];
  await page.waitForFunction(() => Number((/Epoch (\d+) of 10000/.exec((document.getElementById('epoch-text')?.textContent || '')) || [0, 0])[1]) >= 2, null, { timeout: 60_000 });
  assert.equal(await page.isVisible('#cancel-job'), true);
  await page.focus('#cancel-job');
  await page.keyboard.press('Enter'); // by keyboard
  await page.waitForSelector('#job-status .badge-cancelled', { timeout: 15_000 });
  assert.match(await page.textContent('#job-log'), /Training cancelled/);
  assert.match(await page.textContent('#epoch-text'), /Cancelled at epoch \d+ of 10000/);
  assert.equal(await page.isHidden('#cancel-job'), true);
  assert.equal((await apiGet(`/jobs/${jobId}`)).data.status, 'cancelled');
  await shot(page, 'job-cancelled');
  await page.context().close();
});

test('a refusal from the server is shown in plain words at the field it concerns', async () => {
  const form = new FormData();
  form.append('file', new Blob(['a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n']), 'tiny.csv');
  const tiny = (await (await authed(`${base}/datasets`, { method: 'POST', body: form })).json()).data;
  const page = await newPage();
  await page.goto(`${base}/#/train?dataset=${tiny.id}`);
  await page.waitForSelector('#f-target option[value="label"]', { state: 'attached' });
  await page.selectOption('#f-plugin', 'baseline');
  await page.selectOption('#f-target', 'label');
  // The dataset is deleted in another tab between loading the form and submitting it: only the server knows.
  const other = await page.context().newPage();
  await other.goto(`${base}/#/datasets/${tiny.id}`);
  await other.waitForSelector('#dataset-list table');
  other.once('dialog', (d) => d.accept());
  await other.click('button[aria-label="Delete tiny.csv"]');
  await other.waitForFunction(() => location.hash === '#/datasets' && !document.querySelector('#dataset-list')?.textContent.includes('tiny.csv'));
  await other.close();
  await page.click('#train-submit');
  const err = page.locator('#f-dataset-error');
  await err.waitFor({ state: 'visible' });
  assert.match(await err.textContent(), /This dataset no longer exists/);
  assert.match(await page.textContent('#form-error'), /The server refused to start training; see the message at “Dataset”/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-dataset');
  await shot(page, 'train-server-refusal');
  await page.context().close();
});

test('regression shows predicted against actual; clustering shows cluster sizes', async () => {
  const page = await newPage();
  await page.goto(`${base}/#/train?dataset=${datasetId}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  // Target balance, from the dataset's column statistics: class counts for a class target...
  await page.selectOption('#f-task', 'classification');
  await page.waitForSelector('#f-target option[value="species"]', { state: 'attached' });
  await page.selectOption('#f-target', 'species');
  assert.match(await page.textContent('#target-balance'), /Target balance \(species\):\s*Adelie 152\s*Gentoo 124\s*Chinstrap 68/);
  await page.selectOption('#f-task', 'regression');
  await page.selectOption('#f-plugin', 'random_forest');
  await page.waitForSelector('#f-target option[value="body_mass_g"]', { state: 'attached' });
  assert.equal(await page.$eval('#f-target option[value="species"]', (o) => o.disabled), true, 'a text column cannot be a regression target');
  await page.selectOption('#f-target', 'body_mass_g');
  // ...and a small histogram for a number, whose bars hold every row that has a value.
  assert.match(await page.getAttribute('#target-balance svg', 'aria-label'), /^histogram of body_mass_g from 2,700 to 6,300: [\d, ]+ rows$/);
  const bins = await page.$$eval('#target-balance svg rect title', (ts) => ts.map((t) => Number(t.textContent.replace(/[^\d]/g, ''))));
  assert.equal(bins.reduce((a, b) => a + b, 0), 342, 'the histogram counts the 342 rows with a body mass');
  await page.fill('#param-nEstimators', '30');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  await page.waitForSelector('#results:not([hidden]) #pred-vs-actual', { timeout: 120_000 });
  assert.ok((await page.locator('#pred-vs-actual circle').count()) > 50, 'a point per holdout row');
  const metrics = await page.textContent('#metrics-table');
  assert.match(metrics, /RMSE/);
  assert.match(metrics, /R²/);
  // Residuals from the same holdout predictions: one point per row, around a zero line.
  assert.equal(await page.locator('#residuals circle').count(), await page.locator('#pred-vs-actual circle').count(), 'a residual per holdout row');
  assert.equal(await page.locator('#residuals line.ideal').count(), 1, 'the zero line');
  assert.match(await page.getAttribute('#residuals svg', 'aria-label'), /^Residuals against predicted body_mass_g for \d+ holdout rows$/);
  assert.match(await page.textContent('#residuals circle title >> nth=0'), /^predicted [\d,.-]+: residual -?[\d,.]+$/);
  // The page said each phase in turn: training, scoring the holdout, storing the model, finished.
  const phases = await page.evaluate(() => window.__phases);
  const at = (re) => phases.findIndex((t) => re.test(t));
  const order = [/done: scoring the holdout…$/, /storing the model…$/, /^Finished/].map(at);
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), `phases in order: ${JSON.stringify(phases)}`);
  assert.ok(await page.locator('#job-log li.log-status', { hasText: 'Running: storing the model' }).count() === 1, 'the storing event is in the log');
  await shot(page, 'job-regression');

  await page.goto(`${base}/#/train?dataset=${datasetId}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'clustering');
  await page.selectOption('#f-plugin', 'baseline');
  assert.equal(await page.isDisabled('#f-target'), true, 'clustering has no target');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  await page.waitForSelector('#results:not([hidden]) #cluster-sizes', { timeout: 120_000 });
  assert.match(await page.textContent('#cluster-sizes'), /cluster 0\s*344/);
  assert.equal(await page.locator('#plugin-log').count(), 0, 'baseline logs nothing');
  await shot(page, 'job-clustering');

  // kmodes says in its log what it did with the table: shown under the results.
  await page.goto(`${base}/#/train?dataset=${datasetId}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'clustering');
  await page.waitForSelector('#f-plugin option[value="kmodes"]', { state: 'attached' });
  await page.selectOption('#f-plugin', 'kmodes');
  await page.fill('#param-nClusters', '3');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  await page.waitForSelector('#results:not([hidden]) #plugin-log', { timeout: 120_000 });
  if (!(await page.$eval('#plugin-log', (d) => d.open))) await page.click('#plugin-log summary');
  assert.match(await page.textContent('#plugin-log'), /Plugin log \(\d+ lines?\)/);
  assert.match(await page.textContent('#plugin-log li.log-info'), /KPrototypes: 344 rows/);
  assert.equal(await page.isVisible('#plugin-log li.log-info'), true, 'the summary opens the log');
  // Its cost runs in the tens of millions: tick labels stay inside the charts.
  const clipped = await page.$$eval('svg.chart text.tick', (ts) => ts.filter((t) => t.getBBox().x < 0).map((t) => t.textContent));
  assert.deepEqual(clipped, [], 'every tick label fits inside its chart');
  assert.ok(await page.locator('svg.chart[data-metric="cost"] text.tick', { hasText: /^\d+(\.\d+)?M$/ }).count() > 0, 'large ticks in compact form');
  // Every chart's y ticks read differently (no row of "1"s near 1), and points show their value on hover.
  const repeated = await page.$$eval('svg.chart', (charts) => charts.filter((c) => {
    const ys = [...c.querySelectorAll('text.tick[text-anchor="end"]')].map((t) => t.textContent);
    return new Set(ys).size !== ys.length;
  }).map((c) => c.dataset.metric));
  assert.deepEqual(repeated, [], 'tick labels repeat');
  // K-Prototypes restarts (nInit 10): one cost line each, from its own first iteration, never joined end to end.
  const restarts = page.locator('figure.restarts[data-metric="cost"]');
  const runs = Number(await restarts.locator('svg').getAttribute('data-series'));
  assert.ok(runs > 1 && runs <= 10, `${runs} restarts`);
  assert.equal(await restarts.locator('.series-legend li').count(), runs);
  assert.ok(await restarts.locator('svg polyline.series').count() >= 1);
  assert.match(await restarts.locator('circle.hover title').first().textContent(), /^iteration 1: restart 1: cost \d/);
  assert.equal(await page.locator('svg.chart[data-metric="init"]').count(), 0, 'the restart number is not charted as a metric');
  await page.locator('#plugin-log').scrollIntoViewIfNeeded();
  await shot(page, 'job-plugin-log');
  // Its clusters, one row each with its size, mode and means.
  const clusters = page.locator('#result-table-clusters');
  assert.equal(await clusters.locator('tbody tr').count(), 3);
  assert.match(await clusters.locator('thead').textContent(), /cluster\s*size\s*species\s*island/);
  const sizes = await clusters.locator('tbody tr td:nth-child(2)').allTextContents();
  assert.equal(sizes.reduce((a, s) => a + Number(s.replace(/,/g, '')), 0), 344, 'the sizes add up to the rows');
  await page.context().close();
});

test('the jobs history lists status, algorithm, dataset, score and duration, and filters', async () => {
  const page = await newPage();
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector('#jobs-table');
  // The first cell of a row is its compare tick box.
  const rows = await page.$$eval('#jobs-table tbody tr', (trs) => trs.map((tr) => [...tr.children].slice(1).map((c) => c.textContent.trim())));
  assert.equal(rows.length, 6);
  const rf = rows.find((r) => r[2] === 'random_forest' && r[4].startsWith('classification'));
  assert.ok(rf, 'the random_forest job is listed');
  assert.match(rf[1], /completed/i);
  assert.equal(rf[3], 'penguins.csv');
  assert.match(rf[5], /^0\.\d+ accuracy$/);
  assert.match(rf[6], /\d+(\.\d)? s/);
  assert.ok(rows.some((r) => /cancelled/i.test(r[1])));
  await shot(page, 'jobs');

  await page.selectOption('#filter-status', 'cancelled');
  await page.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr').length === 1);
  assert.match(page.url(), /#\/jobs\?status=cancelled$/);
  await page.reload();
  await page.waitForSelector('#jobs-table');
  assert.equal(await page.inputValue('#filter-status'), 'cancelled', 'the filter survives a reload');
  assert.equal(await page.locator('#jobs-table tbody tr').count(), 1);
  await page.selectOption('#filter-status', '');
  await page.selectOption('#filter-plugin', 'random_forest');
  await page.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr').length === 2);
  await shot(page, 'jobs-filtered');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector('#jobs-table');
  await assertFits(page);
  await shot(page, 'jobs-phone');
  await page.context().close();
});

// After the history test, which counts the jobs: this one adds some.
test('runs: named and tagged, sorted by score, re-run, compared side by side; queue position shown', async () => {
  const waitDone = async (id) => {
    for (let i = 0; i < 1200; i++) {
      const job = (await apiGet(`/jobs/${id}`)).data;
      if (['completed', 'failed', 'cancelled'].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id} did not finish`);
  };
  const submitJob = async (body) => (await (await authed(`${base}/train`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()).data.jobId;
  const page = await newPage();
  // Named and tagged in the form.
  await openTrainForm(page, 'random_forest');
  await page.fill('#param-nEstimators', '3');
  await page.fill('#param-maxDepth', '1');
  await page.fill('#f-name', 'three stumps');
  await page.fill('#f-tags', 'runs-e2e, small');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const stumps = /#\/jobs\/(.+)$/.exec(page.url())[1];
  assert.match(await page.textContent('#job-label'), /three stumps\s*runs-e2e\s*small/);
  const penguinsJob = (selectedModel, extra) => ({ datasetId, targetColumn: 'species', taskType: 'classification', modelConfig: { selectedModel, ...extra } });
  const forty = await submitJob({ ...penguinsJob('random_forest', { nEstimators: 40 }), name: 'forty trees', tags: ['runs-e2e'] });
  const base0 = await submitJob({ ...penguinsJob('baseline', {}), tags: ['runs-e2e'] });
  const done = await Promise.all([stumps, forty, base0].map(waitDone));
  assert.deepEqual(done.map((j) => j.status), ['completed', 'completed', 'completed']);
  assert.deepEqual(done[0].tags, ['runs-e2e', 'small']);

  // The history: filtered by tag, best score first.
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector('#jobs-table');
  await page.fill('#filter-tag', 'runs-e2e');
  await page.press('#filter-tag', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('#jobs-table tbody tr').length === 3);
  await page.selectOption('#sort-jobs', 'score');
  await page.waitForFunction(() => /sort=score/.test(location.hash));
  assert.match(page.url(), /tag=runs-e2e/);
  await page.waitForFunction(() => document.querySelector('#jobs-table caption')?.textContent === 'Jobs, best score first');
  const scores = await page.$$eval('#jobs-table tbody tr td[data-label="Score"]', (tds) => tds.map((t) => Number(t.textContent.split(' ')[0])));
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), `best first: ${scores}`);
  const order = await page.$$eval('#jobs-table tbody tr', (trs) => trs.map((tr) => tr.dataset.job));
  assert.equal(order[2], base0, 'the majority baseline scores worst');
  assert.match(await page.textContent(`#jobs-table tr[data-job="${stumps}"] th`), /three stumps/);
  await shot(page, 'jobs-by-score');

  // Tick the three, compare them.
  assert.equal(await page.isDisabled('#compare-jobs'), true);
  for (const id of [stumps, forty, base0]) await page.check(`#jobs-table tr[data-job="${id}"] input.pick-job`);
  await page.click('#compare-jobs');
  await page.waitForURL(/#\/compare\?ids=/);
  await page.waitForSelector('#compare-params');
  const differing = await page.$$eval('#compare-params tbody tr.differs', (trs) => trs.map((tr) => tr.dataset.param));
  assert.equal(differing[0], 'selectedModel');
  assert.ok(differing.includes('nEstimators') && differing.includes('maxDepth'), differing.join(', '));
  assert.equal(await page.textContent('#compare-params tr[data-param="nEstimators"] td:nth-child(2)'), '3');
  assert.equal(await page.textContent('#compare-params tr[data-param="nEstimators"] td:nth-child(3)'), '40');
  assert.equal(await page.locator('#compare-metrics tr[data-metric="accuracy"] td.best').count() >= 1, true, 'the best accuracy is marked');
  const accuracy = await page.$$eval('#compare-metrics tr[data-metric="accuracy"] td', (tds) => tds.map((t) => Number(t.textContent)));
  assert.deepEqual(accuracy, done.map((j) => Number(j.results.metrics.accuracy.toFixed(4))));
  await page.waitForSelector('#compare-charts svg.series-chart');
  assert.equal(await page.locator('#compare-charts svg.series-chart').first().getAttribute('data-series'), '3');
  assert.ok(await page.locator('#compare-charts svg.series-chart').first().locator('polyline.series').count() >= 1, 'the forests\' curves are drawn');
  await assertFits(page);
  await shot(page, 'compare');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await page.waitForSelector('#compare-charts svg.series-chart');
  await assertFits(page);
  await shot(page, 'compare-phone');
  await page.setViewportSize({ width: 1280, height: 900 });

  // Re-run: the same request as a new job, linked to the first.
  await page.goto(`${base}/#/jobs/${forty}`);
  await page.waitForSelector('#results:not([hidden]) #metrics-table', { timeout: 60_000 });
  await page.click('#rerun-job');
  await page.waitForFunction((old) => /^#\/jobs\/[^/]+$/.test(location.hash) && !location.hash.endsWith(old), forty);
  const again = await page.evaluate(() => location.hash.split('/').pop());
  await page.waitForSelector('#rerun-of');
  assert.equal(await page.getAttribute('#rerun-of', 'href'), `#/jobs/${forty}`);
  const rerun = await waitDone(again);
  assert.equal(rerun.score, done[1].score, 'same seed, same settings, same score');
  assert.equal(rerun.name, 'forty trees');

  // Both workers busy: a new job says where it waits.
  const slow = { datasetId, taskType: 'clustering', modelConfig: { selectedModel: 'slow', epochs: 10000, epochMillis: 200 } };
  const busy = [await submitJob(slow), await submitJob(slow)];
  for (let i = 0; i < 300 && (await Promise.all(busy.map((id) => apiGet(`/jobs/${id}`)))).some((j) => j.data.status !== 'running'); i++) await new Promise((r) => setTimeout(r, 100));
  const first = await submitJob(penguinsJob('baseline', {}));
  const second = await submitJob(penguinsJob('baseline', {}));
  assert.equal((await apiGet(`/jobs/${second}`)).data.queuePosition, 2);
  await page.goto(`${base}/#/jobs/${first}`);
  await page.waitForFunction(() => /Queued at position 1/.test(document.getElementById('epoch-text')?.textContent || ''));
  await assertFits(page);
  await shot(page, 'job-queued');
  for (const id of [second, first, ...busy]) await authed(`${base}/jobs/${id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  for (const id of [second, first, ...busy]) assert.equal((await waitDone(id)).status, 'cancelled');

  // The file uploaded on a job page to predict on is marked so, and is never the train form's default.
  await page.goto(`${base}/#/datasets`);
  await page.waitForSelector('table.data tbody tr');
  assert.ok(await page.locator('table.data tbody tr .predict-only').count() >= 1, 'a predict-only upload is marked');
  await page.goto(`${base}/#/train`);
  await page.waitForSelector('#f-dataset option', { state: 'attached' });
  assert.doesNotMatch(await page.$eval('#f-dataset', (s) => s.selectedOptions[0].textContent), /uploaded to predict on/);
  await page.context().close();
});

test('a linear job shows its coefficient table, sortable, numbers by magnitude', async () => {
  const page = await newPage();
  await page.goto(`${base}/#/train?dataset=${datasetId}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'regression');
  await page.waitForSelector('#f-plugin option[value="linear"]', { state: 'attached' });
  await page.selectOption('#f-plugin', 'linear');
  await page.waitForSelector('#f-target option[value="body_mass_g"]', { state: 'attached' });
  await page.selectOption('#f-target', 'body_mass_g');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const table = page.locator('#result-table-coefficients');
  await table.waitFor({ timeout: 120_000 });
  assert.match(await table.locator('h3').textContent(), /Coefficients/);
  assert.match(await table.locator('thead').textContent(), /term\s*estimate\s*std_error\s*statistic\s*p_value\s*ci_low\s*ci_high/);
  const terms = await table.locator('tbody tr th').allTextContents();
  assert.equal(terms[0], '(intercept)');
  assert.ok(terms.includes('flipper_length_mm') && terms.includes('island[Dream]'), terms.join(', '));
  // A p-value far below 1e-3 is written with an exponent, not as 0.0000.
  const pValues = await table.locator('tbody tr td:nth-child(5)').allTextContents();
  assert.ok(pValues.some((p) => /e-\d+$/.test(p)), pValues.join(', '));
  // Sorting by the estimate, then reversing it.
  await table.locator('thead button', { hasText: /^estimate$/ }).click();
  assert.equal(await table.locator('thead th:nth-child(2)').getAttribute('aria-sort'), 'ascending');
  const ascending = await table.locator('tbody tr td:nth-child(2)').allTextContents();
  await table.locator('thead button', { hasText: /^estimate$/ }).click();
  assert.equal(await table.locator('thead th:nth-child(2)').getAttribute('aria-sort'), 'descending');
  const descending = await table.locator('tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(descending, [...ascending].reverse());
  const first = (texts) => Number(texts[0].replace(/,/g, ''));
  assert.ok(first(ascending) < first(descending));
  await table.scrollIntoViewIfNeeded();
  await shot(page, 'job-coefficients');
  await page.context().close();
});

test('gbdt with early stopping: training and validation loss on one chart, best iteration marked', async () => {
  const page = await newPage();
  await openTrainForm(page, 'gbdt');
  await page.fill('#param-nEstimators', '300');
  await page.fill('#param-learningRate', '0.3');
  await page.fill('#param-minDataInLeaf', '5');
  await page.fill('#param-earlyStoppingRounds', '10');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const jobId = /#\/jobs\/(.+)$/.exec(page.url())[1];
  await page.waitForSelector('#results:not([hidden]) #metrics-table', { timeout: 120_000 });
  const job = (await apiGet(`/jobs/${jobId}`)).data;
  assert.equal(job.status, 'completed');
  const pm = job.results.summary.plugin_metrics;
  assert.ok(pm.rounds_run < 300 && pm.rounds_run - pm.best_iteration === 10, `stopped 10 rounds after the best: ${JSON.stringify(pm)}`);
  await page.waitForFunction((best) => document.querySelector('#loss-chart svg')?.dataset.best === String(best), pm.best_iteration, { timeout: 10_000 });
  const chart = await page.$eval('#loss-chart svg', (s) => ({
    train: Number(s.dataset.trainPoints), validation: Number(s.dataset.validationPoints), best: Number(s.dataset.best),
    lines: [...s.querySelectorAll('polyline')].map((l) => l.getAttribute('class')), marker: !!s.querySelector('line.best'), label: s.getAttribute('aria-label'),
  }));
  assert.equal(chart.train, pm.rounds_run, 'a training-loss point per round');
  assert.equal(chart.validation, pm.rounds_run, 'a validation-loss point per round');
  assert.deepEqual(chart.lines, ['line train', 'line validation'], 'two lines on one chart');
  assert.ok(chart.marker, 'the best iteration is marked');
  assert.match(chart.label, new RegExp(`best iteration ${pm.best_iteration}`));
  const separate = await page.$$eval('#charts svg.chart', (svgs) => svgs.map((s) => s.dataset.metric));
  assert.ok(!separate.includes('train_loss') && !separate.includes('validation_loss'), `losses are not drawn twice: ${separate}`);
  assert.ok((job.results.log || []).some((l) => /early stopping after round/.test(l.message)), 'the log says why training stopped');
  await shot(page, 'gbdt-loss-chart');
  // The importance table: one row per column the model was trained on.
  const importance = page.locator('#result-table-feature_importances');
  await importance.waitFor({ timeout: 10_000 });
  assert.match(await importance.locator('thead').textContent(), /feature\s*type\s*gain\s*gain_share\s*splits\s*cover/);
  const rows = await importance.locator('tbody tr th').allTextContents();
  const trainedOn = job.results.summary.feature_columns.map((c) => c.name);
  assert.deepEqual([...rows].sort(), [...trainedOn].sort(), 'a row per feature column');
});

test('usable by keyboard and at phone width: the training form', async () => {
  const page = await newPage({ width: 390, height: 844 });
  await page.goto(`${base}/#/train?dataset=${datasetId}`);
  await page.waitForSelector('#param-nEstimators');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'skip');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  // Every form control has a label.
  const unlabelled = await page.$$eval('input:not([type=hidden]):not(.sr-only), select', (els) => els.filter((e) => !e.labels || !e.labels.length).map((e) => e.id || e.name));
  assert.deepEqual(unlabelled, []);
  await assertFits(page);
  await shot(page, 'train-form-phone');
  await page.context().close();
});

test('a row index is left out by default, said before training, and the user can bring it back', async () => {
  // Sorted by price and numbered in that order: the index would leak the target.
  const rows = Array.from({ length: 300 }, (_, i) => ({ carat: 0.2 + ((i * 37) % 100) / 50, cut: ['Fair', 'Good', 'Ideal'][(i * 7) % 3] }))
    .map((r) => ({ ...r, price: Math.round(3000 * r.carat + { Fair: 0, Good: 400, Ideal: 900 }[r.cut]) }))
    .sort((a, b) => a.price - b.price);
  const csv = 'rownames,carat,cut,price\n' + rows.map((r, i) => `${i + 1},${r.carat},${r.cut},${r.price}`).join('\n') + '\n';
  const form = new FormData();
  form.append('file', new Blob([csv]), 'sorted_prices.csv');
  const sorted = (await (await authed(`${base}/datasets`, { method: 'POST', body: form })).json()).data;
  const page = await newPage();
  await page.goto(`${base}/#/train?dataset=${sorted.id}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'regression');
  await page.selectOption('#f-plugin', 'random_forest');
  await page.waitForSelector('#f-target option[value="price"]', { state: 'attached' });
  await page.selectOption('#f-target', 'price');
  const note = await page.textContent('#columns-note');
  assert.match(note, /Left out by default \(1\)/);
  assert.match(note, /rownames: row index/);
  await page.click('#columns-details summary');
  assert.equal(await page.isChecked('input[data-column="rownames"]'), false);
  assert.equal(await page.isChecked('input[data-column="carat"]'), true);
  await shot(page, 'train-columns');

  const submitAndRead = async () => {
    await page.click('#train-submit');
    await page.waitForFunction(() => /^#\/jobs\/[^/]+$/.test(location.hash));
    const id = await page.evaluate(() => location.hash.split('/').pop());
    for (let i = 0; i < 600; i++) {
      const job = (await apiGet(`/jobs/${id}`)).data;
      if (['completed', 'failed'].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id} did not finish`);
  };
  const honest = await submitAndRead();
  assert.equal(honest.status, 'completed');
  assert.deepEqual(honest.results.summary.feature_columns.map((c) => c.name), ['carat', 'cut']);

  // Back to the form: tick the index, leave out carat.
  await page.goBack();
  await page.waitForSelector('input[data-column="rownames"]', { state: 'attached' });
  await page.selectOption('#f-task', 'regression');
  await page.selectOption('#f-plugin', 'random_forest');
  await page.waitForSelector('#f-target option[value="price"]', { state: 'attached' });
  await page.selectOption('#f-target', 'price');
  await page.click('#columns-details summary').catch(() => {});
  await page.check('input[data-column="rownames"]');
  await page.uncheck('input[data-column="carat"]');
  const chosen = await submitAndRead();
  assert.equal(chosen.status, 'completed');
  assert.deepEqual(chosen.results.summary.feature_columns.map((c) => c.name), ['rownames', 'cut']);
  await page.context().close();
});

test('a binary job shows its baseline, per-class table, ROC and PR curves with a threshold slider', async () => {
  const form = new FormData();
  form.append('file', new Blob([fs.readFileSync(path.join(root, 'testdata/breast_cancer.csv'))]), 'breast_cancer.csv');
  const cancer = (await (await authed(`${base}/datasets`, { method: 'POST', body: form })).json()).data;
  const res = await authed(`${base}/train`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ datasetId: cancer.id, targetColumn: 'diagnosis', taskType: 'classification', modelConfig: { selectedModel: 'random_forest', nEstimators: 30 } }) });
  const jobId = (await res.json()).data.jobId;
  const page = await newPage();
  await page.goto(`${base}/#/jobs/${jobId}`);
  await page.waitForSelector('#curves', { timeout: 60_000 });
  assert.match(await page.textContent('#baseline'), /Baseline: always `.+`, the training part's most frequent class scores accuracy 0\.\d+/);
  assert.equal(await page.locator('#per-class tbody tr').count(), 2);
  assert.match(await page.textContent('#metrics-table'), /ROC AUC/);
  assert.equal(await page.locator('#roc-curve polyline').count(), 1);
  const before = await page.textContent('#threshold-confusion');
  await page.fill('#threshold', '0');
  const strictest = await page.textContent('#threshold-readout');
  assert.notEqual(await page.textContent('#threshold-confusion'), before, 'moving the threshold changes the matrix');
  assert.match(strictest, /precision 1|recall 0\.\d+/);
  await page.check('#normalise-confusion');
  assert.match(await page.textContent('#confusion'), /0\.\d+/);
  await assertFits(page);
  await shot(page, 'binary-evaluation');
  await page.context().close();
});

test('the dataset page shows column statistics, warnings, and pages a 2,000-column table', async () => {
  const page = await newPage();
  await page.goto(`${base}/#/datasets/${datasetId}`);
  await page.waitForSelector('#column-table');
  const rowOf = async (name) => page.$eval(`#column-table tbody tr:has(th:text-is("${name}"))`, (tr) => tr.textContent);
  assert.match(await rowOf('bill_length_mm'), /32\.1 – 59\.6, mean 43\.9/);
  assert.equal(await page.locator('#column-table tbody tr:has(th:text-is("bill_length_mm")) svg.spark rect').count(), 12);
  assert.match(await rowOf('species'), /Adelie \(152\), Gentoo \(124\), Chinstrap \(68\)/);
  await page.context().close();

  const names = Array.from({ length: 2000 }, (_, i) => `f${i}`);
  const lines = [names.join(',') + ',f0'];
  for (let r = 0; r < 30; r++) lines.push(names.map((_, i) => (r * 31 + i) % 97).join(',') + `,${r}`);
  const form = new FormData();
  form.append('file', new Blob([lines.join('\n') + '\n']), 'wide.csv');
  const wide = (await (await authed(`${base}/datasets`, { method: 'POST', body: form })).json()).data;
  const wpage = await newPage();
  await wpage.goto(`${base}/#/datasets/${wide.id}`);
  await wpage.waitForSelector('#column-table');
  assert.equal(await wpage.locator('#column-table tbody tr').count(), 50);
  assert.match(await wpage.textContent('#columns-page'), /Columns 1–50 of 2,?001/);
  await wpage.click('#columns-next');
  assert.match(await wpage.textContent('#columns-page'), /Columns 51–100/);
  const height = await wpage.evaluate(() => document.documentElement.scrollHeight);
  assert.ok(height < 8000, `the page is ${height}px tall`);
  // The repeated header is renamed by the reader and said so.
  await wpage.click('#columns-next');
  const last = Math.ceil(2001 / 50);
  for (let p = 3; p < last; p++) await wpage.click('#columns-next');
  assert.match(await wpage.textContent('#column-table'), /appears more than once in the file/);
  await assertFits(wpage);
  await wpage.context().close();
});

test('sign in from the start-up URL, sign out, sign in again by pasting the token', async () => {
  const page = await newPage({ token: null });
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector('#signin-token');
  assert.equal(await page.isVisible('#who'), false, 'nobody is shown signed in');
  await shot(page, 'signin');
  await page.goto(signInUrl);
  await page.waitForSelector('#who-name');
  await page.waitForFunction(() => /admin/.test(document.getElementById('who-name').textContent));
  assert.ok(!page.url().includes('token='), `the token stays in the address: ${page.url()}`);
  await page.waitForSelector('h1:text("Datasets")');
  assert.equal(await page.isVisible('#nav-admin'), true, 'an admin sees the users page');
  await page.click('#sign-out');
  await page.waitForSelector('#signin-token');
  await page.reload();
  await page.waitForSelector('#signin-token');
  await page.fill('#signin-token', 'th_not_a_token');
  await page.click('#signin-submit');
  await page.waitForSelector('#signin-error .error-box');
  await page.fill('#signin-token', adminToken);
  await page.click('#signin-submit');
  await page.waitForSelector('#who-name');
  await page.waitForSelector('h1:text("Datasets")');
  await page.context().close();
});

test('the admin page creates a member whose view shows none of the admin\'s jobs; revoking signs them out', async () => {
  const admin = await newPage();
  await admin.goto(`${base}/#/admin`);
  await admin.waitForSelector('#user-name');
  await admin.fill('#user-name', 'mia');
  await admin.click('#add-user');
  await admin.waitForSelector('#new-token-value');
  const token = (await admin.textContent('#new-token-value')).trim();
  await admin.waitForSelector('tr[data-user="mia"]');
  await shot(admin, 'admin-users');
  assert.ok((await apiGet('/jobs')).total > 0, 'the admin has jobs by now');

  const member = await newPage({ token });
  await member.goto(`${base}/#/jobs`);
  await member.waitForFunction(() => /No job yet/.test(document.getElementById('jobs-list')?.textContent || ''));
  assert.equal(await member.$$eval('#jobs-table tbody tr', (rows) => rows.length).catch(() => 0), 0);
  assert.match(await member.textContent('#who-name'), /mia \(member\)/);
  assert.equal(await member.isVisible('#nav-admin'), false, 'a member has no users page');
  await member.goto(`${base}/#/datasets`);
  await member.waitForSelector('h1:text("Datasets")');
  assert.deepEqual((await apiGet('/datasets', token)).data, [], 'none of the admin\'s datasets');

  // Revoking the member's tokens ends their session: the next request returns to sign-in, on the same screen.
  await admin.click('tr[data-user="mia"] [data-action="revoke"]');
  await admin.waitForFunction(() => /Revoked/.test(document.getElementById('toast')?.textContent || ''));
  await member.click('a[data-nav="jobs"]');
  await member.waitForSelector('#signin-token');
  assert.match(member.url(), /#\/jobs/);
  await admin.click('tr[data-user="mia"] [data-action="token"]');
  // The box still shows the first token until the answer arrives: wait for the new one.
  await admin.waitForFunction((old) => {
    const shown = (document.getElementById('new-token-value')?.textContent || '').trim();
    return shown !== '' && shown !== old;
  }, token);
  const fresh = (await admin.textContent('#new-token-value')).trim();
  assert.notEqual(fresh, token);
  await member.fill('#signin-token', fresh);
  await member.click('#signin-submit');
  await member.waitForSelector('h1:text("Jobs")');
  await admin.context().close();
  await member.context().close();
});

test('a 400-class number target is refused with a hint to use regression; a 100-class one trains and its results fit', async () => {
  // Generated tables: the label is a whole number; x tells it apart (with noise), z is noise.
  const table = (classes, rows) => {
    const lines = ['x,z,label'];
    for (let r = 0; r < rows; r++) { const label = r % classes; lines.push(`${label * 10 + ((r * 7) % 5)},${(r * 13) % 17},${label}`); }
    return lines.join('\n') + '\n';
  };
  const upload = async (name, text) => {
    const form = new FormData();
    form.append('file', new Blob([text]), name);
    return (await (await authed(`${base}/datasets`, { method: 'POST', body: form })).json()).data;
  };
  const many = await upload('classes400.csv', table(400, 2000));
  const page = await newPage();
  await page.goto(`${base}/#/train?dataset=${many.id}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'classification');
  await page.selectOption('#f-plugin', 'random_forest');
  await page.waitForSelector('#f-target option[value="label"]', { state: 'attached' });
  await page.selectOption('#f-target', 'label');
  assert.match(await page.textContent('#target-balance'), /400 classes/);
  const before = (await apiGet('/jobs?limit=1')).total;
  await page.click('#train-submit');
  await page.waitForSelector('#f-target-error:not([hidden])');
  assert.match(await page.textContent('#f-target-error'), /regression/i);
  assert.match(page.url(), /#\/train/, 'the form stays');
  assert.equal((await apiGet('/jobs?limit=1')).total, before, 'no job was created');
  await shot(page, 'refused-400-classes');

  const hundred = await upload('classes100.csv', table(100, 1500));
  await page.goto(`${base}/#/train?dataset=${hundred.id}`);
  await page.waitForSelector('#f-plugin option', { state: 'attached' });
  await page.selectOption('#f-task', 'classification');
  await page.selectOption('#f-plugin', 'random_forest');
  await page.waitForSelector('#f-target option[value="label"]', { state: 'attached' });
  await page.selectOption('#f-target', 'label');
  await page.fill('#param-nEstimators', '10');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  await page.waitForSelector('#results:not([hidden]) #confusion', { timeout: 180_000 });
  assert.equal(await page.locator('#per-class tbody tr').count(), 100, 'a row per class');
  assert.equal(await page.locator('#confusion tbody tr').count(), 100);
  const wrap = await page.$eval('#confusion .table-wrap', (w) => ({ scroll: w.scrollWidth, client: w.clientWidth, overflow: getComputedStyle(w).overflowX }));
  assert.ok(wrap.scroll > wrap.client && ['auto', 'scroll'].includes(wrap.overflow), `the matrix scrolls in its box: ${JSON.stringify(wrap)}`);
  await assertFits(page);
  await shot(page, 'job-100-classes');
  await page.context().close();
});

// After the history test, which counts the jobs: a sweep adds many.
test('tune: a sweep from the Tune page fills its leaderboard live, marks pruned trials, and its best trial predicts', async () => {
  const page = await newPage();
  await page.goto(`${base}/#/tune`);
  await page.waitForSelector('#tune-form');
  await page.selectOption('#tune-dataset', datasetId);
  await page.selectOption('#tune-task', 'regression');
  await page.waitForSelector('#tune-target option[value="body_mass_g"]', { state: 'attached' });
  await page.selectOption('#tune-target', 'body_mass_g');
  await page.selectOption('#tune-strategy', 'asha');
  await page.selectOption('#tune-metric', 'r2');
  // The form starts from what gbdt suggests in GET /plugins (`tunable`).
  assert.equal(await page.inputValue('#tune-gbdt-learningRate-mode'), 'range');
  assert.equal(await page.inputValue('#tune-gbdt-learningRate-min'), '0.01');
  assert.equal(await page.inputValue('#tune-gbdt-learningRate-max'), '0.3');
  assert.equal(await page.inputValue('#tune-gbdt-learningRate-scale'), 'log');
  assert.equal(await page.inputValue('#tune-gbdt-nEstimators-mode'), 'fixed', 'a parameter gbdt does not suggest stays fixed');
  // gbdt alone, its rate searched wide (so the slow starters fall behind at a rung), the rest as suggested.
  for (const box of await page.$$('#tune-space input[data-plugin]')) if ((await box.getAttribute('data-plugin')) !== 'gbdt' && (await box.isChecked())) await box.uncheck();
  if (!(await page.isChecked('#tune-plugin-gbdt'))) await page.check('#tune-plugin-gbdt');
  await page.fill('#tune-gbdt-learningRate-min', '0.002');
  // Enough rounds that a trial is still running when the driver (every 200 ms)
  // reads its rung scores: at 100 rounds a penguins trial can end first.
  await page.fill('#tune-gbdt-nEstimators-values', '2000');
  await page.fill('#tune-trials', '9');
  // One trial at a time, so that the leaderboard grows row by row (two at a
  // time, in one instance each, nine penguins trials end in about two seconds).
  await page.fill('#tune-parallel', '1');
  await page.fill('#tune-budget', '300');
  await page.fill('#tune-seed', '3');
  await shot(page, 'tune-form');
  await page.click('#tune-submit');
  await page.waitForURL(/#\/tune\/[^/]+$/);
  const sweepId = page.url().split('/').pop();

  // The leaderboard fills as trials arrive: record each row count it shows
  // (once the sweep view has drawn its table: the URL changes first).
  await page.waitForSelector('#leaderboard', { state: 'attached' });
  await page.evaluate(() => {
    window.__boardSizes = [];
    const note = () => { const n = document.querySelectorAll('#leaderboard tbody tr').length; if (window.__boardSizes[window.__boardSizes.length - 1] !== n) window.__boardSizes.push(n); };
    new MutationObserver(note).observe(document.getElementById('leaderboard'), { subtree: true, childList: true });
    note();
  });
  await page.waitForSelector('#sweep-status .badge-completed', { timeout: 300_000 });
  await page.waitForFunction(() => document.querySelectorAll('#leaderboard tbody tr').length === 9);
  const sizes = await page.evaluate(() => window.__boardSizes);
  assert.ok(sizes.length >= 3 && sizes[sizes.length - 1] === 9, `the leaderboard grew trial by trial: ${sizes}`);
  const sweep = (await apiGet(`/sweeps/${sweepId}`)).data;
  const rows = await page.$$eval('#leaderboard tbody tr', (trs) => trs.map((tr) => ({ status: tr.dataset.status, job: tr.dataset.job, text: tr.textContent })));
  const pruned = sweep.trials.filter((t) => t.status === 'pruned');
  assert.ok(pruned.length >= 1, `ASHA pruned a trial: ${sweep.trials.map((t) => t.status)}`);
  for (const t of pruned) {
    const row = rows.find((r) => r.job === t.jobId);
    assert.equal(row.status, 'pruned');
    assert.match(row.text, new RegExp(`pruned at epoch ${t.epoch}`), 'a pruned row says where it stopped');
  }
  // Best first: the first row is the sweep's best, and its score is the highest r2.
  assert.equal(rows[0].job, sweep.best.jobId);
  const scores = sweep.trials.filter((t) => t.status === 'completed').map((t) => t.score);
  assert.equal(sweep.best.score, Math.max(...scores));
  // One curve per trial, the pruned ones cut off with a cross, ending at the epoch they were stopped.
  await page.waitForFunction((n) => Number(document.querySelector('#trial-curves svg')?.dataset.cut) === n, pruned.length);
  assert.equal(Number(await page.getAttribute('#trial-curves svg', 'data-series')), 9);
  assert.equal(await page.locator('#trial-curves .cut-mark').count(), pruned.length);
  // Score against each parameter the completed trials differ in (pruned ones stopped at other epochs).
  const completedRates = new Set(sweep.trials.filter((t) => t.status === 'completed').map((t) => t.params.learningRate));
  if (completedRates.size >= 2) assert.ok(await page.locator('#param-charts svg[data-param="learningRate"]').count() === 1, 'score against the learning rate');
  else assert.match(await page.textContent('#param-charts'), /share every parameter|No trial has completed/);
  await shot(page, 'tune-sweep');

  // The best model: downloaded from the sweep, then opened as a job and used to predict.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sweep-best #download-model')]);
  assert.equal(download.suggestedFilename(), `${sweep.best.jobId}.trainhost`);
  await page.click('#best-job-link');
  await page.waitForURL(new RegExp(`#/jobs/${sweep.best.jobId}$`));
  await page.waitForSelector('#results:not([hidden]) #metrics-table', { timeout: 60_000 });
  // The page draws a completed job's results at once; the socket's replay of
  // its end comes later and must not redraw the form a file was chosen in.
  await page.setInputFiles('#predict-file', penguins);
  await page.$eval('#predict-file', (el) => { el.dataset.chosen = 'yes'; });
  await page.waitForSelector('#job-log li.log-completed', { state: 'attached', timeout: 60_000 });
  await page.waitForLoadState('networkidle');
  assert.equal(await page.getAttribute('#predict-file', 'data-chosen'), 'yes', 'the predict form was redrawn after a file was chosen');
  await page.click('#predict-submit');
  await page.waitForSelector('#predictions-table');
  assert.match(await page.textContent('#predict-status'), /Predicted 344 rows/);
  assert.match(await page.textContent('#prediction-score'), /Scored against “body_mass_g” in this file/);
  await page.context().close();
});

test('cross-validation from the train form: each fold said while it runs, then mean ± std and every fold on the job page', async () => {
  const page = await newPage();
  await openTrainForm(page, 'random_forest');
  await page.fill('#param-nEstimators', '8');
  await page.click('details.advanced summary');
  // Out of range is refused at the field, before any job is created.
  await page.fill('#f-folds', '1');
  await page.click('#train-submit');
  await page.waitForSelector('#f-folds-error:not([hidden])');
  assert.match(await page.textContent('#f-folds-error'), /2 to 20/);
  await page.fill('#f-folds', '3');
  await page.click('#train-submit');
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
  const jobId = /#\/jobs\/(.+)$/.exec(page.url())[1];
  const table = page.locator('#cv-table');
  await table.waitFor({ timeout: 120_000 });
  const job = (await apiGet(`/jobs/${jobId}`)).data;
  const cv = job.results.crossValidation;
  assert.equal(cv.folds, 3);
  assert.match(await page.textContent('#cv-h'), /3 folds/);
  assert.match(await table.locator('thead').textContent(), /Metric\s*Mean ± std\s*Fold 1\s*Fold 2\s*Fold 3/);
  const accuracy = table.locator('tbody tr', { hasText: 'Accuracy' });
  const cells = await accuracy.locator('td').allTextContents();
  assert.equal(cells.length, 4, cells.join(' | '));
  assert.match(cells[0], /^\d\.\d+ ± \d\.\d+$/);
  cv.metrics.accuracy.values.forEach((v, i) => assert.ok(Math.abs(Number(cells[i + 1]) - v) < 1e-3, `fold ${i + 1}: ${cells[i + 1]} against ${v}`));
  // The job page said which fit it was in, as it happened (or, when it ran too fast for the
  // socket, at least the log has each phase).
  const log = await page.textContent('#job-log');
  for (const phase of ['fold 1 of 3', 'fold 2 of 3', 'fold 3 of 3', 'refit on the whole training part']) assert.ok(log.includes(phase), `${phase} in the log`);
  await table.scrollIntoViewIfNeeded();
  await shot(page, 'job-cross-validation');
  await page.context().close();
});

test('no request left the server (no CDN)', () => {
  assert.deepEqual(external, []);
});
