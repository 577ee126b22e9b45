//! Boosting by a team of instances (contract 0.4.0), each given a contiguous
//! shard of the training rows as the host cuts them, here threads with the
//! SDK's in-process stand-in for the host's collectives: the same model
//! bytes for 1, 2, 3 and 4 instances, whatever the objective, with missing
//! values, categorical columns, bagging, feature sampling, class weights
//! and early stopping on a validation table the host hands every instance
//! whole, of which each scores its own share of the rows.
#![allow(clippy::unwrap_used)]

mod support;

use gbdt::*;
use support::*;
use trainhost_sdk::team::Threads;

/// Rank `rank`'s rows of `k` as the host cuts them.
fn shard(t: &LabelledTable, rank: usize, k: usize) -> LabelledTable {
    let n = t.features.rows as usize;
    take_rows(t, &(n * rank / k..n * (rank + 1) / k).collect::<Vec<_>>())
}

fn boost(request: &TrainRequest, size: usize) -> Trained {
    Threads::run(size, |team| {
        let mine = TrainRequest { train: shard(&request.train, team.rank(), size), ..request.clone() };
        fit_in(&mine, &mut NoProgress, team).unwrap()
    })
    .swap_remove(0)
}

fn check(name: &str, target: &str, task: Task, params: &[(&str, &str)]) {
    let csv = read_csv(&format!("{}/../../testdata/{name}.csv", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let all = csv.labelled(target, task).unwrap();
    let n = all.features.rows as usize;
    let (train_rows, valid_rows): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 5 != 0);
    let mut request = request(task, take_rows(&all, &train_rows), params, 7);
    request.validation = Some(take_rows(&all, &valid_rows));
    let alone = fit(&request, &mut NoProgress).unwrap();
    for size in [1, 2, 3, 4] {
        let team = boost(&request, size);
        assert!(team.model.model == alone.model.model, "{name} {params:?}: {size} instances grew another model");
        assert_eq!(team.model.feature_importances, alone.model.feature_importances, "{name}: {size} instances");
        let metric = |m: &Trained, key: &str| m.model.metrics.iter().find(|x| x.name == key).map(|x| x.value);
        for key in ["best_iteration", "rounds_run", "validation_loss", "validation_accuracy", "validation_r2", "validation_auc"] {
            assert_eq!(metric(&team, key), metric(&alone, key), "{name} {key}: {size} instances");
        }
        let (a, b) = (metric(&alone, "train_loss").unwrap(), metric(&team, "train_loss").unwrap());
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{name} train_loss {a} alone, {b} in {size}");
    }
}

#[test]
fn a_team_boosts_the_binary_model_one_instance_boosts() {
    // Categorical columns only; then numbers only.
    check("titanic", "Survived", Task::Classification, &[("nEstimators", "15"), ("numLeaves", "15"), ("minDataInLeaf", "5")]);
    check("breast_cancer", "diagnosis", Task::Classification, &[("nEstimators", "15")]);
    check(
        "titanic",
        "Survived",
        Task::Classification,
        &[("nEstimators", "12"), ("baggingFraction", "0.7"), ("baggingFreq", "1"), ("featureFraction", "0.6"), ("classWeight", "balanced")],
    );
}

#[test]
fn a_team_boosts_the_multiclass_model_with_early_stopping() {
    // Missing numbers and categorical island and sex.
    check("penguins", "species", Task::Classification, &[("nEstimators", "40"), ("earlyStoppingRounds", "3"), ("minDataInLeaf", "3")]);
}

#[test]
fn a_team_boosts_every_regression_objective_alike() {
    for objective in ["regression", "regression_l1", "huber", "quantile", "poisson"] {
        check("diabetes", "progression", Task::Regression, &[("nEstimators", "10"), ("objective", objective), ("minDataInLeaf", "8")]);
    }
}
