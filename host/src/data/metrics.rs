//! Holdout metrics computed by the host from a plugin's predictions, so every
//! plugin is judged by the same code.

use std::collections::BTreeMap;

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::encode::{EncodedColumn, EncodedTable};

/// The metrics of one evaluation. `headline` is the task's single score:
/// accuracy, R², or silhouette.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub headline_name: String,
    #[serde(deserialize_with = "null_as_nan::number")]
    pub headline: f64,
    #[serde(deserialize_with = "null_as_nan::map")]
    pub values: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion_matrix: Option<Vec<Vec<u64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_sizes: Option<Vec<u64>>,
}

/// Accuracy, macro precision/recall/F1, the confusion matrix (rows = truth),
/// and log-loss when probabilities (row-major rows × classes) are given.
pub fn classification(truth: &[u32], predicted: &[u32], probabilities: Option<&[f32]>, classes: usize) -> Metrics {
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        if (t as usize) < classes && (p as usize) < classes {
            confusion[t as usize][p as usize] += 1;
        }
    }
    let n = truth.len().max(1) as f64;
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for (c, row) in confusion.iter().enumerate() {
        let tp = row[c] as f64;
        let predicted_c: f64 = confusion.iter().map(|r| r[c] as f64).sum();
        let actual_c: f64 = row.iter().sum::<u64>() as f64;
        let p = if predicted_c > 0.0 { tp / predicted_c } else { 0.0 };
        let r = if actual_c > 0.0 { tp / actual_c } else { 0.0 };
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    }
    let k = classes.max(1) as f64;
    let accuracy = correct as f64 / n;
    let mut values = BTreeMap::from([
        ("accuracy".to_string(), accuracy),
        ("precision".to_string(), precision / k),
        ("recall".to_string(), recall / k),
        ("f1".to_string(), f1 / k),
    ]);
    if let Some(p) = probabilities.filter(|p| p.len() == truth.len() * classes) {
        values.insert("log_loss".to_string(), log_loss(truth, p, classes));
    }
    Metrics { headline_name: "accuracy".into(), headline: accuracy, values, confusion_matrix: Some(confusion), cluster_sizes: None }
}

fn log_loss(truth: &[u32], probabilities: &[f32], classes: usize) -> f64 {
    const EPS: f64 = 1e-15;
    let total: f64 = truth
        .iter()
        .enumerate()
        .map(|(row, &t)| {
            let p = probabilities.get(row * classes + t as usize).copied().unwrap_or(0.0) as f64;
            -(p.clamp(EPS, 1.0 - EPS)).ln()
        })
        .sum();
    total / truth.len().max(1) as f64
}

/// RMSE, MAE and R².
pub fn regression(truth: &[f64], predicted: &[f64]) -> Metrics {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let (mut se, mut ae, mut tss) = (0.0, 0.0, 0.0);
    for (&t, &p) in truth.iter().zip(predicted) {
        se += (t - p) * (t - p);
        ae += (t - p).abs();
        tss += (t - mean) * (t - mean);
    }
    let r2 = if tss > 0.0 { 1.0 - se / tss } else { 0.0 };
    let values = BTreeMap::from([("rmse".to_string(), (se / n).sqrt()), ("mae".to_string(), ae / n), ("r2".to_string(), r2)]);
    Metrics { headline_name: "r2".into(), headline: r2, values, confusion_matrix: None, cluster_sizes: None }
}

/// Cluster sizes and the silhouette on a seeded sample of at most `sample_size`
/// rows. The distance mixes kinds the way K-Prototypes does: squared
/// differences of standardised numeric columns plus one per categorical
/// mismatch; missing values contribute nothing.
pub fn clustering(table: &EncodedTable, clusters: &[u32], sample_size: usize, seed: u64) -> Metrics {
    let k = clusters.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut sizes = vec![0u64; k];
    clusters.iter().for_each(|&c| sizes[c as usize] += 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<usize> = if table.rows > sample_size { sample(&mut rng, table.rows, sample_size).into_vec() } else { (0..table.rows).collect() };
    let columns = standardised(table);
    let silhouette = silhouette(&columns, &rows, clusters, k);
    let values = BTreeMap::from([("silhouette".to_string(), silhouette), ("clusters".to_string(), k as f64)]);
    Metrics { headline_name: "silhouette".into(), headline: silhouette, values, confusion_matrix: None, cluster_sizes: Some(sizes) }
}

fn standardised(table: &EncodedTable) -> Vec<EncodedColumn> {
    table
        .features
        .iter()
        .map(|column| match column {
            EncodedColumn::Numeric(v) => {
                let known: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                let n = known.len().max(1) as f64;
                let mean = known.iter().sum::<f64>() / n;
                let sd = (known.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                let sd = if sd > 0.0 { sd } else { 1.0 };
                EncodedColumn::Numeric(v.iter().map(|x| (x - mean) / sd).collect())
            }
            codes => codes.clone(),
        })
        .collect()
}

fn distance(columns: &[EncodedColumn], a: usize, b: usize) -> f64 {
    columns
        .iter()
        .map(|column| match column {
            EncodedColumn::Numeric(v) => {
                let d = v[a] - v[b];
                if d.is_finite() {
                    d * d
                } else {
                    0.0
                }
            }
            EncodedColumn::Codes(c) => f64::from(c[a] != c[b] && c[a] != u32::MAX && c[b] != u32::MAX),
        })
        .sum::<f64>()
        .sqrt()
}

fn silhouette(columns: &[EncodedColumn], rows: &[usize], clusters: &[u32], k: usize) -> f64 {
    if k < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for &i in rows {
        let mut sum = vec![0.0; k];
        let mut count = vec![0usize; k];
        for &j in rows.iter().filter(|&&j| j != i) {
            sum[clusters[j] as usize] += distance(columns, i, j);
            count[clusters[j] as usize] += 1;
        }
        let own = clusters[i] as usize;
        if count[own] == 0 {
            continue; // a singleton's silhouette is 0 by convention
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k).filter(|&c| c != own && count[c] > 0).map(|c| sum[c] / count[c] as f64).fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / rows.len().max(1) as f64
}

/// Adjusted Rand index between two labelings of the same rows.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> f64 {
    let mut table: BTreeMap<(u32, u32), f64> = BTreeMap::new();
    let mut rows: BTreeMap<u32, f64> = BTreeMap::new();
    let mut cols: BTreeMap<u32, f64> = BTreeMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1.0;
        *rows.entry(x).or_default() += 1.0;
        *cols.entry(y).or_default() += 1.0;
    }
    let pairs = |n: f64| n * (n - 1.0) / 2.0;
    let index: f64 = table.values().copied().map(pairs).sum();
    let sum_rows: f64 = rows.values().copied().map(pairs).sum();
    let sum_cols: f64 = cols.values().copied().map(pairs).sum();
    let expected = sum_rows * sum_cols / pairs(a.len() as f64).max(1.0);
    let max = (sum_rows + sum_cols) / 2.0;
    if (max - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Share of rows whose cluster's majority label is their own label.
pub fn purity(clusters: &[u32], labels: &[u32]) -> f64 {
    let mut counts: BTreeMap<u32, BTreeMap<u32, u64>> = BTreeMap::new();
    for (&c, &l) in clusters.iter().zip(labels) {
        *counts.entry(c).or_default().entry(l).or_default() += 1;
    }
    let majority: u64 = counts.values().map(|by_label| by_label.values().copied().max().unwrap_or(0)).sum();
    majority as f64 / clusters.len().max(1) as f64
}

/// serde_json writes a NaN (or infinite) `f64` as `null`, and refuses to read
/// `null` back as one. A score can be undefined (R² of a constant target, a
/// plugin's own NaN), so everything that stores scores reads them with these:
/// a `null` comes back as NaN instead of losing the whole record.
pub mod null_as_nan {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    /// One score: a number, or `null` for NaN.
    #[derive(Deserialize)]
    #[serde(transparent)]
    struct Score(#[serde(deserialize_with = "number")] f64);

    pub fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }

    pub fn map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, f64>, D::Error> {
        Ok(BTreeMap::<String, Score>::deserialize(deserializer)?.into_iter().map(|(name, Score(value))| (name, value)).collect())
    }

    pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Score>::deserialize(deserializer)?.into_iter().map(|Score(value)| value).collect())
    }

    /// `[[name, score], ...]` or `null`.
    pub fn optional_pairs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<(String, f64)>>, D::Error> {
        let pairs = Option::<Vec<(String, Score)>>::deserialize(deserializer)?;
        Ok(pairs.map(|pairs| pairs.into_iter().map(|(name, Score(value))| (name, value)).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_metrics_match_a_hand_count() {
        let truth = [0, 0, 1, 1, 2, 2];
        let pred = [0, 1, 1, 1, 2, 0];
        let m = classification(&truth, &pred, None, 3);
        assert!((m.headline - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.confusion_matrix.as_ref().unwrap()[0], vec![1, 1, 0]);
        // per-class precision: 1/2, 2/3, 1/1 -> mean 13/18
        assert!((m.values["precision"] - 13.0 / 18.0).abs() < 1e-12);
        assert!(!m.values.contains_key("log_loss"));
    }

    #[test]
    fn log_loss_of_certain_right_answers_is_near_zero() {
        let m = classification(&[0, 1], &[0, 1], Some(&[1.0, 0.0, 0.0, 1.0]), 2);
        assert!(m.values["log_loss"] < 1e-9);
        let m = classification(&[0, 1], &[0, 1], Some(&[0.5, 0.5, 0.5, 0.5]), 2);
        assert!((m.values["log_loss"] - std::f64::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn regression_metrics() {
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((m.values["mae"] - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.headline - 0.5).abs() < 1e-12);
    }

    #[test]
    fn separated_clusters_have_a_high_silhouette() {
        let x: Vec<f64> = (0..20).map(|i| if i < 10 { i as f64 * 0.01 } else { 10.0 + i as f64 * 0.01 }).collect();
        let table = EncodedTable { rows: 20, features: vec![EncodedColumn::Numeric(x)], target: None };
        let clusters: Vec<u32> = (0..20).map(|i| u32::from(i >= 10)).collect();
        let m = clustering(&table, &clusters, 1000, 0);
        assert!(m.headline > 0.9, "{}", m.headline);
        assert_eq!(m.cluster_sizes, Some(vec![10, 10]));
        let mixed: Vec<u32> = (0..20).map(|i| i % 2).collect();
        assert!(clustering(&table, &mixed, 1000, 0).headline < 0.1);
    }

    #[test]
    fn ari_and_purity() {
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[5, 5, 7, 7]) - 1.0).abs() < 1e-12);
        assert!(adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]) < 0.0);
        assert!((purity(&[0, 0, 1, 1], &[1, 1, 1, 0]) - 0.75).abs() < 1e-12);
    }
}
