//! What the CLI prints: a progress bar fed by plugin epochs, metric tables,
//! plugin schemas, result tables, and prediction CSVs.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::jobs::results::ResultTable;
use crate::runtime::{Epoch, PluginRegistry, ProgressSink};
use crate::training::{EvaluatedOn, PredictionSet, TrainOutcome, TrainSummary};

/// Shows a bar on a terminal; on a pipe (or with --json) prints one line per epoch to stderr.
pub struct TerminalProgress {
    bar: ProgressBar,
    lines: bool,
}

impl TerminalProgress {
    pub fn new(quiet_bar: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
        let lines = quiet_bar || bar.is_hidden();
        TerminalProgress { bar, lines }
    }
}

pub fn format_metrics(metrics: &[(String, f64)]) -> String {
    metrics.iter().map(|(name, value)| format!("{name}: {value:.4}")).collect::<Vec<_>>().join(", ")
}

impl ProgressSink for TerminalProgress {
    fn epoch(&mut self, epoch: Epoch) {
        let metrics = format_metrics(&epoch.metrics);
        if self.lines {
            eprintln!("epoch {}/{}{}{}", epoch.epoch, epoch.total, if metrics.is_empty() { "" } else { " - " }, metrics);
        } else {
            self.bar.set_length(epoch.total as u64);
            self.bar.set_position(epoch.epoch as u64);
            self.bar.set_message(metrics);
        }
    }

    fn log(&mut self, level: &str, message: &str) {
        self.bar.suspend(|| eprintln!("[plugin {level}] {message}"));
    }

    fn phase(&mut self, _step: u32, _steps: u32, label: &str) {
        self.bar.suspend(|| eprintln!("{label}"));
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Each metric's mean ± standard deviation over the folds, then its per-fold values.
fn print_cross_validation(cv: &crate::jobs::results::CrossValidation) {
    println!("cross-validation on {} folds of the training part (mean ± std, then fold 1 to {}):", cv.folds, cv.folds);
    for (name, scores) in &cv.metrics {
        let values: Vec<String> = scores.values.iter().map(|v| format!("{v:.4}")).collect();
        println!("  {name:<12} {:.4} ± {:.4}  [{}]", scores.mean, scores.std, values.join(", "));
    }
}

/// The three parts of the split, and which rows the metrics are on.
fn row_counts(summary: &TrainSummary) -> String {
    let judged = match (summary.evaluated_on, summary.rows_test) {
        (EvaluatedOn::Holdout, Some(test)) => format!("evaluated on {test} test rows the plugin never saw"),
        (EvaluatedOn::Holdout, None) => format!("evaluated on {} holdout rows", summary.rows_validation),
        (EvaluatedOn::Train, _) => format!("evaluated on the {} training rows (no test rows)", summary.rows_train),
    };
    format!("trained on {} rows, {} plugin validation rows, {judged}", summary.rows_train, summary.rows_validation)
}

/// The host's own wall time around the train call: what does not shrink
/// when more instances train, so it bounds the speed-up of a whole run.
pub fn print_host_times(read: Duration, outcome: &TrainOutcome, written: Duration) {
    let times = &outcome.host_times;
    println!(
        "host time: read {:.3} s, prepare {:.3} s, judge {:.3} s, write {:.3} s (the train call: {:.3} s)",
        read.as_secs_f64(),
        times.prepare.as_secs_f64(),
        times.judge.as_secs_f64(),
        written.as_secs_f64(),
        outcome.report.duration.as_secs_f64(),
    );
}

pub fn print_summary(outcome: &TrainOutcome, model_path: &Path, json: bool, labels: &crate::jobs::RunLabels) {
    let summary = &outcome.summary;
    if json {
        let mut value = serde_json::to_value(summary).unwrap_or_default();
        if let Some(fields) = value.as_object_mut() {
            if let Some(name) = &labels.name {
                fields.insert("name".into(), name.clone().into());
            }
            if !labels.tags.is_empty() {
                fields.insert("tags".into(), labels.tags.clone().into());
            }
            if let Some(cv) = &outcome.cross_validation {
                fields.insert("crossValidation".into(), serde_json::to_value(cv).unwrap_or_default());
            }
        }
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        return;
    }
    if labels.name.is_some() || !labels.tags.is_empty() {
        let tags = if labels.tags.is_empty() { String::new() } else { format!(" [{}]", labels.tags.join(", ")) };
        println!("run: {}{tags}", labels.name.as_deref().unwrap_or("(unnamed)"));
    }
    println!(
        "{} in {:.2} s (peak plugin memory {:.1} MiB)",
        row_counts(summary),
        outcome.report.duration.as_secs_f64(),
        outcome.report.peak_memory_bytes as f64 / (1 << 20) as f64,
    );
    println!("train call CPU: {:.2} s (all instances together)", outcome.report.cpu.as_secs_f64());
    if summary.instances > 1 {
        println!("trained by {} instances of the plugin together", summary.instances);
    }
    if let Some(cost) = summary.collectives.filter(|c| c.calls > 0) {
        println!(
            "collective calls: {} per instance, {:.1} MB handed in, {:.3} s inside them (all instances; {:.0} µs a call an instance)",
            cost.calls,
            cost.bytes as f64 / 1e6,
            cost.wait_seconds,
            1e6 * cost.wait_seconds / (cost.calls as f64 * summary.instances as f64),
        );
    }
    for skipped in &summary.skipped_columns {
        println!("column `{}` left out: {}", skipped.name, skipped.reason);
    }
    if let Some(cv) = &outcome.cross_validation {
        print_cross_validation(cv);
    }
    println!("{} metrics:", summary.evaluated_on);
    for (name, value) in &summary.metrics.values {
        println!("  {name:<12} {value:.4}");
    }
    for (name, value) in &summary.plugin_metrics {
        println!("  plugin {name:<12} {value:.4}");
    }
    if let (Some(matrix), Some(labels)) = (&summary.metrics.confusion_matrix, outcome.artifact.header.encoding.class_labels()) {
        println!("confusion matrix (rows: truth, columns: predicted):");
        for (label, row) in labels.iter().zip(matrix) {
            println!("  {label:>16} {}", row.iter().map(|n| format!("{n:>6}")).collect::<String>());
        }
    }
    if let Some(sizes) = &summary.metrics.cluster_sizes {
        println!("cluster sizes: {sizes:?}");
    }
    if let Some(importances) = &summary.feature_importances {
        let mut sorted = importances.clone();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!("feature importances:");
        for (name, value) in sorted.iter().take(10) {
            println!("  {name:<24} {value:.4}");
        }
    }
    for table in &outcome.tables {
        print_table(&ResultTable::from(table));
    }
    if outcome.report.dropped_log_lines > 0 {
        println!("plugin log capped: {} lines dropped", outcome.report.dropped_log_lines);
    }
    println!("model written to {}", model_path.display());
}

/// Rows of a result table printed; the rest are counted.
const TABLE_ROWS: usize = 40;

/// A result table as aligned columns: text left, numbers right.
pub fn print_table(table: &ResultTable) {
    println!("{} ({}):", table.title, table.name);
    let shown = &table.rows[..table.rows.len().min(TABLE_ROWS)];
    let cells: Vec<Vec<String>> = shown.iter().map(|row| row.iter().map(format_cell).collect()).collect();
    let widths: Vec<usize> = (0..table.columns.len())
        .map(|c| cells.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).chain([table.columns[c].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |texts: Vec<(&str, bool)>| {
        let parts: Vec<String> = texts.iter().zip(&widths).map(|((t, right), w)| if *right { format!("{t:>w$}") } else { format!("{t:<w$}") }).collect();
        println!("  {}", parts.join("  ").trim_end());
    };
    line(table.columns.iter().map(|c| (c.as_str(), false)).collect());
    for (row, texts) in shown.iter().zip(&cells) {
        line(row.iter().zip(texts).map(|(v, t)| (t.as_str(), v.is_number())).collect());
    }
    if table.rows.len() > shown.len() {
        println!("  ... {} more rows (all of them in the job's results)", table.rows.len() - shown.len());
    }
}

fn format_cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format_number),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Four significant digits, in scientific notation when very large or small;
/// whole numbers (counts, ids) as they are.
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e15 {
        format!("{v:.0}")
    } else if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.decimals$}")
    }
}

pub fn print_plugins(registry: &PluginRegistry, json: bool) {
    if json {
        let all: serde_json::Map<String, serde_json::Value> =
            registry.iter().map(|(name, p)| (name.clone(), serde_json::to_value(&p.schema).unwrap_or_default())).collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return;
    }
    for (name, plugin) in registry.iter() {
        print_schema(name, plugin);
    }
}

pub fn print_schema(name: &str, plugin: &crate::runtime::LoadedPlugin) {
    let s = &plugin.schema;
    println!("{name} {} - {}", s.version, s.description);
    println!("  tasks: {}", s.tasks.join(", "));
    println!(
        "  limits: memory {} MiB, time {} s, model {} MiB, log {} KiB",
        plugin.limits.memory_mib, plugin.limits.time_secs, plugin.limits.model_mib, plugin.limits.log_kib
    );
    if s.params.is_empty() {
        println!("  parameters: none");
    }
    for p in &s.params {
        let mut bounds = String::new();
        if let Some(choices) = &p.choices {
            bounds.push_str(&format!(" one of {}", choices.join("|")));
        }
        match (p.min, p.max) {
            (Some(lo), Some(hi)) => bounds.push_str(&format!(" in [{lo}, {hi}]")),
            (Some(lo), None) => bounds.push_str(&format!(" >= {lo}")),
            (None, Some(hi)) => bounds.push_str(&format!(" <= {hi}")),
            (None, None) => {}
        }
        println!("  --param {}=<{}> (default {}{}): {}", p.name, p.kind, p.default, bounds, p.help);
        for (task, tunable) in &p.tunable {
            println!("      tune for {task}: {}", tunable_text(tunable));
        }
    }
}

/// A suggested search space as the CLI prints it: `0.01..0.3 (log)` or `one of 0, 8, 16`.
fn tunable_text(tunable: &crate::runtime::Tunable) -> String {
    match tunable {
        crate::runtime::Tunable::Range { min, max, scale } => format!("{min}..{max} ({})", if *scale == crate::runtime::Scale::Log { "log" } else { "linear" }),
        crate::runtime::Tunable::Values { values } => {
            format!("one of {}", values.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect::<Vec<_>>().join(", "))
        }
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub fn predictions_csv(p: &PredictionSet) -> String {
    let mut out = String::new();
    if let Some(labels) = &p.labels {
        let classes = p.classes.clone().unwrap_or_default();
        out.push_str("prediction");
        if p.probabilities.is_some() {
            classes.iter().for_each(|c| out.push_str(&format!(",p_{}", csv_field(c))));
        }
        out.push('\n');
        for (row, label) in labels.iter().enumerate() {
            out.push_str(&csv_field(label));
            if let Some(probs) = p.probabilities.as_ref().and_then(|all| all.get(row)) {
                probs.iter().for_each(|v| out.push_str(&format!(",{v:.6}")));
            }
            out.push('\n');
        }
    } else if let Some(values) = &p.values {
        out.push_str("prediction\n");
        values.iter().for_each(|v| out.push_str(&format!("{v}\n")));
    } else if let Some(clusters) = &p.clusters {
        out.push_str("cluster\n");
        clusters.iter().for_each(|c| out.push_str(&format!("{c}\n")));
    }
    out
}
