//! Helpers shared by the integration tests.
#![allow(dead_code)]

use kmodes::csvtable;
use kmodes::rng::Rng;
use trainhost_sdk::*;

/// Every declared parameter with its default, then `overrides` (as the host fills them in).
pub fn params(overrides: &[(&str, ParamValue)]) -> Vec<Param> {
    let mut params: Vec<Param> = kmodes::info()
        .params
        .iter()
        .map(|spec| Param {
            name: spec.name.clone(),
            value: match &spec.kind {
                ParamKind::Int(s) => ParamValue::Int(s.default),
                ParamKind::Float(s) => ParamValue::Float(s.default),
                ParamKind::Boolean(b) => ParamValue::Boolean(*b),
                ParamKind::Choice(c) => ParamValue::Choice(c.default.clone()),
                ParamKind::ChoiceOrNumber(c) => ParamValue::Choice(c.default.clone()),
            },
        })
        .collect();
    for (name, value) in overrides {
        params.iter_mut().find(|p| p.name == *name).expect("declared parameter").value = value.clone();
    }
    params
}

pub fn int(v: i64) -> ParamValue {
    ParamValue::Int(v)
}

pub fn choice(v: &str) -> ParamValue {
    ParamValue::Choice(v.into())
}

pub fn request(features: Table, seed: u64, overrides: &[(&str, ParamValue)]) -> TrainRequest {
    TrainRequest { task: Task::Clustering, train: LabelledTable { features, target: None }, validation: None, params: params(overrides), seed }
}

pub fn metric(model: &TrainedModel, name: &str) -> f64 {
    model.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("metric {name}")).value
}

pub fn clusters(p: Predictions) -> Vec<u32> {
    match p {
        Predictions::Clusters(ids) => ids,
        other => panic!("expected clusters, got {other:?}"),
    }
}

/// A testdata CSV as features (without `label`) and the label column.
pub fn dataset(name: &str, label: &str, drop_incomplete: bool) -> (Table, Vec<String>) {
    let path = format!("{}/testdata/{name}.csv", env!("CARGO_MANIFEST_DIR"));
    let mut csv = csvtable::parse(&std::fs::read_to_string(&path).expect("testdata csv")).expect("valid csv");
    if drop_incomplete {
        // The `kmodes` package cannot take missing values, so comparisons use complete rows.
        let keep: Vec<bool> = (0..csv.columns[0].len()).map(|i| csv.columns.iter().all(|c| c[i].is_some())).collect();
        for column in &mut csv.columns {
            let mut row = 0;
            column.retain(|_| {
                row += 1;
                keep[row - 1]
            });
        }
    }
    let labels = csv.column(label).expect("label column").iter().map(|c| c.clone().unwrap_or_default()).collect();
    (csv.to_table(&[label]), labels)
}

pub fn categorical(name: &str, codes: Vec<u32>, levels: usize) -> Column {
    Column { name: name.into(), data: ColumnData::Categorical(Categorical { codes, levels: (0..levels).map(|l| format!("v{l}")).collect() }) }
}

/// Planted clusters: each cluster has a prototype value per attribute; a cell
/// keeps it with probability `purity`, else takes a uniformly random category.
/// `numeric` adds Gaussian columns around well-separated cluster centres.
pub fn planted(n: usize, m: usize, levels: u32, k: usize, purity: f64, numeric: usize, seed: u64) -> (Table, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let protos: Vec<u32> = (0..k * m).map(|_| rng.below(levels as usize) as u32).collect();
    let centres: Vec<f64> = (0..k * numeric).map(|_| rng.normal() * 4.0).collect();
    let truth: Vec<u32> = (0..n).map(|_| rng.below(k) as u32).collect();
    let mut columns = vec![];
    for a in 0..m {
        let codes = truth.iter().map(|&t| if rng.unit() < purity { protos[t as usize * m + a] } else { rng.below(levels as usize) as u32 }).collect();
        columns.push(categorical(&format!("c{a}"), codes, levels as usize));
    }
    for j in 0..numeric {
        let values = truth.iter().map(|&t| centres[t as usize * numeric + j] + rng.normal()).collect();
        columns.push(Column { name: format!("x{j}"), data: ColumnData::Numeric(values) });
    }
    (Table { rows: n as u32, columns }, truth)
}

/// Adjusted Rand index (Hubert & Arabie), for labels given as any comparable ids.
pub fn ari<A: Ord + Clone, B: Ord + Clone>(a: &[A], b: &[B]) -> f64 {
    use std::collections::BTreeMap;
    let mut table: BTreeMap<(A, B), f64> = BTreeMap::new();
    let (mut rows, mut cols): (BTreeMap<A, f64>, BTreeMap<B, f64>) = (BTreeMap::new(), BTreeMap::new());
    for (x, y) in a.iter().zip(b) {
        *table.entry((x.clone(), y.clone())).or_default() += 1.0;
        *rows.entry(x.clone()).or_default() += 1.0;
        *cols.entry(y.clone()).or_default() += 1.0;
    }
    let pairs = |v: f64| v * (v - 1.0) / 2.0;
    let index: f64 = table.values().map(|&v| pairs(v)).sum();
    let (sa, sb): (f64, f64) = (rows.values().map(|&v| pairs(v)).sum(), cols.values().map(|&v| pairs(v)).sum());
    let expected = sa * sb / pairs(a.len() as f64);
    let max = (sa + sb) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}
