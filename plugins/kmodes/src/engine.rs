//! The K-Modes / K-Prototypes iteration, following the `kmodes` package
//! (kmodes.py, kprototypes.py): an initial assignment to the initial centres,
//! then passes that visit the rows in order and move a row as soon as another
//! centre is nearer, updating both clusters' modes (from per-cluster frequency
//! tables) and centroids (from per-cluster sums) at once. After each pass the
//! cost is recomputed against the final centres; a run stops when no row moved
//! or the cost did not decrease. The best of `n_init` runs wins.

use std::collections::HashSet;

use crate::centers::{mismatches, Centers};
use crate::data::{first_max, Encoded};
use crate::rng::Rng;
use trainhost_sdk::{Progress, TrainError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    Huang,
    Cao,
    Random,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub k: usize,
    pub init: Init,
    pub n_init: usize,
    pub max_iter: usize,
    pub seed: u64,
    /// Weight of a categorical mismatch: 1 for K-Modes.
    pub gamma: f64,
}

/// The best run.
#[derive(Clone, Debug)]
pub struct Fit {
    /// Clusters actually formed: fewer than asked when the table has fewer distinct rows.
    pub k: usize,
    pub modes: Vec<u32>,
    pub means: Vec<f64>,
    pub labels: Vec<u32>,
    pub cost: f64,
    pub iterations: usize,
    pub runs: usize,
}

impl Fit {
    pub fn sizes(&self) -> Vec<u64> {
        let mut sizes = vec![0u64; self.k];
        self.labels.iter().for_each(|&l| sizes[l as usize] += 1);
        sizes
    }
}

/// kprototypes.py retries an initialisation that leaves a cluster empty, switching
/// to random initial rows after this many tries.
const MAX_INIT_TRIES: usize = 20;
/// Past this, we re-seed empty clusters instead of failing as the package does.
const GIVE_UP_INIT_TRIES: usize = 100;

pub fn fit(d: &Encoded, s: &Settings, progress: &mut dyn Progress) -> Result<Fit, TrainError> {
    // Fewer distinct rows than clusters: every distinct row is a centre and
    // there is nothing to iterate (as the package does).
    let distinct = distinct_rows(d, s.k + 1);
    if distinct.len() <= s.k {
        progress.log(
            trainhost_sdk::LogLevel::Warn,
            &format!(
                "only {} distinct rows: forming that many clusters instead of {}",
                distinct.len(),
                s.k
            ),
        );
        let (modes, means) = rows_as_centers(d, &distinct);
        let settings = Settings {
            k: distinct.len(),
            max_iter: 0,
            n_init: 1,
            ..s.clone()
        };
        let mut runner = Runner {
            d,
            s: &settings,
            progress,
            epoch: 0,
            total: 0,
        };
        return runner.run(0, Some((modes, means)), Rng::new(s.seed));
    }
    // Cao's initialisation is deterministic, so with no numeric part (whose
    // centroids start random) every run would be the same: run once, as the package.
    let n_init = if s.init == Init::Cao && d.p == 0 {
        1
    } else {
        s.n_init.max(1)
    };
    let total = (n_init * s.max_iter).min(u32::MAX as usize) as u32;
    let mut runner = Runner {
        d,
        s,
        progress,
        epoch: 0,
        total,
    };
    let mut seeds = Rng::new(s.seed);
    let mut best: Option<Fit> = None;
    for init_no in 0..n_init {
        let fit = runner.run(init_no, None, Rng::new(seeds.next_u64()))?;
        if best.as_ref().is_none_or(|b| fit.cost < b.cost) {
            best = Some(fit);
        }
    }
    let mut best = best.expect("at least one run");
    best.runs = n_init;
    Ok(best)
}

/// Indices of the first `limit` distinct rows (stops early: callers only need
/// to know whether there are more than k).
fn distinct_rows(d: &Encoded, limit: usize) -> Vec<usize> {
    let mut seen: HashSet<Vec<u64>> = HashSet::new();
    let mut out = vec![];
    for i in 0..d.n {
        let key: Vec<u64> = d
            .cat_row(i)
            .iter()
            .map(|&s| s as u64)
            .chain(d.num_row(i).iter().map(|v| {
                if v.is_nan() {
                    u64::MAX
                } else {
                    (v + 0.0).to_bits()
                }
            }))
            .collect();
        if seen.insert(key) {
            out.push(i);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Centres copied from rows; a missing value becomes the column's mode or mean,
/// since a centre must have a value to be compared with.
fn rows_as_centers(d: &Encoded, rows: &[usize]) -> (Vec<u32>, Vec<f64>) {
    let mut modes = Vec::with_capacity(rows.len() * d.m);
    let mut means = Vec::with_capacity(rows.len() * d.p);
    for &i in rows {
        modes.extend(d.cat_row(i).iter().enumerate().map(|(a, &s)| {
            if s == d.missing[a] {
                d.col_modes[a]
            } else {
                s
            }
        }));
        means.extend(d.num_row(i).iter().enumerate().map(|(j, &v)| {
            if v.is_nan() {
                d.col_means[j]
            } else {
                v
            }
        }));
    }
    (modes, means)
}

struct Runner<'a, 'p> {
    d: &'a Encoded,
    s: &'a Settings,
    progress: &'p mut dyn Progress,
    /// Epochs reported so far, across all runs.
    epoch: u32,
    total: u32,
}

impl Runner<'_, '_> {
    /// One initialisation and its iterations. `given` fixes the initial centres.
    fn run(
        &mut self,
        init_no: usize,
        given: Option<(Vec<u32>, Vec<f64>)>,
        mut rng: Rng,
    ) -> Result<Fit, TrainError> {
        let (d, s) = (self.d, self.s);
        let mut state = match given {
            Some((modes, means)) => {
                let mut state = State::new(
                    d,
                    Centers::new(s.k, d.m, d.p, d.slots(), s.gamma, modes, means),
                    rng,
                );
                state.initial_assignment();
                state
            }
            None => {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let init = if tries > MAX_INIT_TRIES {
                        Init::Random
                    } else {
                        s.init
                    };
                    let (modes, means) = initial_centers(d, s.k, init, &mut rng);
                    let centers = Centers::new(s.k, d.m, d.p, d.slots(), s.gamma, modes, means);
                    let mut state = State::new(d, centers, rng.clone());
                    let empty = state.initial_assignment();
                    // K-Modes fills empty clusters; K-Prototypes (random numeric
                    // centroids) draws again, as the package does.
                    if empty == 0 || d.p == 0 || tries >= GIVE_UP_INIT_TRIES {
                        break state;
                    }
                    rng = state.rng;
                }
            }
        };
        state.fill_empty_clusters();
        let mut labels = vec![0u32; d.n];
        let mut cost = state.labels_cost(&mut labels);
        let mut iterations = 0;
        while iterations < s.max_iter {
            iterations += 1;
            let moves = state.pass();
            let new_cost = state.labels_cost(&mut labels);
            self.epoch += 1;
            let metrics = [
                ("cost", new_cost),
                ("moved", moves as f64),
                ("init", (init_no + 1) as f64),
                ("iteration", iterations as f64),
            ];
            if !self
                .progress
                .epoch(self.epoch, self.total.max(self.epoch), &metrics)
            {
                return Err(TrainError::Cancelled);
            }
            let converged = moves == 0 || new_cost >= cost;
            cost = new_cost;
            if converged {
                break;
            }
        }
        Ok(Fit {
            k: s.k,
            modes: state.centers.modes,
            means: state.centers.means,
            labels,
            cost,
            iterations,
            runs: 1,
        })
    }
}

/// Initial modes (slots) and numeric centroids.
fn initial_centers(d: &Encoded, k: usize, init: Init, rng: &mut Rng) -> (Vec<u32>, Vec<f64>) {
    if init == Init::Random {
        return rows_as_centers(d, &rng.distinct(d.n, k));
    }
    let modes = match (d.m, init) {
        (0, _) => vec![],
        (_, Init::Huang) => huang(d, k, rng),
        _ => cao(d, k),
    };
    // As kprototypes.py: numeric centroids drawn around the mean with the columns' spread.
    let mut means = vec![0.0; k * d.p];
    for c in 0..k {
        for j in 0..d.p {
            means[c * d.p + j] = d.col_means[j] + rng.normal() * d.col_stds[j];
        }
    }
    (modes, means)
}

/// Huang [1997] as init_methods.py: each attribute of each mode is drawn with the
/// value frequencies of the data; then each mode is replaced by the nearest row
/// that is not already a centre.
fn huang(d: &Encoded, k: usize, rng: &mut Rng) -> Vec<u32> {
    let m = d.m;
    let mut modes = vec![0u32; k * m];
    for a in 0..m {
        let known: Vec<u32> = (0..d.n)
            .map(|i| d.cat[i * m + a])
            .filter(|&s| s != d.missing[a])
            .collect();
        for c in 0..k {
            modes[c * m + a] = if known.is_empty() {
                d.col_modes[a]
            } else {
                known[rng.below(known.len())]
            };
        }
    }
    let mut dist = vec![0u32; d.n];
    for c in 0..k {
        let target = modes[c * m..(c + 1) * m].to_vec();
        for (i, di) in dist.iter_mut().enumerate() {
            *di = mismatches(d.cat_row(i), &target);
        }
        let row = by_distance(&dist, m)
            .find(|&i| !(0..k).any(|o| d.cat_row(i) == &modes[o * m..(o + 1) * m]))
            .unwrap_or_else(|| first_min(&dist));
        let (row_modes, _) = rows_as_centers(d, &[row]);
        modes[c * m..(c + 1) * m].copy_from_slice(&row_modes);
    }
    modes
}

/// Row indices ordered by distance (0..=max), then by index: a counting sort.
fn by_distance(dist: &[u32], max: usize) -> impl Iterator<Item = usize> {
    let mut start = vec![0usize; max + 2];
    dist.iter().for_each(|&x| start[x as usize + 1] += 1);
    for b in 1..start.len() {
        start[b] += start[b - 1];
    }
    let mut order = vec![0usize; dist.len()];
    for (i, &x) in dist.iter().enumerate() {
        order[start[x as usize]] = i;
        start[x as usize] += 1;
    }
    order.into_iter()
}

fn first_min(values: &[u32]) -> usize {
    values
        .iter()
        .enumerate()
        .min_by_key(|(_, v)| **v)
        .map_or(0, |(i, _)| i)
}

/// Cao et al. [2009] as init_methods.py: the densest row first, then each next
/// centre maximises (density × mismatches to its nearest chosen centre).
fn cao(d: &Encoded, k: usize) -> Vec<u32> {
    let (n, m) = (d.n, d.m);
    let mut counts = vec![0usize; d.slots()];
    d.cat.iter().for_each(|&s| counts[s as usize] += 1);
    // A missing value does not count towards anyone's density.
    d.missing.iter().for_each(|&s| counts[s as usize] = 0);
    let mut dens = vec![0f64; n];
    for a in 0..m {
        for (i, de) in dens.iter_mut().enumerate() {
            *de += counts[d.cat[i * m + a] as usize] as f64 / n as f64 / m as f64;
        }
    }
    let mut chosen = vec![first_max(&dens)];
    let mut nearest = vec![f64::INFINITY; n];
    while chosen.len() < k {
        let (last, _) = rows_as_centers(d, &chosen[chosen.len() - 1..]);
        for (i, ne) in nearest.iter_mut().enumerate() {
            *ne = ne.min(mismatches(d.cat_row(i), &last) as f64 * dens[i]);
        }
        chosen.push(first_max(&nearest));
    }
    rows_as_centers(d, &chosen).0
}

/// One run's mutable state.
struct State<'a> {
    d: &'a Encoded,
    centers: Centers,
    assign: Vec<u32>,
    sizes: Vec<u32>,
    /// k × slots value counts (cluster-major), for the modes.
    freq: Vec<u32>,
    /// k × p sums and counts of known values, for the centroids.
    sums: Vec<f64>,
    known: Vec<u32>,
    rng: Rng,
}

impl<'a> State<'a> {
    fn new(d: &'a Encoded, centers: Centers, rng: Rng) -> State<'a> {
        let k = centers.k;
        State {
            d,
            centers,
            assign: vec![0; d.n],
            sizes: vec![0; k],
            freq: vec![0; k * d.slots()],
            sums: vec![0.0; k * d.p],
            known: vec![0; k * d.p],
            rng,
        }
    }

    /// Assigns every row to its nearest initial centre, then sets every centre
    /// from its members. Returns the number of empty clusters.
    fn initial_assignment(&mut self) -> usize {
        for i in 0..self.d.n {
            let (c, _) = self.centers.nearest(self.d, i);
            self.add(i, c as usize);
        }
        for c in 0..self.centers.k {
            for a in 0..self.d.m {
                let best = self.most_frequent(c, a);
                self.centers.set_mode(c, a, best);
            }
            self.update_means(c);
        }
        self.sizes.iter().filter(|&&s| s == 0).count()
    }

    fn add(&mut self, i: usize, c: usize) {
        let (d, slots, p) = (self.d, self.d.slots(), self.d.p);
        self.assign[i] = c as u32;
        self.sizes[c] += 1;
        for (a, &s) in d.cat_row(i).iter().enumerate() {
            if s != d.missing[a] {
                self.freq[c * slots + s as usize] += 1;
            }
        }
        for (j, &v) in d.num_row(i).iter().enumerate() {
            if !v.is_nan() {
                self.sums[c * p + j] += v;
                self.known[c * p + j] += 1;
            }
        }
    }

    /// The most frequent known value of attribute a in cluster c, lowest on ties.
    fn most_frequent(&self, c: usize, a: usize) -> u32 {
        let (lo, hi) = (self.d.offsets[a] as usize, self.d.missing[a] as usize);
        let base = c * self.d.slots();
        (first_max(&self.freq[base + lo..base + hi]) + lo) as u32
    }

    fn update_means(&mut self, c: usize) {
        let p = self.d.p;
        for j in 0..p {
            let n = self.known[c * p + j];
            // An empty cluster's centroid is irrelevant until it is re-seeded; the
            // column mean keeps it finite.
            self.centers.means[c * p + j] = if n > 0 {
                self.sums[c * p + j] / n as f64
            } else {
                self.d.col_means[j]
            };
        }
    }

    /// Moves row i between clusters and updates both centres incrementally, as
    /// kmodes._move_point_cat: the receiving cluster's mode changes only when the
    /// row's value becomes strictly more frequent; the losing cluster's mode is
    /// recomputed only when it was the row's value.
    fn move_row(&mut self, i: usize, from: usize, to: usize) {
        let (d, slots, p) = (self.d, self.d.slots(), self.d.p);
        self.assign[i] = to as u32;
        self.sizes[to] += 1;
        self.sizes[from] -= 1;
        for (a, &s) in d.cat_row(i).iter().enumerate() {
            if s == d.missing[a] {
                continue;
            }
            let s_ = s as usize;
            self.freq[to * slots + s_] += 1;
            let current = self.centers.mode(to, a) as usize;
            if self.freq[to * slots + s_] > self.freq[to * slots + current] {
                self.centers.set_mode(to, a, s);
            }
            self.freq[from * slots + s_] -= 1;
            if self.centers.mode(from, a) == s {
                let best = self.most_frequent(from, a);
                self.centers.set_mode(from, a, best);
            }
        }
        if p > 0 {
            for (j, &v) in d.num_row(i).iter().enumerate() {
                if !v.is_nan() {
                    self.sums[to * p + j] += v;
                    self.known[to * p + j] += 1;
                    self.sums[from * p + j] -= v;
                    self.known[from * p + j] -= 1;
                }
            }
            self.update_means(to);
            self.update_means(from);
        }
    }

    /// Re-seeds empty cluster c with a random row of the largest cluster (kmodes.py).
    fn reseed(&mut self, c: usize) {
        let from = first_max(&self.sizes);
        if self.sizes[from] < 2 {
            return; // cannot happen while k ≤ distinct rows; never empty another cluster
        }
        let pick = self.rng.below(self.sizes[from] as usize);
        let row = (0..self.d.n)
            .filter(|&i| self.assign[i] as usize == from)
            .nth(pick)
            .expect("member");
        self.move_row(row, from, c);
    }

    fn fill_empty_clusters(&mut self) {
        for c in 0..self.centers.k {
            if self.sizes[c] == 0 {
                self.reseed(c);
            }
        }
    }

    /// One pass over the rows; returns how many moved.
    fn pass(&mut self) -> usize {
        let mut moves = 0;
        for i in 0..self.d.n {
            let (c, _) = self.centers.nearest(self.d, i);
            let old = self.assign[i] as usize;
            if c as usize == old {
                continue;
            }
            moves += 1;
            self.move_row(i, old, c as usize);
            if self.sizes[old] == 0 {
                self.reseed(old);
            }
        }
        moves
    }

    /// Every row's nearest centre and the total distance: the package's cost.
    fn labels_cost(&mut self, labels: &mut [u32]) -> f64 {
        let mut cost = 0.0;
        for (i, label) in labels.iter_mut().enumerate() {
            let (c, dist) = self.centers.nearest(self.d, i);
            *label = c;
            cost += dist;
        }
        cost
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn counting_sort_orders_by_distance_then_index() {
        let order: Vec<usize> = by_distance(&[2, 0, 1, 0, 2], 2).collect();
        assert_eq!(order, vec![1, 3, 2, 0, 4]);
    }
}
