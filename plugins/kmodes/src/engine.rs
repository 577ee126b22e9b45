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
use trainhost_sdk::team::Team;
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
    /// After the package's iteration converges, apply single-row moves that
    /// lower the exact cost (see `State::refine_pass`).
    pub refine: bool,
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

/// The best of `n_init` runs. With a team of K instances, each makes the runs
/// r with r % K == its rank (run r seeded as it is alone), and the best of
/// all goes to rank 0 (the lowest cost; of equal costs the earliest run, as alone).
pub fn fit(d: &Encoded, s: &Settings, progress: &mut dyn Progress, team: &dyn Team) -> Result<Fit, TrainError> {
    // Fewer distinct rows than clusters: every distinct row is a centre and
    // there is nothing to iterate (as the package does).
    let distinct = distinct_rows(d, s.k + 1);
    if distinct.len() <= s.k {
        progress.log(trainhost_sdk::LogLevel::Warn, &format!("only {} distinct rows: forming that many clusters instead of {}", distinct.len(), s.k));
        let (modes, means) = rows_as_centers(d, &distinct);
        let settings = Settings { k: distinct.len(), max_iter: 0, n_init: 1, ..s.clone() };
        let mut runner = Runner { d, s: &settings, progress, epoch: 0, total: 0 };
        return runner.run(0, Some((modes, means)), Rng::new(s.seed));
    }
    // Cao's initialisation is deterministic, so with no numeric part (whose
    // centroids start random) every run would be the same: run once, as the package.
    let n_init = if s.init == Init::Cao && d.p == 0 { 1 } else { s.n_init.max(1) };
    let total = (n_init * s.max_iter).min(u32::MAX as usize) as u32;
    let mut runner = Runner { d, s, progress, epoch: 0, total };
    let mut seeds = Rng::new(s.seed);
    let seeds: Vec<u64> = (0..n_init).map(|_| seeds.next_u64()).collect();
    let mut best: Option<(usize, Fit)> = None;
    for init_no in (team.rank()..n_init).step_by(team.size()) {
        let fit = runner.run(init_no, None, Rng::new(seeds[init_no]))?;
        if best.as_ref().is_none_or(|(_, b)| fit.cost < b.cost) {
            best = Some((init_no, fit));
        }
    }
    if team.size() > 1 {
        best = crate::parallel::best_of(team, best)?;
    }
    let (_, mut best) = best.ok_or_else(|| TrainError::Failed("no run was made".into()))?;
    best.runs = n_init;
    Ok(best)
}

/// Indices of the first `limit` distinct rows (stops early: callers only need
/// to know whether there are more than k).
fn distinct_rows(d: &Encoded, limit: usize) -> Vec<usize> {
    let mut seen: HashSet<Vec<u64>> = HashSet::new();
    let mut out = vec![];
    for i in 0..d.n {
        let key: Vec<u64> =
            d.cat_row(i).iter().map(|&s| s as u64).chain(d.num_row(i).iter().map(|v| if v.is_nan() { u64::MAX } else { (v + 0.0).to_bits() })).collect();
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
        modes.extend(d.cat_row(i).iter().enumerate().map(|(a, &s)| if s == d.missing[a] { d.col_modes[a] } else { s }));
        means.extend(d.num_row(i).iter().enumerate().map(|(j, &v)| if v.is_nan() { d.col_means[j] } else { v }));
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
    fn run(&mut self, init_no: usize, given: Option<(Vec<u32>, Vec<f64>)>, mut rng: Rng) -> Result<Fit, TrainError> {
        let (d, s) = (self.d, self.s);
        let mut state = match given {
            Some((modes, means)) => {
                let mut state = State::new(d, Centers::new(s.k, d.m, d.p, d.slots(), s.gamma, modes, means), rng);
                state.initial_assignment();
                state
            }
            None => {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let init = if tries > MAX_INIT_TRIES { Init::Random } else { s.init };
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
            // No move, no centre changed: the labels and cost are those we have.
            let new_cost = if moves == 0 { cost } else { state.labels_cost(&mut labels) };
            self.epoch += 1;
            let metrics = [("cost", new_cost), ("moved", moves as f64), ("init", (init_no + 1) as f64), ("iteration", iterations as f64)];
            if !self.progress.epoch(self.epoch, self.total.max(self.epoch), &metrics) {
                return Err(TrainError::Cancelled);
            }
            let converged = moves == 0 || new_cost >= cost;
            cost = new_cost;
            if converged {
                break;
            }
        }
        let mut ties = if s.refine { Some(Ties::new(&state)) } else { None };
        while let Some(ties) = ties.as_mut().filter(|_| iterations < s.max_iter) {
            iterations += 1;
            let moves = state.refine_pass(ties);
            if moves > 0 {
                cost = state.labels_cost(&mut labels);
            }
            self.epoch += 1;
            let metrics = [("cost", cost), ("moved", moves as f64), ("init", (init_no + 1) as f64), ("iteration", iterations as f64)];
            if !self.progress.epoch(self.epoch, self.total.max(self.epoch), &metrics) {
                return Err(TrainError::Cancelled);
            }
            if moves == 0 {
                break;
            }
        }
        Ok(Fit { k: s.k, modes: state.centers.modes, means: state.centers.means, labels, cost, iterations, runs: 1 })
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
/// that is not already a centre. Among equally near rows the package takes
/// whichever its (unstable) argsort puts first, an arbitrary pick; we pick one at
/// random, since always taking the first row would make every run start from
/// the same few rows.
fn huang(d: &Encoded, k: usize, rng: &mut Rng) -> Vec<u32> {
    let m = d.m;
    let mut modes = vec![0u32; k * m];
    for a in 0..m {
        for c in 0..k {
            modes[c * m + a] = draw_known(d, a, rng);
        }
    }
    // Distances to the drawn modes, eight clusters per pass of the match-word kernel.
    let drawn = modes.clone();
    let mut dist = vec![0u32; d.n];
    for block in (0..k).step_by(8) {
        let width = (k - block).min(8);
        let block_modes = drawn[block * m..(block + width) * m].to_vec();
        let mut kernel = Centers::new(width, m, 0, d.slots(), 1.0, block_modes, vec![]);
        let mut block_dist = vec![0u32; d.n * width];
        for i in 0..d.n {
            block_dist[i * width..(i + 1) * width].copy_from_slice(kernel.mismatch_counts(d.cat_row(i)));
        }
        for c in block..block + width {
            for (i, di) in dist.iter_mut().enumerate() {
                *di = block_dist[i * width + c - block];
            }
            let is_new = |i: usize| !(0..k).any(|o| d.cat_row(i) == &modes[o * m..(o + 1) * m]);
            let row = nearest_new_row(&dist, is_new, rng).unwrap_or_else(|| first_min(&dist));
            let (row_modes, _) = rows_as_centers(d, &[row]);
            modes[c * m..(c + 1) * m].copy_from_slice(&row_modes);
        }
    }
    modes
}

/// A known value of attribute a drawn with the data's frequencies (a random row's
/// value, drawing again on a missing one); the column's mode if none is known.
fn draw_known(d: &Encoded, a: usize, rng: &mut Rng) -> u32 {
    if d.col_known[a] == 0 {
        return d.col_modes[a];
    }
    loop {
        let s = d.cat[rng.below(d.n) * d.m + a];
        if s != d.missing[a] {
            return s;
        }
    }
}

/// A random row among the nearest (smallest `dist`) rows accepted by `is_new`.
fn nearest_new_row(dist: &[u32], is_new: impl Fn(usize) -> bool, rng: &mut Rng) -> Option<usize> {
    let mut floor = 0;
    loop {
        // The smallest distance not yet tried, then the eligible rows at it.
        let level = dist.iter().copied().filter(|&x| x >= floor).min()?;
        let eligible: Vec<usize> = (0..dist.len()).filter(|&i| dist[i] == level && is_new(i)).collect();
        if !eligible.is_empty() {
            return Some(eligible[rng.below(eligible.len())]);
        }
        floor = level + 1;
    }
}

fn first_min(values: &[u32]) -> usize {
    values.iter().enumerate().min_by_key(|(_, v)| **v).map_or(0, |(i, _)| i)
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

/// For the refinement: per cluster and attribute, which values tie the highest
/// count (as flags in a match-word table, so one row's ties with every cluster
/// are counted in one pass) and how many values do.
struct Ties {
    flags: Centers,
    count: Vec<u32>,
}

impl Ties {
    fn new(state: &State) -> Ties {
        let (k, m) = (state.centers.k, state.d.m);
        let mut ties = Ties { flags: Centers::flags(k, state.d.slots()), count: vec![0; k * m] };
        for c in 0..k {
            for a in 0..m {
                ties.update(state, c, a);
            }
        }
        ties
    }

    /// Recomputes the ties of attribute a in cluster c from the counts.
    fn update(&mut self, state: &State, c: usize, a: usize) {
        let d = state.d;
        let freq = &state.freq[c * d.slots()..(c + 1) * d.slots()];
        let range = d.offsets[a]..d.missing[a];
        let top = range.clone().map(|v| freq[v as usize]).max().unwrap_or(0);
        let mut count = 0;
        for v in range {
            let tied = freq[v as usize] == top;
            self.flags.set_flag(c, v, tied);
            count += tied as u32;
        }
        self.count[c * d.m + a] = count;
    }
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
        State { d, centers, assign: vec![0; d.n], sizes: vec![0; k], freq: vec![0; k * d.slots()], sums: vec![0.0; k * d.p], known: vec![0; k * d.p], rng }
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
            let mean = if n > 0 { self.sums[c * p + j] / n as f64 } else { self.d.col_means[j] };
            self.centers.set_mean(c, j, mean);
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
        let row = (0..self.d.n).filter(|&i| self.assign[i] as usize == from).nth(pick).expect("member");
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

    /// One pass of single-row moves on the exact cost (Hartigan's rule), which the
    /// nearest-centre pass cannot see because it ignores how a move changes the
    /// modes and means themselves. For row x leaving cluster A for B:
    /// - categorical: the cost changes by U_A(x) − T_B(x) mismatches, where U_A counts
    ///   the attributes whose value in x is A's unique most frequent one (A loses a
    ///   match there) and T_B those whose value in x ties B's highest count (B gains one);
    /// - numeric: by n_B/(n_B+1)·|x−μ_B|² − n_A/(n_A−1)·|x−μ_A|², per known attribute.
    ///
    /// The row goes to the cluster with the most negative change, if any; a
    /// cluster is never emptied. Returns how many rows moved.
    fn refine_pass(&mut self, ties: &mut Ties) -> usize {
        let (d, k) = (self.d, self.centers.k);
        let mut moves = 0;
        for i in 0..d.n {
            let from = self.assign[i] as usize;
            if self.sizes[from] < 2 {
                continue;
            }
            let row = d.cat_row(i);
            let unique = (0..d.m).filter(|&a| ties.flags.flag(from, row[a]) && ties.count[from * d.m + a] == 1).count();
            let leave = self.centers.gamma * unique as f64 - self.numeric_gain(i, from, -1.0);
            let tied = ties.flags.flag_counts(row);
            let mut best = (from, -1e-9 * (1.0 + leave.abs()));
            for to in (0..k).filter(|&c| c != from) {
                let join = self.numeric_gain(i, to, 1.0) - self.centers.gamma * tied[to] as f64;
                if leave + join < best.1 {
                    best = (to, leave + join);
                }
            }
            if best.0 != from {
                self.move_row(i, from, best.0);
                for a in 0..d.m {
                    ties.update(self, from, a);
                    ties.update(self, best.0, a);
                }
                moves += 1;
            }
        }
        moves
    }

    /// Change of cluster c's squared-distance sum when row i joins (sign 1) or
    /// leaves (sign −1), per known attribute: n/(n±1)·(x−μ)².
    fn numeric_gain(&self, i: usize, c: usize, sign: f64) -> f64 {
        let p = self.d.p;
        let mut total = 0.0;
        for (j, &v) in self.d.num_row(i).iter().enumerate() {
            let n = self.known[c * p + j] as f64;
            if v.is_nan() || n + sign <= 0.0 {
                continue;
            }
            let diff = v - self.centers.means[c * p + j];
            total += n / (n + sign) * diff * diff;
        }
        total
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
    use crate::data::{Algorithm, Schema};
    use trainhost_sdk::{Categorical, Column, ColumnData, Table};

    /// Rows with `m` categorical attributes from a generator of codes (levels 0..4).
    fn encoded(n: usize, m: usize, numeric: bool, code: impl Fn(usize, usize) -> u32) -> Encoded {
        let mut columns: Vec<Column> = (0..m)
            .map(|a| Column {
                name: format!("c{a}"),
                data: ColumnData::Categorical(Categorical { codes: (0..n).map(|i| code(i, a)).collect(), levels: (0..4).map(|l| l.to_string()).collect() }),
            })
            .collect();
        if numeric {
            let values = (0..n).map(|i| (i % 7) as f64 + code(i, 0) as f64 * 3.0).collect();
            columns.push(Column { name: "x".into(), data: ColumnData::Numeric(values) });
        }
        let table = Table { rows: n as u32, columns };
        let algorithm = if numeric { Algorithm::KPrototypes } else { Algorithm::KModes };
        Encoded::encode(&Schema::from_table(&table, algorithm, false).unwrap(), &table).unwrap()
    }

    /// The counts, sums and modes kept incrementally equal those recomputed from scratch.
    fn assert_consistent(state: &State) {
        let (d, k) = (state.d, state.centers.k);
        let mut fresh = State::new(d, state.centers.clone(), Rng::new(0));
        for i in 0..d.n {
            fresh.add(i, state.assign[i] as usize);
        }
        assert_eq!(fresh.sizes, state.sizes);
        assert_eq!(fresh.freq, state.freq);
        assert_eq!(fresh.known, state.known);
        for c in 0..k {
            for a in 0..d.m {
                let mode = state.centers.mode(c, a) as usize;
                let top = fresh.freq[c * d.slots() + fresh.most_frequent(c, a) as usize];
                assert_eq!(fresh.freq[c * d.slots() + mode], top, "mode of cluster {c} attribute {a} is a most frequent value");
            }
            for j in 0..d.p {
                let mean = fresh.sums[c * d.p + j] / fresh.known[c * d.p + j] as f64;
                assert!((state.centers.means[c * d.p + j] - mean).abs() < 1e-9);
            }
        }
    }

    /// Sum over rows of the distance to their own cluster's centre.
    fn exact_cost(state: &State) -> f64 {
        let (d, c) = (state.d, &state.centers);
        (0..d.n)
            .map(|i| {
                let a = state.assign[i] as usize;
                let cat = mismatches(d.cat_row(i), &c.modes[a * d.m..(a + 1) * d.m]) as f64;
                let num: f64 = d.num_row(i).iter().enumerate().map(|(j, v)| (v - c.means[a * d.p + j]).powi(2)).sum();
                num + c.gamma * cat
            })
            .sum()
    }

    /// Brute force: single moves (with modes recomputed exactly) that lower the exact cost.
    fn no_improving_single_move(state: &State) -> usize {
        let (d, k, base) = (state.d, state.centers.k, exact_cost(state));
        let mut found = 0;
        for i in 0..d.n {
            let from = state.assign[i] as usize;
            for to in (0..k).filter(|&c| c != from && state.sizes[from] > 1) {
                let mut probe = State { centers: state.centers.clone(), rng: Rng::new(0), ..state.clone_counts() };
                probe.move_row(i, from, to);
                for c in 0..k {
                    for a in 0..d.m {
                        let best = probe.most_frequent(c, a);
                        probe.centers.set_mode(c, a, best);
                    }
                }
                found += (exact_cost(&probe) < base - 1e-9) as usize;
            }
        }
        found
    }

    impl<'a> State<'a> {
        fn clone_counts(&self) -> State<'a> {
            State {
                d: self.d,
                centers: self.centers.clone(),
                assign: self.assign.clone(),
                sizes: self.sizes.clone(),
                freq: self.freq.clone(),
                sums: self.sums.clone(),
                known: self.known.clone(),
                rng: Rng::new(0),
            }
        }
    }

    #[test]
    fn an_empty_cluster_is_reseeded_from_the_largest_one() {
        let d = encoded(30, 3, false, |i, a| ((i % 3) as u32 + a as u32) % 4);
        // Clusters 0 and 1 share a mode: ties go to cluster 0, so cluster 1 starts empty.
        let modes = [d.cat_row(0), d.cat_row(0), d.cat_row(1)].concat();
        let mut state = State::new(&d, Centers::new(3, 3, 0, d.slots(), 1.0, modes, vec![]), Rng::new(5));
        assert_eq!(state.initial_assignment(), 1);
        assert_eq!(state.sizes[1], 0);
        let largest = first_max(&state.sizes);
        let before = state.sizes[largest];
        state.fill_empty_clusters();
        assert_eq!(state.sizes[1], 1);
        assert_eq!(state.sizes[largest], before - 1);
        assert_consistent(&state);
    }

    #[test]
    fn moves_keep_counts_modes_and_means_consistent_and_refinement_only_lowers_the_cost() {
        for numeric in [false, true] {
            let mut rng = Rng::new(9);
            let codes: Vec<u32> = (0..400 * 5).map(|_| rng.below(4) as u32).collect();
            let d = encoded(400, 5, numeric, |i, a| codes[i * 5 + a]);
            let (modes, means) = initial_centers(&d, 4, Init::Random, &mut Rng::new(1));
            let mut state = State::new(&d, Centers::new(4, d.m, d.p, d.slots(), 0.7, modes, means), Rng::new(2));
            state.initial_assignment();
            state.fill_empty_clusters();
            let mut lloyd = state.clone_counts();
            let moved: usize = (0..5).map(|_| lloyd.pass()).sum();
            assert!(moved > 0, "the test must exercise nearest-centre moves");
            assert_consistent(&lloyd);
            // Refinement straight from the initial assignment, where it has work to do.
            let mut ties = Ties::new(&state);
            let (mut cost, mut refined) = (exact_cost(&state), 0);
            for _ in 0..50 {
                let moves = state.refine_pass(&mut ties);
                let after = exact_cost(&state);
                assert!(after <= cost + 1e-9, "refinement raised the cost from {cost} to {after}");
                assert!(moves == 0 || after < cost);
                (cost, refined) = (after, refined + moves);
                assert_consistent(&state);
                let mut fresh = Ties::new(&state);
                assert_eq!(fresh.count, ties.count);
                for i in 0..d.n {
                    assert_eq!(fresh.flags.flag_counts(d.cat_row(i)), ties.flags.flag_counts(d.cat_row(i)));
                }
                if moves == 0 {
                    break;
                }
            }
            assert_eq!(no_improving_single_move(&state), 0, "refinement converged to a Hartigan optimum");
            assert!(refined > 0, "the test must exercise refinement moves");
        }
    }

    #[test]
    fn nearest_new_row_takes_the_closest_eligible_rows_at_random() {
        let dist = [2, 0, 1, 0, 2, 1];
        let mut rng = Rng::new(1);
        let picks: Vec<usize> = (0..50).map(|_| nearest_new_row(&dist, |i| i != 1, &mut rng).unwrap()).collect();
        assert!(picks.iter().all(|&p| p == 3));
        let picks: Vec<usize> = (0..50).map(|_| nearest_new_row(&dist, |i| i > 1 && i != 3, &mut rng).unwrap()).collect();
        assert!(picks.contains(&2) && picks.contains(&5) && picks.iter().all(|&p| p == 2 || p == 5));
        assert_eq!(nearest_new_row(&dist, |_| false, &mut rng), None);
    }
}
