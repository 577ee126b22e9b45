//! {{name}}: a trainhost plugin. It starts as a working linear model trained
//! by gradient descent (softmax regression for classification, least squares
//! for regression) so that every part of the contract is shown once:
//!
//! - `describe`: one parameter of each kind (int, float, bool, choice);
//! - `train`: reads the parameters, refuses bad ones as invalid-parameter,
//!   handles missing values (NaN numbers, `MISSING_CODE` categories), reports
//!   each epoch and stops when the job is cancelled;
//! - `predict`: one prediction per row, probabilities that sum to 1, and a
//!   category it never saw in training treated as missing.
//!
//! Replace the maths with your own; keep the shape.

use trainhost_sdk::schema::{boolean, choice, float, int};
use trainhost_sdk::*;

/// The first bytes of every model this plugin writes, and its format version.
const MAGIC: &[u8; 4] = b"TPL1";
const MAX_EPOCHS: i64 = 10_000;

fn describe() -> PluginInfo {
    PluginInfo {
        name: "{{name}}".into(),
        version: "0.1.0".into(),
        description: "a linear model trained by gradient descent (trainhost template)".into(),
        tasks: vec![Task::Classification, Task::Regression],
        params: vec![
            int("epochs", 50, Some(1), Some(MAX_EPOCHS), "passes over the training rows"),
            float("learningRate", 0.1, Some(1e-6), Some(10.0), "step size of each gradient step"),
            boolean("fitIntercept", true, "learn a constant term"),
            choice("penalty", "l2", &["none", "l2"], "weight penalty (l2: 0.001 × the squared weights)"),
        ],
    }
}

/// The parameters, checked again here: the host validates them against
/// `describe()`, but the plugin is the last line of defence.
struct Settings {
    epochs: u32,
    learning_rate: f64,
    intercept: bool,
    l2: f64,
}

impl Settings {
    fn from(params: &[Param]) -> Result<Settings, TrainError> {
        let p = Params(params);
        let epochs = p.int("epochs")?;
        if !(1..=MAX_EPOCHS).contains(&epochs) {
            return Err(invalid("epochs", &format!("must be between 1 and {MAX_EPOCHS}, got {epochs}")));
        }
        let learning_rate = p.float("learningRate")?;
        if !(1e-6..=10.0).contains(&learning_rate) {
            return Err(invalid("learningRate", &format!("must be between 1e-6 and 10, got {learning_rate}")));
        }
        let l2 = match p.choice("penalty")? {
            "none" => 0.0,
            "l2" => 1e-3,
            other => return Err(invalid("penalty", &format!("must be none or l2, got {other}"))),
        };
        Ok(Settings { epochs: epochs as u32, learning_rate, intercept: p.boolean("fitIntercept")?, l2 })
    }
}

/// How a table's columns become the model's inputs: each number standardised
/// (a missing one becomes 0, the mean), each category one-hot (a missing or
/// unseen one: all zeros).
#[derive(Debug, Clone, PartialEq)]
enum Input {
    Number { mean: f64, scale: f64 },
    Category { levels: u32 },
}

impl Input {
    fn width(&self) -> usize {
        match self {
            Input::Number { .. } => 1,
            Input::Category { levels } => *levels as usize,
        }
    }
}

fn inputs_of(table: &Table) -> Vec<Input> {
    table
        .columns
        .iter()
        .map(|column| match &column.data {
            ColumnData::Numeric(values) => {
                let known: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
                let n = known.len().max(1) as f64;
                let mean = known.iter().sum::<f64>() / n;
                let var = known.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                Input::Number { mean, scale: if var > 0.0 { var.sqrt() } else { 1.0 } }
            }
            ColumnData::Categorical(c) => Input::Category { levels: c.levels.len() as u32 },
        })
        .collect()
}

/// Row `row` of `table` as the model's input vector (its last entry is the constant 1).
fn features(inputs: &[Input], table: &Table, row: usize, out: &mut Vec<f64>) {
    out.clear();
    for (input, column) in inputs.iter().zip(&table.columns) {
        match (input, &column.data) {
            (Input::Number { mean, scale }, ColumnData::Numeric(v)) => {
                let x = v.get(row).copied().unwrap_or(f64::NAN);
                out.push(if x.is_finite() { (x - mean) / scale } else { 0.0 });
            }
            (Input::Category { levels }, ColumnData::Categorical(c)) => {
                let code = c.codes.get(row).copied().unwrap_or(MISSING_CODE);
                out.extend((0..*levels).map(|level| if level == code { 1.0 } else { 0.0 }));
            }
            // A column of the other kind than in training: no information.
            (input, _) => out.extend(std::iter::repeat_n(0.0, input.width())),
        }
    }
    out.push(1.0);
}

/// The fitted model: one weight row per output (classes, or one value).
#[derive(Debug, Clone, PartialEq)]
struct Model {
    classification: bool,
    inputs: Vec<Input>,
    /// outputs × (width + 1), row-major; the last column is the intercept.
    weights: Vec<f64>,
    outputs: usize,
}

impl Model {
    fn width(&self) -> usize {
        self.inputs.iter().map(Input::width).sum::<usize>() + 1
    }

    /// The raw outputs for one input vector.
    fn scores(&self, x: &[f64], out: &mut [f64]) {
        for (k, score) in out.iter_mut().enumerate() {
            *score = self.weights[k * x.len()..(k + 1) * x.len()].iter().zip(x).map(|(w, v)| w * v).sum();
        }
    }
}

fn softmax(scores: &mut [f64]) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    scores.iter_mut().for_each(|s| *s = (*s - max).exp());
    let sum: f64 = scores.iter().sum();
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// The target as the model learns it: a class code or a value per row (None: missing).
fn targets(task: Task, target: Option<&ColumnData>) -> Result<(Vec<Option<f64>>, usize), TrainError> {
    match (task, target) {
        (Task::Classification, Some(ColumnData::Categorical(c))) => {
            Ok((c.codes.iter().map(|&k| ((k as usize) < c.levels.len()).then_some(f64::from(k))).collect(), c.levels.len().max(1)))
        }
        (Task::Regression, Some(ColumnData::Numeric(v))) => Ok((v.iter().map(|y| y.is_finite().then_some(*y)).collect(), 1)),
        (Task::Classification, _) => Err(TrainError::InvalidData("classification needs a categorical target".into())),
        (Task::Regression, _) => Err(TrainError::InvalidData("regression needs a numeric target".into())),
        (Task::Clustering, _) => Err(TrainError::InvalidData("this plugin does not cluster".into())),
    }
}

fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<TrainedModel, TrainError> {
    // Parameters first: the host checks a request before queueing it by
    // calling train on a table without rows, and acts only on invalid-parameter.
    let settings = Settings::from(&request.params)?;
    let table = &request.train.features;
    let (y, outputs) = targets(request.task, request.train.target.as_ref())?;
    let rows: Vec<usize> = (0..table.rows as usize).filter(|&r| y.get(r).copied().flatten().is_some()).collect();
    if rows.is_empty() {
        return Err(TrainError::InvalidData("no row has a known target".into()));
    }
    let classification = request.task == Task::Classification;
    // Regression learns a standardised target: one learning rate fits every scale.
    let known: Vec<f64> = rows.iter().filter_map(|&r| y[r]).collect();
    let y_mean = if classification { 0.0 } else { known.iter().sum::<f64>() / known.len() as f64 };
    let y_scale = if classification { 1.0 } else { (known.iter().map(|v| (v - y_mean).powi(2)).sum::<f64>() / known.len() as f64).sqrt().max(1e-12) };
    let mut model = Model { classification, inputs: inputs_of(table), weights: Vec::new(), outputs };
    let width = model.width();
    model.weights = vec![0.0; outputs * width];
    let mut order = rows.clone();
    let mut state = request.seed;
    let (mut x, mut scores, mut grad) = (Vec::with_capacity(width), vec![0.0; outputs], vec![0.0; outputs * width]);
    for epoch in 1..=settings.epochs {
        // The seed alone decides the order: the same request gives the same model.
        for i in (1..order.len()).rev() {
            order.swap(i, (splitmix64(&mut state) % (i as u64 + 1)) as usize);
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for &row in &order {
            features(&model.inputs, table, row, &mut x);
            model.scores(&x, &mut scores);
            let truth = y[row].unwrap_or_default();
            if classification {
                softmax(&mut scores);
                loss -= scores[truth as usize].max(1e-12).ln();
                scores[truth as usize] -= 1.0;
            } else {
                scores[0] -= (truth - y_mean) / y_scale;
                loss += scores[0] * scores[0] / 2.0;
            }
            for (k, error) in scores.iter().enumerate() {
                grad[k * width..(k + 1) * width].iter_mut().zip(&x).for_each(|(g, v)| *g += error * v);
            }
        }
        let n = order.len() as f64;
        for (i, (w, g)) in model.weights.iter_mut().zip(&grad).enumerate() {
            let is_intercept = i % width == width - 1;
            if is_intercept && !settings.intercept {
                continue;
            }
            let penalty = if is_intercept { 0.0 } else { settings.l2 * *w };
            *w -= settings.learning_rate * (g / n + penalty);
        }
        // Report every epoch; `false` means the job was cancelled: stop now.
        if !progress.epoch(epoch, settings.epochs, &[("loss", loss / n)]) {
            return Err(TrainError::Cancelled);
        }
    }
    if !classification {
        // Undo the target's standardisation in the weights themselves.
        model.weights.iter_mut().for_each(|w| *w *= y_scale);
        model.weights[width - 1] += y_mean;
    }
    Ok(TrainedModel { model: to_bytes(&model), metrics: vec![], feature_importances: None, cluster_sizes: None })
}

fn predict(bytes: &[u8], table: &Table) -> Result<Predictions, PredictError> {
    let model = from_bytes(bytes).ok_or_else(|| PredictError::InvalidModel("not a model of {{name}} 0.1.0".into()))?;
    if table.columns.len() != model.inputs.len() {
        return Err(PredictError::InvalidData(format!("the model has {} feature columns, the table {}", model.inputs.len(), table.columns.len())));
    }
    let rows = table.rows as usize;
    let (mut x, mut scores) = (Vec::new(), vec![0.0; model.outputs]);
    let mut labels = Vec::with_capacity(rows);
    let mut probabilities = Vec::with_capacity(rows * model.outputs);
    let mut values = Vec::with_capacity(rows);
    for row in 0..rows {
        features(&model.inputs, table, row, &mut x);
        model.scores(&x, &mut scores);
        if model.classification {
            softmax(&mut scores);
            let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(0);
            labels.push(best as u32);
            probabilities.extend(scores.iter().map(|p| *p as f32));
        } else {
            values.push(scores[0]);
        }
    }
    Ok(if model.classification {
        Predictions::Classes(ClassPredictions { labels, probabilities: Some(probabilities), n_classes: model.outputs as u32 })
    } else {
        Predictions::Values(values)
    })
}

/// The model bytes: MAGIC, then little-endian fields. Keep a version in the
/// magic so an old model is refused, not misread, when the format changes.
fn to_bytes(model: &Model) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(u8::from(model.classification));
    out.extend((model.outputs as u32).to_le_bytes());
    out.extend((model.inputs.len() as u32).to_le_bytes());
    for input in &model.inputs {
        match input {
            Input::Number { mean, scale } => {
                out.push(0);
                out.extend(mean.to_le_bytes());
                out.extend(scale.to_le_bytes());
            }
            Input::Category { levels } => {
                out.push(1);
                out.extend(levels.to_le_bytes());
            }
        }
    }
    model.weights.iter().for_each(|w| out.extend(w.to_le_bytes()));
    out
}

/// Reads model bytes; None for anything this version did not write.
fn from_bytes(bytes: &[u8]) -> Option<Model> {
    let mut at = bytes.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = (at.get(..n)?, at.get(n..)?);
        at = rest;
        Some(head)
    };
    let classification = *take(1)?.first()? == 1;
    let outputs = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let n_inputs = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut inputs = Vec::with_capacity(n_inputs.min(1 << 16));
    for _ in 0..n_inputs {
        inputs.push(match take(1)?.first()? {
            0 => Input::Number { mean: f64::from_le_bytes(take(8)?.try_into().ok()?), scale: f64::from_le_bytes(take(8)?.try_into().ok()?) },
            1 => Input::Category { levels: u32::from_le_bytes(take(4)?.try_into().ok()?) },
            _ => return None,
        });
    }
    let mut model = Model { classification, inputs, weights: Vec::new(), outputs };
    let count = outputs.checked_mul(model.width())?;
    model.weights = (0..count).map(|_| take(8).and_then(|b| b.try_into().ok()).map(f64::from_le_bytes)).collect::<Option<_>>()?;
    Some(model)
}

export_trainer!(describe: describe, train: train, predict: predict);

#[cfg(test)]
mod tests {
    use super::*;

    fn table(x: Vec<f64>) -> Table {
        Table { rows: x.len() as u32, columns: vec![Column { name: "x".into(), data: ColumnData::Numeric(x) }] }
    }

    #[test]
    fn learns_a_line_and_reads_its_own_model_back() {
        let x: Vec<f64> = (0..50).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let params = schema::with(schema::defaults(&describe().params), "epochs", ParamValue::Int(500));
        let request = TrainRequest {
            task: Task::Regression,
            train: LabelledTable { features: table(x.clone()), target: Some(ColumnData::Numeric(y)) },
            validation: None,
            params,
            seed: 7,
        };
        let trained = train(&request, &mut NoProgress).expect("trains");
        let Predictions::Values(v) = predict(&trained.model, &table(vec![10.0])).expect("predicts") else { panic!("values") };
        assert!((v[0] - 21.0).abs() < 0.5, "{v:?}");
    }
}
