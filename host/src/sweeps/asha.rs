//! Asynchronous successive halving (ASHA, Li et al. 2018, "A System for
//! Massively Parallel Hyperparameter Tuning"), in its stopping form: every
//! trial starts, and at each rung (a number of the plugin's epochs: trees,
//! boosting rounds) its validation score is compared with the scores every
//! trial had at that rung; one outside the top 1/η of them is stopped
//! (pruned). A trial is never held back waiting for others, so workers stay busy.
//!
//! Owns the rungs and the keep-or-prune rule. It must not read events or
//! cancel jobs (`driver` does both).

/// The reduction factor η when the request gives none.
pub const DEFAULT_ETA: u32 = 3;
/// Most rungs a sweep has.
pub const MAX_RUNGS: u32 = 4;

/// The rungs, in epochs, of a sweep whose trials run `total` epochs: from
/// `min` (or, when none is asked, `total / η^MAX_RUNGS`, at least 1), each η times
/// the last, below `total` (reaching `total` is finishing, not a rung).
pub fn rungs(min: Option<u32>, eta: u32, total: u32) -> Vec<u32> {
    let eta = eta.max(2);
    let first = min.unwrap_or_else(|| (total / eta.saturating_pow(MAX_RUNGS)).max(1)).max(1);
    let mut out = vec![];
    let mut at = first;
    while at < total && out.len() < MAX_RUNGS as usize {
        out.push(at);
        at = at.saturating_mul(eta);
    }
    out
}

/// Whether a trial scoring `score` at a rung goes on, given the scores of
/// every trial that reached that rung (its own included): it must rank within
/// the top ⌊n/η⌋ (at least the top one). Higher is better; ties go on.
pub fn keeps(score: f64, at_rung: &[f64], eta: u32) -> bool {
    if !score.is_finite() {
        return false;
    }
    let kept = (at_rung.len() / eta.max(2) as usize).max(1);
    let better = at_rung.iter().filter(|s| **s > score).count();
    better < kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_eta_below_the_total() {
        assert_eq!(rungs(Some(2), 3, 60), vec![2, 6, 18, 54]);
        assert_eq!(rungs(Some(5), 3, 40), vec![5, 15]);
        assert_eq!(rungs(None, 3, 200), vec![2, 6, 18, 54]);
        assert_eq!(rungs(None, 3, 10), vec![1, 3, 9]);
        assert_eq!(rungs(Some(10), 3, 10), Vec::<u32>::new());
    }

    #[test]
    fn only_the_top_third_goes_on() {
        // The first to reach a rung always goes on.
        assert!(keeps(0.5, &[0.5], 3));
        // Fewer than η trials: only the best so far.
        assert!(!keeps(0.4, &[0.5, 0.4], 3));
        assert!(keeps(0.6, &[0.5, 0.6], 3));
        // Six trials: the top two.
        let six = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        assert!(keeps(0.8, &six, 3));
        assert!(!keeps(0.7, &six, 3));
        assert!(keeps(0.9, &[0.9, 0.9, 0.1], 3));
        assert!(!keeps(f64::NAN, &[f64::NAN], 3));
    }
}
