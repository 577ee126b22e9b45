//! The tree-structured Parzen estimator (TPE; Bergstra, Bardenet, Bengio and
//! Kégl 2011, "Algorithms for Hyper-Parameter Optimization"), in its
//! univariate form: the trials that ended so far are split into the best
//! `good_count(n)` and the rest; for each searched parameter two densities are
//! fitted over its values, `l` over the good trials and `g` over the rest;
//! candidates are drawn from `l` and the one with the highest `l / g` is taken.
//! Until a plugin has `STARTUP_TRIALS` ended trials its draws are uniform.
//!
//! How good a trial was, under pruning: a completed trial beats every pruned
//! one; a trial pruned at a later rung beats one pruned at an earlier rung;
//! within a rung, the validation score there decides (as Optuna ranks its
//! pruned trials by their last intermediate value).
//!
//! Owns the estimator. It must not pick the plugin nor read the sweep's store
//! (`strategy` hands it the history).

use rand::Rng;
use serde_json::{Map, Value};

use super::space::{Dimension, PluginSpace};

/// Ended trials a plugin needs before its draws follow the estimator.
pub const STARTUP_TRIALS: usize = 10;
/// Candidates drawn from `l` per parameter; the best by `l / g` is taken.
pub const CANDIDATES: usize = 24;
/// The most trials counted as good.
pub const MAX_GOOD: usize = 25;

/// How good an ended trial was: compared by `tier`, then `score` (higher is better both).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// `u32::MAX` for a completed trial, else the last rung it reached (0: none).
    pub tier: u32,
    /// The sweep's metric oriented so that higher is better, or the rung's validation score.
    pub score: f64,
}

/// One ended trial the estimator learns from.
pub struct Observation<'a> {
    pub params: &'a Map<String, Value>,
    pub quality: Quality,
}

/// How many of `n` ended trials are good: a tenth, rounded up, at most `MAX_GOOD`.
pub fn good_count(n: usize) -> usize {
    n.div_ceil(10).clamp(1, MAX_GOOD)
}

/// The next setting for `space` given the ended trials of its plugin.
pub fn suggest(space: &PluginSpace, history: &[Observation], rng: &mut impl Rng) -> Map<String, Value> {
    if history.len() < STARTUP_TRIALS {
        return space.sample(rng);
    }
    let ranked = rank(history);
    if ranked.len() < STARTUP_TRIALS {
        return space.sample(rng);
    }
    let (good, bad) = ranked.split_at(good_count(ranked.len()));
    space.params.iter().map(|(name, d)| (name.clone(), suggest_one(name, d, good, bad, rng))).collect()
}

/// The trials with a finite score, best first (by tier, then score).
fn rank<'a>(history: &'a [Observation<'a>]) -> Vec<&'a Observation<'a>> {
    let mut ranked: Vec<&Observation> = history.iter().filter(|o| o.quality.score.is_finite()).collect();
    ranked.sort_by(|a, b| b.quality.tier.cmp(&a.quality.tier).then(b.quality.score.total_cmp(&a.quality.score)));
    ranked
}

/// One parameter's value: fixed, categorical or numeric TPE.
fn suggest_one(name: &str, d: &Dimension, good: &[&Observation], bad: &[&Observation], rng: &mut impl Rng) -> Value {
    match d {
        Dimension::Fixed { value } => value.clone(),
        Dimension::Values { values } => {
            let index_of = |o: &&Observation| o.params.get(name).and_then(|v| values.iter().position(|x| x == v));
            let l = Categorical::fit(values.len(), good.iter().filter_map(index_of));
            let g = Categorical::fit(values.len(), bad.iter().filter_map(index_of));
            let best = (0..CANDIDATES).map(|_| l.sample(rng)).max_by(|a, b| (l.ln_p(*a) - g.ln_p(*a)).total_cmp(&(l.ln_p(*b) - g.ln_p(*b))));
            values[best.unwrap_or(0)].clone()
        }
        Dimension::Range { .. } => {
            let unit = |o: &&Observation| o.params.get(name).and_then(|v| d.unit_of(v));
            let l = Parzen::fit(&good.iter().filter_map(unit).collect::<Vec<_>>());
            let g = Parzen::fit(&bad.iter().filter_map(unit).collect::<Vec<_>>());
            let best = (0..CANDIDATES).map(|_| l.sample(rng)).max_by(|a, b| (l.ln_pdf(*a) - g.ln_pdf(*a)).total_cmp(&(l.ln_pdf(*b) - g.ln_pdf(*b))));
            d.value_at(best.unwrap_or(0.5))
        }
    }
}

/// Counts of each choice plus one (the uniform prior), normalised.
struct Categorical {
    weights: Vec<f64>,
}

impl Categorical {
    fn fit(k: usize, seen: impl Iterator<Item = usize>) -> Categorical {
        let mut weights = vec![1.0; k.max(1)];
        for i in seen {
            weights[i] += 1.0;
        }
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        Categorical { weights }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        pick(&self.weights, rng)
    }

    fn ln_p(&self, i: usize) -> f64 {
        self.weights[i].ln()
    }
}

/// A mixture of Gaussians truncated to the unit interval: one at each observed
/// point, with a width from its neighbours' distances, and a wide prior at the middle.
struct Parzen {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
}

/// The prior component: the middle of the range, as wide as the range.
const PRIOR: (f64, f64) = (0.5, 1.0);

impl Parzen {
    fn fit(points: &[f64]) -> Parzen {
        let mut mus: Vec<f64> = points.iter().map(|p| p.clamp(0.0, 1.0)).chain([PRIOR.0]).collect();
        mus.sort_by(f64::total_cmp);
        // Narrowest width: a hundredth of the range once there are many points (as hyperopt clips).
        let floor = 1.0 / (mus.len() as f64).min(100.0);
        let sigmas = (0..mus.len())
            .map(|i| {
                let left = if i == 0 { mus[0] } else { mus[i] - mus[i - 1] };
                let right = if i + 1 == mus.len() { 1.0 - mus[i] } else { mus[i + 1] - mus[i] };
                left.max(right).clamp(floor, 1.0)
            })
            .collect();
        let mut parzen = Parzen { mus, sigmas };
        if let Some(at) = parzen.mus.iter().position(|m| *m == PRIOR.0) {
            parzen.sigmas[at] = PRIOR.1;
        }
        parzen
    }

    fn sample(&self, rng: &mut impl Rng) -> f64 {
        let i = rng.random_range(0..self.mus.len());
        let (mu, sigma) = (self.mus[i], self.sigmas[i]);
        // Rejection from the untruncated Gaussian: at least a third of draws land inside.
        for _ in 0..64 {
            let x = mu + sigma * standard_normal(rng);
            if (0.0..=1.0).contains(&x) {
                return x;
            }
        }
        mu
    }

    fn ln_pdf(&self, x: f64) -> f64 {
        let density: f64 = self.mus.iter().zip(&self.sigmas).map(|(mu, sigma)| truncated_pdf(x, *mu, *sigma)).sum();
        (density / self.mus.len() as f64).max(f64::MIN_POSITIVE).ln()
    }
}

/// The density at `x` of N(mu, sigma) truncated to [0, 1].
fn truncated_pdf(x: f64, mu: f64, sigma: f64) -> f64 {
    let z = (x - mu) / sigma;
    let mass = normal_cdf((1.0 - mu) / sigma) - normal_cdf(-mu / sigma);
    (-0.5 * z * z).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt() * mass.max(1e-12))
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

/// The error function to about 1.5e-7 (Abramowitz and Stegun, formula 7.1.26).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    y.copysign(x)
}

/// A draw from N(0, 1) (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// An index drawn with these weights (summing to 1).
fn pick(weights: &[f64], rng: &mut impl Rng) -> usize {
    let mut left: f64 = rng.random();
    for (i, w) in weights.iter().enumerate() {
        left -= w;
        if left < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use serde_json::json;

    use super::super::space::Scale;
    use super::*;

    fn space() -> PluginSpace {
        PluginSpace {
            plugin: "p".into(),
            params: vec![
                ("rate".into(), Dimension::Range { min: 0.001, max: 1.0, scale: Scale::Log, int: false }),
                ("kind".into(), Dimension::Values { values: vec![json!("a"), json!("b"), json!("c"), json!("d")] }),
            ],
        }
    }

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [(0.0, 0.0), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (-2.0, -0.995_322_265)] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn a_truncated_mixture_integrates_to_one() {
        let parzen = Parzen::fit(&[0.1, 0.12, 0.9]);
        let steps = 10_000;
        let area: f64 = (0..steps).map(|i| parzen.ln_pdf((i as f64 + 0.5) / steps as f64).exp() / steps as f64).sum();
        assert!((area - 1.0).abs() < 1e-3, "{area}");
    }

    /// A landscape whose best is rate = 0.01 and kind = "c": once past the
    /// startup, TPE's draws crowd there, where uniform draws do not.
    #[test]
    fn draws_move_toward_the_good_trials() {
        let quality = |p: &Map<String, Value>| {
            let rate = p["rate"].as_f64().unwrap();
            -(rate.log10() + 2.0).powi(2) - if p["kind"] == "c" { 0.0 } else { 1.0 }
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut seen: Vec<(Map<String, Value>, f64)> = vec![];
        for _ in 0..60 {
            let history: Vec<Observation> = seen.iter().map(|(p, q)| Observation { params: p, quality: Quality { tier: u32::MAX, score: *q } }).collect();
            let p = suggest(&space(), &history, &mut rng);
            let q = quality(&p);
            seen.push((p, q));
        }
        let near = |rows: &[(Map<String, Value>, f64)]| rows.iter().filter(|(p, _)| (p["rate"].as_f64().unwrap().log10() + 2.0).abs() < 0.5).count();
        let c = |rows: &[(Map<String, Value>, f64)]| rows.iter().filter(|(p, _)| p["kind"] == "c").count();
        // Uniform on three decades puts a third near 0.01, and a quarter on "c".
        let late = &seen[30..];
        assert!(near(late) >= 18, "{} of 30 late draws near the best rate", near(late));
        assert!(c(late) >= 15, "{} of 30 late draws on the best kind", c(late));
    }

    #[test]
    fn a_completed_trial_outranks_every_pruned_one_and_later_rungs_outrank_earlier() {
        let params: Vec<Map<String, Value>> = (0..12).map(|i| json!({"rate": 0.001 * (i + 1) as f64, "kind": "a"}).as_object().unwrap().clone()).collect();
        let tiers = [2, 2, 6, 6, 18, 2, 2, 2, 2, 2, 2, u32::MAX];
        let history: Vec<Observation> = params
            .iter()
            .zip(tiers)
            .map(|(p, tier)| Observation { params: p, quality: Quality { tier, score: if tier == u32::MAX { 0.1 } else { 0.9 } } })
            .collect();
        let ranked = rank(&history);
        assert_eq!(ranked[0].params["rate"], json!(0.012));
        assert_eq!(ranked[1].params["rate"], json!(0.005));
        assert_eq!(good_count(12), 2);
        assert_eq!(good_count(1000), MAX_GOOD);
    }

    #[test]
    fn before_the_startup_draws_are_the_uniform_ones() {
        let seen = json!({"rate": 0.5, "kind": "a"}).as_object().unwrap().clone();
        let history: Vec<Observation> = (0..STARTUP_TRIALS - 1).map(|_| Observation { params: &seen, quality: Quality { tier: 1, score: 1.0 } }).collect();
        let draw = |h: &[Observation]| suggest(&space(), h, &mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
        assert_eq!(draw(&history), draw(&[]));
    }
}
