//! A test fixture named `team` (contract 0.4.0): every instance of a job
//! takes a shard of the rows, and they add up their row counts and ranks
//! through the host's collectives. With `misbehave` set, the last instance
//! misbehaves while the others wait in a collective call, so the tests can
//! watch the host release them:
//! - `trap`: it panics;
//! - `memory`: it allocates until the job's memory limit stops it;
//! - `loop`: it spins and never calls (the time limit or a cancel ends it);
//! - `mismatch`: it calls `gather` where the others call `sum`;
//! - `leave`: it returns from `train` without making the call.
//!
//! With `benchCalls` above 0 the instances time that many collective calls
//! instead (the runtime benchmark): an empty `sum`, and a `sum` and a
//! `broadcast` of 1 MiB (a tenth as many), reported as metrics by rank 0.
//!
//! Owns only its own `train`.

// Only meaningful as a component; natively the crate is empty.
#![cfg(target_arch = "wasm32")]

use trainhost_sdk::team::{self, ParallelGuest, Parallelism, Rows, Team};
use trainhost_sdk::*;

struct Component;

const BEHAVIOURS: &[&str] = &["none", "trap", "memory", "loop", "mismatch", "leave"];

fn choice(request: &TrainRequest, name: &str) -> String {
    request
        .params
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| match &p.value {
            ParamValue::Choice(v) => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "none".into())
}

fn failed(why: String) -> TrainError {
    TrainError::Failed(why)
}

/// The last rank's misbehaviour; returns only for `leave` (and `mismatch`'s call).
fn misbehave(how: &str, team: &dyn Team) -> Result<(), TrainError> {
    match how {
        "trap" => panic!("instance {} panics on purpose", team.rank()),
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "loop" => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "mismatch" => team.gather(b"out of order").map(|_| ()).map_err(failed),
        _ => Ok(()),
    }
}

impl Guest for Component {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "team".into(),
            version: "0.1.0".into(),
            description: "instances that add up their shards (test only)".into(),
            tasks: vec![Task::Classification, Task::Regression, Task::Clustering],
            params: vec![
                ParamSpec {
                    name: "misbehave".into(),
                    help: "what the last instance does instead of the collective call".into(),
                    kind: ParamKind::Choice(ChoiceSpec { default: "none".into(), choices: BEHAVIOURS.iter().map(|b| (*b).to_string()).collect() }),
                },
                ParamSpec {
                    name: "benchCalls".into(),
                    help: "time this many collective calls instead (0: do not)".into(),
                    kind: ParamKind::Int(IntSpec { default: 0, min: Some(0), max: Some(1_000_000) }),
                },
            ],
        }
    }

    fn train(request: TrainRequest) -> Result<Trained, TrainError> {
        if request.train.features.rows == 0 {
            return Err(TrainError::InvalidData("the table has no rows".into()));
        }
        let team = team::host();
        let (size, rank) = (team.size(), team.rank());
        let calls = request.params.iter().find(|p| p.name == "benchCalls").and_then(|p| match p.value {
            ParamValue::Int(v) => Some(v as usize),
            _ => None,
        });
        if let Some(calls) = calls.filter(|&c| c > 0) {
            return bench(&*team, calls);
        }
        let how = choice(&request, "misbehave");
        if size > 1 && rank == size - 1 && how != "none" {
            misbehave(&how, &*team)?;
            if how == "leave" {
                return Ok(Trained { model: TrainedModel { model: vec![], metrics: vec![], feature_importances: None, cluster_sizes: None }, tables: vec![] });
            }
        }
        let rows = i64::from(request.train.features.rows);
        let (ranks, counts) = team.sum(&[rank as f64], &[rows, 1]).map_err(failed)?;
        let shares = team.gather(&rows.to_le_bytes()).map_err(failed)?;
        let said = team.broadcast(format!("{} instances", size).as_bytes()).map_err(failed)?;
        let metrics = vec![
            Metric { name: "instances".into(), value: counts[1] as f64 },
            Metric { name: "rows_seen".into(), value: counts[0] as f64 },
            Metric { name: "rank_sum".into(), value: ranks[0] },
            Metric { name: "shares_gathered".into(), value: shares.len() as f64 },
        ];
        let model = format!("{} | shares {:?}", String::from_utf8_lossy(&said), shares.iter().map(|s| s.len()).collect::<Vec<_>>());
        Ok(Trained { model: TrainedModel { model: model.into_bytes(), metrics, feature_importances: None, cluster_sizes: None }, tables: vec![] })
    }

    fn predict(_model: Vec<u8>, features: Table) -> Result<Predictions, PredictError> {
        Ok(Predictions::Clusters(vec![0; features.rows as usize]))
    }

    fn estimate(_task: Task, _params: Vec<Param>, _shape: TableShape) -> Result<Option<Cost>, TrainError> {
        // A fixture of the collectives only: it declares no estimate.
        Ok(None)
    }
}

/// Seconds per call of `f`, over `calls` calls.
fn per_call(calls: usize, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, TrainError> {
    let started = std::time::Instant::now();
    for _ in 0..calls {
        f().map_err(failed)?;
    }
    Ok(started.elapsed().as_secs_f64() / calls as f64)
}

fn bench(team: &dyn Team, calls: usize) -> Result<Trained, TrainError> {
    let mib = vec![1.0f64; 1 << 17];
    let bytes = vec![7u8; 1 << 20];
    let size_call = per_call(calls, || {
        std::hint::black_box(team.size());
        Ok(())
    })?;
    let empty = per_call(calls, || team.sum(&[], &[]).map(|_| ()))?;
    let big = (calls / 10).max(1);
    let sum = per_call(big, || team.sum(&mib, &[]).map(|_| ()))?;
    let broadcast = per_call(big, || team.broadcast(&bytes).map(|_| ()))?;
    let metrics = vec![
        Metric { name: "size_call_us".into(), value: size_call * 1e6 },
        Metric { name: "empty_sum_us".into(), value: empty * 1e6 },
        Metric { name: "sum_1mib_us".into(), value: sum * 1e6 },
        Metric { name: "broadcast_1mib_us".into(), value: broadcast * 1e6 },
    ];
    Ok(Trained { model: TrainedModel { model: vec![1], metrics, feature_importances: None, cluster_sizes: None }, tables: vec![] })
}

impl ParallelGuest for Component {
    fn describe_parallel() -> Option<Parallelism> {
        Some(Parallelism { rows: Rows::Shard, max_instances: 8 })
    }
}

export_plugin!(Component);
