//! kmodes' restarts shared by the instances of one job (contract 0.4.0):
//! each rank makes its share of the `nInit` runs, and rank 0 takes the best
//! of all, exactly the run one instance would keep.
//!
//! Owns the exchange format of a rank's best run (it lives for one gather).

use crate::engine::Fit;
use trainhost_sdk::team::Team;
use trainhost_sdk::TrainError;

/// Each instance copies every row; more instances than restarts would idle.
pub const MAX_INSTANCES: u32 = 100;

#[cfg(feature = "parallel")]
pub fn describe() -> Option<trainhost_sdk::team::Parallelism> {
    Some(trainhost_sdk::team::Parallelism { rows: trainhost_sdk::team::Rows::Copy, max_instances: MAX_INSTANCES })
}

fn failed(why: String) -> TrainError {
    TrainError::Failed(format!("combining the instances' runs: {why}"))
}

/// The best of every rank's best run `(run number, fit)`: the lowest cost,
/// and of equal costs the lowest run number. Rank 0 chooses and tells every
/// rank (a rank may have made no run when there are more instances than runs).
pub fn best_of(team: &dyn Team, mine: Option<(usize, Fit)>) -> Result<Option<(usize, Fit)>, TrainError> {
    let all = team.gather(&encode(mine.as_ref())).map_err(failed)?;
    let chosen = if team.rank() == 0 { encode(choose(&all)?.as_ref()) } else { Vec::new() };
    decode(&team.broadcast(&chosen).map_err(failed)?).map_err(failed)
}

fn choose(all: &[Vec<u8>]) -> Result<Option<(usize, Fit)>, TrainError> {
    let mut best: Option<(usize, Fit)> = None;
    for bytes in all {
        let Some((run, fit)) = decode(bytes).map_err(failed)? else { continue };
        let better = match &best {
            None => true,
            Some((best_run, b)) => fit.cost < b.cost || (fit.cost == b.cost && run < *best_run),
        };
        if better {
            best = Some((run, fit));
        }
    }
    Ok(best)
}

fn encode(fit: Option<&(usize, Fit)>) -> Vec<u8> {
    let Some((run, fit)) = fit else { return Vec::new() };
    let mut out = Vec::new();
    for word in [*run as u64, fit.k as u64, fit.cost.to_bits(), fit.iterations as u64, fit.modes.len() as u64, fit.means.len() as u64, fit.labels.len() as u64]
    {
        out.extend(word.to_le_bytes());
    }
    fit.modes.iter().for_each(|v| out.extend(v.to_le_bytes()));
    fit.means.iter().for_each(|v| out.extend(v.to_le_bytes()));
    fit.labels.iter().for_each(|v| out.extend(v.to_le_bytes()));
    out
}

fn decode(bytes: &[u8]) -> Result<Option<(usize, Fit)>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut at = 0;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let slice = bytes.get(at..at + n).ok_or("a run ends early")?;
        at += n;
        Ok(slice)
    };
    let mut words = [0u64; 7];
    for word in &mut words {
        *word = u64::from_le_bytes(take(8)?.try_into().map_err(|_| "a run ends early")?);
    }
    let [run, k, cost, iterations, modes, means, labels] = words;
    let u32s = |slice: &[u8]| slice.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<u32>>();
    let modes = u32s(take(modes as usize * 4)?);
    let means = take(means as usize * 8)?.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
    let labels = u32s(take(labels as usize * 4)?);
    let fit = Fit { k: k as usize, modes, means, labels, cost: f64::from_bits(cost), iterations: iterations as usize, runs: 0 };
    Ok(Some((run as usize, fit)))
}
