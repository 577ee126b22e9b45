//! Which trial comes next: `grid` (every point of every plugin's grid, in
//! order), `random` (seeded draws, the plugins taken in turn) and `asha`
//! (draws by `tpe` from the plugin's trials that ended, uniform until it has
//! `tpe::STARTUP_TRIALS` of them; pruned at rungs by `asha`). `auto` is `asha`
//! over the spaces the plugins suggest (`space::suggested_space`).
//!
//! A trial's setting is a function of the sweep's spec, the trial's index and
//! the trials that had ended when it was drawn; it is stored in the record
//! before its job is submitted, so a driver that takes over after a crash
//! reads it back rather than drawing again. Owns that function. It must not
//! submit or prune.

use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::space::PluginSpace;
use super::{tpe, Trial, TrialStatus};

/// The search strategy a sweep asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Grid,
    Random,
    Asha,
    Auto,
}

impl Strategy {
    /// The request's word for a strategy.
    pub fn parse(text: &str) -> Option<Strategy> {
        Some(match text {
            "grid" => Strategy::Grid,
            "random" => Strategy::Random,
            "asha" => Strategy::Asha,
            "auto" => Strategy::Auto,
            _ => return None,
        })
    }

    /// Whether trials are pruned at rungs.
    pub fn prunes(self) -> bool {
        matches!(self, Strategy::Asha | Strategy::Auto)
    }
}

/// The most trials a sweep without a `trials` count runs before its time budget ends.
pub const MAX_TRIALS: u64 = 1000;

/// The setting of trial `index`: the plugin (an index into `spaces`) and its
/// parameters; None when the strategy has no more trials to give. `history`
/// (the trials so far) and `higher_is_better` (the sweep metric's direction)
/// matter to `asha` and `auto` only.
pub fn trial(
    strategy: Strategy,
    spaces: &[PluginSpace],
    seed: u64,
    index: u64,
    history: &[Trial],
    higher_is_better: bool,
) -> Option<(usize, Map<String, Value>)> {
    if spaces.is_empty() {
        return None;
    }
    match strategy {
        Strategy::Grid => {
            let mut rest = index;
            for (i, space) in spaces.iter().enumerate() {
                let size = space.grid_size();
                if rest < size {
                    return space.grid_point(rest).map(|p| (i, p));
                }
                rest -= size;
            }
            None
        }
        Strategy::Random | Strategy::Asha | Strategy::Auto => {
            let which = (index % spaces.len() as u64) as usize;
            // One stream per trial: trial i's draw does not depend on how many came before.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            if strategy == Strategy::Random {
                return Some((which, spaces[which].sample(&mut rng)));
            }
            let ended = observations(history, &spaces[which].plugin, higher_is_better);
            Some((which, tpe::suggest(&spaces[which], &ended, &mut rng)))
        }
    }
}

/// What `tpe` learns from: `plugin`'s completed trials (by the sweep's
/// metric) and pruned ones (by their last rung's validation score).
fn observations<'a>(history: &'a [Trial], plugin: &str, higher_is_better: bool) -> Vec<tpe::Observation<'a>> {
    let quality = |t: &Trial| match t.status {
        TrialStatus::Completed => t.score.map(|s| tpe::Quality { tier: u32::MAX, score: if higher_is_better { s } else { -s } }),
        TrialStatus::Pruned => t.rungs.iter().max_by_key(|r| r.epoch).map(|r| tpe::Quality { tier: r.epoch, score: r.score }),
        _ => None,
    };
    history.iter().filter(|t| t.plugin == plugin).filter_map(|t| quality(t).map(|q| tpe::Observation { params: &t.params, quality: q })).collect()
}

/// How many trials the strategy can give at most: the grid's size, else `MAX_TRIALS`.
pub fn capacity(strategy: Strategy, spaces: &[PluginSpace]) -> u64 {
    match strategy {
        Strategy::Grid => spaces.iter().map(PluginSpace::grid_size).fold(0, u64::saturating_add),
        _ => MAX_TRIALS,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::space::{Dimension, Scale};
    use super::*;

    fn spaces() -> Vec<PluginSpace> {
        vec![
            PluginSpace { plugin: "a".into(), params: vec![("x".into(), Dimension::Values { values: vec![json!(1), json!(2)] })] },
            PluginSpace { plugin: "b".into(), params: vec![("y".into(), Dimension::Range { min: 1.0, max: 9.0, scale: Scale::Linear, int: true })] },
        ]
    }

    #[test]
    fn a_grid_walks_every_plugin_in_turn_then_ends() {
        let got: Vec<(usize, Value)> = (0..6).filter_map(|i| trial(Strategy::Grid, &spaces(), 1, i, &[], true)).map(|(p, m)| (p, Value::Object(m))).collect();
        assert_eq!(got, vec![(0, json!({"x": 1})), (0, json!({"x": 2})), (1, json!({"y": 1})), (1, json!({"y": 5})), (1, json!({"y": 9}))]);
        assert_eq!(capacity(Strategy::Grid, &spaces()), 5);
    }

    #[test]
    fn random_trials_alternate_plugins_and_depend_only_on_seed_and_index() {
        let a = trial(Strategy::Random, &spaces(), 7, 3, &[], true).unwrap();
        assert_eq!(a, trial(Strategy::Random, &spaces(), 7, 3, &[], true).unwrap());
        assert_eq!(a.0, 1);
        assert_eq!(trial(Strategy::Random, &spaces(), 7, 4, &[], true).unwrap().0, 0);
        let draws: std::collections::HashSet<String> = (0..40).map(|i| format!("{:?}", trial(Strategy::Asha, &spaces(), 7, i, &[], true))).collect();
        assert!(draws.len() > 5, "{draws:?}");
    }
}
