//! The forest grown by a team of instances (contract 0.4.0), here threads
//! with an in-process stand-in for the host's collectives: the same model
//! bytes and importances for 1, 2, 3 and 4 instances.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Barrier, Mutex};

use random_forest::*;
use support::*;
use trainhost_sdk::team::Team;

/// Threads that meet at a barrier for each call, every call in rank order.
struct Threads {
    size: usize,
    rank: usize,
    shared: Arc<(Barrier, Mutex<Vec<(Vec<f64>, Vec<i64>, Vec<u8>)>>)>,
}

impl Threads {
    /// Everyone's contribution to this call, in rank order.
    fn exchange(&self, floats: &[f64], integers: &[i64], bytes: &[u8]) -> Vec<(Vec<f64>, Vec<i64>, Vec<u8>)> {
        let (barrier, slots) = &*self.shared;
        slots.lock().unwrap()[self.rank] = (floats.to_vec(), integers.to_vec(), bytes.to_vec());
        barrier.wait();
        let all = slots.lock().unwrap().clone();
        barrier.wait();
        all
    }
}

impl Team for Threads {
    fn size(&self) -> usize {
        self.size
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn sum(&self, floats: &[f64], integers: &[i64]) -> Result<(Vec<f64>, Vec<i64>), String> {
        let all = self.exchange(floats, integers, &[]);
        let mut f = all[0].0.clone();
        let mut i = all[0].1.clone();
        for (other_f, other_i, _) in &all[1..] {
            f.iter_mut().zip(other_f).for_each(|(a, b)| *a += b);
            i.iter_mut().zip(other_i).for_each(|(a, b)| *a += b);
        }
        Ok((f, i))
    }

    fn broadcast(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.exchange(&[], &[], bytes)[0].2.clone())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let all = self.exchange(&[], &[], bytes);
        Ok(if self.rank == 0 { all.into_iter().map(|(_, _, b)| b).collect() } else { Vec::new() })
    }
}

fn grow(request: &TrainRequest, size: usize) -> TrainedModel {
    let shared = Arc::new((Barrier::new(size), Mutex::new(vec![Default::default(); size])));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let team = Threads { size, rank, shared: shared.clone() };
                scope.spawn(move || train_in(request, &mut NoProgress, &team).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).next().unwrap()
    })
}

fn check(name: &str, target: &str, task: Task, params: &[(&str, &str)]) {
    let csv = read_csv(&format!("{}/testdata/{name}.csv", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let request = request(task, csv.labelled(target, task).unwrap(), params, 11);
    let alone = train(&request, &mut NoProgress).unwrap();
    for size in [1, 2, 3, 4] {
        let team = grow(&request, size);
        assert!(team.model == alone.model, "{name}: {size} instances grew another model");
        assert_eq!(team.feature_importances, alone.feature_importances, "{name}: {size} instances");
        let metric = |m: &TrainedModel, key: &str| m.metrics.iter().find(|x| x.name == key).map(|x| x.value);
        assert_eq!(metric(&team, "mean_depth"), metric(&alone, "mean_depth"));
        for key in ["oob_accuracy", "oob_r2"] {
            if let (Some(a), Some(b)) = (metric(&alone, key), metric(&team, key)) {
                assert!((a - b).abs() < 1e-9, "{name} {key}: {a} alone, {b} in {size}");
            }
        }
    }
}

#[test]
fn a_team_grows_the_model_one_instance_grows() {
    check("penguins", "species", Task::Classification, &[("nEstimators", "13"), ("oobScore", "true")]);
    check("diabetes", "progression", Task::Regression, &[("nEstimators", "10"), ("oobScore", "true")]);
}
