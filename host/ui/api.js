// The public HTTP API, and how its errors are put into plain words.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Server messages quote names in `backticks`; show them as quotes. */
export function plain(text) {
  return String(text || '').replace(/`([^`]*)`/g, '“$1”');
}

function fromBody(status, body) {
  const e = body && body.error;
  if (e && e.message) return new ApiError(status, e.code || 'error', plain(e.message), e.field);
  if (status === 413) return new ApiError(status, 'too_large', 'The file is larger than the server accepts.');
  if (status >= 500) return new ApiError(status, 'server', `The server hit a problem (HTTP ${status}). Try again; if it persists, check the server log.`);
  return new ApiError(status, 'http', `The server refused the request (HTTP ${status}).`);
}

const OFFLINE = 'The server could not be reached. Check that trainhost is running and try again.';

// The session: the signed-in user (from GET /me) and the CSRF value every
// change made with the session cookie must carry.
let csrf = null;
export const session = { user: null, auth: 'tokens' };

/** A 401 anywhere: the app shows the sign-in screen, keeping the address. */
function signedOut() {
  csrf = null;
  session.user = null;
  window.dispatchEvent(new CustomEvent('trainhost:signed-out'));
}

function headers(extra) {
  const out = { Accept: 'application/json', ...extra };
  if (csrf) out['X-CSRF-Token'] = csrf;
  return out;
}

export async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'offline', OFFLINE);
  }
  let json = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  // /me and the sign-in answer 401 to someone not signed in yet: not an ended session.
  if (res.status === 401 && !path.startsWith('/auth/') && path !== '/me') signedOut();
  if (!res.ok) throw fromBody(res.status, json);
  return json;
}

/** Who is signed in (null: nobody); remembers the session's CSRF value. */
export async function whoAmI() {
  try {
    const me = (await get('/me')).data;
    if (me.csrf) csrf = me.csrf;
    session.user = me.name ? me : null;
    session.auth = me.auth || 'tokens';
    return me;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

/** Exchanges a token for the session cookie. */
export async function signIn(token) {
  const data = (await api('POST', '/auth/session', { token })).data;
  csrf = data.csrf;
  return whoAmI();
}

export async function signOut() {
  try { await api('DELETE', '/auth/session'); } finally { csrf = null; session.user = null; }
}

/** A POST whose answer is a file (a CSV): its Blob. */
export async function postForBlob(path, body) {
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers: headers({ 'Content-Type': 'application/json', Accept: 'text/csv' }), body: JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'offline', OFFLINE);
  }
  if (res.status === 401) signedOut();
  if (!res.ok) {
    let json = null;
    try { json = await res.json(); } catch { /* not JSON */ }
    throw fromBody(res.status, json);
  }
  return res.blob();
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body ?? {});
export const del = (path) => api('DELETE', path);
export const patch = (path, body) => api('PATCH', path, body ?? {});

/** Multipart upload with progress (fetch cannot report upload progress); `purpose`
 * 'predict' marks a table uploaded only to predict on. */
export function upload(file, onProgress, purpose) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', purpose ? `/datasets?purpose=${encodeURIComponent(purpose)}` : '/datasets');
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onerror = () => reject(new ApiError(0, 'offline', OFFLINE));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was stopped.'));
    xhr.onload = () => {
      let json = null;
      try { json = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && json) resolve(json.data);
      else {
        if (xhr.status === 401) signedOut();
        reject(fromBody(xhr.status, json));
      }
    };
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

// Plugins and datasets change rarely; keep them for a little while.
let pluginsCache = null;
export async function plugins(refresh = false) {
  if (!pluginsCache || refresh) pluginsCache = get('/plugins').then((r) => r.data || []).catch((e) => { pluginsCache = null; throw e; });
  return pluginsCache;
}

export async function datasets() {
  return (await get('/datasets')).data || [];
}

export const TASKS = ['classification', 'regression', 'clustering'];
