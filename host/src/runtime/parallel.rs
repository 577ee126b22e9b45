//! One job trained by K instances of a plugin at once (contract 0.4.0): each
//! instance its own thread and store, all under one time limit and one
//! memory limit (their memories together), cooperating through
//! `runtime::collectives`. Rank 0's model, tables, progress and log are the
//! job's; the job fails once, with the first cause any instance met.
//!
//! Owns how many instances a job may have, the rows each receives and the
//! job's outcome. It must not implement the collective calls (collectives
//! does) nor decide how many slots a worker gives a job (the worker does).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::collectives::{CollectiveCost, Group, Member};
use super::limits::{MemoryBudget, MemoryPool};
use super::sandbox::{CancelToken, Discard, PluginState, ProgressSink, StopWhen};
use super::{call_train, CallReport, LoadedPlugin, RunError};
use crate::contract::v0_4::exports::trainhost::plugin0_4_0::parallel as wit;
use crate::contract::{self, PARALLEL_VERSION};

/// Rows an instance must have for a table to be predicted in several
/// instances: instantiating one and handing it the model costs milliseconds.
pub const SHARDED_PREDICT_MIN_ROWS: usize = 10_000;

/// Which training rows each instance receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rows {
    /// Every row in every instance.
    Copy,
    /// A contiguous share of the rows per instance.
    Shard,
}

/// How a plugin trains one job in several instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Parallelism {
    pub rows: Rows,
    /// At least 1.
    pub max_instances: u32,
}

/// The plugin's answer to `describe-parallel()`, if it exports `parallel`.
pub fn ask(plugin: &LoadedPlugin) -> Result<Option<Parallelism>, RunError> {
    let export = format!("{}/parallel@{PARALLEL_VERSION}", contract::PACKAGE);
    if plugin.instance_pre().component().get_export_index(None, &export).is_none() {
        return Ok(None);
    }
    let limits = &plugin.limits;
    let started = Instant::now();
    let state = PluginState::new(limits, StopWhen::new(started, limits.time_secs, CancelToken::default()), Box::new(Discard));
    let (answer, _) = plugin.run_in(state, started, |store| {
        let pre = plugin.instance_pre();
        let instance = pre.instantiate(&mut *store)?;
        let guest = wit::GuestIndices::new(pre)?.load(&mut *store, &instance)?;
        guest.call_describe_parallel(store)
    });
    Ok(answer?.map(|p| Parallelism {
        rows: match p.rows {
            wit::Rows::Copy => Rows::Copy,
            wit::Rows::Shard => Rows::Shard,
        },
        max_instances: p.max_instances.max(1),
    }))
}

impl LoadedPlugin {
    /// How many instances a job of this plugin gets when `wanted` are on
    /// offer (the worker's free slots, or `--instances`): at most the
    /// plugin's own maximum and the admin's `max_instances` (0: no cap).
    pub fn instances_for(&self, wanted: usize) -> usize {
        let Some(parallelism) = self.parallelism else { return 1 };
        let cap = if self.limits.max_instances == 0 { usize::MAX } else { self.limits.max_instances as usize };
        wanted.min(parallelism.max_instances as usize).min(cap).max(1)
    }

    /// `train` with `instances` instances (`instances_for` applied first); one
    /// instance is exactly `train`.
    pub fn train_on(
        &self,
        request: &contract::TrainRequest,
        instances: usize,
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
    ) -> (Result<contract::Trained, RunError>, CallReport) {
        let Some((k, parallelism)) = self.team_for(request.train.features.rows as usize, instances) else { return self.train(request, cancel, sink) };
        let request_of = |rank: usize| match parallelism.rows {
            Rows::Copy => Cow::Borrowed(request),
            Rows::Shard => Cow::Owned(shard(request, rank, k)),
        };
        self.train_in_team(k, &request_of, cancel, sink)
    }

    /// How many instances train a job of `rows` training rows when
    /// `instances` are on offer, and how, when more than one; None: one
    /// instance, as `train`.
    pub fn team_for(&self, rows: usize, instances: usize) -> Option<(usize, Parallelism)> {
        let mut k = self.instances_for(instances);
        if self.parallelism.is_some_and(|p| p.rows == Rows::Shard) {
            // Every shard keeps at least one row.
            k = k.min(rows.max(1));
        }
        self.parallelism.filter(|_| k > 1).map(|p| (k, p))
    }

    /// `train_on` for a plugin that trains on shards (`team_for` says so and
    /// gives `k`): each instance's request is built by `request_for` from its
    /// contiguous share of the `rows` training rows, in its own thread, so the
    /// host never holds every training row twice (once whole, once cut).
    pub fn train_shards(
        &self,
        k: usize,
        rows: usize,
        request_for: &(dyn Fn(std::ops::Range<usize>) -> contract::TrainRequest + Sync),
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
    ) -> (Result<contract::Trained, RunError>, CallReport) {
        let request_of = |rank: usize| Cow::Owned(request_for(rows * rank / k..rows * (rank + 1) / k));
        self.train_in_team(k, &request_of, cancel, sink)
    }

    /// Rank 0 to `k - 1` at once, rank r on `request_of(r)`; the job's outcome.
    fn train_in_team<'r>(
        &self,
        k: usize,
        request_of: &(dyn Fn(usize) -> Cow<'r, contract::TrainRequest> + Sync),
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
    ) -> (Result<contract::Trained, RunError>, CallReport) {
        let started = Instant::now();
        let group = Group::new(k);
        let pool = Arc::new(MemoryPool::default());
        let mut sinks: Vec<Box<dyn ProgressSink>> = vec![sink];
        sinks.extend((1..k).map(|_| Box::new(Discard) as Box<dyn ProgressSink>));
        let outcomes: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = sinks
                .into_iter()
                .enumerate()
                .map(|(rank, sink)| {
                    let (group, pool, cancel) = (group.clone(), pool.clone(), cancel.clone());
                    scope.spawn(move || self.run_rank(&request_of(rank), rank, group, pool, started, cancel, sink))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| (Err(RunError::Internal("an instance's thread panicked".into())), CallReport::default())))
                .collect()
        });
        let team_cost = CollectiveCost::of_team(outcomes.iter().filter_map(|(_, report)| report.collectives));
        let team_cpu = outcomes.iter().map(|(_, report)| report.cpu).sum();
        let mut outcomes = outcomes.into_iter();
        let (first, mut report) = outcomes.next().unwrap_or_else(|| (Err(RunError::Internal("no instance ran".into())), CallReport::default()));
        report.collectives = Some(team_cost);
        report.cpu = team_cpu;
        match group.take_cause() {
            Some(cause) => (Err(cause), report),
            None => (first, report),
        }
    }

    /// `predict` in up to `instances` instances at once (`instances_for`
    /// applied first), each on a contiguous part of the rows, the answers
    /// joined in row order; their memories together are under the plugin's
    /// limit. Only for a plugin that trains in several instances, whose
    /// predictions are per row (the README says a plugin that exports
    /// `parallel` must predict each row on its own), and only for tables of
    /// `SHARDED_PREDICT_MIN_ROWS` rows an instance or more: below, one
    /// instance is faster. Otherwise, and when the parts' instances together
    /// exceed the memory limit, exactly `predict`.
    pub fn predict_on(&self, model: &[u8], features: &contract::Table, instances: usize) -> Result<contract::Predictions, RunError> {
        let rows = features.rows as usize;
        let k = self.predicting_instances(rows, instances);
        if k <= 1 {
            return self.predict(model, features);
        }
        let pool = Arc::new(MemoryPool::default());
        let parts: Vec<Result<contract::Predictions, RunError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..k)
                .map(|rank| {
                    let pool = pool.clone();
                    scope.spawn(move || {
                        let (from, to) = (rows * rank / k, rows * (rank + 1) / k);
                        let part = cut_table(features, from, to);
                        self.predict_within(model, &part, MemoryBudget::pooled(self.limits.memory_bytes(), pool))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(RunError::Internal("a predicting instance's thread panicked".into())))).collect()
        });
        match parts.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(parts) => join_predictions(parts),
            // Each part's instance holds the whole model: where K copies do
            // not fit the limit one may, and one was enough before.
            Err(RunError::MemoryLimit { .. }) => self.predict(model, features),
            Err(err) => Err(err),
        }
    }

    /// How many instances `predict_on` predicts `rows` rows in, when
    /// `instances` are on offer.
    pub fn predicting_instances(&self, rows: usize, instances: usize) -> usize {
        self.instances_for(instances).min(rows / SHARDED_PREDICT_MIN_ROWS).max(1)
    }

    /// One rank of a job: its own store in the job's memory pool, under the
    /// job's deadline, stopped when the group fails. Tells the group how it ended.
    #[allow(clippy::too_many_arguments)]
    fn run_rank(
        &self,
        request: &contract::TrainRequest,
        rank: usize,
        group: Arc<Group>,
        pool: Arc<MemoryPool>,
        started: Instant,
        cancel: CancelToken,
        sink: Box<dyn ProgressSink>,
    ) -> (Result<contract::Trained, RunError>, CallReport) {
        let stop = StopWhen::new(started, self.limits.time_secs, cancel).with_abort(group.abort_token());
        let mut state = PluginState::new(&self.limits, stop, sink);
        state.memory = MemoryBudget::pooled(self.limits.memory_bytes(), pool);
        state.team = Some(Member::new(group.clone(), rank));
        let (result, report) = self.run_in(state, started, |store| self.instantiate(store).and_then(|instance| call_train(store, &instance, request)));
        // Only rank 0's model is kept, so only its size and tables are checked.
        let result = result.and_then(|outcome| if rank == 0 { self.accept(outcome) } else { outcome.map_err(super::train_error) });
        match result {
            Ok(trained) => {
                group.finished(rank);
                (Ok(trained), report)
            }
            Err(err) => {
                let shown = err.to_string();
                group.failed(rank, err);
                (Err(RunError::Failed(shown)), report)
            }
        }
    }
}

/// Rank `rank`'s share of the training rows: the `rank`-th of `k` contiguous
/// parts in table order. The validation rows go whole to every rank.
fn shard(request: &contract::TrainRequest, rank: usize, k: usize) -> contract::TrainRequest {
    let rows = request.train.features.rows as usize;
    let (from, to) = (rows * rank / k, rows * (rank + 1) / k);
    contract::TrainRequest {
        task: request.task,
        train: contract::LabelledTable {
            features: cut_table(&request.train.features, from, to),
            target: request.train.target.as_ref().map(|t| cut(t, from, to)),
        },
        validation: request.validation.clone(),
        params: request.params.clone(),
        seed: request.seed,
    }
}

/// Rows `from..to` of a table.
fn cut_table(table: &contract::Table, from: usize, to: usize) -> contract::Table {
    contract::Table {
        rows: (to - from) as u32,
        columns: table.columns.iter().map(|c| contract::Column { name: c.name.clone(), data: cut(&c.data, from, to) }).collect(),
    }
}

/// Rows `from..to` of a column (as far as it has them).
fn cut(data: &contract::ColumnData, from: usize, to: usize) -> contract::ColumnData {
    match data {
        contract::ColumnData::Numeric(v) => contract::ColumnData::Numeric(v[from.min(v.len())..to.min(v.len())].to_vec()),
        contract::ColumnData::Categorical(c) => contract::ColumnData::Categorical(contract::Categorical {
            codes: c.codes[from.min(c.codes.len())..to.min(c.codes.len())].to_vec(),
            levels: c.levels.clone(),
        }),
    }
}

/// The predictions of consecutive parts of a table, as one answer for all of
/// its rows; parts that disagree on their kind or class count are a fault.
fn join_predictions(parts: Vec<contract::Predictions>) -> Result<contract::Predictions, RunError> {
    let mismatch = || RunError::Failed("predict gave parts of one table answers of different kinds or class counts".into());
    let mut parts = parts.into_iter();
    let Some(mut joined) = parts.next() else { return Err(RunError::Internal("no part was predicted".into())) };
    for part in parts {
        match (&mut joined, part) {
            (contract::Predictions::Classes(all), contract::Predictions::Classes(p)) if p.n_classes == all.n_classes => {
                all.labels.extend(p.labels);
                match (&mut all.probabilities, p.probabilities) {
                    (Some(all), Some(p)) => all.extend(p),
                    (None, None) => {}
                    _ => return Err(mismatch()),
                }
            }
            (contract::Predictions::Values(all), contract::Predictions::Values(p)) => all.extend(p),
            (contract::Predictions::Clusters(all), contract::Predictions::Clusters(p)) => all.extend(p),
            _ => return Err(mismatch()),
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_row_once_in_order() {
        let column = |v: Vec<f64>| contract::Column { name: "x".into(), data: contract::ColumnData::Numeric(v) };
        let request = contract::TrainRequest {
            task: contract::Task::Regression,
            train: contract::LabelledTable {
                features: contract::Table { rows: 7, columns: vec![column((0..7).map(f64::from).collect())] },
                target: Some(contract::ColumnData::Numeric((0..7).map(f64::from).collect())),
            },
            validation: None,
            params: vec![],
            seed: 1,
        };
        let mut seen = Vec::new();
        for rank in 0..3 {
            let part = shard(&request, rank, 3);
            let contract::ColumnData::Numeric(v) = &part.train.features.columns[0].data else { panic!() };
            assert_eq!(part.train.features.rows as usize, v.len());
            seen.extend(v.iter().copied());
        }
        assert_eq!(seen, (0..7).map(f64::from).collect::<Vec<_>>());
    }
}
