//! The missing-value rule: a missing categorical value matches no mode (one
//! mismatch against every cluster, so it never decides an assignment) and never
//! votes for a mode; a missing numeric value is left out of the distance and of
//! the centroid means. Missing is never a category of its own.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kmodes::model::Model;
use trainhost_sdk::*;

const M: u32 = MISSING_CODE;

/// Two groups that differ on a and b. Column c: group 0 is 'v1' when known but
/// mostly missing; group 1 is always 'v2'.
fn two_groups() -> Table {
    let mut a = vec![];
    let mut c = vec![];
    for i in 0..40 {
        a.push(if i < 20 { 0 } else { 1 });
        c.push(if i < 20 {
            if i % 5 == 0 {
                1
            } else {
                M
            }
        } else {
            2
        });
    }
    Table { rows: 40, columns: vec![categorical("a", a.clone(), 2), categorical("b", a, 2), categorical("c", c, 3)] }
}

#[test]
fn a_missing_value_does_not_vote_for_the_mode() {
    let table = two_groups();
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(2))]), &mut NoProgress).unwrap();
    let model = Model::from_bytes(&trained.model).unwrap();
    let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
    let g0 = ids[0] as usize;
    assert!(ids[..20].iter().all(|&i| i as usize == g0) && ids[20..].iter().all(|&i| i as usize != g0));
    // 16 missing against 4 'v1': were missing a category, it would be the mode.
    assert_eq!(model.modes[g0 * 3 + 2], 1, "mode of c in the mostly-missing group is v1");
    // Cost: every missing cell is one mismatch against its mode, nothing else differs.
    assert_eq!(metric(&trained, "cost"), 16.0);
}

#[test]
fn missing_values_never_decide_the_assignment() {
    let table = two_groups();
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(2))]), &mut NoProgress).unwrap();
    let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
    // Rows with a (or b) missing go where their other values point.
    let probe = Table { rows: 3, columns: vec![categorical("a", vec![M, 1, M], 2), categorical("b", vec![0, M, M], 2), categorical("c", vec![M, M, 2], 3)] };
    let got = clusters(kmodes::predict(&trained.model, &probe).unwrap());
    assert_eq!(got, vec![ids[0], ids[39], ids[39]]);
}

#[test]
fn a_missing_numeric_value_is_left_out_of_distance_and_means() {
    let (mut table, truth) = planted(600, 4, 5, 3, 0.9, 2, 10);
    let full = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(3))]), &mut NoProgress).unwrap();
    let full_ids = clusters(kmodes::predict(&full.model, &table).unwrap());
    let full_score = ari(&full_ids, &truth);
    if let ColumnData::Numeric(v) = &mut table.columns[4].data {
        for i in (0..600).step_by(3) {
            v[i] = f64::NAN;
        }
    }
    let trained = kmodes::train(&request(table.clone(), 1, &[("nClusters", int(3))]), &mut NoProgress).unwrap();
    assert!(metric(&trained, "cost").is_finite());
    let model = Model::from_bytes(&trained.model).unwrap();
    assert!(model.means.iter().all(|m| m.is_finite()));
    let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
    // A third of one numeric column missing costs little recovery.
    let score = ari(&ids, &truth);
    assert!(score > 0.9 && score > full_score - 0.05, "ARI {score} with missing values, {full_score} without");
    // A row whose every numeric value is missing is placed by its categorical values alone.
    let mut row = Table { rows: 1, columns: vec![] };
    for column in &table.columns {
        row.columns.push(Column {
            name: column.name.clone(),
            data: match &column.data {
                ColumnData::Categorical(c) => ColumnData::Categorical(Categorical { codes: vec![c.codes[1]], levels: c.levels.clone() }),
                ColumnData::Numeric(_) => ColumnData::Numeric(vec![f64::NAN]),
            },
        });
    }
    let got = clusters(kmodes::predict(&trained.model, &row).unwrap());
    assert_eq!(got[0], ids[1]);
}

#[test]
fn real_tables_with_missing_values_cluster_every_row() {
    for (name, label, k) in [("penguins", "species", 3), ("heart_disease", "diameter narrowing", 2)] {
        let (table, _) = dataset(name, label, false);
        let trained = kmodes::train(&request(table.clone(), 0, &[("nClusters", int(k))]), &mut NoProgress).unwrap();
        let ids = clusters(kmodes::predict(&trained.model, &table).unwrap());
        assert_eq!(ids.len(), table.rows as usize);
        assert!(metric(&trained, "cost").is_finite(), "{name}");
        assert_eq!(trained.cluster_sizes.unwrap().iter().sum::<u64>(), table.rows as u64);
    }
}

#[test]
fn a_column_with_no_known_value_changes_no_assignment() {
    let (table, _) = planted(500, 4, 5, 3, 0.8, 2, 11);
    let overrides = [("nClusters", int(3)), ("init", choice("huang")), ("nInit", int(2))];
    let base = kmodes::train(&request(table.clone(), 4, &overrides), &mut NoProgress).unwrap();
    let base_ids = clusters(kmodes::predict(&base.model, &table).unwrap());

    let mut with_empty = table.clone();
    with_empty.columns.push(Column { name: "empty_num".into(), data: ColumnData::Numeric(vec![f64::NAN; 500]) });
    let trained = kmodes::train(&request(with_empty.clone(), 4, &overrides), &mut NoProgress).unwrap();
    assert_eq!(metric(&trained, "gamma"), metric(&base, "gamma"), "left out of the default gamma");
    // Equal up to rounding (the per-cluster sums are accumulated in another order).
    assert!((metric(&trained, "cost") - metric(&base, "cost")).abs() < 1e-9 * metric(&base, "cost"));
    assert_eq!(ari(&clusters(kmodes::predict(&trained.model, &with_empty).unwrap()), &base_ids), 1.0);

    // A categorical one is one mismatch per row against every cluster.
    with_empty.columns.push(categorical("empty_cat", vec![M; 500], 2));
    let trained = kmodes::train(&request(with_empty.clone(), 4, &overrides), &mut NoProgress).unwrap();
    let expected = metric(&base, "cost") + 500.0 * metric(&base, "gamma");
    assert!((metric(&trained, "cost") - expected).abs() < 1e-9 * expected);
    // Same partition; cluster numbers may differ (Huang draws once more per attribute).
    assert_eq!(ari(&clusters(kmodes::predict(&trained.model, &with_empty).unwrap()), &base_ids), 1.0);
}
