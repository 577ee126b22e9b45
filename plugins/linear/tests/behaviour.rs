//! What a user meets besides the numbers: warnings for singular designs and
//! separation, grouped progress with the validation score, cancel, a model
//! that survives its bytes and predicts on tables coded differently, and
//! parameter errors that name the parameter.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use linear::*;

fn diabetes() -> LabelledTable {
    load("diabetes", "progression", Task::Regression, &[])
}

#[test]
fn a_duplicated_column_is_reported_as_singular_and_the_rest_still_matches() {
    let mut table = diabetes();
    let mut copy = table.features.columns[2].clone();
    copy.name = "bmi again".into();
    table.features.columns.push(copy);
    let fitted = fit_table(Task::Regression, table, &[]);
    assert!(fitted.warnings.iter().any(|w| w.contains("singular design") && w.contains("bmi again")), "{:?}", fitted.warnings);
    assert!(coefficient(&fitted, "bmi again").estimate.is_nan());
    // The identifiable part is the fit without the copy (statsmodels' figure for bmi).
    assert_close("bmi", coefficient(&fitted, "bmi").estimate, 5.602962091923725, 1e-6);
    assert_close("bmi se", coefficient(&fitted, "bmi").std_error, 0.7171055005609119, 1e-6);
}

#[test]
fn separable_classes_warn_and_a_penalty_fixes_them() {
    // Cultivar class_0 against the rest is linearly separable on the thirteen measurements.
    let mut table = load("wine", "cultivar", Task::Classification, &[]);
    let Some(ColumnData::Categorical(c)) = table.target.as_mut() else { panic!() };
    c.codes.iter_mut().for_each(|k| *k = (*k == 0) as u32);
    c.levels = vec!["other".into(), "class_0".into()];
    let fitted = fit_table(Task::Classification, table.clone(), &[("maxIter", "30")]);
    assert!(fitted.warnings.iter().any(|w| w.contains("separation")), "{:?}", fitted.warnings);
    let penalised = fit_table(Task::Classification, table, &[("penalty", "l2")]);
    assert!(penalised.warnings.is_empty(), "{:?}", penalised.warnings);
    assert_eq!(metric(&penalised, "converged"), 1.0);
}

/// (epoch, total, metrics) of one progress report.
type Report = (u32, u32, Vec<(String, f64)>);

#[test]
fn progress_is_grouped_and_carries_objective_and_validation_score() {
    let table = load("breast_cancer", "diagnosis", Task::Classification, &[]);
    let rows: Vec<usize> = (0..table.features.rows as usize).collect();
    let (train, valid) = (take(&table, &rows[..450]), take(&table, &rows[450..]));
    let mut request = request(Task::Classification, train, &[("penalty", "l1"), ("c", "0.5"), ("maxIter", "1000")]);
    request.validation = Some(valid);
    let mut reports: Vec<Report> = vec![];
    let mut sink = |e: u32, t: u32, m: &[(&str, f64)]| {
        reports.push((e, t, m.iter().map(|(n, v)| (n.to_string(), *v)).collect()));
        true
    };
    let fitted = fit(&request, &mut sink).unwrap();
    assert!(!reports.is_empty() && reports.len() <= 100);
    // maxIter 1000 in groups of 10: the total is 100 groups.
    assert!(reports.iter().all(|(e, t, _)| *t == 100 && *e >= 1 && *e <= 100));
    let (_, _, last) = reports.last().unwrap();
    assert_eq!(last[0].0, "objective");
    assert_close("last objective", last[0].1, metric(&fitted, "objective"), 1e-9);
    assert!(last[1].0 == "val_accuracy" && last[1].1 > 0.9, "{last:?}");
    // The objective only falls.
    assert!(reports.windows(2).all(|w| w[1].2[0].1 <= w[0].2[0].1 + 1e-12));
}

#[test]
fn a_cancel_stops_the_fit() {
    let request = request(Task::Regression, diabetes(), &[("penalty", "l1"), ("alpha", "0.01"), ("tol", "1e-14"), ("maxIter", "5000")]);
    let mut calls = 0;
    let mut sink = |_: u32, _: u32, _: &[(&str, f64)]| {
        calls += 1;
        false
    };
    assert!(matches!(fit(&request, &mut sink), Err(TrainError::Cancelled)));
    assert_eq!(calls, 1);
}

fn take(t: &LabelledTable, rows: &[usize]) -> LabelledTable {
    let pick = |d: &ColumnData| match d {
        ColumnData::Numeric(v) => ColumnData::Numeric(rows.iter().map(|&r| v[r]).collect()),
        ColumnData::Categorical(c) => ColumnData::Categorical(Categorical { codes: rows.iter().map(|&r| c.codes[r]).collect(), levels: c.levels.clone() }),
    };
    let columns = t.features.columns.iter().map(|c| Column { name: c.name.clone(), data: pick(&c.data) }).collect();
    LabelledTable { features: Table { rows: rows.len() as u32, columns }, target: t.target.as_ref().map(pick) }
}

#[test]
fn the_model_predicts_from_its_bytes_on_reordered_recoded_columns_with_unseen_levels() {
    let table = load("penguins", "species", Task::Classification, &[]);
    let fitted = fit_table(Task::Classification, table.clone(), &[("penalty", "l2")]);
    let Predictions::Classes(before) = predict(&fitted.model.model, &table.features).unwrap() else { panic!() };
    let accuracy = before.labels.iter().zip(match &table.target {
        Some(ColumnData::Categorical(c)) => &c.codes,
        _ => panic!(),
    });
    let right = accuracy.filter(|(p, t)| p == t).count();
    assert!(right as f64 / before.labels.len() as f64 > 0.97, "{right}");
    // Columns reversed, island's levels renumbered with one the model never saw.
    let mut other = table.features.clone();
    other.columns.reverse();
    for c in &mut other.columns {
        if let (true, ColumnData::Categorical(cat)) = (c.name == "island", &mut c.data) {
            cat.levels.reverse();
            cat.levels.push("Atlantis".into());
            let n = cat.levels.len() as u32 - 1;
            cat.codes.iter_mut().for_each(|k| *k = if *k == MISSING_CODE { *k } else { n - 1 - *k });
            cat.codes[0] = n;
        }
    }
    let Predictions::Classes(after) = predict(&fitted.model.model, &other).unwrap() else { panic!() };
    assert_eq!(before.labels[1..], after.labels[1..]);
    let probs = after.probabilities.unwrap();
    assert!((probs[..3].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // A damaged model is refused, not trusted.
    let cut = &fitted.model.model[..fitted.model.model.len() - 3];
    assert!(matches!(predict(cut, &table.features), Err(PredictError::InvalidModel(_))));
}

#[test]
fn parameter_errors_name_the_parameter() {
    let run = |task, table, overrides: &[(&str, &str)]| fit(&request(task, table, overrides), &mut NoProgress).err().unwrap();
    let named = |e: TrainError| match e {
        TrainError::InvalidParameter(p) => p.name,
        other => panic!("{other:?}"),
    };
    assert_eq!(named(run(Task::Regression, diabetes(), &[("model", "logistic")])), "model");
    assert_eq!(named(run(Task::Regression, diabetes(), &[("model", "poisson"), ("penalty", "l1")])), "penalty");
    assert_eq!(named(run(Task::Regression, diabetes(), &[("classWeight", "balanced")])), "classWeight");
    let penguins = load("penguins", "species", Task::Classification, &[]);
    assert_eq!(named(run(Task::Classification, penguins, &[("model", "poisson")])), "model");
    let mut negative = diabetes();
    if let Some(ColumnData::Numeric(v)) = negative.target.as_mut() {
        v[0] = -1.0;
    }
    assert!(matches!(run(Task::Regression, negative, &[("model", "poisson")]), TrainError::InvalidData(_)));
}

#[test]
fn the_coefficient_table_has_the_contract_columns_and_a_row_per_term() {
    let trained = train(&request(Task::Regression, diabetes(), &[]), &mut NoProgress).unwrap();
    let [table] = &trained.tables[..] else { panic!("one table") };
    assert_eq!(table.name, "coefficients");
    assert_eq!(table.columns[..7], ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]);
    assert_eq!(table.rows.len(), 11);
    assert_eq!(table.rows[0][0], Cell::Text("(intercept)".into()));
    assert!(matches!(table.rows[3][1], Cell::Number(v) if (v - 5.602962091923725).abs() < 1e-6));
    // A penalised fit leaves the inference cells empty.
    let ridge = train(&request(Task::Regression, diabetes(), &[("penalty", "l2")]), &mut NoProgress).unwrap();
    assert_eq!(ridge.tables[0].rows[1][2], Cell::Empty);
}

#[test]
fn parameter_names_are_camel_case_as_the_host_requires() {
    for p in info().params {
        let first = p.name.chars().next().unwrap();
        assert!(first.is_ascii_lowercase() && p.name.chars().all(|c| c.is_ascii_alphanumeric()), "{}", p.name);
    }
}

#[test]
fn a_large_table_fits_with_a_sampled_hessian_to_the_generating_coefficients() {
    // 200,000 rows: the Hessian is taken over a sample of them; the optimum must not move.
    let n = 200_000;
    let mut state = 7u64;
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (mut a, mut b, mut y) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let (x1, x2, u) = (uniform() * 2.0 - 1.0, uniform() * 2.0 - 1.0, uniform());
        let logit = 0.5 + 1.5 * x1 - 2.0 * x2;
        a.push(x1);
        b.push(x2);
        y.push((u < 1.0 / (1.0 + (-logit).exp())) as u32);
    }
    let columns = vec![Column { name: "a".into(), data: ColumnData::Numeric(a) }, Column { name: "b".into(), data: ColumnData::Numeric(b) }];
    let target = ColumnData::Categorical(Categorical { codes: y, levels: vec!["no".into(), "yes".into()] });
    let table = LabelledTable { features: Table { rows: n as u32, columns }, target: Some(target) };
    let fitted = fit_table(Task::Classification, table, &[]);
    assert_eq!(metric(&fitted, "converged"), 1.0);
    for (term, want) in [("(intercept)", 0.5), ("a", 1.5), ("b", -2.0)] {
        let c = coefficient(&fitted, term);
        // Within four standard errors of the truth, and the standard errors those of 200k rows.
        assert!((c.estimate - want).abs() < 4.0 * c.std_error && c.std_error < 0.02, "{term}: {} ± {}", c.estimate, c.std_error);
    }
}
