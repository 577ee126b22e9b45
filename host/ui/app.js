// The router: hash routes so a reload or a new tab lands on the same screen.
//   #/datasets            list and upload       #/datasets/<id>  preview
//   #/train[?dataset=id]  the training form     #/jobs[?filters] history
//   #/jobs/<id>           one job: live progress, then results
//   #/compare?ids=a,b     jobs side by side
//   #/tune                a sweep's form         #/tune/<id>      one sweep live
//   #/admin               users, tokens and quotas (admins)
// Signing in: the start-up URL's #token=..., or a token pasted on the sign-in
// screen, is exchanged for a session cookie; a 401 anywhere shows the sign-in
// screen again, and the screen that was open comes back once signed in.

import { parseHash, clear, h } from './dom.js';
import * as datasets from './datasets.js';
import * as train from './train.js';
import * as job from './job.js';
import * as jobs from './jobs.js';
import * as compare from './compare.js';
import * as tune from './tune.js';
import * as admin from './admin.js';
import * as signin from './signin.js';
import { session, signIn, signOut, whoAmI } from './api.js';

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
    if (a.dataset.nav === (section === 'compare' ? 'jobs' : section)) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const titles = { datasets: 'Datasets', train: 'Train a model', jobs: parts[1] ? `Job ${parts[1].slice(0, 8)}` : 'Jobs', compare: 'Compare jobs', tune: parts[1] ? `Sweep ${parts[1].slice(0, 8)}` : 'Tune', admin: 'Users' };
  document.title = `${titles[section] || 'Not found'} · trainhost`;
  const ctx = { main, query, setCleanup: (f) => { cleanup = f; } };
  let p;
  if (section === 'datasets') p = datasets.render(ctx, parts[1]);
  else if (section === 'train') p = train.render(ctx);
  else if (section === 'jobs' && parts[1]) p = job.render(ctx, parts[1]);
  else if (section === 'jobs') p = jobs.render(ctx);
  else if (section === 'compare') p = compare.render(ctx);
  else if (section === 'tune') p = tune.render(ctx, parts[1]);
  else if (section === 'admin') p = admin.render(ctx);
  else {
    main.append(h('h1', {}, 'Page not found'), h('p', {}, 'There is no screen at this address. ', h('a', { href: '#/datasets' }, 'Go to the datasets')));
  }
  Promise.resolve(p).catch((e) => { if (!signingIn) main.append(h('div', { class: 'error-box', role: 'alert' }, e.message || String(e))); });
  // Move focus to the new screen's heading when the user changed screens (not on filter changes).
  const screen = parts.slice(0, 2).join('/');
  if (lastPath !== null && lastPath !== screen) {
    requestAnimationFrame(() => { const h1 = main.querySelector('h1'); if (h1) { h1.tabIndex = -1; h1.focus(); } });
  }
  lastPath = screen;
  void path;
}

/** The header's user name, sign-out and admin link. */
function showUser() {
  const user = session.user;
  document.getElementById('who').hidden = !user;
  document.getElementById('who-name').textContent = user ? `${user.name} (${user.role})` : '';
  document.getElementById('nav-admin').hidden = !(user && user.role === 'admin');
}

let signingIn = false;
function showSignIn(message) {
  if (signingIn) return;
  signingIn = true;
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  showUser();
  document.title = 'Sign in · trainhost';
  signin.render(main, message, async (token) => {
    await signIn(token);
    signingIn = false;
    showUser();
    route();
  });
}

const TOKEN_IN_ADDRESS = /^#token=([^&]+)/;

async function start() {
  const m = TOKEN_IN_ADDRESS.exec(location.hash);
  if (m) {
    // The token leaves the address at once (history, screenshots, shoulders).
    history.replaceState(null, '', `${location.pathname}#/datasets`);
    try { await signIn(decodeURIComponent(m[1])); } catch (e) { signingIn = false; showSignIn(e.message); return; }
  } else if (!(await whoAmI())) {
    showSignIn();
    return;
  }
  signingIn = false;
  showUser();
  route();
}

window.addEventListener('hashchange', () => {
  if (TOKEN_IN_ADDRESS.test(location.hash)) start().catch((e) => showSignIn(e.message));
  else if (!signingIn) route();
});
window.addEventListener('trainhost:signed-out', () => showSignIn('Your session ended; sign in again to go on.'));
document.getElementById('skip').addEventListener('click', () => main.focus());
document.getElementById('sign-out').addEventListener('click', async () => {
  try { await signOut(); } finally { showSignIn('You are signed out.'); }
});
start().catch((e) => main.append(h('div', { class: 'error-box', role: 'alert' }, e.message || String(e))));
