//! One training run: the target and the rows it keeps, the design, the class
//! weights and the starting point, the solver with its grouped progress
//! reports, then the model and its summary.
//!
//! Owns the order of those steps; the maths lives in the modules it calls.

use crate::design::Design;
use crate::diagnostics::{summarise, FitView, Summary};
use crate::family::{Data, Problem, Response};
use crate::model::{class_probabilities, Model};
use crate::moments::Moments;
use crate::params::{self, Family, Penalty, Settings};
use crate::solver::{self, Options, Stopped};
use trainhost_sdk::{ColumnData, LabelledTable, LogLevel, Params, Progress, Task, TrainError, TrainRequest, MISSING_CODE};

/// Progress reports per fit at most: iterations are grouped beyond this.
const MAX_REPORTS: usize = 100;

pub struct Trained {
    pub model: Model,
    pub summary: Summary,
    pub metrics: Vec<(String, f64)>,
    pub warnings: Vec<String>,
    pub penalised: bool,
}

/// The target on the rows that have one.
struct Target {
    rows: Vec<u32>,
    values: Vec<f64>,
    classes: Vec<u32>,
    /// Target level of each class (classification).
    levels: Vec<u32>,
    level_names: Vec<String>,
}

/// Fits the request's model, with its summary and warnings.
pub fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<Trained, TrainError> {
    train_holding(request, progress, true)
}

/// `train`, where `moments` says whether a squared error may be held as
/// moments (else its design is held whole, as the other losses': the tests
/// compare the two).
fn train_holding(request: &TrainRequest, progress: &mut dyn Progress, moments: bool) -> Result<Trained, TrainError> {
    let started = std::time::Instant::now();
    let table = &request.train;
    let target = target(table, request.task)?;
    let settings = params::parse(&Params(&request.params), request.task, target.rows.len())?;
    if settings.family == Family::Poisson && target.values.iter().any(|&v| v < 0.0) {
        return Err(TrainError::InvalidData("poisson regression needs a target of counts (no negative values)".into()));
    }
    let unpenalised = settings.penalty == Penalty::None;
    let design = Design::fit(&table.features, &target.rows, unpenalised, settings.fit_intercept).map_err(TrainError::InvalidData)?;
    let encoder = design.encoder(&table.features, Some(&target.rows)).map_err(TrainError::InvalidData)?;
    let learned = started.elapsed().as_secs_f64();
    let (n, p) = (target.rows.len(), design.width());
    if p == 0 {
        return Err(TrainError::InvalidData("no design column: the table has no usable feature and no intercept is fitted".into()));
    }
    let k_classes = target.levels.len();
    let symmetric = k_classes > 2 && !unpenalised;
    let response = match settings.family {
        Family::Gaussian => Response::Gaussian(&target.values),
        Family::Poisson => Response::Poisson(&target.values),
        Family::Logistic => Response::Classes { y: &target.classes, k: k_classes, symmetric },
    };
    let theta0 = start(response, n, p, settings.fit_intercept, symmetric);
    // A squared error needs only its moments (taken about the start, see
    // moments.rs): the n × p design is streamed, never held. The other losses
    // pass over their rows many times, so they hold the design.
    let (held, dense);
    let data = if settings.family == Family::Gaussian && moments {
        held = Moments::accumulate(&encoder, &target.values, &theta0);
        Data::Moments(&held)
    } else {
        dense = encoder.dense();
        Data::Rows(&dense)
    };
    let encoded = started.elapsed().as_secs_f64();
    let weights = settings.balanced.then(|| balanced_weights(&target.classes, k_classes));
    let problem = Problem { data, n, p, response, weights: weights.as_deref() };
    let model_of = |theta: &[f64]| Model {
        family: settings.family,
        symmetric,
        design: design.clone(),
        n_levels: target.level_names.len() as u32,
        classes: target.levels.clone(),
        k: problem.k(),
        theta: theta.to_vec(),
    };
    let validation = Validation::new(request.validation.as_ref(), &design, &target, settings.family);
    let fit = solve_reporting(&problem, theta0, &settings, symmetric, &|theta| validation.as_ref().map(|v| (v.metric, v.score(&model_of(theta)))), progress)?;
    let solved = started.elapsed().as_secs_f64();
    let terms = design.terms();
    let mut warnings = Vec::new();
    check_fit(&fit, &terms, problem.k(), settings.family, unpenalised, &mut warnings);
    let view = FitView {
        problem: &problem,
        theta: &fit.theta,
        active: &fit.active,
        terms: &terms,
        predictor_labels: predictor_labels(&target, settings.family, symmetric),
        penalised: !unpenalised,
        intercept: settings.fit_intercept,
    };
    let summary = summarise(&view);
    warnings.iter().for_each(|w| progress.log(LogLevel::Warn, w));
    // The fit's own time and objective at full precision, for benchmarks (the host's figures include its own work).
    progress.log(
        LogLevel::Info,
        &format!(
            "{:?} fit of {n} rows x {p} design columns: {} iterations in {:.3} s, objective {:.15e} \
             (target and column scales {learned:.3} s, {} {:.3} s, solver {:.3} s, summary {:.3} s)",
            settings.family,
            fit.iterations,
            started.elapsed().as_secs_f64(),
            fit.objective,
            if matches!(problem.data, Data::Moments(_)) { "moments of the streamed design" } else { "design built" },
            encoded - learned,
            solved - encoded,
            started.elapsed().as_secs_f64() - solved,
        ),
    );
    let mut metrics = vec![("iterations".to_string(), fit.iterations as f64), ("converged".into(), fit.converged as u8 as f64)];
    metrics.push(("objective".into(), fit.objective));
    metrics.extend(summary.metrics.iter().map(|(k, v)| (k.to_string(), *v)));
    Ok(Trained { model: model_of(&fit.theta), summary, metrics, warnings, penalised: !unpenalised })
}

/// The validation metric's name and value for a coefficient vector, if there is a validation table.
type ValidationScore<'a> = dyn Fn(&[f64]) -> Option<(&'static str, f64)> + 'a;

/// Runs the solver, reporting at most `MAX_REPORTS` epochs: iterations are
/// grouped, and each report carries the objective and, when there is a
/// validation table, its score (`score` of the current coefficients).
fn solve_reporting(
    problem: &Problem,
    start: Vec<f64>,
    settings: &Settings,
    symmetric: bool,
    score: &ValidationScore,
    progress: &mut dyn Progress,
) -> Result<solver::Fit, TrainError> {
    let group = settings.max_iter.div_ceil(MAX_REPORTS);
    let total = settings.max_iter.div_ceil(group) as u32;
    let send = |iter: usize, objective: f64, theta: &[f64], progress: &mut dyn Progress| {
        let mut metrics = vec![("objective", objective)];
        metrics.extend(score(theta));
        progress.epoch(iter.div_ceil(group) as u32, total, &metrics)
    };
    let mut report = |iter: usize, objective: f64, theta: &[f64]| !iter.is_multiple_of(group) || send(iter, objective, theta, &mut *progress);
    let penalty = penalty(settings, problem, symmetric);
    let fit = solver::solve(problem, start, &penalty, &Options { max_iter: settings.max_iter, tol: settings.tol }, &mut report)
        .map_err(|Stopped| TrainError::Cancelled)?;
    // The group the fit ended in has not been reported yet.
    if !fit.iterations.is_multiple_of(group) && !send(fit.iterations, fit.objective, &fit.theta, &mut *progress) {
        return Err(TrainError::Cancelled);
    }
    Ok(fit)
}

fn target(table: &LabelledTable, task: Task) -> Result<Target, TrainError> {
    let invalid = |m: &str| TrainError::InvalidData(m.to_string());
    let column = table.target.as_ref().ok_or_else(|| invalid("the request has no target column"))?;
    if column.len() != table.features.rows as usize {
        return Err(invalid(&format!("the target has {} values but the table {} rows", column.len(), table.features.rows)));
    }
    let mut t = Target { rows: vec![], values: vec![], classes: vec![], levels: vec![], level_names: vec![] };
    match (task, column) {
        (Task::Regression, ColumnData::Numeric(v)) => {
            t.rows = (0..v.len() as u32).filter(|&i| v[i as usize].is_finite()).collect();
            t.values = t.rows.iter().map(|&i| v[i as usize]).collect();
        }
        (Task::Classification, ColumnData::Categorical(c)) => {
            let mut seen = vec![false; c.levels.len()];
            for &code in c.codes.iter().filter(|&&k| k != MISSING_CODE) {
                *seen.get_mut(code as usize).ok_or_else(|| invalid(&format!("target code {code} has no level")))? = true;
            }
            t.levels = (0..c.levels.len() as u32).filter(|&l| seen[l as usize]).collect();
            let class_of: Vec<u32> = (0..c.levels.len()).map(|l| t.levels.iter().position(|&k| k as usize == l).map_or(0, |p| p as u32)).collect();
            t.rows = (0..c.codes.len() as u32).filter(|&i| c.codes[i as usize] != MISSING_CODE).collect();
            t.classes = t.rows.iter().map(|&i| class_of[c.codes[i as usize] as usize]).collect();
            t.level_names = c.levels.clone();
            if t.levels.len() < 2 {
                return Err(invalid("the target has fewer than two classes on the training rows; there is nothing to separate"));
            }
        }
        (Task::Classification, _) => return Err(invalid("classification needs a categorical target; this one is numeric")),
        (Task::Regression, _) => return Err(invalid("regression needs a numeric target; this one is categorical")),
        (Task::Clustering, _) => return Err(invalid("linear does not do clustering; use classification or regression")),
    }
    if t.rows.is_empty() {
        return Err(invalid("every target value is missing; there is nothing to learn from"));
    }
    Ok(t)
}

/// scikit-learn's balanced weights: rows / (classes × rows of the class).
fn balanced_weights(classes: &[u32], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    classes.iter().for_each(|&c| counts[c as usize] += 1);
    let n = classes.len() as f64;
    classes.iter().map(|&c| n / (k as f64 * counts[c as usize] as f64)).collect()
}

fn penalty(settings: &Settings, problem: &Problem, symmetric: bool) -> solver::Penalty {
    let (p, m) = (problem.p, problem.m());
    let intercept = |j: usize| settings.fit_intercept && j.is_multiple_of(p);
    solver::Penalty {
        l1: settings.lambda * settings.l1_ratio,
        l2: settings.lambda * (1.0 - settings.l1_ratio),
        penalised: (0..m).map(|j| settings.penalty != Penalty::None && !intercept(j)).collect(),
        tied: if symmetric && settings.fit_intercept { (0..problem.k()).map(|b| b * p).collect() } else { vec![] },
    }
}

/// Zero slopes, and the intercepts of the intercept-only model (fewer Newton
/// steps; for a squared error, moments about a point near the optimum).
fn start(response: Response, n: usize, p: usize, intercept: bool, symmetric: bool) -> Vec<f64> {
    let mut theta = vec![0.0; response.predictors() * p];
    if !intercept {
        return theta;
    }
    let n = n as f64;
    match response {
        Response::Gaussian(y) => theta[0] = y.iter().sum::<f64>() / n,
        Response::Poisson(y) => theta[0] = (y.iter().sum::<f64>() / n).max(1e-10).ln(),
        Response::Classes { y, k, .. } => {
            let mut counts = vec![0.0; k];
            y.iter().for_each(|&c| counts[c as usize] += 1.0);
            let logs: Vec<f64> = counts.iter().map(|c: &f64| (c / n).ln()).collect();
            let base = if symmetric { logs.iter().sum::<f64>() / k as f64 } else { logs[0] };
            let first = if symmetric { 0 } else { 1 };
            for c in first..k {
                theta[(c - first) * p] = logs[c] - base;
            }
        }
    }
    theta
}

/// Warnings a user must see: aliased columns, no convergence, separation.
fn check_fit(fit: &solver::Fit, terms: &[crate::design::Term], k: usize, family: Family, unpenalised: bool, warnings: &mut Vec<String>) {
    let p = terms.len();
    let aliased: Vec<&str> = (0..p * k).filter(|&j| !fit.active[j]).map(|j| terms[j % p].name.as_str()).collect();
    if !aliased.is_empty() {
        warnings.push(format!(
            "singular design: {} is a linear combination of other columns; its coefficient is not estimable and was set to 0",
            aliased.join(", ")
        ));
    }
    if !fit.converged {
        warnings.push(format!("the solver did not converge in {} iterations; raise maxIter or tol", fit.iterations));
    }
    if family == Family::Logistic && unpenalised {
        // Standardised slopes this large mean the likelihood keeps rising as they grow: separation.
        let diverging: Vec<&str> = (0..p * k).filter(|&j| fit.theta[j].abs() > 15.0).map(|j| terms[j % p].name.as_str()).collect();
        if !diverging.is_empty() || !fit.converged {
            warnings.push(format!(
                "possible (quasi-)complete separation: the estimates of {} diverge; their standard errors are meaningless (use penalty l2)",
                if diverging.is_empty() { "some terms".to_string() } else { diverging.join(", ") }
            ));
        }
    }
}

fn predictor_labels(target: &Target, family: Family, symmetric: bool) -> Vec<String> {
    if family != Family::Logistic || target.levels.len() <= 2 {
        return vec![];
    }
    let skip = if symmetric { 0 } else { 1 };
    target.levels.iter().skip(skip).map(|&l| target.level_names[l as usize].clone()).collect()
}

/// The plugin's validation table, encoded once, scored after each report.
struct Validation {
    x: Vec<f64>,
    truth: Vec<f64>,
    metric: &'static str,
    rows: usize,
}

impl Validation {
    fn new(table: Option<&LabelledTable>, design: &Design, target: &Target, family: Family) -> Option<Validation> {
        let table = table?;
        let x = design.encode(&table.features, None).ok()?;
        let rows = table.features.rows as usize;
        let truth: Vec<f64> = match table.target.as_ref()? {
            ColumnData::Numeric(v) if family != Family::Logistic => v.clone(),
            ColumnData::Categorical(c) if family == Family::Logistic => {
                c.codes.iter().map(|&code| target.levels.iter().position(|&l| l == code && code != MISSING_CODE).map_or(f64::NAN, |p| p as f64)).collect()
            }
            _ => return None,
        };
        let metric = if family == Family::Logistic { "val_accuracy" } else { "val_r2" };
        (rows > 0).then_some(Validation { x, truth, metric, rows })
    }

    fn score(&self, model: &Model) -> f64 {
        let p = model.design.width();
        let eta = |i: usize, b: usize| crate::family::dot(&model.theta[b * p..(b + 1) * p], &self.x[i * p..(i + 1) * p]);
        let known = (0..self.rows).filter(|&i| self.truth[i].is_finite());
        if model.family == Family::Logistic {
            let mut probs = vec![0.0; model.classes.len()];
            let (mut right, mut total) = (0usize, 0usize);
            for i in known {
                class_probabilities(model.symmetric, |b| eta(i, b), &mut probs);
                let best = (0..probs.len()).fold(0, |b, c| if probs[c] > probs[b] { c } else { b });
                right += (best as f64 == self.truth[i]) as usize;
                total += 1;
            }
            return right as f64 / total.max(1) as f64;
        }
        let pred = |i: usize| if model.family == Family::Poisson { eta(i, 0).min(700.0).exp() } else { eta(i, 0) };
        let idx: Vec<usize> = known.collect();
        let mean = idx.iter().map(|&i| self.truth[i]).sum::<f64>() / idx.len().max(1) as f64;
        let rss: f64 = idx.iter().map(|&i| (self.truth[i] - pred(i)).powi(2)).sum();
        let tss: f64 = idx.iter().map(|&i| (self.truth[i] - mean).powi(2)).sum();
        1.0 - rss / tss
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{schema, Categorical, Column, ParamValue, Table};

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// `n` rows: four numbers (one with missing values, one on a large scale), a
    /// four-level category with missing values, and a target of mean `mean`
    /// with uniform noise of width `noise`.
    fn table(n: usize, mean: f64, noise: f64) -> LabelledTable {
        let mut s = 17u64;
        let mut columns: Vec<Vec<f64>> = (0..4).map(|j| (0..n).map(|_| (lcg(&mut s) - 0.3) * [1.0, 3.0, 1e3, 0.1][j]).collect()).collect();
        let codes: Vec<u32> = (0..n).map(|_| if lcg(&mut s) < 0.08 { MISSING_CODE } else { (lcg(&mut s) * 4.0) as u32 }).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                mean + columns[0][i] - 0.5 * columns[1][i] + 2e-3 * columns[2][i] + [0.0, 0.7, -0.4, 1.1, 0.3][(codes[i].min(4)) as usize] + noise * lcg(&mut s)
            })
            .collect();
        // Missing values where the target does not depend on the column, so a low noise is a near-exact fit.
        columns[3].iter_mut().step_by(9).for_each(|v| *v = f64::NAN);
        let mut features: Vec<Column> = columns.into_iter().enumerate().map(|(j, v)| Column { name: format!("x{j}"), data: ColumnData::Numeric(v) }).collect();
        let levels = ["a", "b", "c", "d"].map(String::from).to_vec();
        features.push(Column { name: "grade".into(), data: ColumnData::Categorical(Categorical { codes, levels }) });
        LabelledTable { features: Table { rows: n as u32, columns: features }, target: Some(ColumnData::Numeric(y)) }
    }

    /// Keeps the log, to tell how the fit held its design.
    struct Log(Vec<String>);

    impl Progress for Log {
        fn epoch(&mut self, _: u32, _: u32, _: &[(&str, f64)]) -> bool {
            true
        }
        fn log(&mut self, _: LogLevel, message: &str) {
            self.0.push(message.to_string());
        }
    }

    /// Within 1e-10 relative, or of `floor` for values below it (a coefficient
    /// the target does not depend on is a few ulps of the others, not of itself).
    fn same(what: &str, a: f64, b: f64, floor: f64) {
        let equal = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-10 * b.abs().max(floor);
        assert!(equal, "{what}: moments {a:e} vs rows {b:e}");
    }

    #[test]
    fn a_fit_from_moments_is_the_fit_from_rows() {
        let cases: [&[(&str, ParamValue)]; 5] = [
            &[],
            &[("fitIntercept", ParamValue::Boolean(false))],
            &[("penalty", ParamValue::Choice("l2".into())), ("alpha", ParamValue::Float(3.0))],
            &[("penalty", ParamValue::Choice("l1".into())), ("alpha", ParamValue::Float(0.05))],
            &[("penalty", ParamValue::Choice("elasticnet".into())), ("alpha", ParamValue::Float(0.1))],
        ];
        // A nearly exact fit (noise 1e-4) too: its RSS is where a quadratic in the moments would cancel.
        for (mean, noise) in [(0.0, 1.0), (1e6, 1.0), (3.0, 1e-4)] {
            for case in cases {
                let params = case.iter().fold(schema::defaults(&crate::info().params), |p, (name, value)| schema::with(p, name, value.clone()));
                let request = TrainRequest { task: Task::Regression, train: table(600, mean, noise), validation: None, params, seed: 0 };
                let (mut a, mut b) = (Log(vec![]), Log(vec![]));
                let (from_moments, from_rows) = match (train_holding(&request, &mut a, true), train_holding(&request, &mut b, false)) {
                    (Ok(m), Ok(r)) => (m, r),
                    _ => panic!("{case:?}: a fit failed"),
                };
                assert!(a.0.iter().any(|l| l.contains("moments")) && !b.0.iter().any(|l| l.contains("moments")), "{:?} {:?}", a.0, b.0);
                let what = |s: &str| format!("mean {mean} noise {noise} {case:?} {s}");
                assert_eq!(
                    from_moments.model.theta.len(),
                    1 + 4 + 1 + 3 + 1 - case.iter().any(|c| c.0 == "fitIntercept") as usize + case.iter().any(|c| c.0 == "penalty") as usize
                );
                for (j, (x, y)) in from_moments.model.theta.iter().zip(&from_rows.model.theta).enumerate() {
                    same(&what(&format!("theta {j}")), *x, *y, 1e-6);
                }
                for (x, y) in from_moments.summary.coefficients.iter().zip(&from_rows.summary.coefficients) {
                    same(&what(&x.term), x.estimate, y.estimate, 1e-6);
                    same(&what(&format!("{} std error", x.term)), x.std_error, y.std_error, 1e-300);
                    // A p-value moves t² times as much as its statistic, relatively (2e-84 at t = 20).
                    let condition = 1.0 + y.statistic * y.statistic;
                    same(&what(&format!("{} statistic", x.term)), x.statistic, y.statistic, 1e-300);
                    let p = if x.p_value == y.p_value || (x.p_value.is_nan() && y.p_value.is_nan()) {
                        1.0
                    } else {
                        1.0 + (x.p_value / y.p_value - 1.0) / condition
                    };
                    same(&what(&format!("{} p-value (relative, over 1 + t²)", x.term)), p, 1.0, 1.0);
                }
                assert_eq!(from_moments.metrics.len(), from_rows.metrics.len());
                for ((name, x), (_, y)) in from_moments.metrics.iter().zip(&from_rows.metrics) {
                    same(&what(name), *x, *y, 1e-300);
                }
                let unpenalised = !case.iter().any(|c| c.0 == "penalty");
                assert_eq!(unpenalised, from_moments.metrics.iter().any(|(n, _)| n == "r2"), "{}", what("r2 reported"));
            }
        }
    }
}
