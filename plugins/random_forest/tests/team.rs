//! The forest grown by a team of instances (contract 0.4.0), here threads
//! with the SDK's in-process stand-in for the host's collectives: the same model
//! bytes and importances for 1, 2, 3 and 4 instances.
#![allow(clippy::unwrap_used)]

mod support;

use random_forest::*;
use support::*;
use trainhost_sdk::team::Threads;

fn grow(request: &TrainRequest, size: usize) -> TrainedModel {
    Threads::run(size, |team| train_in(request, &mut NoProgress, team).unwrap()).swap_remove(0)
}

fn check(name: &str, target: &str, task: Task, params: &[(&str, &str)]) {
    let csv = read_csv(&format!("{}/testdata/{name}.csv", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let request = request(task, csv.labelled(target, task).unwrap(), params, 11);
    let alone = train(&request, &mut NoProgress).unwrap();
    for size in [1, 2, 3, 4] {
        let team = grow(&request, size);
        assert!(team.model == alone.model, "{name}: {size} instances grew another model");
        assert_eq!(team.feature_importances, alone.feature_importances, "{name}: {size} instances");
        let metric = |m: &TrainedModel, key: &str| m.metrics.iter().find(|x| x.name == key).map(|x| x.value);
        assert_eq!(metric(&team, "mean_depth"), metric(&alone, "mean_depth"));
        for key in ["oob_accuracy", "oob_r2"] {
            if let (Some(a), Some(b)) = (metric(&alone, key), metric(&team, key)) {
                assert!((a - b).abs() < 1e-9, "{name} {key}: {a} alone, {b} in {size}");
            }
        }
    }
}

#[test]
fn a_team_grows_the_model_one_instance_grows() {
    check("penguins", "species", Task::Classification, &[("nEstimators", "13"), ("oobScore", "true")]);
    check("diabetes", "progression", Task::Regression, &[("nEstimators", "10"), ("oobScore", "true")]);
}

/// Rank 0's progress, (trees so far, out-of-bag accuracy) a report.
fn reports(request: &TrainRequest, size: usize) -> Vec<(u32, f64)> {
    let seen = std::sync::Mutex::new(Vec::new());
    Threads::run(size, |team| {
        let mut progress = |done: u32, _: u32, metrics: &[(&str, f64)]| {
            if team.rank() == 0 {
                let oob = metrics.iter().find(|(name, _)| *name == "oob_accuracy").map(|m| m.1).unwrap();
                seen.lock().unwrap().push((done, oob));
            }
            true
        };
        train_in(request, &mut progress, team).unwrap();
    });
    seen.into_inner().unwrap()
}

#[test]
fn a_team_reports_the_whole_forest_s_scores_as_it_grows() {
    let csv = read_csv(&format!("{}/testdata/penguins.csv", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let request = request(Task::Classification, csv.labelled("species", Task::Classification).unwrap(), &[("nEstimators", "60"), ("oobScore", "true")], 3);
    let alone: std::collections::BTreeMap<u32, f64> = reports(&request, 1).into_iter().collect();
    assert_eq!(alone.len(), 60, "one instance reports every tree below 200");
    for size in [2, 3] {
        let team = reports(&request, size);
        assert!(team.len() <= 25 && team.len() >= 10, "{size} instances: {} reports", team.len());
        assert_eq!(team.last().map(|r| r.0), Some(60));
        assert!(team.windows(2).all(|w| w[0].0 < w[1].0), "{size} instances: epochs rise");
        for (done, oob) in team {
            // The score of the first `done` trees, whichever instance grew them.
            assert!((alone[&done] - oob).abs() < 1e-9, "{size} instances at {done} trees: {oob}, one instance {}", alone[&done]);
        }
    }
}
