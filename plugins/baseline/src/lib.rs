//! The baseline plugin: predicts the training majority class (with the class
//! priors as probabilities), the training mean, or a single cluster.
//!
//! It exists to prove the whole path (schema, training, progress, model bytes,
//! prediction) and to give every real algorithm a floor to beat.

use trainhost_sdk::*;

const MODEL_MAGIC: &[u8; 4] = b"BSL1";

/// A fitted baseline, as stored in the model bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Baseline {
    /// Class priors in the order of the target's levels.
    Classes(Vec<f64>),
    Mean(f64),
    OneCluster,
}

impl Baseline {
    pub fn fit(task: Task, target: Option<&ColumnData>) -> Result<Baseline, TrainError> {
        match (task, target) {
            (Task::Clustering, _) => Ok(Baseline::OneCluster),
            (Task::Classification, Some(ColumnData::Categorical(c))) => {
                let mut counts = vec![0u64; c.levels.len()];
                for &code in c.codes.iter().filter(|&&code| code != MISSING_CODE) {
                    if let Some(count) = counts.get_mut(code as usize) {
                        *count += 1;
                    }
                }
                let total: u64 = counts.iter().sum();
                if total == 0 {
                    return Err(TrainError::InvalidData("the target has no known class".into()));
                }
                Ok(Baseline::Classes(counts.iter().map(|&n| n as f64 / total as f64).collect()))
            }
            (Task::Regression, Some(ColumnData::Numeric(values))) => {
                let known: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
                if known.is_empty() {
                    return Err(TrainError::InvalidData("the target has no numeric value".into()));
                }
                Ok(Baseline::Mean(known.iter().sum::<f64>() / known.len() as f64))
            }
            (Task::Classification, _) => Err(TrainError::InvalidData("classification needs a categorical target".into())),
            (Task::Regression, _) => Err(TrainError::InvalidData("regression needs a numeric target".into())),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MODEL_MAGIC.to_vec();
        match self {
            Baseline::Classes(priors) => {
                out.push(0);
                out.extend((priors.len() as u32).to_le_bytes());
                priors.iter().for_each(|p| out.extend(p.to_le_bytes()));
            }
            Baseline::Mean(mean) => {
                out.push(1);
                out.extend(mean.to_le_bytes());
            }
            Baseline::OneCluster => out.push(2),
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Baseline, String> {
        let body = bytes.strip_prefix(MODEL_MAGIC).ok_or("not a baseline model (bad magic)")?;
        let (&kind, rest) = body.split_first().ok_or("truncated model")?;
        let f64_at = |i: usize| -> Result<f64, String> {
            rest.get(i..i + 8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).ok_or_else(|| "truncated model".to_string())
        };
        match kind {
            0 => {
                let n = u32::from_le_bytes(rest.get(..4).ok_or("truncated model")?.try_into().expect("4 bytes")) as usize;
                let priors = (0..n).map(|i| f64_at(4 + 8 * i)).collect::<Result<_, _>>()?;
                Ok(Baseline::Classes(priors))
            }
            1 => Ok(Baseline::Mean(f64_at(0)?)),
            2 => Ok(Baseline::OneCluster),
            other => Err(format!("unknown model kind {other}")),
        }
    }

    pub fn predict(&self, rows: usize) -> Predictions {
        match self {
            Baseline::Classes(priors) => {
                let best = priors.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0))).map_or(0, |(i, _)| i as u32);
                let row: Vec<f32> = priors.iter().map(|&p| p as f32).collect();
                Predictions::Classes(ClassPredictions { labels: vec![best; rows], probabilities: Some(row.repeat(rows)), n_classes: priors.len() as u32 })
            }
            Baseline::Mean(mean) => Predictions::Values(vec![*mean; rows]),
            Baseline::OneCluster => Predictions::Clusters(vec![0; rows]),
        }
    }
}

pub fn info() -> PluginInfo {
    PluginInfo {
        name: "baseline".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Majority class, mean, or one cluster: the floor to beat".into(),
        tasks: vec![Task::Classification, Task::Regression, Task::Clustering],
        params: vec![],
    }
}

pub fn train(request: &TrainRequest, progress: &mut dyn Progress) -> Result<TrainedModel, TrainError> {
    let model = Baseline::fit(request.task, request.train.target.as_ref())?;
    let rows = request.train.features.rows as f64;
    if !progress.epoch(1, 1, &[("rows", rows)]) {
        return Err(TrainError::Cancelled);
    }
    let cluster_sizes = matches!(model, Baseline::OneCluster).then(|| vec![request.train.features.rows as u64]);
    Ok(TrainedModel { model: model.to_bytes(), metrics: vec![], feature_importances: None, cluster_sizes })
}

/// The component's exports; only built for wasm, where the host links them.
pub fn predict(model: &[u8], features: &Table) -> Result<Predictions, PredictError> {
    let model = Baseline::from_bytes(model).map_err(PredictError::InvalidModel)?;
    Ok(model.predict(features.rows as usize))
}

export_trainer!(describe: info, train: train, predict: predict);

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(codes: Vec<u32>, levels: &[&str]) -> ColumnData {
        ColumnData::Categorical(Categorical { codes, levels: levels.iter().map(|l| l.to_string()).collect() })
    }

    #[test]
    fn majority_class_with_priors_survives_a_round_trip() {
        let target = classes(vec![0, 1, 1, MISSING_CODE, 1, 2], &["a", "b", "c"]);
        let model = Baseline::fit(Task::Classification, Some(&target)).unwrap();
        assert_eq!(model, Baseline::Classes(vec![0.2, 0.6, 0.2]));
        let back = Baseline::from_bytes(&model.to_bytes()).unwrap();
        match back.predict(2) {
            Predictions::Classes(p) => {
                assert_eq!(p.labels, vec![1, 1]);
                assert_eq!(p.probabilities.unwrap().len(), 6);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mean_ignores_missing_values() {
        let target = ColumnData::Numeric(vec![1.0, f64::NAN, 3.0]);
        assert_eq!(Baseline::fit(Task::Regression, Some(&target)).unwrap(), Baseline::Mean(2.0));
    }

    #[test]
    fn wrong_target_kind_is_invalid_data() {
        let target = ColumnData::Numeric(vec![1.0]);
        assert!(matches!(Baseline::fit(Task::Classification, Some(&target)), Err(TrainError::InvalidData(_))));
    }

    #[test]
    fn truncated_model_is_refused() {
        assert!(Baseline::from_bytes(b"BSL1\x00\x05").is_err());
        assert!(Baseline::from_bytes(b"nope").is_err());
    }
}
