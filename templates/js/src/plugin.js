// {{name}}: a trainhost plugin in JavaScript. The skeleton algorithm is a
// linear model fitted by full-batch gradient descent: softmax regression for
// classification (with class probabilities), least squares for regression.
// Numbers are standardised (a missing one counts as the mean), categories
// one-hot coded (a missing or unseen level is all zeros). Replace the maths
// with yours; keep the shape: check the parameters before the data, report
// every epoch and stop when cancelled, and return deterministic model bytes.

import {
  spec, readParams, trainError, predictError, numeric, categorical, isMissing,
  MISSING_CODE, epoch, log, encodeModel, decodeModel,
} from './trainhost.js';

const FORMAT = '{{name}}/1';
const PENALTY = { none: 0, weak: 1e-4, strong: 1e-2 };

const PARAMS = [
  spec.int('epochs', 100, 1, 10000, 'Passes of gradient descent over the training rows'),
  spec.float('learningRate', 0.5, 0.0001, 10, 'Step size of each pass'),
  spec.bool('fitIntercept', true, 'Learn a constant term'),
  spec.choice('penalty', 'weak', Object.keys(PENALTY), 'L2 penalty on the weights'),
];

function describe() {
  return {
    name: '{{name}}',
    version: '0.1.0',
    description: 'Linear model by gradient descent (a JavaScript template)',
    tasks: ['classification', 'regression'],
    params: PARAMS,
  };
}

/** Per-column encoding fitted on the training rows, stored in the model. */
function fitColumns(columns) {
  return columns.map((c) => {
    if (c.data.tag === 'categorical') return { name: c.name, levels: c.data.val.levels.length };
    const known = numeric(c).filter((v) => !isMissing(v));
    const mean = known.reduce((a, v) => a + v, 0) / Math.max(known.length, 1);
    const variance = known.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(known.length, 1);
    return { name: c.name, mean, std: Math.sqrt(variance) || 1 };
  });
}

/** The dense row-major design matrix (rows x width) of `columns` under `encoding`. */
function design(columns, rows, encoding, error) {
  if (columns.length !== encoding.length) throw error.invalidData(`expected ${encoding.length} columns, got ${columns.length}`);
  const width = encoding.reduce((w, e) => w + (e.levels ?? 1), 0);
  const x = new Float64Array(rows * width);
  let offset = 0;
  encoding.forEach((e, j) => {
    if (e.levels !== undefined) {
      const { codes } = categorical(columns[j], error);
      for (let i = 0; i < rows; i++) if (codes[i] !== MISSING_CODE && codes[i] < e.levels) x[i * width + offset + codes[i]] = 1;
      offset += e.levels;
    } else {
      const values = numeric(columns[j], error);
      for (let i = 0; i < rows; i++) x[i * width + offset] = isMissing(values[i]) ? 0 : (values[i] - e.mean) / e.std;
      offset += 1;
    }
  });
  return { x, width };
}

/** Scores of row `i` (one per output) into `out`. */
function scores(model, x, width, i, out) {
  for (let k = 0; k < model.outputs; k++) {
    let z = model.bias[k];
    const w = k * width;
    for (let j = 0; j < width; j++) z += model.weights[w + j] * x[i * width + j];
    out[k] = z;
  }
}

function softmax(z) {
  const top = Math.max(...z);
  let sum = 0;
  for (let k = 0; k < z.length; k++) sum += (z[k] = Math.exp(z[k] - top));
  for (let k = 0; k < z.length; k++) z[k] /= sum;
}

/** The training rows with a known target: `{ rows, y }` (class codes or standardised values). */
function targetRows(task, target) {
  if (task === 'classification') {
    const { codes, levels } = categorical({ name: 'the target', data: target });
    const rows = [...codes.keys()].filter((i) => codes[i] !== MISSING_CODE && codes[i] < levels.length);
    return { rows, y: rows.map((i) => codes[i]), classes: levels.length };
  }
  const values = numeric({ name: 'the target', data: target });
  const rows = [...values.keys()].filter((i) => !isMissing(values[i]));
  const mean = rows.reduce((a, i) => a + values[i], 0) / Math.max(rows.length, 1);
  const std = Math.sqrt(rows.reduce((a, i) => a + (values[i] - mean) ** 2, 0) / Math.max(rows.length, 1)) || 1;
  return { rows, y: rows.map((i) => (values[i] - mean) / std), mean, std };
}

/** One pass of gradient descent; returns the mean loss before the step. */
function step(model, x, width, t, p, rate) {
  const grad = new Float64Array(model.weights.length);
  const gradBias = new Float64Array(model.outputs);
  const z = new Float64Array(model.outputs);
  let loss = 0;
  t.rows.forEach((i, r) => {
    scores(model, x, width, i, z);
    if (model.task === 'classification') {
      softmax(z);
      loss -= Math.log(Math.max(z[t.y[r]], 1e-300));
      z[t.y[r]] -= 1;
    } else {
      z[0] -= t.y[r];
      loss += 0.5 * z[0] * z[0];
    }
    for (let k = 0; k < model.outputs; k++) {
      gradBias[k] += z[k];
      for (let j = 0; j < width; j++) grad[k * width + j] += z[k] * x[i * width + j];
    }
  });
  const n = t.rows.length;
  const lambda = PENALTY[p.penalty];
  for (let w = 0; w < grad.length; w++) model.weights[w] -= rate * (grad[w] / n + lambda * model.weights[w]);
  if (p.fitIntercept) for (let k = 0; k < model.outputs; k++) model.bias[k] -= rate * (gradBias[k] / n);
  return loss / n;
}

function train(request) {
  // Parameters first: the host calls train once on a table without rows to check them.
  const p = readParams(PARAMS, request.params);
  const { features, target } = request.train;
  if (target === null || target === undefined) throw trainError.invalidData('a target column is needed');
  const t = targetRows(request.task, target);
  if (t.rows.length === 0) throw trainError.invalidData('no training row has a target');
  const encoding = fitColumns(features.columns);
  const { x, width } = design(features.columns, features.rows, encoding, trainError);
  const outputs = request.task === 'classification' ? t.classes : 1;
  const model = {
    format: FORMAT, task: request.task, columns: encoding, outputs,
    weights: new Array(outputs * width).fill(0), bias: new Array(outputs).fill(0),
    target: request.task === 'regression' ? { mean: t.mean, std: t.std } : null,
  };
  log('info', `${t.rows.length} rows, ${width} inputs, ${outputs} outputs`);
  // The loss of a step is measured at the next one: when it went up, the
  // step overshot, so the rate is halved from then on.
  let loss = Infinity;
  let rate = p.learningRate;
  for (let e = 1; e <= p.epochs; e++) {
    const before = loss;
    loss = step(model, x, width, t, p, rate);
    if (!Number.isFinite(loss)) throw trainError.failed(`diverged at epoch ${e}: lower learningRate`);
    if (loss > before) rate /= 2;
    if (!epoch(e, p.epochs, { loss })) throw trainError.cancelled();
  }
  const trained = { model: encodeModel(model), metrics: [{ name: 'trainingLoss', value: loss }], featureImportances: null, clusterSizes: null };
  return { model: trained, tables: [] };
}

function predict(bytes, features) {
  const model = decodeModel(bytes, FORMAT);
  const { x, width } = design(features.columns, features.rows, model.columns, predictError);
  const z = new Float64Array(model.outputs);
  if (model.task === 'regression') {
    const values = new Array(features.rows);
    for (let i = 0; i < features.rows; i++) {
      scores(model, x, width, i, z);
      values[i] = model.target.mean + model.target.std * z[0];
    }
    return { tag: 'values', val: values };
  }
  const labels = new Array(features.rows);
  const probabilities = new Array(features.rows * model.outputs);
  for (let i = 0; i < features.rows; i++) {
    scores(model, x, width, i, z);
    softmax(z);
    let best = 0;
    for (let k = 0; k < model.outputs; k++) {
      probabilities[i * model.outputs + k] = z[k];
      if (z[k] > z[best]) best = k;
    }
    labels[i] = best;
  }
  return { tag: 'classes', val: { labels, probabilities, nClasses: model.outputs } };
}

/** Contract 0.3.0's cost estimate: none here (the parameters are still checked). */
function estimate(task, params, shape) {
  readParams(PARAMS, params);
  return null;
}

export const trainer = { describe, train, predict, estimate };
