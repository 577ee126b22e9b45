//! Holdout metrics computed by the host from a plugin's predictions, so every
//! plugin is judged by the same code.

use std::collections::BTreeMap;

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::encode::{EncodedColumn, EncodedTable};
use super::ranking::{self, ThresholdCurve};

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
    /// Precision, recall, F1 and support of each class, in class-code order (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<Vec<ClassScores>>,
    /// The positive class's threshold curve (binary classification with probabilities):
    /// ROC, precision-recall and the confusion matrix at any threshold follow from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve: Option<ThresholdCurve>,
    /// What a model that learnt nothing scores on the same rows, to read the headline against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

/// One class's row of the per-class table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    #[serde(deserialize_with = "null_as_nan::number")]
    pub precision: f64,
    #[serde(deserialize_with = "null_as_nan::number")]
    pub recall: f64,
    #[serde(deserialize_with = "null_as_nan::number")]
    pub f1: f64,
    pub support: u64,
}

/// The scores of a rule that ignores the features: always the training part's
/// majority class, or always its mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The rule, in words ("always `no`", "always 12.5").
    pub rule: String,
    #[serde(deserialize_with = "null_as_nan::map")]
    pub values: BTreeMap<String, f64>,
}

/// Accuracy, macro precision/recall/F1, the per-class table, the confusion
/// matrix (rows = truth), and, when probabilities (row-major rows × classes)
/// are given, log-loss and the ranking metrics: ROC AUC, average precision and
/// the threshold curve of class 1 for two classes (scikit-learn's positive
/// label for sorted labels), one-vs-rest ROC AUC, macro and weighted, for more.
pub fn classification(truth: &[u32], predicted: &[u32], probabilities: Option<&[f32]>, classes: usize) -> Metrics {
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        if (t as usize) < classes && (p as usize) < classes {
            confusion[t as usize][p as usize] += 1;
        }
    }
    let n = truth.len().max(1) as f64;
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    let per_class = per_class_scores(&confusion);
    let k = classes.max(1) as f64;
    let accuracy = correct as f64 / n;
    let mean = |f: fn(&ClassScores) -> f64| per_class.iter().map(f).sum::<f64>() / k;
    let mut values = BTreeMap::from([
        ("accuracy".to_string(), accuracy),
        ("precision".to_string(), mean(|c| c.precision)),
        ("recall".to_string(), mean(|c| c.recall)),
        ("f1".to_string(), mean(|c| c.f1)),
    ]);
    let mut curve = None;
    if let Some(p) = probabilities.filter(|p| p.len() == truth.len() * classes) {
        values.insert("log_loss".to_string(), log_loss(truth, p, classes));
        curve = add_ranking_metrics(&mut values, truth, p, classes);
    }
    Metrics {
        headline_name: "accuracy".into(),
        headline: accuracy,
        values,
        confusion_matrix: Some(confusion),
        cluster_sizes: None,
        per_class: Some(per_class),
        curve,
        baseline: None,
    }
}

/// A class with no predicted (or no actual) row has precision (recall) 0, as
/// scikit-learn's `zero_division=0` gives.
fn per_class_scores(confusion: &[Vec<u64>]) -> Vec<ClassScores> {
    (0..confusion.len())
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted: f64 = confusion.iter().map(|r| r[c] as f64).sum();
            let support: u64 = confusion[c].iter().sum();
            let precision = if predicted > 0.0 { tp / predicted } else { 0.0 };
            let recall = if support > 0 { tp / support as f64 } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassScores { precision, recall, f1, support }
        })
        .collect()
}

/// Adds the AUCs (and average precision) to `values`; returns the binary threshold curve.
/// One-vs-rest averages skip a class absent from the judged rows (its AUC is undefined).
fn add_ranking_metrics(values: &mut BTreeMap<String, f64>, truth: &[u32], probabilities: &[f32], classes: usize) -> Option<ThresholdCurve> {
    let scores_of = |class: usize| -> Vec<f64> { probabilities.chunks(classes).map(|row| f64::from(row[class])).collect() };
    let is = |class: usize| -> Vec<bool> { truth.iter().map(|&t| t as usize == class).collect() };
    if classes == 2 {
        let (scores, positive) = (scores_of(1), is(1));
        // One sort of the scores serves all three.
        let ranked = ranking::Ranking::new(&scores, &positive);
        values.insert("roc_auc".into(), ranked.roc_auc());
        values.insert("average_precision".into(), ranked.average_precision());
        return Some(ranked.threshold_curve());
    }
    let (mut macro_sum, mut weighted_sum, mut counted, mut support) = (0.0, 0.0, 0usize, 0usize);
    for class in 0..classes {
        let auc = ranking::roc_auc(&scores_of(class), &is(class));
        if auc.is_finite() {
            let n = truth.iter().filter(|&&t| t as usize == class).count();
            (macro_sum, weighted_sum, counted, support) = (macro_sum + auc, weighted_sum + auc * n as f64, counted + 1, support + n);
        }
    }
    if counted > 0 {
        values.insert("roc_auc_ovr_macro".into(), macro_sum / counted as f64);
        values.insert("roc_auc_ovr_weighted".into(), weighted_sum / support as f64);
    }
    None
}

/// The majority class of the training part, scored on the judged rows.
pub fn majority_baseline(train: &[u32], judged: &[u32], classes: usize, labels: &[String]) -> Baseline {
    let mut counts = vec![0u64; classes.max(1)];
    train.iter().filter(|&&c| (c as usize) < classes).for_each(|&c| counts[c as usize] += 1);
    let majority = counts.iter().enumerate().max_by_key(|&(i, n)| (n, std::cmp::Reverse(i))).map_or(0, |(i, _)| i);
    let always: Vec<u32> = vec![majority as u32; judged.len()];
    let scores = classification(judged, &always, None, classes);
    let label = labels.get(majority).map_or_else(|| majority.to_string(), Clone::clone);
    Baseline { rule: format!("always `{label}`, the training part's most frequent class"), values: scores.values }
}

/// The training part's mean, scored on the judged rows.
pub fn mean_baseline(train: &[f64], judged: &[f64]) -> Baseline {
    let known: Vec<f64> = train.iter().copied().filter(|v| v.is_finite()).collect();
    let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
    let scores = regression(judged, &vec![mean; judged.len()]);
    Baseline { rule: format!("always {mean:.6}, the training part's mean"), values: scores.values }
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
    Metrics { headline_name: "r2".into(), headline: r2, values, ..Metrics::default() }
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
    let silhouette = silhouette(&SampledRows::of(table, &rows), &rows, clusters, k);
    let values = BTreeMap::from([("silhouette".to_string(), silhouette), ("clusters".to_string(), k as f64)]);
    Metrics { headline_name: "silhouette".into(), headline: silhouette, values, cluster_sizes: Some(sizes), ..Metrics::default() }
}

/// The sampled rows one after another, each column's value in column order:
/// a numeric column's standardised over the whole table, a categorical
/// column's code (exact as an f64). Only these rows are copied.
struct SampledRows {
    values: Vec<f64>,
    numeric: Vec<bool>,
}

impl SampledRows {
    fn of(table: &EncodedTable, rows: &[usize]) -> SampledRows {
        let width = table.features.len();
        let mut values = vec![0.0; rows.len() * width];
        for (c, column) in table.features.iter().enumerate() {
            let cells = values.iter_mut().skip(c).step_by(width);
            match column {
                EncodedColumn::Numeric(v) => {
                    let (mean, sd) = mean_and_sd(v);
                    cells.zip(rows).for_each(|(cell, &r)| *cell = (v[r] - mean) / sd);
                }
                EncodedColumn::Codes(codes) => cells.zip(rows).for_each(|(cell, &r)| *cell = f64::from(codes[r])),
            }
        }
        SampledRows { values, numeric: table.features.iter().map(|c| matches!(c, EncodedColumn::Numeric(_))).collect() }
    }

    fn row(&self, i: usize) -> &[f64] {
        let width = self.numeric.len();
        &self.values[i * width..(i + 1) * width]
    }

    /// Sampled rows `a` and `b`'s distance, summed in column order.
    fn distance(&self, a: usize, b: usize) -> f64 {
        const MISSING_CODE: f64 = u32::MAX as f64;
        let mut sum = 0.0;
        for ((&x, &y), &numeric) in self.row(a).iter().zip(self.row(b)).zip(&self.numeric) {
            sum += if numeric {
                let d = x - y;
                if d.is_finite() {
                    d * d
                } else {
                    0.0
                }
            } else {
                f64::from(x != y && x != MISSING_CODE && y != MISSING_CODE)
            };
        }
        sum.sqrt()
    }
}

/// A numeric column's mean and standard deviation over its finite values
/// (a deviation of 0 counts as 1, so a constant column adds nothing).
fn mean_and_sd(v: &[f64]) -> (f64, f64) {
    let known = v.iter().filter(|x| x.is_finite());
    let n = (known.clone().count().max(1)) as f64;
    let mean = known.clone().sum::<f64>() / n;
    let sd = (known.map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, if sd > 0.0 { sd } else { 1.0 })
}

/// The mean silhouette of the sampled rows. Each pair's distance is computed
/// once and added to both rows' sums; each row's sums still receive the other
/// rows in sample order, as a row-by-row pass would add them.
fn silhouette(sampled: &SampledRows, rows: &[usize], clusters: &[u32], k: usize) -> f64 {
    if k < 2 {
        return 0.0;
    }
    let n = rows.len();
    let cluster: Vec<usize> = rows.iter().map(|&r| clusters[r] as usize).collect();
    let mut sums = vec![0.0; n * k];
    let mut counts = vec![0usize; k];
    cluster.iter().for_each(|&c| counts[c] += 1);
    for i in 0..n {
        for j in i + 1..n {
            let d = sampled.distance(i, j);
            sums[i * k + cluster[j]] += d;
            sums[j * k + cluster[i]] += d;
        }
    }
    let mut total = 0.0;
    for i in 0..n {
        let own = cluster[i];
        // The others in its cluster, itself left out.
        let count = |c: usize| counts[c] - usize::from(c == own);
        if count(own) == 0 {
            continue; // a singleton's silhouette is 0 by convention
        }
        let sum = &sums[i * k..(i + 1) * k];
        let a = sum[own] / count(own) as f64;
        let b = (0..k).filter(|&c| c != own && count(c) > 0).map(|c| sum[c] / count(c) as f64).fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / n.max(1) as f64
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

    /// Expected figures from scikit-learn on the same predictions:
    /// `roc_auc_score(y, P, multi_class="ovr", average=...)` and `precision_recall_fscore_support(y, P.argmax(1))`.
    #[test]
    fn multiclass_auc_and_the_per_class_table_match_scikit_learn() {
        let truth = [0, 1, 2, 2, 1, 0, 2, 1, 0, 2];
        #[rustfmt::skip]
        let p: [f32; 30] = [0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.1, 0.3, 0.6, 0.3, 0.3, 0.4, 0.5, 0.4, 0.1, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6, 0.3, 0.4, 0.3, 0.4, 0.4, 0.2, 0.1, 0.6, 0.3];
        let predicted = [0, 1, 2, 2, 0, 0, 2, 1, 0, 1];
        let m = classification(&truth, &predicted, Some(&p), 3);
        assert!((m.values["roc_auc_ovr_macro"] - 0.906_746_031_746_031_6).abs() < 1e-12, "{:?}", m.values);
        assert!((m.values["roc_auc_ovr_weighted"] - 0.911_904_761_904_762).abs() < 1e-12, "{:?}", m.values);
        let table = m.per_class.unwrap();
        let expected = [(0.75, 1.0, 0.857_142_857_142_857_1, 3), (2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 3), (1.0, 0.75, 0.857_142_857_142_857_1, 4)];
        for (row, (precision, recall, f1, support)) in table.iter().zip(expected) {
            assert!((row.precision - precision).abs() < 1e-12 && (row.recall - recall).abs() < 1e-12 && (row.f1 - f1).abs() < 1e-12, "{row:?}");
            assert_eq!(row.support, support);
        }
        assert!(m.curve.is_none() && !m.values.contains_key("roc_auc"));
    }

    #[test]
    fn binary_predictions_get_auc_average_precision_and_a_curve() {
        let truth = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0];
        let scores = [0.9f32, 0.8, 0.8, 0.7, 0.5, 0.5, 0.4, 0.3, 0.3, 0.1];
        let p: Vec<f32> = scores.iter().flat_map(|&s| [1.0 - s, s]).collect();
        let predicted: Vec<u32> = scores.iter().map(|&s| u32::from(s >= 0.5)).collect();
        let m = classification(&truth, &predicted, Some(&p), 2);
        assert!((m.values["roc_auc"] - 0.68).abs() < 1e-12, "{:?}", m.values);
        assert!((m.values["average_precision"] - 0.708_730_158_730_158_7).abs() < 1e-12, "{:?}", m.values);
        let curve = m.curve.unwrap();
        assert_eq!((curve.positives, curve.negatives, curve.thresholds.len()), (5, 5, 7));
    }

    #[test]
    fn baselines_answer_the_training_majority_or_mean() {
        let labels = ["no".to_string(), "yes".to_string()];
        let b = majority_baseline(&[0, 0, 0, 1], &[0, 1, 0, 0, 1], 2, &labels);
        assert!((b.values["accuracy"] - 0.6).abs() < 1e-12 && b.rule.contains("`no`"), "{b:?}");
        let b = mean_baseline(&[1.0, 3.0, f64::NAN], &[2.0, 4.0]);
        assert!((b.values["rmse"] - 2.0f64.sqrt()).abs() < 1e-12 && b.values["r2"] < 0.0, "{b:?}");
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
