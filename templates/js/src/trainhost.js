// trainhost.js: the thin helper a JavaScript plugin imports so that its own
// file holds only the algorithm. It owns the shapes of the contract as this
// toolchain (componentize-qjs) hands them to JavaScript: parameter specs and
// typed, bounds-checked parameter access; column access with missing values
// and categorical codes; the errors `train` and `predict` throw; progress,
// cancel and log; model bytes. It must not contain any algorithm.
//
// How WIT values look here: records are objects with camelCase keys,
// variants `{ tag, val }`, enums strings, `option<T>` is `null` for none,
// s64/u64 are plain numbers, lists are Arrays (`list<u8>` a Uint8Array).
// A function returning `result<T, E>` returns T, or throws E.

import * as host from 'trainhost:plugin/host@0.1.0';

/** The code of a missing (or, at predict, unseen) value in a categorical column. */
export const MISSING_CODE = 4294967295;

/** Parameter specs for `describe()`; give every number both bounds. */
export const spec = {
  int: (name, def, min, max, help) => ({ name, help, kind: { tag: 'int', val: { default: def, min, max } } }),
  float: (name, def, min, max, help) => ({ name, help, kind: { tag: 'float', val: { default: def, min, max } } }),
  bool: (name, def, help) => ({ name, help, kind: { tag: 'boolean', val: def } }),
  choice: (name, def, choices, help) => ({ name, help, kind: { tag: 'choice', val: { default: def, choices } } }),
};

/** The errors `train` throws (a `train-error`). */
export const trainError = {
  invalidParameter: (name, reason) => ({ tag: 'invalid-parameter', val: { name, reason } }),
  invalidData: (message) => ({ tag: 'invalid-data', val: message }),
  cancelled: () => ({ tag: 'cancelled' }),
  failed: (message) => ({ tag: 'failed', val: message }),
};

/** The errors `predict` throws (a `predict-error`). */
export const predictError = {
  invalidModel: (message) => ({ tag: 'invalid-model', val: message }),
  invalidData: (message) => ({ tag: 'invalid-data', val: message }),
  failed: (message) => ({ tag: 'failed', val: message }),
};

/**
 * The request's parameters as `{ name: value }`, checked against `specs`
 * (the list `describe()` returns): a missing one takes its default, and a
 * wrong kind, an out-of-range number, an unknown choice or an unknown name
 * throws `invalid-parameter`. The host validates too, but `plugin check` and
 * `estimate` callers rely on the plugin refusing on its own.
 */
export function readParams(specs, params) {
  const given = new Map(params.map((p) => [p.name, p.value]));
  for (const name of given.keys()) {
    if (!specs.some((s) => s.name === name)) throw trainError.invalidParameter(name, 'unknown parameter');
  }
  const out = {};
  for (const s of specs) {
    out[s.name] = checkParam(s, given.get(s.name));
  }
  return out;
}

function checkParam(s, value) {
  const bad = (reason) => trainError.invalidParameter(s.name, reason);
  const { tag, val } = s.kind;
  if (value === undefined) return tag === 'boolean' ? val : val.default;
  if (tag === 'int' || tag === 'float') {
    const ok = value.tag === 'int' || (tag === 'float' && value.tag === 'float');
    if (!ok) throw bad(`expected ${tag === 'int' ? 'an integer' : 'a number'}`);
    const v = Number(value.val);
    if (!Number.isFinite(v)) throw bad('must be a finite number');
    if (val.min !== null && v < val.min) throw bad(`must be at least ${val.min}, got ${v}`);
    if (val.max !== null && v > val.max) throw bad(`must be at most ${val.max}, got ${v}`);
    return v;
  }
  if (tag === 'boolean') {
    if (value.tag !== 'boolean') throw bad('expected true or false');
    return value.val;
  }
  if (value.tag !== 'choice' || !val.choices.includes(value.val)) throw bad(`must be one of ${val.choices.join(', ')}`);
  return value.val;
}

/** A numeric column's values (NaN = missing), or throws `invalid-data` naming it. */
export function numeric(column, error = trainError) {
  if (column.data.tag !== 'numeric') throw error.invalidData(`column ${column.name} must be numeric`);
  return column.data.val;
}

/** A categorical column's `{ codes, levels }` (MISSING_CODE = missing), or throws `invalid-data`. */
export function categorical(column, error = trainError) {
  if (column.data.tag !== 'categorical') throw error.invalidData(`column ${column.name} must be categorical`);
  return column.data.val;
}

/** Whether a numeric value is missing (NaN, or infinite, which the host never sends). */
export const isMissing = (v) => !Number.isFinite(v);

/**
 * Reports epoch `epoch` of `total` with `metrics` (`{ name: number }`) and
 * returns false once the job is cancelled: then stop and throw
 * `trainError.cancelled()`.
 */
export function epoch(epoch, total, metrics = {}) {
  host.reportEpoch(epoch, total, Object.entries(metrics).map(([name, value]) => ({ name, value })));
  return !host.cancelled();
}

/** A line for the job's log; level is 'debug', 'info', 'warn' or 'error'. */
export function log(level, message) {
  host.log(level, String(message));
}

/**
 * Model bytes from a JSON-able value (deterministic: same value, same bytes).
 * QuickJS has no TextEncoder, hence the UTF-8 coding here.
 */
export function encodeModel(value) {
  return utf8(JSON.stringify(value));
}

/** The value `encodeModel` stored, or throws `invalid-model`. */
export function decodeModel(bytes, format) {
  let model;
  try {
    model = JSON.parse(fromUtf8(bytes));
  } catch (err) {
    throw predictError.invalidModel(`not a model of this plugin: ${err}`);
  }
  if (model === null || model.format !== format) throw predictError.invalidModel(`not a ${format} model`);
  return model;
}

function utf8(text) {
  const out = [];
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

function fromUtf8(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    let c = n === 1 ? b : b & (0xff >> (n + 1));
    for (let k = 1; k < n; k++) c = (c << 6) | (bytes[i + k] & 63);
    if (n > 1 && i + n > bytes.length) throw new Error('truncated UTF-8');
    text += String.fromCodePoint(c);
    i += n;
  }
  return text;
}
