// The router: hash routes so a reload or a new tab lands on the same screen.
//   #/datasets            list and upload       #/datasets/<id>  preview
//   #/train[?dataset=id]  the training form     #/jobs[?filters] history
//   #/jobs/<id>           one job: live progress, then results

import { parseHash, clear, h } from './dom.js';
import * as datasets from './datasets.js';
import * as train from './train.js';
import * as job from './job.js';
import * as jobs from './jobs.js';

const main = document.getElementById('main');
let cleanup = null;
let lastPath = null;

function route() {
  const { parts, query } = parseHash();
  const path = parts.join('/');
  if (!parts.length) { location.replace('#/datasets'); return; }
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  clear(main);
  const section = parts[0];
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const titles = { datasets: 'Datasets', train: 'Train a model', jobs: parts[1] ? `Job ${parts[1].slice(0, 8)}` : 'Jobs' };
  document.title = `${titles[section] || 'Not found'} · trainhost`;
  const ctx = { main, query, setCleanup: (f) => { cleanup = f; } };
  let p;
  if (section === 'datasets') p = datasets.render(ctx, parts[1]);
  else if (section === 'train') p = train.render(ctx);
  else if (section === 'jobs' && parts[1]) p = job.render(ctx, parts[1]);
  else if (section === 'jobs') p = jobs.render(ctx);
  else {
    main.append(h('h1', {}, 'Page not found'), h('p', {}, 'There is no screen at this address. ', h('a', { href: '#/datasets' }, 'Go to the datasets')));
  }
  Promise.resolve(p).catch((e) => main.append(h('div', { class: 'error-box', role: 'alert' }, e.message || String(e))));
  // Move focus to the new screen's heading when the user changed screens (not on filter changes).
  const screen = parts.slice(0, 2).join('/');
  if (lastPath !== null && lastPath !== screen) {
    requestAnimationFrame(() => { const h1 = main.querySelector('h1'); if (h1) { h1.tabIndex = -1; h1.focus(); } });
  }
  lastPath = screen;
  void path;
}

window.addEventListener('hashchange', route);
document.getElementById('skip').addEventListener('click', () => main.focus());
route();
