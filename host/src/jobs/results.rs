//! The results of a completed job: one type, written by the worker, stored
//! with the job record (journal line, Redis hash), shown by `GET /jobs/{id}`
//! and the source of the `complete` event. Also the one home of the model's
//! download route, which the results, that event and the API all name.
//!
//! Owns this type and its JSON, which is exactly the untyped JSON earlier
//! builds wrote, so their records still load. It must not run training or
//! store anything: the worker builds it, the brokers keep it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::{Event, JobStatus};
use crate::contract;
use crate::data::metrics::null_as_nan;
use crate::runtime::CallReport;
use crate::training::TrainSummary;

/// The route a completed job's model is downloaded from, as the router declares it.
pub const MODEL_ROUTE: &str = "/jobs/{id}/model";

/// `MODEL_ROUTE` for one job, as clients are given it.
pub fn model_path(job_id: &str) -> String {
    MODEL_ROUTE.replace("{id}", job_id)
}

/// The fields are declared in alphabetical order, and the summary is written
/// with its keys sorted, because that is the order the untyped JSON of earlier
/// builds had (a `serde_json::Map` sorts its keys): stored records stay byte
/// for byte what they were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResults {
    /// The task's headline score (accuracy, R², or silhouette); `null` when it is not a number.
    pub accuracy: Option<f64>,
    /// The cross-validation on the training part (`"folds": K`); absent when
    /// none was asked, so records without it keep their bytes.
    #[serde(default, rename = "crossValidation", skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
    /// Plugin log lines past its `log_kib` limit (records from before the log was kept have none).
    #[serde(default)]
    pub dropped_log_lines: usize,
    /// Which metric `accuracy` is: `accuracy`, `r2` or `silhouette`.
    pub headline_metric: String,
    /// The plugin's `log()` lines: they often say what it did with the data.
    #[serde(default)]
    pub log: Vec<LogLine>,
    /// The host's metrics on the judged rows (`summary.metrics.values`).
    #[serde(deserialize_with = "null_as_nan::map")]
    pub metrics: BTreeMap<String, f64>,
    pub model_path: String,
    /// Always `completed`.
    pub status: JobStatus,
    #[serde(serialize_with = "with_sorted_keys")]
    pub summary: TrainSummary,
    /// The plugin's result tables (a coefficient table, cluster modes...);
    /// absent when it returned none, so records without tables keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<ResultTable>,
}

/// K fits on the folds of the training part, each scored by the host on the
/// fold it held out: every metric's mean, standard deviation and per-fold values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// How many folds (K).
    pub folds: usize,
    /// By metric name (the names of `metrics`).
    pub metrics: BTreeMap<String, FoldScores>,
}

/// One metric over the folds; a NaN (a score a fold could not give) is null,
/// and makes the mean and deviation null too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScores {
    #[serde(deserialize_with = "null_as_nan::number")]
    pub mean: f64,
    /// The population standard deviation (divided by K) of `values`.
    #[serde(deserialize_with = "null_as_nan::number")]
    pub std: f64,
    /// Fold 1 first.
    #[serde(deserialize_with = "null_as_nan::list")]
    pub values: Vec<f64>,
}

impl CrossValidation {
    /// The summary of per-fold metrics (`per_fold[i]`: fold i+1's metrics by
    /// name). A metric some fold lacks counts as NaN there.
    pub fn of(per_fold: &[BTreeMap<String, f64>]) -> CrossValidation {
        let names: std::collections::BTreeSet<&String> = per_fold.iter().flat_map(BTreeMap::keys).collect();
        let metrics = names
            .into_iter()
            .map(|name| {
                let values: Vec<f64> = per_fold.iter().map(|m| m.get(name).copied().unwrap_or(f64::NAN)).collect();
                (name.clone(), FoldScores::of(values))
            })
            .collect();
        CrossValidation { folds: per_fold.len(), metrics }
    }
}

impl FoldScores {
    fn of(values: Vec<f64>) -> FoldScores {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        FoldScores { mean, std, values }
    }
}

/// A table the plugin returned with its model, as `GET /jobs/{id}` gives it:
/// each cell a number, a string, or null (empty, or a NaN number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultTable {
    pub name: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl From<&contract::ResultTable> for ResultTable {
    fn from(t: &contract::ResultTable) -> ResultTable {
        let cell = |c: &contract::Cell| match c {
            // `Value::from` makes a NaN (or infinite) number null.
            contract::Cell::Number(v) => Value::from(*v),
            contract::Cell::Text(s) => Value::String(s.clone()),
            contract::Cell::Empty => Value::Null,
        };
        ResultTable {
            name: t.name.clone(),
            title: t.title.clone(),
            columns: t.columns.clone(),
            rows: t.rows.iter().map(|r| r.iter().map(cell).collect()).collect(),
        }
    }
}

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

impl JobResults {
    /// The results of job `job_id`, whose plugin run ended with `summary`, `tables` and `report`.
    pub fn new(job_id: &str, summary: TrainSummary, tables: &[contract::ResultTable], report: &CallReport) -> JobResults {
        let headline = summary.metrics.headline;
        JobResults {
            accuracy: headline.is_finite().then_some(headline),
            cross_validation: None,
            dropped_log_lines: report.dropped_log_lines,
            headline_metric: summary.metrics.headline_name.clone(),
            log: report.log.iter().map(|(level, message)| LogLine { level: level.clone(), message: message.clone() }).collect(),
            metrics: summary.metrics.values.clone(),
            model_path: model_path(job_id),
            status: JobStatus::Completed,
            summary,
            tables: tables.iter().map(ResultTable::from).collect(),
        }
    }

    /// These results with the cross-validation that came before the final fit.
    pub fn with_cross_validation(mut self, cross_validation: Option<CrossValidation>) -> JobResults {
        self.cross_validation = cross_validation;
        self
    }

    /// The job's score: the headline metric when it was computed on test rows
    /// the plugin never saw; none when it was on the training rows (not
    /// comparable with real scores) or is not a number. Higher is better for
    /// every headline (accuracy, R², silhouette).
    pub fn score(&self) -> Option<f64> {
        match self.summary.evaluated_on {
            crate::training::EvaluatedOn::Holdout => self.accuracy.filter(|v| v.is_finite()),
            crate::training::EvaluatedOn::Train => None,
        }
    }

    /// The `complete` event these results are announced with.
    pub fn complete_event(&self, job_id: &str) -> Event {
        // `Value::from` turns a NaN into null, as serialising the map would.
        let metrics = self.metrics.iter().map(|(name, value)| (name.clone(), Value::from(*value))).collect();
        Event::complete(job_id, self.accuracy.unwrap_or(f64::NAN), Value::Object(metrics), &self.model_path)
    }
}

/// Writes the summary through a `serde_json::Value`, whose map sorts the keys.
fn with_sorted_keys<S: Serializer>(summary: &TrainSummary, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(summary).map_err(serde::ser::Error::custom)?.serialize(serializer)
}

/// Small results of a completed classification job, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn sample(job_id: &str, accuracy: f64) -> JobResults {
    let metrics = serde_json::json!({"accuracy": accuracy});
    serde_json::from_value(serde_json::json!({
        "accuracy": accuracy, "dropped_log_lines": 0, "headline_metric": "accuracy", "log": [], "metrics": metrics,
        "model_path": model_path(job_id), "status": "completed",
        "summary": {"evaluated_on": "holdout", "feature_importances": null, "metrics": {"headline": accuracy, "headline_name": "accuracy", "values": metrics},
            "plugin_metrics": {}, "rows_train": 8, "rows_validation": 2, "skipped_columns": []},
    }))
    .expect("results in the stored shape")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::data::encode::SkippedColumn;
    use crate::data::metrics::Metrics;
    use crate::training::{EvaluatedOn, HoldoutSample};

    /// A regression job's results as the untyped JSON of the previous build
    /// wrote them (keys sorted at every level), NaN scores written as null.
    const OLD_RECORD: &str = concat!(
        r#"{"accuracy":null,"dropped_log_lines":2,"headline_metric":"r2","#,
        r#""log":[{"level":"info","message":"fitted 3 trees"},{"level":"warn","message":"column x is constant"}],"#,
        r#""metrics":{"mae":1.5,"r2":null,"rmse":2.0},"model_path":"/jobs/0b7e4c1e-6a43-4d29-9c55-7d1f6a2b8e90/model","status":"completed","#,
        r#""summary":{"evaluated_on":"holdout","feature_importances":[["x",0.75],["y",null]],"#,
        r#""holdout":{"actual":[1.0,2.0],"predicted":[1.5,null],"sampled":false},"#,
        r#""metrics":{"headline":null,"headline_name":"r2","values":{"mae":1.5,"r2":null,"rmse":2.0}},"#,
        r#""plugin_metrics":{"cost":null,"trees":3.0},"rows_train":8,"rows_validation":2,"#,
        r#""skipped_columns":[{"name":"id","reason":"text or identifier: about one distinct value per row"}]}}"#
    );

    fn summary() -> TrainSummary {
        TrainSummary {
            rows_train: 120,
            rows_validation: 15,
            rows_test: Some(30),
            evaluated_on: EvaluatedOn::Holdout,
            metrics: Metrics {
                headline_name: "accuracy".into(),
                headline: 0.9,
                values: BTreeMap::from([("accuracy".into(), 0.9), ("f1".into(), 0.85)]),
                confusion_matrix: Some(vec![vec![9, 1], vec![2, 18]]),
                cluster_sizes: None,
                ..Metrics::default()
            },
            plugin_metrics: BTreeMap::from([("cost".into(), 0.5)]),
            feature_importances: Some(vec![("bill_length_mm".into(), 0.6)]),
            skipped_columns: vec![SkippedColumn { name: "id".into(), reason: "text".into() }],
            feature_columns: vec![],
            class_labels: Some(vec!["Adelie".into(), "Gentoo".into()]),
            holdout: None,
            instances: 1,
            collectives: None,
        }
    }

    fn report() -> CallReport {
        CallReport {
            log: vec![("info".into(), "hello".into())],
            dropped_log_lines: 0,
            peak_memory_bytes: 1,
            duration: Default::default(),
            cpu: Default::default(),
            instances: 1,
            collectives: None,
        }
    }

    /// What `Worker::train` built with `json!` before this type existed.
    fn untyped(job_id: &str, summary: &TrainSummary, report: &CallReport) -> Value {
        let headline = summary.metrics.headline;
        json!({
            "status": "completed",
            "accuracy": headline.is_finite().then_some(headline),
            "headline_metric": summary.metrics.headline_name,
            "metrics": serde_json::to_value(&summary.metrics.values).unwrap(),
            "model_path": format!("/jobs/{job_id}/model"),
            "summary": summary,
            "log": report.log.iter().map(|(level, message)| json!({ "level": level, "message": message })).collect::<Vec<_>>(),
            "dropped_log_lines": report.dropped_log_lines,
        })
    }

    #[test]
    fn serialises_to_the_untyped_json_of_earlier_builds_byte_for_byte() {
        let results = JobResults::new("j", summary(), &[], &report());
        let text = serde_json::to_string(&results).unwrap();
        assert_eq!(text, untyped("j", &summary(), &report()).to_string());
        let back: JobResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back, results);
    }

    #[test]
    fn a_record_written_by_the_previous_build_loads_and_writes_back_unchanged() {
        let results: JobResults = serde_json::from_str(OLD_RECORD).unwrap();
        assert_eq!(results.accuracy, None);
        assert!(results.metrics["r2"].is_nan() && results.summary.metrics.headline.is_nan());
        assert_eq!(results.summary.evaluated_on, EvaluatedOn::Holdout);
        assert_eq!((results.summary.rows_validation, results.summary.rows_test), (2, None), "no test count before the three-way split");
        let holdout = results.summary.holdout.as_ref().unwrap();
        assert!(holdout.predicted[1].is_nan());
        assert_eq!(results.log[1], LogLine { level: "warn".into(), message: "column x is constant".into() });
        assert_eq!(serde_json::to_string(&results).unwrap(), OLD_RECORD);
    }

    #[test]
    fn a_record_from_before_the_plugin_log_was_kept_loads() {
        let mut old: Value = serde_json::from_str(OLD_RECORD).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("log");
        fields.remove("dropped_log_lines");
        let results: JobResults = serde_json::from_value(old).unwrap();
        assert_eq!((results.log.len(), results.dropped_log_lines), (0, 0));
    }

    #[test]
    fn the_complete_event_carries_the_headline_metrics_and_model_path() {
        let mut summary = summary();
        summary.holdout = Some(HoldoutSample { actual: vec![1.0], predicted: vec![1.0], sampled: false });
        let results = JobResults::new("j", summary, &[], &report());
        let event = results.complete_event("j");
        assert_eq!(event, Event::complete("j", 0.9, json!({"accuracy": 0.9, "f1": 0.85}), "/jobs/j/model"));
        let undefined: JobResults = serde_json::from_str(OLD_RECORD).unwrap();
        let Event::Complete { results, .. } = undefined.complete_event("j") else { panic!("a complete event") };
        assert_eq!((results.accuracy, results.metrics["r2"].clone()), (None, Value::Null));
    }

    #[test]
    fn tables_are_written_after_the_summary_with_empty_and_nan_cells_as_null() {
        let table = contract::ResultTable {
            name: "coefficients".into(),
            title: "Coefficients".into(),
            columns: vec!["term".into(), "estimate".into(), "p_value".into()],
            rows: vec![
                vec![contract::Cell::Text("(intercept)".into()), contract::Cell::Number(1.5), contract::Cell::Empty],
                vec![contract::Cell::Text("x".into()), contract::Cell::Number(f64::NAN), contract::Cell::Number(0.01)],
            ],
        };
        let results = JobResults::new("j", summary(), &[table], &report());
        let text = serde_json::to_string(&results).unwrap();
        assert!(text.ends_with(concat!(
            r#","tables":[{"name":"coefficients","title":"Coefficients","columns":["term","estimate","p_value"],"#,
            r#""rows":[["(intercept)",1.5,null],["x",null,0.01]]}]}"#
        )));
        let back: JobResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back, results);
    }

    #[test]
    fn cross_validation_gives_mean_std_and_values_and_reads_back() {
        let fold = |accuracy: f64, f1: Option<f64>| {
            let mut m = BTreeMap::from([("accuracy".to_string(), accuracy)]);
            if let Some(f1) = f1 {
                m.insert("f1".into(), f1);
            }
            m
        };
        let cv = CrossValidation::of(&[fold(0.8, Some(0.5)), fold(0.9, None), fold(1.0, Some(0.7))]);
        assert_eq!(cv.folds, 3);
        let accuracy = &cv.metrics["accuracy"];
        assert!((accuracy.mean - 0.9).abs() < 1e-12);
        assert!((accuracy.std - (0.02f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(accuracy.values, vec![0.8, 0.9, 1.0]);
        assert!(cv.metrics["f1"].mean.is_nan() && cv.metrics["f1"].values[1].is_nan());
        let results = JobResults::new("j", summary(), &[], &report()).with_cross_validation(Some(cv));
        let text = serde_json::to_string(&results).unwrap();
        assert!(text.starts_with(r#"{"accuracy":0.9,"crossValidation":{"folds":3,"metrics":{"accuracy":{"mean":"#), "{text}");
        assert!(text.contains(r#""f1":{"mean":null,"std":null,"values":[0.5,null,0.7]}"#), "{text}");
        let back: JobResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back.cross_validation.as_ref().unwrap().metrics["accuracy"], results.cross_validation.as_ref().unwrap().metrics["accuracy"]);
        assert!(back.cross_validation.unwrap().metrics["f1"].values[1].is_nan());
    }

    #[test]
    fn the_model_path_fills_the_route() {
        assert_eq!(model_path("abc"), "/jobs/abc/model");
    }
}
