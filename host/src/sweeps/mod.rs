//! Sweeps: many training jobs (trials) over a search space, the best of which
//! is the sweep's model. A sweep's record (what was asked, every trial with
//! its job id, status and scores) and its seq-numbered events live in the
//! broker's store (`state`), so any process can resume driving it; trials are
//! ordinary jobs on the shared queue, run by any worker.
//!
//! `space` parses and samples the search space, `strategy` says which
//! setting trial `i` gets (`tpe` learning from the trials that ended), `asha`
//! decides pruning at rungs, `driver` runs the
//! loop, `events` shapes what the sweep's socket sends. This file owns the
//! record's types. It must not know HTTP (the API maps its errors) nor run
//! training (workers do).

pub mod asha;
pub mod driver;
pub mod events;
pub mod redis;
pub mod space;
pub mod state;
pub mod strategy;
pub mod tpe;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jobs::JobSpec;
use space::PluginSpace;
use strategy::Strategy;

/// Where a sweep is: queued until a driver takes it, then running, then one of the ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SweepStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl SweepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, SweepStatus::Completed | SweepStatus::Failed | SweepStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SweepStatus::Queued => "queued",
            SweepStatus::Running => "running",
            SweepStatus::Completed => "completed",
            SweepStatus::Failed => "failed",
            SweepStatus::Cancelled => "cancelled",
        }
    }
}

/// Where a trial is. `Pruned` is a trial ASHA stopped at a rung (its job is cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    Pruned,
}

impl TrialStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, TrialStatus::Queued | TrialStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Queued => "queued",
            TrialStatus::Running => "running",
            TrialStatus::Completed => "completed",
            TrialStatus::Failed => "failed",
            TrialStatus::Cancelled => "cancelled",
            TrialStatus::Pruned => "pruned",
        }
    }
}

/// What a sweep asks for, validated: never changed after it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSpec {
    /// The host's metric on the judged rows that ranks trials (`accuracy`, `f1`, `rmse`...).
    pub metric: String,
    /// False for the losses (`rmse`, `mae`, `log_loss`).
    pub higher_is_better: bool,
    pub strategy: Strategy,
    /// Most trials to run (None: until the budget or the strategy ends).
    pub trials: Option<u64>,
    /// Wall-clock seconds from the sweep's start after which no trial starts
    /// and running ones are cancelled.
    pub budget_seconds: Option<u64>,
    /// Most trials queued or running at once.
    pub parallel_trials: u32,
    /// ASHA's reduction factor.
    pub eta: u32,
    /// ASHA's first rung in epochs (None: from the trials' epoch count).
    pub min_epochs: Option<u32>,
    pub seed: u64,
    pub folds: u32,
    pub spaces: Vec<PluginSpace>,
    /// Every trial's job: this, with the trial's plugin and parameters.
    pub base: JobSpec,
}

/// A validation score at a rung.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RungScore {
    pub epoch: u32,
    pub score: f64,
}

/// One trial: a job with a setting from the space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trial {
    /// Its place in the strategy's order (`strategy::trial`).
    pub index: u64,
    /// Chosen before the job is submitted, so that a driver taking over after
    /// a crash submits it at most once.
    pub job_id: String,
    pub plugin: String,
    pub params: Map<String, Value>,
    pub status: TrialStatus,
    /// The sweep's metric on the judged rows, once completed.
    pub score: Option<f64>,
    /// The judged rows' log-loss, kept beside a classification score other
    /// than log-loss: on a small table many trials tie on a share of rows
    /// (91 judged rows give accuracy in steps of 1.1%), and among those the
    /// one whose probabilities fit the rows better ranks first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_break: Option<f64>,
    /// The plugin's last reported validation score (`validation_accuracy` / `validation_r2`).
    pub validation_score: Option<f64>,
    /// Its validation score at each rung it reached.
    #[serde(default)]
    pub rungs: Vec<RungScore>,
    /// The last epoch it reported.
    #[serde(default)]
    pub epoch: u32,
    /// The seq of the job's last event the driver read.
    #[serde(default)]
    pub seen_seq: u64,
    /// Why it failed or was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A sweep as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepRecord {
    pub sweep_id: String,
    pub owner: Option<String>,
    pub status: SweepStatus,
    pub spec: SweepSpec,
    pub trials: Vec<Trial>,
    /// ASHA's rungs in epochs, fixed when the first trial reports its epoch count.
    #[serde(default)]
    pub rungs: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub cancel_requested: bool,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The seq of its last event.
    pub last_seq: u64,
}

impl SweepRecord {
    /// The completed trials, best first; equal scores by `tie_break` (lower
    /// first, none last), then in the order they were drawn.
    pub fn leaderboard(&self) -> Vec<&Trial> {
        let mut done: Vec<&Trial> = self.trials.iter().filter(|t| t.status == TrialStatus::Completed && t.score.is_some_and(f64::is_finite)).collect();
        done.sort_by(|a, b| better_first(a, b, self.spec.higher_is_better));
        done
    }

    /// The best completed trial: the sweep's model is its job's.
    pub fn best(&self) -> Option<&Trial> {
        self.leaderboard().into_iter().next()
    }

    /// Trials queued or running.
    pub fn active(&self) -> usize {
        self.trials.iter().filter(|t| !t.status.is_terminal()).count()
    }
}

/// The leaderboard's order of two completed trials (a stable sort keeps the
/// draw order of those equal in both).
fn better_first(a: &Trial, b: &Trial, higher_is_better: bool) -> std::cmp::Ordering {
    let (x, y) = (a.score.unwrap_or(f64::NAN), b.score.unwrap_or(f64::NAN));
    let by_score = if higher_is_better { y.total_cmp(&x) } else { x.total_cmp(&y) };
    let tie = |t: &Trial| t.tie_break.filter(|v| v.is_finite()).unwrap_or(f64::INFINITY);
    by_score.then(tie(a).total_cmp(&tie(b)))
}

/// A sweep's trial and best as the API shows them.
pub fn trial_json(trial: &Trial) -> Value {
    serde_json::json!({
        "index": trial.index,
        "jobId": trial.job_id,
        "plugin": trial.plugin,
        "params": trial.params,
        "status": trial.status,
        "score": trial.score,
        "validationScore": trial.validation_score,
        "epoch": trial.epoch,
        "rungs": trial.rungs.iter().map(|r| serde_json::json!({"epoch": r.epoch, "score": r.score})).collect::<Vec<_>>(),
        "message": trial.message,
    })
}

/// The best trial's summary: `{jobId, plugin, params, score}`.
pub fn best_json(trial: &Trial) -> Value {
    serde_json::json!({"jobId": trial.job_id, "plugin": trial.plugin, "params": trial.params, "score": trial.score})
}

/// The metrics a sweep may rank by for a task, and whether higher is better.
pub fn metric_direction(task: crate::contract::Task, metric: &str) -> Option<bool> {
    use crate::contract::Task;
    match (task, metric) {
        (Task::Classification, "accuracy" | "precision" | "recall" | "f1" | "roc_auc" | "average_precision" | "roc_auc_ovr_macro" | "roc_auc_ovr_weighted") => {
            Some(true)
        }
        (Task::Classification, "log_loss") => Some(false),
        (Task::Regression, "r2") => Some(true),
        (Task::Regression, "rmse" | "mae") => Some(false),
        (Task::Clustering, "silhouette") => Some(true),
        _ => None,
    }
}

/// The metrics `metric_direction` knows for a task, to name in a refusal.
pub fn metrics_of(task: crate::contract::Task) -> &'static str {
    use crate::contract::Task;
    match task {
        Task::Classification => "accuracy, precision, recall, f1, roc_auc, average_precision, roc_auc_ovr_macro, roc_auc_ovr_weighted, log_loss",
        Task::Regression => "r2, rmse, mae",
        Task::Clustering => "silhouette",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(index: u64, score: f64, tie_break: Option<f64>) -> Trial {
        Trial {
            index,
            job_id: format!("j{index}"),
            plugin: "p".into(),
            params: Map::new(),
            status: TrialStatus::Completed,
            score: Some(score),
            tie_break,
            validation_score: None,
            rungs: vec![],
            epoch: 0,
            seen_seq: 0,
            message: None,
        }
    }

    #[test]
    fn equal_scores_rank_by_the_lower_tie_break_then_by_draw_order() {
        let mut trials = [trial(0, 0.95, Some(0.30)), trial(1, 0.96, Some(0.50)), trial(2, 0.96, Some(0.20)), trial(3, 0.96, None), trial(4, 0.96, None)];
        trials.sort_by(|a, b| better_first(a, b, true));
        assert_eq!(trials.iter().map(|t| t.index).collect::<Vec<_>>(), [2, 1, 3, 4, 0]);
        // A loss: lower first, ties the same way.
        trials.sort_by(|a, b| better_first(a, b, false));
        assert_eq!(trials.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 2, 1, 3, 4]);
    }
}
