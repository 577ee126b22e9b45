//! A well-behaved test fixture named `slow`: it sleeps `epochMillis` per epoch
//! for `epochs` epochs, reporting each one, and stops early when cancelled.
//! The service tests use it for a job that is still running when they act, the
//! load benchmark and the web UI tests for a steady stream of progress events.
//!
//! Owns only its own `train`; it must not misbehave (the `misbehave` crate does
//! that on purpose), so a failure with it is the host's.

// Only meaningful as a component; natively the crate is empty.
#![cfg(target_arch = "wasm32")]

use trainhost_sdk::*;

struct Component;

fn params() -> Vec<ParamSpec> {
    let int = |name: &str, default: i64, max: i64, help: &str| ParamSpec {
        name: name.into(),
        kind: ParamKind::Int(IntSpec { default, min: Some(1), max: Some(max) }),
        help: help.into(),
    };
    vec![int("epochs", 10, 10_000, "epochs to report"), int("epochMillis", 100, 60_000, "time per epoch (slept), in milliseconds")]
}

/// The integer parameter `name`, if the request carries one.
fn int_param(request: &TrainRequest, name: &str) -> Option<i64> {
    request.params.iter().find(|p| p.name == name).and_then(|p| match p.value {
        ParamValue::Int(v) => Some(v),
        _ => None,
    })
}

/// Wall clock in ms since the Unix epoch: the load benchmark measures delivery
/// lag from the moment the epoch was reported.
fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

impl Guest for Component {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "slow".into(),
            version: "0.1.0".into(),
            description: "sleeps through each epoch (test only)".into(),
            tasks: vec![Task::Classification, Task::Regression, Task::Clustering],
            params: params(),
        }
    }

    /// Sleeps rather than spins, so a slow job holds a worker slot but not a CPU core.
    fn train(request: TrainRequest) -> Result<Trained, TrainError> {
        // Well behaved: an empty table is refused at once (the host's check of
        // the parameters at submit sends one), not slept through.
        if request.train.features.rows == 0 {
            return Err(TrainError::InvalidData("the table has no rows".into()));
        }
        let epochs = int_param(&request, "epochs").unwrap_or(10) as u32;
        let millis = int_param(&request, "epochMillis").unwrap_or(100) as u64;
        for epoch in 1..=epochs {
            std::thread::sleep(std::time::Duration::from_millis(millis));
            let metrics = [Metric { name: "loss".into(), value: 1.0 / epoch as f64 }, Metric { name: "emitted_at_ms".into(), value: now_ms() }];
            host::report_epoch(epoch, epochs, &metrics);
            if host::cancelled() {
                return Err(TrainError::Cancelled);
            }
        }
        Ok(Trained { model: TrainedModel { model: vec![1], metrics: vec![], feature_importances: None, cluster_sizes: None }, tables: vec![] })
    }

    /// Declares no estimate: admitted as a 0.2.0 plugin would be.
    fn estimate(task: Task, params: Vec<Param>, shape: TableShape) -> Result<Option<Cost>, TrainError> {
        no_estimate(task, &params, &shape)
    }

    fn predict(_model: Vec<u8>, features: Table) -> Result<Predictions, PredictError> {
        Ok(Predictions::Clusters(vec![0; features.rows as usize]))
    }
}

export_plugin!(Component);
