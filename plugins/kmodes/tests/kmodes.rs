//! Behaviour of the kmodes plugin through its public native API (the same
//! functions the component exports).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kmodes::model::Model;
use trainhost_sdk::*;

#[test]
fn same_seed_gives_the_same_model_and_a_different_seed_still_recovers_the_clusters() {
    let (table, truth) = planted(3000, 12, 6, 5, 0.6, 0, 1);
    let overrides = [("nClusters", int(5)), ("init", choice("huang")), ("nInit", int(3))];
    let a = kmodes::train(&request(table.clone(), 42, &overrides), &mut NoProgress).unwrap();
    let b = kmodes::train(&request(table.clone(), 42, &overrides), &mut NoProgress).unwrap();
    assert_eq!(a.model, b.model);
    assert_eq!(format!("{:?}", a.metrics), format!("{:?}", b.metrics));
    let c = kmodes::train(&request(table.clone(), 43, &overrides), &mut NoProgress).unwrap();
    let ids = clusters(kmodes::predict(&c.model, &table).unwrap());
    assert!(ari(&ids, &truth) > 0.95);
}

#[test]
fn model_round_trip_predicts_the_training_labels() {
    let (table, _) = planted(2000, 8, 5, 4, 0.7, 2, 2);
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(4))]), &mut NoProgress).unwrap();
    let model = Model::from_bytes(&trained.model).unwrap();
    assert_eq!(Model::from_bytes(&model.to_bytes()).unwrap(), model);
    assert_eq!(model.k, 4);
    assert_eq!((model.schema.cat.len(), model.schema.num.len()), (8, 2));
    // The training labels are each row's nearest final centre; predict must agree.
    let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
    let mut sizes = vec![0u64; 4];
    ids.iter().for_each(|&i| sizes[i as usize] += 1);
    assert_eq!(Some(sizes), trained.cluster_sizes);
}

#[test]
fn predict_matches_levels_by_name_not_by_code() {
    let (table, _) = planted(500, 4, 4, 3, 0.8, 0, 3);
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(3))]), &mut NoProgress).unwrap();
    let before = clusters(kmodes::predict(&trained.model, &table).unwrap());
    // Same values, levels listed in reverse order (a host may encode another table differently).
    let mut reversed = table.clone();
    for column in &mut reversed.columns {
        if let ColumnData::Categorical(c) = &mut column.data {
            let n = c.levels.len() as u32;
            c.levels.reverse();
            c.codes.iter_mut().for_each(|code| *code = n - 1 - *code);
        }
    }
    reversed.columns.reverse();
    assert_eq!(clusters(kmodes::predict(&trained.model, &reversed).unwrap()), before);
}

#[test]
fn planted_categorical_clusters_are_recovered() {
    let (table, truth) = planted(5000, 20, 10, 8, 0.5, 0, 4);
    let overrides = [("nClusters", int(8)), ("init", choice("huang")), ("nInit", int(3))];
    let trained = kmodes::train(&request(table.clone(), 7, &overrides), &mut NoProgress).unwrap();
    let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
    let score = ari(&ids, &truth);
    assert!(score >= 0.99, "ARI {score}");
}

#[test]
fn planted_mixed_clusters_are_recovered_by_kprototypes() {
    let (table, truth) = planted(4000, 10, 10, 6, 0.5, 5, 5);
    let overrides = [("nClusters", int(6)), ("init", choice("huang")), ("nInit", int(3))];
    let trained = kmodes::train(&request(table.clone(), 7, &overrides), &mut NoProgress).unwrap();
    assert_eq!(Model::from_bytes(&trained.model).unwrap().algorithm, kmodes::data::Algorithm::KPrototypes);
    let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
    let score = ari(&ids, &truth);
    assert!(score >= 0.99, "ARI {score}");
}

#[test]
fn gamma_defaults_to_half_the_mean_std_and_standardize_makes_it_one_half() {
    let (table, _) = planted(1000, 3, 4, 3, 0.7, 2, 6);
    let stds: Vec<f64> = table.columns[3..]
        .iter()
        .map(|c| match &c.data {
            ColumnData::Numeric(v) => kmodes::data::mean_std(v.iter().copied()).1,
            _ => unreachable!(),
        })
        .collect();
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(3))]), &mut NoProgress).unwrap();
    let expected = 0.5 * (stds[0] + stds[1]) / 2.0;
    assert!((metric(&trained, "gamma") - expected).abs() < 1e-9);
    let std = [("nClusters", int(3)), ("standardize", ParamValue::Boolean(true))];
    let trained = kmodes::train(&request(table.clone(), 1, &std), &mut NoProgress).unwrap();
    assert!((metric(&trained, "gamma") - 0.5).abs() < 1e-9);
    let fixed = [("nClusters", int(3)), ("gamma", ParamValue::Float(3.0))];
    assert_eq!(metric(&kmodes::train(&request(table, 1, &fixed), &mut NoProgress).unwrap(), "gamma"), 3.0);
}

#[test]
fn progress_reports_every_iteration_of_every_run_and_cancel_stops() {
    let (table, _) = planted(2000, 10, 5, 4, 0.5, 0, 7);
    let overrides = [("nClusters", int(4)), ("init", choice("random")), ("nInit", int(3))];
    let mut seen: Vec<(u32, u32, f64, f64, f64)> = vec![];
    let mut sink = |epoch: u32, total: u32, metrics: &[(&str, f64)]| {
        let get = |n: &str| metrics.iter().find(|m| m.0 == n).unwrap().1;
        seen.push((epoch, total, get("cost"), get("moved"), get("init")));
        true
    };
    let trained = kmodes::train(&request(table.clone(), 3, &overrides), &mut sink).unwrap();
    assert!(seen.len() >= 3, "at least one iteration per run");
    assert!(seen.iter().enumerate().all(|(i, s)| s.0 == i as u32 + 1 && s.1 == 300));
    assert_eq!(seen.last().unwrap().4, 3.0, "the last epoch belongs to the third run");
    let best = seen.iter().map(|s| s.2).fold(f64::INFINITY, f64::min);
    assert_eq!(metric(&trained, "cost"), best, "the reported cost is the best run's final cost");
    assert!(seen.iter().any(|s| s.3 > 0.0), "some rows moved");

    let mut calls = 0;
    let mut cancel = |_: u32, _: u32, _: &[(&str, f64)]| {
        calls += 1;
        false
    };
    assert!(matches!(kmodes::train(&request(table, 3, &overrides), &mut cancel), Err(TrainError::Cancelled)));
    assert_eq!(calls, 1);
}

#[test]
fn cao_kmodes_runs_once_as_the_package_does() {
    let (table, _) = planted(1000, 6, 4, 3, 0.6, 0, 8);
    let trained = kmodes::train(&request(table, 1, &[("nClusters", int(3)), ("nInit", int(10))]), &mut NoProgress).unwrap();
    assert_eq!(metric(&trained, "runs"), 1.0);
}

#[test]
fn fewer_distinct_rows_than_clusters_gives_one_cluster_per_row_kind() {
    let codes = vec![0, 1, 0, 1, 0, 1, 1, 1];
    let table = Table { rows: 8, columns: vec![categorical("a", codes.clone(), 2), categorical("b", codes, 2)] };
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(4))]), &mut NoProgress).unwrap();
    assert_eq!(metric(&trained, "cost"), 0.0);
    let mut sizes = trained.cluster_sizes.unwrap();
    sizes.sort();
    assert_eq!(sizes, vec![3, 5]);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let (table, _) = planted(10, 3, 3, 2, 0.9, 0, 9);
    let err = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(11))]), &mut NoProgress).unwrap_err();
    assert!(matches!(err, TrainError::InvalidParameter(ref p) if p.name == "nClusters"), "{err:?}");
    let err = kmodes::train(&request(table.clone(), 1, &[("algorithm", choice("kprototypes"))]), &mut NoProgress);
    assert!(matches!(err, Err(TrainError::InvalidParameter(ref p)) if p.name == "algorithm"));
    let err = kmodes::train(&request(table.clone(), 1, &[("init", choice("kmeans++"))]), &mut NoProgress);
    assert!(matches!(err, Err(TrainError::InvalidParameter(ref p)) if p.name == "init"));

    let mut wrong_task = request(table.clone(), 1, &[]);
    wrong_task.task = Task::Regression;
    assert!(matches!(kmodes::train(&wrong_task, &mut NoProgress), Err(TrainError::InvalidData(_))));

    let mut bad_code = table.clone();
    if let ColumnData::Categorical(c) = &mut bad_code.columns[0].data {
        c.codes[0] = 99;
    }
    let err = kmodes::train(&request(bad_code, 1, &[("nClusters", int(2))]), &mut NoProgress);
    assert!(matches!(err, Err(TrainError::InvalidData(ref m)) if m.contains("code 99")), "{err:?}");

    let mut short = table.clone();
    short.rows = 11;
    assert!(matches!(kmodes::train(&request(short, 1, &[]), &mut NoProgress), Err(TrainError::InvalidData(_))));
    let empty = Table { rows: 0, columns: vec![] };
    assert!(matches!(kmodes::train(&request(empty, 1, &[]), &mut NoProgress), Err(TrainError::InvalidData(_))));

    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(2))]), &mut NoProgress).unwrap();
    assert!(matches!(kmodes::predict(b"junk", &table), Err(PredictError::InvalidModel(_))));
    for cut in [5, 20, trained.model.len() - 1] {
        assert!(matches!(kmodes::predict(&trained.model[..cut], &table), Err(PredictError::InvalidModel(_))));
    }
    let mut missing_column = table.clone();
    missing_column.columns.remove(1);
    let err = kmodes::predict(&trained.model, &missing_column);
    assert!(matches!(err, Err(PredictError::InvalidData(ref m)) if m.contains("'c1'")), "{err:?}");
    let mut wrong_kind = table.clone();
    wrong_kind.columns[0].data = ColumnData::Numeric(vec![0.0; 10]);
    assert!(matches!(kmodes::predict(&trained.model, &wrong_kind), Err(PredictError::InvalidData(_))));
}

/// The host checks a request's parameters at submit with a table of the
/// dataset's columns and no rows: a kprototypes request on a table without a
/// number must be refused there as a parameter, and an empty table otherwise
/// as data (never a panic, never a parameter).
#[test]
fn an_empty_table_tells_a_parameter_fault_from_the_missing_rows() {
    let empty = Table { rows: 0, columns: vec![categorical("colour", vec![], 3), categorical("shape", vec![], 2)] };
    match kmodes::train(&request(empty.clone(), 1, &[("algorithm", choice("kprototypes"))]), &mut NoProgress) {
        Err(TrainError::InvalidParameter(p)) => assert_eq!(p.name, "algorithm"),
        other => panic!("{other:?}"),
    }
    for algorithm in ["auto", "kmodes"] {
        let answer = kmodes::train(&request(empty.clone(), 1, &[("algorithm", choice(algorithm))]), &mut NoProgress);
        assert!(matches!(answer, Err(TrainError::InvalidData(_))), "{algorithm}: {answer:?}");
    }
    let mixed = Table { rows: 0, columns: vec![categorical("colour", vec![], 3), Column { name: "x".into(), data: ColumnData::Numeric(vec![]) }] };
    let answer = kmodes::train(&request(mixed, 1, &[("algorithm", choice("kprototypes"))]), &mut NoProgress);
    assert!(matches!(answer, Err(TrainError::InvalidData(_))), "{answer:?}");
}
