//! A plugin that breaks one property of `trainhost plugin check` on purpose,
//! one per cargo feature, used only by the host's conformance tests:
//! `corrupt-schema` (a parameter declared as 0 in [0, 0], the shape of
//! wit-bindgen's C++ generator's corrupted `describe`), `nondeterministic`
//! (the clock in the model bytes), `ignore-cancel` (sleeps through its epochs
//! and never asks `cancelled()`). With no feature it conforms: it predicts
//! the class priors or the mean, so a failure names the feature's fault alone.

// Only meaningful as a component; natively the crate is empty.
#![cfg(target_arch = "wasm32")]

use trainhost_sdk::schema::int;
use trainhost_sdk::*;

const MAX_EPOCHS: i64 = 100;

fn name() -> &'static str {
    if cfg!(feature = "corrupt-schema") {
        "test_corrupt_schema"
    } else if cfg!(feature = "nondeterministic") {
        "test_nondeterministic"
    } else if cfg!(feature = "ignore-cancel") {
        "test_ignore_cancel"
    } else {
        "test_conforming"
    }
}

fn info() -> PluginInfo {
    let mut params = Vec::new();
    if cfg!(feature = "corrupt-schema") {
        // What the C++ generator delivered for `int("maxDepth", 6, Some(1), Some(64))`.
        params.push(int("maxDepth", 0, Some(0), Some(0), "depth of each tree"));
    }
    // The sleeping one takes 30 epochs of 100 ms: over 2 s left after a cancel at the first.
    let epochs = if cfg!(feature = "ignore-cancel") { 30 } else { 3 };
    params.push(int("epochs", epochs, Some(1), Some(MAX_EPOCHS), "epochs to report"));
    let tasks = if cfg!(feature = "ignore-cancel") { vec![Task::Classification] } else { vec![Task::Classification, Task::Regression] };
    PluginInfo { name: name().into(), version: "0.1.0".into(), description: "breaks one conformance property (test only)".into(), tasks, params }
}

fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<TrainedModel, TrainError> {
    let p = Params(&request.params);
    let epochs = p.int("epochs")?;
    if !(1..=MAX_EPOCHS).contains(&epochs) {
        return Err(invalid("epochs", &format!("must be between 1 and {MAX_EPOCHS}")));
    }
    if cfg!(feature = "corrupt-schema") && p.int("maxDepth")? != 0 {
        return Err(invalid("maxDepth", "must be between 0 and 0"));
    }
    if request.train.features.rows == 0 {
        return Err(TrainError::InvalidData("the table has no rows".into()));
    }
    let mut model = fit(request.train.target.as_ref())?;
    for epoch in 1..=epochs as u32 {
        if cfg!(feature = "ignore-cancel") {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let keep_going = progress.epoch(epoch, epochs as u32, &[]);
        if !keep_going && !cfg!(feature = "ignore-cancel") {
            return Err(TrainError::Cancelled);
        }
    }
    if cfg!(feature = "nondeterministic") {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        model.extend(nanos.to_le_bytes());
    }
    Ok(TrainedModel { model, metrics: vec![], feature_importances: None, cluster_sizes: None })
}

/// Class priors (tag 1, then f64 each) or the mean (tag 0, then one f64).
fn fit(target: Option<&ColumnData>) -> Result<Vec<u8>, TrainError> {
    match target {
        Some(ColumnData::Categorical(c)) => {
            let mut counts = vec![0.0f64; c.levels.len()];
            for &k in &c.codes {
                if let Some(n) = counts.get_mut(k as usize) {
                    *n += 1.0;
                }
            }
            let total: f64 = counts.iter().sum::<f64>().max(1.0);
            let mut out = vec![1u8];
            counts.iter().for_each(|n| out.extend((n / total).to_le_bytes()));
            Ok(out)
        }
        Some(ColumnData::Numeric(v)) => {
            let known: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            let mut out = vec![0u8];
            out.extend((known.iter().sum::<f64>() / known.len().max(1) as f64).to_le_bytes());
            Ok(out)
        }
        None => Err(TrainError::InvalidData("this fixture needs a target".into())),
    }
}

fn predict(model: &[u8], features: &Table) -> Result<Predictions, PredictError> {
    let rows = features.rows as usize;
    let numbers: Vec<f64> =
        model.get(1..).unwrap_or_default().chunks_exact(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).collect();
    match model.first() {
        Some(0) => Ok(Predictions::Values(vec![numbers.first().copied().unwrap_or_default(); rows])),
        Some(1) => {
            // The nondeterministic build's clock is a ninth number past the priors: never read here.
            let k = numbers.len().saturating_sub(usize::from(cfg!(feature = "nondeterministic")));
            let priors = &numbers[..k];
            let best = (0..k).max_by(|&a, &b| priors[a].total_cmp(&priors[b])).unwrap_or(0) as u32;
            let probabilities = (0..rows).flat_map(|_| priors.iter().map(|p| *p as f32)).collect();
            Ok(Predictions::Classes(ClassPredictions { labels: vec![best; rows], probabilities: Some(probabilities), n_classes: k as u32 }))
        }
        _ => Err(PredictError::InvalidModel("not a model of this fixture".into())),
    }
}

export_trainer!(describe: info, train: train, predict: predict);
