// The admin page: users with their role, state, quota and usage; add a user
// (its first token is shown once), issue and revoke tokens, set quotas,
// disable and enable users. Everything goes through /admin.

import { h, replace, clear, errorBox, fmtBytes, toast, tableWrap } from './dom.js';
import { get, post, patch, del, session } from './api.js';

const MIB = 1024 * 1024;

export async function render({ main }) {
  main.append(h('h1', {}, 'Users'));
  if (!session.user || session.user.role !== 'admin') {
    main.append(errorBox('Only admins manage users.'));
    return;
  }
  const secret = h('div', { id: 'new-token', 'aria-live': 'polite' });
  main.append(addForm(secret, () => load()), secret);
  const box = h('section', { class: 'card', id: 'users-list', 'aria-label': 'Users' }, h('p', { class: 'muted' }, 'Loading users…'));
  main.append(box);

  async function load() {
    try {
      const users = (await get('/admin/users')).data || [];
      replace(box, tableWrap(usersTable(users, secret, load), 'Users'));
    } catch (e) {
      replace(box, errorBox(e.message));
    }
  }
  await load();
}

function showToken(secret, name, token) {
  replace(secret, h('div', { class: 'card notice' },
    h('p', {}, `Token for ${name}, shown once: copy it now and give it to them.`),
    h('code', { class: 'token', id: 'new-token-value' }, token)));
}

function addForm(secret, reload) {
  const name = h('input', { id: 'user-name', required: true, pattern: '[a-z0-9][a-z0-9._-]{0,63}', autocomplete: 'off' });
  const role = h('select', { id: 'user-role' }, h('option', { value: 'member' }, 'member'), h('option', { value: 'admin' }, 'admin'));
  const errors = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card filters', 'aria-label': 'Add a user' },
    h('div', { class: 'field' }, h('label', { for: 'user-name' }, 'Name (a-z, 0-9, . _ -)'), name),
    h('div', { class: 'field' }, h('label', { for: 'user-role' }, 'Role'), role),
    h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'button primary', id: 'add-user' }, 'Add user')),
    errors);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(errors);
    try {
      const data = (await post('/admin/users', { name: name.value.trim(), role: role.value })).data;
      showToken(secret, data.name, data.token);
      name.value = '';
      reload();
    } catch (err) {
      errors.append(errorBox(err.message));
    }
  });
  return form;
}

function quotaCell(user, reload) {
  const q = user.quotaOverrides || {};
  const input = (key, label, value, scale) => h('label', { class: 'quota' }, label,
    h('input', { type: 'number', min: '0', step: '1', 'data-quota': key, 'data-scale': String(scale), value: value === undefined ? '' : String(Math.round(value / scale)), placeholder: 'default', 'aria-label': `${label} for ${user.name}` }));
  const fields = [
    input('activeJobs', 'active jobs', q.activeJobs, 1),
    input('jobsPerHour', 'jobs / hour', q.jobsPerHour, 1),
    input('datasetBytes', 'datasets MiB', q.datasetBytes, MIB),
    input('uploadBytes', 'upload MiB', q.uploadBytes, MIB),
  ];
  const save = h('button', { type: 'button', class: 'button small', 'data-action': 'save-quota' }, 'Save quota');
  save.addEventListener('click', async () => {
    const quota = {};
    for (const f of fields) {
      const el = f.querySelector('input');
      if (el.value !== '') quota[el.dataset.quota] = Number(el.value) * Number(el.dataset.scale);
    }
    try { await patch(`/admin/users/${encodeURIComponent(user.name)}`, { quota }); toast(`Quota of ${user.name} saved.`); reload(); } catch (e) { toast(e.message); }
  });
  return h('td', {}, h('div', { class: 'quota-fields' }, fields, save));
}

function usageText(user) {
  const u = user.usage || {}, q = user.quota || {};
  const of = (used, limit, fmt = String) => (limit ? `${fmt(used)} of ${fmt(limit)}` : `${fmt(used)}`);
  return `${of(u.activeJobs || 0, q.activeJobs)} active jobs · ${of(u.jobsLastHour || 0, q.jobsPerHour)} jobs this hour · ${of(u.datasetBytes || 0, q.datasetBytes, fmtBytes)} of datasets`;
}

function usersTable(users, secret, reload) {
  const act = (label, action, fn, danger) => {
    const b = h('button', { type: 'button', class: `button small${danger ? ' danger' : ''}`, 'data-action': action }, label);
    b.addEventListener('click', async () => { try { await fn(); reload(); } catch (e) { toast(e.message); } });
    return b;
  };
  const rows = users.map((user) => {
    const path = `/admin/users/${encodeURIComponent(user.name)}`;
    return h('tr', { 'data-user': user.name },
      h('td', {}, h('strong', {}, user.name), h('div', { class: 'muted' }, user.role, user.disabled ? ' · disabled' : '')),
      h('td', { class: 'muted' }, usageText(user)),
      quotaCell(user, reload),
      h('td', {}, h('div', { class: 'row' },
        act('New token', 'token', async () => { const d = (await post(`${path}/tokens`, {})).data; showToken(secret, user.name, d.token); }),
        act('Revoke tokens', 'revoke', async () => { const d = (await del(`${path}/tokens`)).data; toast(`Revoked ${d.revoked} token(s) of ${user.name}.`); }, true),
        user.disabled
          ? act('Enable', 'enable', () => patch(path, { disabled: false }))
          : act('Disable', 'disable', () => patch(path, { disabled: true }), true))));
  });
  return h('table', { class: 'users' },
    h('thead', {}, h('tr', {}, h('th', {}, 'User'), h('th', {}, 'Usage'), h('th', {}, 'Quota (empty: default)'), h('th', {}, 'Actions'))),
    h('tbody', {}, rows));
}
