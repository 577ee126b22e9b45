//! Growing one tree on the binned matrix.
//!
//! Each node builds, for each feature it examines, the per-bin statistics of
//! its samples (count, weight, and class weights or the weighted target sum),
//! then scans the bins for the best threshold (numeric) or the best prefix of
//! the bins sorted by target (categorical). Samples are partitioned in place
//! in one index array, and every buffer is reused from node to node.

use crate::data::{Binned, Target, MISSING_BIN};
use crate::params::{Criterion, Settings};
use crate::rng::Rng;

pub const LEAF: u32 = u32::MAX;
/// Below `bins / SPARSE_RATIO` samples a node sorts its bytes instead of
/// clearing and scanning a whole histogram: deep trees have many tiny nodes.
const SPARSE_RATIO: usize = 4;

/// Bins going left at a split, bin 0 being the missing values.
pub type BinSet = [u64; 4];

#[inline]
pub fn goes_left(bits: &BinSet, bin: u8) -> bool {
    (bits[(bin >> 6) as usize] >> (bin & 63)) & 1 == 1
}

fn set_bit(bits: &mut BinSet, bin: usize) {
    bits[bin >> 6] |= 1 << (bin & 63);
}

/// A tree as grown: splits expressed on bins.
pub struct TrainTree {
    pub feature: Vec<u32>,
    pub bits: Vec<BinSet>,
    /// Numeric splits: the last bin going left (255 = every value).
    pub thr_bin: Vec<u8>,
    /// Internal node: its left child (the right one follows it). Leaf: offset of its value(s).
    pub child: Vec<u32>,
    /// Class probabilities (n_classes per leaf) or one mean per leaf.
    pub values: Vec<f32>,
    /// Weighted impurity decrease per feature.
    pub importance: Vec<f64>,
    pub depth: usize,
}

impl TrainTree {
    fn new(n_features: usize) -> TrainTree {
        TrainTree {
            feature: Vec::new(),
            bits: Vec::new(),
            thr_bin: Vec::new(),
            child: Vec::new(),
            values: Vec::new(),
            importance: vec![0.0; n_features],
            depth: 0,
        }
    }

    fn clear(&mut self) {
        self.feature.clear();
        self.bits.clear();
        self.thr_bin.clear();
        self.child.clear();
        self.values.clear();
        self.importance.fill(0.0);
        self.depth = 0;
    }

    fn push_node(&mut self) -> usize {
        self.feature.push(LEAF);
        self.bits.push([0; 4]);
        self.thr_bin.push(0);
        self.child.push(0);
        self.feature.len() - 1
    }

    pub fn n_leaves(&self) -> usize {
        self.feature.iter().filter(|&&f| f == LEAF).count()
    }

    /// Offset in `values` of the leaf that row `row` of `binned` falls in.
    pub fn leaf_of(&self, binned: &Binned, row: usize) -> usize {
        let mut i = 0;
        loop {
            let f = self.feature[i];
            if f == LEAF {
                return self.child[i] as usize;
            }
            let bin = binned.bins[f as usize * binned.rows + row];
            i = self.child[i] as usize + usize::from(!goes_left(&self.bits[i], bin));
        }
    }
}

/// Non-empty bins of one feature at one node, ascending, with their statistics.
struct Entries {
    bins: Vec<u8>,
    stats: Vec<f64>,
}

struct Pending {
    start: usize,
    end: usize,
    depth: usize,
    node: usize,
    /// Histograms of every feature over the node's samples (histogram mode).
    hist: Option<Vec<HistBin>>,
    /// The node's samples are in `sorted`, per feature ordered by bin.
    sorted: bool,
}

/// Split search state: scratch sums and the best split so far.
struct Scan {
    criterion: Criterion,
    kind: ScanKind,
    min_leaf: f64,
    /// Statistics per bin: [samples, weight, class weights... | weighted target sum].
    width: usize,
    left: Vec<f64>,
    right: Vec<f64>,
    order: Vec<usize>,
    keys: Vec<f64>,
    best_score: f64,
    best_feature: usize,
    best_bits: BinSet,
    best_thr: u8,
    /// Some(missing goes left) when the best split is numeric.
    best_numeric: Option<bool>,
    best_left: Vec<f64>,
}

impl Scan {
    /// The criterion's proxy for one side: higher is purer. The weighted
    /// impurity decrease of a split is side(L) + side(R) - side(parent).
    #[inline(always)]
    fn side(&self, s: &[f64]) -> f64 {
        match self.criterion {
            Criterion::Gini => s[2..].iter().map(|c| c * c).sum::<f64>() / s[1],
            Criterion::Entropy => {
                let w = s[1];
                s[2..].iter().filter(|&&c| c > 0.0).map(|&c| c * c.ln()).sum::<f64>() - w * w.ln()
            }
            Criterion::SquaredError => s[2] * s[2] / s[1],
        }
    }

    /// Sets `right = totals - left` and returns the split's score if it beats the best.
    #[inline(always)]
    fn evaluate(&mut self, totals: &[f64]) -> Option<f64> {
        for ((r, t), l) in self.right.iter_mut().zip(totals).zip(&self.left) {
            *r = t - l;
        }
        if self.left[0] < self.min_leaf || self.right[0] < self.min_leaf {
            return None;
        }
        let score = self.side(&self.left) + self.side(&self.right);
        (score > self.best_score).then_some(score)
    }

    fn record(&mut self, score: f64, feature: usize, bits: BinSet, thr: u8) {
        self.best_score = score;
        self.best_feature = feature;
        self.best_bits = bits;
        self.best_thr = thr;
        self.best_numeric = None;
        self.best_left.copy_from_slice(&self.left);
    }

    /// Numeric splits are frequent improvements: their bin set is built once, at the end.
    #[inline(always)]
    fn record_numeric(&mut self, score: f64, feature: usize, thr: u8, missing_left: bool) {
        self.best_score = score;
        self.best_feature = feature;
        self.best_thr = thr;
        self.best_numeric = Some(missing_left);
        self.best_left.copy_from_slice(&self.left);
    }

    /// The best split's bin set.
    pub fn best_bits(&self) -> BinSet {
        match self.best_numeric {
            Some(missing_left) => numeric_bits(self.best_thr, missing_left),
            None => self.best_bits,
        }
    }

    #[inline(always)]
    fn add_entry(&mut self, e: &Entries, j: usize) {
        let s = &e.stats[j * self.width..(j + 1) * self.width];
        self.left.iter_mut().zip(s).for_each(|(l, v)| *l += v);
    }

    /// Thresholds between consecutive present bins; the missing bin is tried
    /// on both sides, and alone against all values.
    #[inline(never)]
    fn numeric(&mut self, f: usize, e: &Entries, totals: &[f64]) {
        let m = e.bins.len();
        let has_missing = e.bins[0] == MISSING_BIN;
        let first = usize::from(has_missing);
        self.left.fill(0.0);
        for j in first..m {
            self.add_entry(e, j);
            if j + 1 == m {
                if has_missing {
                    if let Some(score) = self.evaluate(totals) {
                        self.record_numeric(score, f, 255, false);
                    }
                }
                break;
            }
            // Threshold midway between the two present bins, as an exact
            // splitter puts it midway between two values.
            let thr = midpoint_bin(e.bins[j], e.bins[j + 1]);
            if let Some(score) = self.evaluate(totals) {
                let missing_left = !has_missing && self.left[0] >= self.right[0];
                self.record_numeric(score, f, thr, missing_left);
            }
            if has_missing {
                self.add_entry(e, 0);
                if let Some(score) = self.evaluate(totals) {
                    self.record_numeric(score, f, thr, true);
                }
                self.left.iter_mut().zip(&e.stats[..self.width]).for_each(|(l, v)| *l -= v);
            }
        }
    }

    /// `numeric` for regression, on three scalars instead of stat vectors:
    /// deep regression trees scan millions of candidate thresholds.
    #[inline(never)]
    fn numeric_values(&mut self, f: usize, e: &Entries, totals: &[f64]) {
        let st = &e.stats;
        let m = e.bins.len();
        let has_missing = e.bins[0] == MISSING_BIN;
        let missing = if has_missing { [st[0], st[1], st[2]] } else { [0.0; 3] };
        let mut scan = ValueScan::new(self.kind, totals, self.min_leaf, self.best_score, missing);
        let mut left = [0.0; 3];
        for j in usize::from(has_missing)..m {
            left[0] += st[3 * j];
            left[1] += st[3 * j + 1];
            left[2] += st[3 * j + 2];
            let next = if j + 1 < m { Some(e.bins[j + 1]) } else { None };
            scan.boundary(e.bins[j], next, left);
        }
        self.take_value_scan(f, scan);
    }

    /// The same scan straight from a small node's samples sorted by bin, with
    /// no per-bin table: most nodes of a deep tree hold a handful of samples.
    /// Returns false when the feature is constant at the node.
    #[inline(never)]
    fn sparse_values(&mut self, f: usize, col: &[u8], idx: &[u32], acc: &ValueAcc, keys: &mut Vec<u32>, totals: &[f64]) -> bool {
        sort_keys(col, idx, keys);
        self.sorted_values(f, keys, |j| (acc.w[j], acc.wy[j]), totals)
    }

    /// The scan over `bin << 24 | j` keys sorted by bin, `at(j)` giving
    /// sample j's weight and weighted target.
    #[inline(always)]
    fn sorted_values(&mut self, f: usize, keys: &[u32], at: impl Fn(usize) -> (f64, f64), totals: &[f64]) -> bool {
        let (first_bin, last_bin) = ((keys[0] >> 24) as u8, (keys[keys.len() - 1] >> 24) as u8);
        if first_bin == last_bin {
            return false;
        }
        let mut missing = [0.0; 3];
        let mut k = 0;
        while k < keys.len() && keys[k] >> 24 == 0 {
            let (w, wy) = at((keys[k] & 0xFF_FFFF) as usize);
            missing = [missing[0] + 1.0, missing[1] + w, missing[2] + wy];
            k += 1;
        }
        let mut scan = ValueScan::new(self.kind, totals, self.min_leaf, self.best_score, missing);
        let mut left = [0.0; 3];
        let last = keys.len() - 1;
        while k < last {
            let (key, next) = (keys[k], keys[k + 1]);
            let (w, wy) = at((key & 0xFF_FFFF) as usize);
            left = [left[0] + 1.0, left[1] + w, left[2] + wy];
            let (bin, next_bin) = ((key >> 24) as u8, (next >> 24) as u8);
            if bin != next_bin {
                scan.boundary(bin, Some(next_bin), left);
            }
            k += 1;
        }
        if scan.has_missing {
            let (w, wy) = at((keys[last] & 0xFF_FFFF) as usize);
            left = [left[0] + 1.0, left[1] + w, left[2] + wy];
            scan.boundary((keys[last] >> 24) as u8, None, left);
        }
        self.take_value_scan(f, scan);
        true
    }

    /// `sorted_values` for the squared error when the node has no missing
    /// value (the common case): the same arithmetic in a tighter loop that
    /// remembers only where the best split was.
    #[inline(always)]
    fn sorted_squared(&mut self, f: usize, keys: &[u32], wwy: &[[f64; 2]], totals: &[f64]) -> bool {
        let last = keys.len() - 1;
        if keys[0] >> 24 == keys[last] >> 24 {
            return false;
        }
        let t = [totals[0], totals[1], totals[2]];
        let min_leaf = self.min_leaf;
        let mut best = self.best_score;
        let mut found: Option<(usize, [f64; 3])> = None;
        let mut left = [0.0f64; 3];
        for (k, (&key, &next)) in keys[..last].iter().zip(&keys[1..]).enumerate() {
            let [w, wy] = wwy[(key & 0xFF_FFFF) as usize];
            left = [left[0] + 1.0, left[1] + w, left[2] + wy];
            if key >> 24 != next >> 24 {
                let l = left;
                let r = [t[0] - l[0], t[1] - l[1], t[2] - l[2]];
                if l[0] >= min_leaf && r[0] >= min_leaf {
                    let den = l[1] * r[1];
                    let num = l[2] * l[2] * r[1] + r[2] * r[2] * l[1];
                    if num > best * den {
                        best = num / den;
                        found = Some((k, l));
                    }
                }
            }
        }
        if let Some((k, l)) = found {
            let thr = midpoint_bin((keys[k] >> 24) as u8, (keys[k + 1] >> 24) as u8);
            let mut scan = ValueScan::new(self.kind, totals, min_leaf, best, [0.0; 3]);
            scan.found = Some((thr, 2.0 * l[0] >= t[0], l));
            self.take_value_scan(f, scan);
        }
        true
    }

    fn take_value_scan(&mut self, f: usize, scan: ValueScan) {
        if let Some((thr, missing_left, l)) = scan.found {
            match self.width {
                4 => self.left.copy_from_slice(&[l[0], l[1], l[1] - l[2], l[2]]),
                _ => self.left.copy_from_slice(&l),
            }
            self.record_numeric(scan.best, f, thr, missing_left);
        }
    }

    /// Categories (missing being one) sorted by mean target, or by the share of
    /// one class, then every prefix of that order is a candidate left set. For
    /// regression and two classes this finds the best partition exactly
    /// (Fisher 1958; Breiman et al. 1984); with more classes each class's order
    /// is tried, as a heuristic.
    fn categorical(&mut self, f: usize, n_bins: usize, e: &Entries, totals: &[f64], n_classes: usize) {
        let orders: std::ops::Range<usize> = match n_classes {
            0 => 0..1,
            2 => 1..2,
            k => 0..k,
        };
        for class in orders {
            if n_classes > 2 && totals[2 + class] == 0.0 {
                continue;
            }
            let col = if n_classes == 0 { 2 } else { 2 + class };
            self.keys.clear();
            self.keys.extend((0..e.bins.len()).map(|j| e.stats[j * self.width + col] / e.stats[j * self.width + 1]));
            self.order.clear();
            self.order.extend(0..e.bins.len());
            let keys = &self.keys;
            self.order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
            self.left.fill(0.0);
            for pos in 0..e.bins.len() - 1 {
                self.add_entry(e, self.order[pos]);
                if let Some(score) = self.evaluate(totals) {
                    let bits = self.category_bits(e, pos, n_bins);
                    self.record(score, f, bits, 0);
                }
            }
        }
    }

    /// Left set of a categorical split: the first `pos + 1` ordered bins, plus,
    /// on the missing side, every bin absent from this node (unseen here).
    fn category_bits(&self, e: &Entries, pos: usize, n_bins: usize) -> BinSet {
        let mut bits = [0u64; 4];
        self.order[..=pos].iter().for_each(|&j| set_bit(&mut bits, e.bins[j] as usize));
        let missing_left = if e.bins[0] == MISSING_BIN { goes_left(&bits, MISSING_BIN) } else { self.left[0] >= self.right[0] };
        if missing_left {
            let mut present = [0u64; 4];
            e.bins.iter().for_each(|&b| set_bit(&mut present, b as usize));
            for b in 0..n_bins {
                if !goes_left(&present, b as u8) {
                    set_bit(&mut bits, b);
                }
            }
        }
        bits
    }
}

/// What `ValueScan` scores: the squared error on (samples, weight, weighted
/// target sum), or, for two classes, gini / entropy on (samples, weight,
/// weight of class 1).
#[derive(Clone, Copy, PartialEq)]
enum ScanKind {
    Squared,
    Gini2,
    Entropy2,
}

/// Threshold search on (samples, weight, weighted sum) triples: regression,
/// and two classes (the sum being class 1's weight).
struct ValueScan {
    kind: ScanKind,
    totals: [f64; 3],
    missing: [f64; 3],
    has_missing: bool,
    min_leaf: f64,
    best: f64,
    /// (threshold bin, missing goes left, left statistics) of the best split.
    found: Option<(u8, bool, [f64; 3])>,
}

impl ValueScan {
    fn new(kind: ScanKind, totals: &[f64], min_leaf: f64, best: f64, missing: [f64; 3]) -> ValueScan {
        let totals = [totals[0], totals[1], totals[2]];
        ValueScan { kind, totals, missing, has_missing: missing[0] > 0.0, min_leaf, best, found: None }
    }

    /// x ln x, 0 at 0.
    #[inline(always)]
    fn xlnx(x: f64) -> f64 {
        if x > 0.0 {
            x * x.ln()
        } else {
            0.0
        }
    }

    #[inline(always)]
    fn consider(&mut self, thr: u8, missing_left: bool, l: [f64; 3]) {
        let t = self.totals;
        let r = [t[0] - l[0], t[1] - l[1], t[2] - l[2]];
        if l[0] >= self.min_leaf && r[0] >= self.min_leaf {
            if self.kind == ScanKind::Entropy2 {
                let side = |s: [f64; 3]| Self::xlnx(s[2]) + Self::xlnx(s[1] - s[2]) - Self::xlnx(s[1]);
                let score = side(l) + side(r);
                if score > self.best {
                    self.best = score;
                    self.found = Some((thr, missing_left, l));
                }
                return;
            }
            // score = ql/l1 + qr/r1 > best, without dividing (weights are
            // positive); q = s² (squared error) or c0² + c1² (gini).
            let q = |s: [f64; 3]| match self.kind {
                ScanKind::Gini2 => (s[1] - s[2]) * (s[1] - s[2]) + s[2] * s[2],
                _ => s[2] * s[2],
            };
            let den = l[1] * r[1];
            let num = q(l) * r[1] + q(r) * l[1];
            if num > self.best * den {
                self.best = num / den;
                self.found = Some((thr, missing_left, l));
            }
        }
    }

    /// Candidates after value bin `bin`, given the values up to it (`left`).
    #[inline(always)]
    fn boundary(&mut self, bin: u8, next: Option<u8>, left: [f64; 3]) {
        match next {
            None if self.has_missing => self.consider(255, false, left),
            None => {}
            Some(next) => {
                let thr = midpoint_bin(bin, next);
                self.consider(thr, !self.has_missing && 2.0 * left[0] >= self.totals[0], left);
                if self.has_missing {
                    let m = self.missing;
                    self.consider(thr, true, [left[0] + m[0], left[1] + m[1], left[2] + m[2]]);
                }
            }
        }
    }
}

/// Threshold midway between two present bins, as an exact splitter puts it
/// midway between two values.
fn midpoint_bin(lo: u8, hi: u8) -> u8 {
    lo + (hi - lo - 1) / 2
}

fn numeric_bits(thr: u8, missing_left: bool) -> BinSet {
    let mut bits = [0u64; 4];
    // Bins 0..=thr, then bin 0 (missing) cleared.
    let last = thr as usize;
    for (w, word) in bits.iter_mut().enumerate() {
        let lo = w * 64;
        if last >= lo + 63 {
            *word = u64::MAX;
        } else if last >= lo {
            *word = (1u64 << (last - lo + 1)) - 1;
        }
    }
    bits[0] &= !1;
    if missing_left {
        set_bit(&mut bits, 0);
    }
    bits
}

pub struct Builder<'a> {
    binned: &'a Binned,
    target: &'a Target,
    settings: &'a Settings,
    n_classes: usize,
    mtry: usize,
    samples: Vec<u32>,
    w: Vec<f64>,
    /// Weight times target (regression only).
    wy: Vec<f64>,
    /// The node's samples' weight, weighted target and class, gathered once per
    /// node so that each feature's pass reads only its own column at random.
    local_w: Vec<f64>,
    local_wy: Vec<f64>,
    local_y: Vec<u32>,
    hist: Vec<f64>,
    sort_keys: Vec<u32>,
    entries: Entries,
    scan: Scan,
    features: Vec<usize>,
    stack: Vec<Pending>,
    stack_stats: Vec<f64>,
    /// Histogram subtraction: when most features are examined at every node
    /// (regression's default), a node of at least `hist_min` samples carries
    /// the histograms of all features; of its children only the smaller one's
    /// are accumulated, the larger one's are the parent's minus the smaller's.
    hist_min: usize,
    /// Start of each feature's histogram in a node's buffer (in f64s), and the total.
    hist_offsets: Vec<usize>,
    hist_pool: Vec<Vec<HistBin>>,
    tree: TrainTree,
    /// Two classes: a bin's (samples, weight, class 1's weight) are integers
    /// packed in one u64 (21 bits each), so a sample is one addition.
    packed: bool,
    local_pk: Vec<u64>,
    /// Every row's packed statistics for this tree (count 0 out of bag).
    row_pk: Vec<u64>,
    has_categorical: bool,
    hist_pk: Vec<u64>,
    /// Presorted mode (same condition, nodes under `hist_min` samples): per
    /// feature, the node's `bin << 24 | position` keys sorted by bin, at the node's
    /// range of `samples` in that feature's stripe of `sorted_keys`. Sorted
    /// once when a node enters the mode; a split partitions each stripe
    /// stably, so no node below sorts again.
    presort: bool,
    sorted_keys: Vec<u32>,
    /// (weight, weighted target) per row.
    wwy: Vec<[f64; 2]>,
    /// Presorted keys hold a position in `samples` as it was when their
    /// subtree entered the mode, not a row: `pos_wwy` is that position's
    /// (weight, weighted target), so a scan reads a few KB, not a whole column's rows.
    pos_wwy: Vec<[f64; 2]>,
    /// (weighted target)² / weight per row: a node's best possible score is their sum.
    pure: Vec<f64>,
    goes_left: Vec<u8>,
    spill: Vec<u32>,
}

impl<'a> Builder<'a> {
    pub fn new(binned: &'a Binned, target: &'a Target, settings: &'a Settings) -> Builder<'a> {
        let n_classes = target.n_classes();
        let width = if n_classes == 0 { 3 } else { 2 + n_classes };
        let n_features = binned.features.len();
        Builder {
            binned,
            target,
            settings,
            n_classes,
            mtry: settings.max_features.resolve(n_features),
            samples: Vec::with_capacity(binned.rows),
            w: vec![0.0; binned.rows],
            wy: if n_classes == 0 { vec![0.0; binned.rows] } else { Vec::new() },
            local_w: Vec::new(),
            local_wy: Vec::new(),
            local_y: Vec::new(),
            hist: vec![0.0; 256 * width],
            sort_keys: Vec::new(),
            entries: Entries { bins: Vec::new(), stats: Vec::new() },
            scan: Scan {
                criterion: settings.criterion,
                kind: match settings.criterion {
                    Criterion::Gini => ScanKind::Gini2,
                    Criterion::Entropy => ScanKind::Entropy2,
                    Criterion::SquaredError => ScanKind::Squared,
                },
                min_leaf: settings.min_samples_leaf as f64,
                width,
                left: vec![0.0; width],
                right: vec![0.0; width],
                order: Vec::new(),
                keys: Vec::new(),
                best_score: f64::NEG_INFINITY,
                best_feature: 0,
                best_bits: [0; 4],
                best_thr: 0,
                best_numeric: None,
                best_left: vec![0.0; width],
            },
            features: (0..n_features).collect(),
            stack: Vec::new(),
            stack_stats: Vec::new(),
            hist_min: {
                let mtry = settings.max_features.resolve(n_features);
                let max_bins = binned.n_bins.iter().copied().max().unwrap_or(2);
                // Measured: a histogram pays off from about as many samples as bins.
                if n_classes == 0 && 2 * mtry >= n_features {
                    max_bins.max(1)
                } else {
                    usize::MAX
                }
            },
            hist_offsets: binned
                .n_bins
                .iter()
                .scan(0, |at, &n| {
                    let o = *at;
                    *at += n;
                    Some(o)
                })
                .chain(std::iter::once(binned.n_bins.iter().sum::<usize>()))
                .collect(),
            hist_pool: Vec::new(),
            tree: TrainTree::new(n_features),
            packed: n_classes == 2 && {
                let draws = if settings.bootstrap { (settings.max_samples * binned.rows as f64).round() as usize } else { binned.rows };
                binned.rows.max(draws) < 1 << PACK_BITS
            },
            local_pk: Vec::new(),
            row_pk: Vec::new(),
            has_categorical: binned.features.iter().any(|f| f.is_categorical()),
            hist_pk: vec![0; 256],
            presort: n_classes == 0 && 2 * settings.max_features.resolve(n_features) >= n_features && binned.rows < 1 << 24,
            sorted_keys: Vec::new(),
            wwy: Vec::new(),
            pos_wwy: Vec::new(),
            pure: Vec::new(),
            goes_left: Vec::new(),
            spill: Vec::new(),
        }
    }

    /// Grows a tree on the rows with a positive count (their bootstrap multiplicity).
    /// The tree's buffers are the builder's, reused from tree to tree.
    pub fn grow(&mut self, counts: &[u32], rng: &mut Rng) -> &TrainTree {
        self.load(counts);
        let width = self.scan.width;
        let mut tree = std::mem::replace(&mut self.tree, TrainTree::new(0));
        tree.clear();
        let mut totals = vec![0.0; width];
        self.stack_stats.resize(width, 0.0);
        let (samples, end) = (&self.samples, self.samples.len());
        accumulate_node(self.target, &self.w, &self.wy, samples, &mut self.stack_stats[..width]);
        let hist = (end >= self.hist_min).then(|| {
            let mut h = self.take_hist();
            gather_into(&self.samples, &self.w, &self.wy, &mut self.local_pk, &mut self.local_wy);
            hist_add::<true>(self.binned, &self.hist_offsets, &self.samples, &self.local_pk, &self.local_wy, &mut h);
            h
        });
        self.stack.push(Pending { start: 0, end, depth: 0, node: tree.push_node(), hist, sorted: false });
        while let Some(mut job) = self.stack.pop() {
            let base = self.stack_stats.len() - width;
            totals.copy_from_slice(&self.stack_stats[base..]);
            self.stack_stats.truncate(base);
            tree.depth = tree.depth.max(job.depth);
            if !self.splittable(&job, &totals) || !self.find_split(&mut job, &totals, rng) {
                self.make_leaf(&mut tree, job.node, &totals);
                if let Some(h) = job.hist.take() {
                    self.hist_pool.push(h);
                }
                continue;
            }
            self.split(&mut tree, job, &totals);
        }
        self.tree = tree;
        &self.tree
    }

    fn take_hist(&mut self) -> Vec<HistBin> {
        let len = self.hist_offsets[self.hist_offsets.len() - 1];
        match self.hist_pool.pop() {
            Some(mut h) => {
                h.fill(HistBin::default());
                h
            }
            None => vec![HistBin::default(); len],
        }
    }

    /// The children's histograms from the parent's: the smaller child's
    /// samples are accumulated (into a new buffer if it needs one, else
    /// subtracted straight from the parent's), the larger child keeps the rest.
    fn child_hists(&mut self, parent: Option<Vec<HistBin>>, start: usize, mid: usize, end: usize) -> (Option<Vec<HistBin>>, Option<Vec<HistBin>>) {
        let Some(mut h) = parent else { return (None, None) };
        let (n_left, n_right) = (mid - start, end - mid);
        if n_left.max(n_right) < self.hist_min {
            self.hist_pool.push(h);
            return (None, None);
        }
        let left_small = n_left <= n_right;
        let small = if left_small { &self.samples[start..mid] } else { &self.samples[mid..end] };
        gather_into(small, &self.w, &self.wy, &mut self.local_pk, &mut self.local_wy);
        let small_hist = if n_left.min(n_right) >= self.hist_min {
            let mut hs = self.take_hist();
            let small = if left_small { &self.samples[start..mid] } else { &self.samples[mid..end] };
            hist_add::<true>(self.binned, &self.hist_offsets, small, &self.local_pk, &self.local_wy, &mut hs);
            subtract_chunked(&mut h, &hs);
            Some(hs)
        } else {
            hist_add::<false>(self.binned, &self.hist_offsets, small, &self.local_pk, &self.local_wy, &mut h);
            None
        };
        if left_small {
            (small_hist, Some(h))
        } else {
            (Some(h), small_hist)
        }
    }

    fn load(&mut self, counts: &[u32]) {
        self.samples.clear();
        for (i, &c) in counts.iter().enumerate() {
            self.w[i] = c as f64;
            if c > 0 {
                self.samples.push(i as u32);
            }
        }
        if let Target::Values(y) = self.target {
            self.wy.iter_mut().zip(y).zip(&self.w).for_each(|((wy, y), w)| *wy = w * y);
        }
        if let (true, Target::Classes { y, .. }) = (self.packed, self.target) {
            self.row_pk.clear();
            self.row_pk.extend(counts.iter().zip(y).map(|(&c, &y)| {
                let c = c as u64;
                1 | c << PACK_BITS | if y == 1 { c << (2 * PACK_BITS) } else { 0 }
            }));
        }
        if self.presort {
            self.wwy.clear();
            self.wwy.extend(self.w.iter().zip(&self.wy).map(|(&w, &wy)| [w, wy]));
            self.sorted_keys.resize(self.samples.len() * self.features.len(), 0);
            self.pure.clear();
            self.pure.extend(self.wwy.iter().map(|&[w, wy]| wy * wy / w));
            self.pos_wwy.resize(self.samples.len(), [0.0; 2]);
            self.goes_left.resize(self.samples.len(), 0);
        }
    }

    #[inline(never)]
    fn splittable(&self, job: &Pending, totals: &[f64]) -> bool {
        let n = job.end - job.start;
        let s = self.settings;
        if job.depth >= s.max_depth || n < s.min_samples_split || n < 2 * s.min_samples_leaf {
            return false;
        }
        match self.target {
            Target::Classes { .. } => totals[2..].iter().filter(|&&c| c > 0.0).count() > 1,
            Target::Values(y) => {
                let node = &self.samples[job.start..job.end];
                let first = y[node[0] as usize];
                node.iter().any(|&i| y[i as usize] != first)
            }
        }
    }

    /// Examines features in random order until `mtry` non-constant ones have
    /// been scanned (constant ones do not count, as in scikit-learn).
    fn find_split(&mut self, job: &mut Pending, totals: &[f64], rng: &mut Rng) -> bool {
        self.scan.best_score = f64::NEG_INFINITY;
        let perfect = self.gather(job, totals);
        if self.presort && job.hist.is_none() && !job.sorted {
            self.sort_node(job);
        }
        // A split whose children are both pure cannot be beaten, only tied
        // (and ties keep the first): stop looking. Most nodes of a deep tree end this way.
        let good_enough = perfect - 1e-10 * perfect.abs().max(1.0);
        let p = self.features.len();
        let mut examined = 0;
        for j in 0..p {
            if examined >= self.mtry || self.scan.best_score >= good_enough {
                break;
            }
            let pick = j + rng.below(p - j);
            self.features.swap(j, pick);
            let f = self.features[j];
            if job.sorted {
                let n = self.samples.len();
                let keys = &self.sorted_keys[f * n + job.start..f * n + job.end];
                let found = if self.binned.features[f].is_categorical() {
                    self.entries.bins.clear();
                    self.entries.stats.clear();
                    let wwy = &self.pos_wwy;
                    entries_from_keys(keys, 3, &mut self.entries, |s, j| {
                        s[0] += 1.0;
                        s[1] += wwy[j][0];
                        s[2] += wwy[j][1];
                    });
                    let ok = self.entries.bins.len() >= 2;
                    if ok {
                        self.scan.categorical(f, self.binned.n_bins[f], &self.entries, totals, self.n_classes);
                    }
                    ok
                } else {
                    let wwy = &self.pos_wwy;
                    if self.scan.kind == ScanKind::Squared && keys[0] >> 24 != 0 {
                        self.scan.sorted_squared(f, keys, wwy, totals)
                    } else {
                        self.scan.sorted_values(f, keys, |j| (wwy[j][0], wwy[j][1]), totals)
                    }
                };
                examined += usize::from(found);
                continue;
            }
            if let Some(h) = &job.hist {
                let n_bins = self.binned.n_bins[f];
                entries_from_hist(&h[self.hist_offsets[f]..self.hist_offsets[f] + n_bins], &mut self.entries);
                if self.entries.bins.len() < 2 {
                    continue;
                }
                examined += 1;
                if self.binned.features[f].is_categorical() {
                    self.scan.categorical(f, n_bins, &self.entries, totals, self.n_classes);
                } else {
                    self.scan.numeric_values(f, &self.entries, totals);
                }
                continue;
            }
            if self.sparse_regression(f, job, totals) {
                match self.scan_sparse_values(f, job, totals) {
                    true => examined += 1,
                    false => {}
                }
                continue;
            }
            if self.n_classes == 2 && !self.binned.features[f].is_categorical() {
                examined += usize::from(self.scan_two_classes(f, job, totals));
                continue;
            }
            self.collect(f, job.start, job.end);
            if self.entries.bins.len() < 2 {
                continue;
            }
            examined += 1;
            if self.binned.features[f].is_categorical() {
                self.scan.categorical(f, self.binned.n_bins[f], &self.entries, totals, self.n_classes);
            } else if self.n_classes == 0 {
                self.scan.numeric_values(f, &self.entries, totals);
            } else {
                self.scan.numeric(f, &self.entries, totals);
            }
        }
        self.scan.best_score > f64::NEG_INFINITY
    }

    /// A numeric feature with two classes: the regression scans on
    /// (samples, weight, class 1's weight). False if the feature is constant here.
    fn scan_two_classes(&mut self, f: usize, job: &Pending, totals: &[f64]) -> bool {
        let totals3 = [totals[0], totals[1], totals[3]];
        let col = self.binned.col(f);
        let n_bins = self.binned.n_bins[f];
        let idx = &self.samples[job.start..job.end];
        let acc = ValueAcc { w: &self.local_w, wy: &self.local_wy };
        if idx.len() * SPARSE_RATIO < n_bins {
            if self.packed {
                let pk = &self.local_pk;
                sort_keys(col, idx, &mut self.sort_keys);
                let mask = (1u64 << PACK_BITS) - 1;
                return self.scan.sorted_values(f, &self.sort_keys, |j| (((pk[j] >> PACK_BITS) & mask) as f64, (pk[j] >> (2 * PACK_BITS)) as f64), &totals3);
            }
            return self.scan.sparse_values(f, col, idx, &acc, &mut self.sort_keys, &totals3);
        }
        let e = &mut self.entries;
        e.bins.clear();
        e.stats.clear();
        if self.packed {
            dense_packed(col, idx, &self.local_pk, n_bins, &mut self.hist_pk, e);
        } else {
            dense(&acc, col, idx, 3, n_bins, &mut self.hist, e);
        }
        if e.bins.len() < 2 {
            return false;
        }
        self.scan.numeric_values(f, &self.entries, &totals3);
        true
    }

    /// Enters presorted mode: sorts the node's keys of every feature.
    fn sort_node(&mut self, job: &mut Pending) {
        let n = self.samples.len();
        let idx = &self.samples[job.start..job.end];
        let start = job.start as u32;
        for (p, &i) in self.pos_wwy[job.start..job.end].iter_mut().zip(idx) {
            *p = self.wwy[i as usize];
        }
        let mut counts = [0u32; 257];
        for f in 0..self.features.len() {
            let col = self.binned.col(f);
            let keys = &mut self.sorted_keys[f * n + job.start..f * n + job.end];
            if idx.len() < 64 {
                keys.iter_mut().zip(idx).zip(start..).for_each(|((k, &i), p)| *k = (col[i as usize] as u32) << 24 | p);
                keys.sort_unstable();
                continue;
            }
            // Counting sort by bin: `samples` is ascending, so this is the
            // same order as sorting the keys.
            counts.fill(0);
            idx.iter().for_each(|&i| counts[col[i as usize] as usize + 1] += 1);
            for b in 1..257 {
                counts[b] += counts[b - 1];
            }
            for (&i, p) in idx.iter().zip(start..) {
                let b = col[i as usize] as usize;
                keys[counts[b] as usize] = (b as u32) << 24 | p;
                counts[b] += 1;
            }
        }
        job.sorted = true;
    }

    /// Splits every feature's sorted keys of the node stably into the
    /// children's (left ones first), as `partition` split `samples`.
    #[inline(never)]
    fn partition_sorted(&mut self, job: &Pending, split_feature: usize, bits: &BinSet) {
        let n = self.samples.len();
        // The split feature's keys carry every sample's bin and position.
        for &key in &self.sorted_keys[split_feature * n + job.start..split_feature * n + job.end] {
            self.goes_left[(key & 0xFF_FFFF) as usize] = goes_left(bits, (key >> 24) as u8) as u8;
        }
        let flags = &self.goes_left;
        let len = job.end - job.start;
        if self.spill.len() < len {
            self.spill.resize(len, 0);
        }
        let spill = &mut self.spill[..len];
        for f in 0..self.features.len() {
            let keys = &mut self.sorted_keys[f * n + job.start..f * n + job.end];
            // Branch-free: each key is written to both sides, and the side it
            // belongs to advances.
            let (mut l, mut r) = (0, 0);
            for k in 0..len {
                let key = keys[k];
                let left = flags[(key & 0xFF_FFFF) as usize] as usize;
                keys[l] = key;
                spill[r] = key;
                l += left;
                r += 1 - left;
            }
            keys[l..].copy_from_slice(&spill[..r]);
        }
    }

    /// Gathers the node's weights and targets; returns the score a split with
    /// two pure children would have (the best possible).
    fn gather(&mut self, job: &Pending, totals: &[f64]) -> f64 {
        let idx = &self.samples[job.start..job.end];
        if let (true, Target::Classes { y, .. }) = (self.packed, self.target) {
            // Two classes, packed: one pass; the plain arrays only for categorical features.
            let w = &self.w;
            let row_pk = &self.row_pk;
            self.local_pk.clear();
            self.local_pk.extend(idx.iter().map(|&i| row_pk[i as usize]));
            if self.has_categorical {
                self.local_w.clear();
                self.local_w.extend(idx.iter().map(|&i| w[i as usize]));
                self.local_y.clear();
                self.local_y.extend(idx.iter().map(|&i| y[i as usize]));
            }
            // Pure sides: sum c^2/w = w (gini); sum c ln c - w ln w = 0 (entropy).
            return if self.settings.criterion == Criterion::Entropy { 0.0 } else { totals[1] };
        }
        if !self.presort {
            self.local_w.clear();
            self.local_w.extend(idx.iter().map(|&i| self.w[i as usize]));
        }
        match self.target {
            Target::Classes { y, .. } => {
                self.local_y.clear();
                self.local_y.extend(idx.iter().map(|&i| y[i as usize]));
                if self.n_classes == 2 {
                    // Two classes are scanned like a regression on class 1's weight.
                    self.local_wy.clear();
                    self.local_wy.extend(self.local_w.iter().zip(&self.local_y).map(|(&w, &y)| if y == 1 { w } else { 0.0 }));
                }
                match self.settings.criterion {
                    // Pure sides: sum c^2/w = w (gini); sum c ln c - w ln w = 0 (entropy).
                    Criterion::Entropy => 0.0,
                    _ => self.local_w.iter().sum(),
                }
            }
            Target::Values(_) if self.presort => {
                // Presorted and histogram nodes read `wwy` and the
                // histograms, not the gathered arrays.
                idx.iter().map(|&i| self.pure[i as usize]).sum()
            }
            Target::Values(_) => {
                self.local_wy.clear();
                self.local_wy.extend(idx.iter().map(|&i| self.wy[i as usize]));
                // Sides of constant target: s^2/w = sum w y^2.
                self.local_wy.iter().zip(&self.local_w).map(|(wy, w)| wy * wy / w).sum()
            }
        }
    }

    /// Small regression nodes on numeric features take the fused path.
    fn sparse_regression(&self, f: usize, job: &Pending, _totals: &[f64]) -> bool {
        self.n_classes == 0 && !self.binned.features[f].is_categorical() && (job.end - job.start) * SPARSE_RATIO < self.binned.n_bins[f]
    }

    fn scan_sparse_values(&mut self, f: usize, job: &Pending, totals: &[f64]) -> bool {
        let acc = ValueAcc { w: &self.local_w, wy: &self.local_wy };
        let idx = &self.samples[job.start..job.end];
        self.scan.sparse_values(f, self.binned.col(f), idx, &acc, &mut self.sort_keys, totals)
    }

    /// Fills `entries` with the non-empty bins of feature `f` over the node's samples.
    fn collect(&mut self, f: usize, start: usize, end: usize) {
        let col = self.binned.col(f);
        let n_bins = self.binned.n_bins[f];
        let idx = &self.samples[start..end];
        let width = self.scan.width;
        let e = &mut self.entries;
        e.bins.clear();
        e.stats.clear();
        let (w, wy, y) = (&self.local_w[..], &self.local_wy[..], &self.local_y[..]);
        match self.target {
            Target::Classes { .. } => collect_with(&ClassAcc { w, y }, col, idx, width, n_bins, &mut self.hist, &mut self.sort_keys, e),
            Target::Values(_) => collect_with(&ValueAcc { w, wy }, col, idx, width, n_bins, &mut self.hist, &mut self.sort_keys, e),
        }
    }

    fn make_leaf(&self, tree: &mut TrainTree, node: usize, totals: &[f64]) {
        tree.child[node] = tree.values.len() as u32;
        match self.n_classes {
            0 => tree.values.push((totals[2] / totals[1]) as f32),
            _ => tree.values.extend(totals[2..].iter().map(|c| (c / totals[1]) as f32)),
        }
    }

    fn split(&mut self, tree: &mut TrainTree, mut job: Pending, totals: &[f64]) {
        let f = self.scan.best_feature;
        let bits = self.scan.best_bits();
        let mid = partition(&mut self.samples[job.start..job.end], self.binned.col(f), &bits, &mut self.spill) + job.start;
        let st = self.settings;
        let can_split = |n: usize| n >= st.min_samples_split && n >= 2 * st.min_samples_leaf && job.depth + 1 < st.max_depth;
        let (left_hist, right_hist) = self.child_hists(job.hist.take(), job.start, mid, job.end);
        // Children that are leaves whatever their samples need no sorted keys.
        if job.sorted && (can_split(mid - job.start) || can_split(job.end - mid)) {
            self.partition_sorted(&job, f, &bits);
        }
        let scan = &self.scan;
        let left = tree.push_node();
        tree.push_node();
        tree.feature[job.node] = f as u32;
        tree.bits[job.node] = bits;
        tree.thr_bin[job.node] = scan.best_thr;
        tree.child[job.node] = left as u32;
        tree.importance[f] += scan.best_score - scan.side(totals);
        // Right first so the left child is grown next (depth first, small stack).
        self.stack_stats.extend(totals.iter().zip(&scan.best_left).map(|(t, l)| t - l));
        self.stack.push(Pending { start: mid, end: job.end, depth: job.depth + 1, node: left + 1, hist: right_hist, sorted: job.sorted });
        self.stack_stats.extend_from_slice(&scan.best_left);
        self.stack.push(Pending { start: job.start, end: mid, depth: job.depth + 1, node: left, hist: left_hist, sorted: job.sorted });
    }
}

/// The samples' packed (count 1, weight) and weighted targets, for `hist_add`.
fn gather_into(idx: &[u32], w: &[f64], wy: &[f64], local_pk: &mut Vec<u64>, local_wy: &mut Vec<f64>) {
    local_pk.clear();
    local_pk.extend(idx.iter().map(|&i| 1 | (w[i as usize] as u64) << 32));
    local_wy.clear();
    local_wy.extend(idx.iter().map(|&i| wy[i as usize]));
}

/// A regression histogram bin: samples (low 32 bits) and weight (high 32
/// bits), integers packed so that one addition counts both, and the weighted
/// target sum. Packed fields subtract exactly: a child's never exceed its parent's.
#[derive(Clone, Copy, Default)]
pub struct HistBin {
    nw: u64,
    wy: f64,
}

/// Adds (ADD) or subtracts the samples `idx` (packed counts and weighted
/// targets gathered in `pk`, `lwy`) to / from the histograms of every feature.
#[inline(never)]
fn hist_add<const ADD: bool>(binned: &Binned, offsets: &[usize], idx: &[u32], pk: &[u64], lwy: &[f64], h: &mut [HistBin]) {
    #[inline(always)]
    fn one<const ADD: bool>(s: &mut HistBin, pk: u64, wy: f64) {
        if ADD {
            s.nw = s.nw.wrapping_add(pk);
            s.wy += wy;
        } else {
            s.nw = s.nw.wrapping_sub(pk);
            s.wy -= wy;
        }
    }
    for f in 0..binned.features.len() {
        let col = binned.col(f);
        let hf = &mut h[offsets[f]..offsets[f + 1]];
        let mut chunks = idx.chunks_exact(4);
        let mut j = 0;
        for c in &mut chunks {
            for k in 0..4 {
                one::<ADD>(&mut hf[col[c[k] as usize] as usize], pk[j + k], lwy[j + k]);
            }
            j += 4;
        }
        for (k, &i) in chunks.remainder().iter().enumerate() {
            one::<ADD>(&mut hf[col[i as usize] as usize], pk[j + k], lwy[j + k]);
        }
    }
}

fn subtract_chunked(h: &mut [HistBin], small: &[HistBin]) {
    let mut a = h.chunks_exact_mut(4);
    let mut b = small.chunks_exact(4);
    for (x, y) in (&mut a).zip(&mut b) {
        for k in 0..4 {
            x[k].nw = x[k].nw.wrapping_sub(y[k].nw);
            x[k].wy -= y[k].wy;
        }
    }
    for (x, y) in a.into_remainder().iter_mut().zip(b.remainder()) {
        x.nw = x.nw.wrapping_sub(y.nw);
        x.wy -= y.wy;
    }
}

/// Entries from keys sorted by bin: runs of equal bins summed by `add`.
fn entries_from_keys(keys: &[u32], width: usize, e: &mut Entries, add: impl Fn(&mut [f64], usize)) {
    for &k in keys {
        let b = (k >> 24) as u8;
        if e.bins.last() != Some(&b) {
            e.bins.push(b);
            e.stats.resize(e.stats.len() + width, 0.0);
        }
        let base = e.stats.len() - width;
        add(&mut e.stats[base..], (k & 0xFF_FFFF) as usize);
    }
}

/// The non-empty bins of one feature's regression histogram, compacted
/// without branches.
fn entries_from_hist(h: &[HistBin], e: &mut Entries) {
    let n_bins = h.len();
    e.bins.resize(n_bins + 1, 0);
    e.stats.resize(3 * n_bins + 3, 0.0);
    let mut m = 0;
    {
        let (bins, stats) = (&mut e.bins[..], &mut e.stats[..]);
        for (b, s) in h.iter().enumerate() {
            bins[m] = b as u8;
            stats[3 * m] = (s.nw & 0xFFFF_FFFF) as f64;
            stats[3 * m + 1] = (s.nw >> 32) as f64;
            stats[3 * m + 2] = s.wy;
            m += usize::from(s.nw != 0);
        }
    }
    e.bins.truncate(m);
    e.stats.truncate(3 * m);
}

/// Node totals: the same statistics as a bin, over all the node's samples.
fn accumulate_node(target: &Target, w: &[f64], wy: &[f64], idx: &[u32], s: &mut [f64]) {
    s.fill(0.0);
    for &i in idx {
        let i = i as usize;
        s[0] += 1.0;
        s[1] += w[i];
        match target {
            Target::Classes { y, .. } => s[2 + y[i] as usize] += w[i],
            Target::Values(_) => s[2] += wy[i],
        }
    }
}

/// Adds one sample (by its position in the node) to a bin's statistics.
trait Acc {
    fn add(&self, s: &mut [f64], i: usize);
}

struct ClassAcc<'t> {
    w: &'t [f64],
    y: &'t [u32],
}

impl Acc for ClassAcc<'_> {
    #[inline(always)]
    fn add(&self, s: &mut [f64], i: usize) {
        s[0] += 1.0;
        s[1] += self.w[i];
        s[2 + self.y[i] as usize] += self.w[i];
    }
}

struct ValueAcc<'t> {
    w: &'t [f64],
    wy: &'t [f64],
}

impl Acc for ValueAcc<'_> {
    #[inline(always)]
    fn add(&self, s: &mut [f64], i: usize) {
        s[0] += 1.0;
        s[1] += self.w[i];
        s[2] += self.wy[i];
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn collect_with<A: Acc>(acc: &A, col: &[u8], idx: &[u32], width: usize, n_bins: usize, hist: &mut [f64], keys: &mut Vec<u32>, e: &mut Entries) {
    if idx.len() * SPARSE_RATIO < n_bins {
        sparse(acc, col, idx, width, keys, e);
    } else {
        dense(acc, col, idx, width, n_bins, hist, e);
    }
}

const PACK_BITS: u32 = 21;

/// `dense` for two classes on packed statistics: one u64 addition per sample.
#[inline(never)]
fn dense_packed(col: &[u8], idx: &[u32], pk: &[u64], n_bins: usize, hist: &mut [u64], e: &mut Entries) {
    let hist = &mut hist[..n_bins];
    hist.fill(0);
    let mut chunks = idx.chunks_exact(4);
    let mut j = 0;
    for c in &mut chunks {
        hist[col[c[0] as usize] as usize] += pk[j];
        hist[col[c[1] as usize] as usize] += pk[j + 1];
        hist[col[c[2] as usize] as usize] += pk[j + 2];
        hist[col[c[3] as usize] as usize] += pk[j + 3];
        j += 4;
    }
    for (k, &i) in chunks.remainder().iter().enumerate() {
        hist[col[i as usize] as usize] += pk[j + k];
    }
    // Branch-free compaction of the non-empty bins.
    e.bins.resize(n_bins + 1, 0);
    e.stats.resize(3 * n_bins + 3, 0.0);
    let mask = (1u64 << PACK_BITS) - 1;
    let mut m = 0;
    {
        let (bins, stats) = (&mut e.bins[..], &mut e.stats[..]);
        for (b, &h) in hist.iter().enumerate() {
            bins[m] = b as u8;
            stats[3 * m] = (h & mask) as f64;
            stats[3 * m + 1] = ((h >> PACK_BITS) & mask) as f64;
            stats[3 * m + 2] = (h >> (2 * PACK_BITS)) as f64;
            m += usize::from(h != 0);
        }
    }
    e.bins.truncate(m);
    e.stats.truncate(3 * m);
}

/// Histogram over all bins, then the non-empty ones. Four rows per iteration:
/// fewer loop back-edges, which is where wasmtime's epoch checks go.
#[inline(never)]
fn dense<A: Acc>(acc: &A, col: &[u8], idx: &[u32], width: usize, n_bins: usize, hist: &mut [f64], e: &mut Entries) {
    let hist = &mut hist[..n_bins * width];
    hist.fill(0.0);
    let mut chunks = idx.chunks_exact(4);
    let mut j = 0;
    for c in &mut chunks {
        for (k, &i) in c.iter().enumerate() {
            let b = col[i as usize] as usize * width;
            acc.add(&mut hist[b..b + width], j + k);
        }
        j += 4;
    }
    for (k, &i) in chunks.remainder().iter().enumerate() {
        let b = col[i as usize] as usize * width;
        acc.add(&mut hist[b..b + width], j + k);
    }
    for (b, s) in hist.chunks_exact(width).enumerate() {
        if s[0] > 0.0 {
            e.bins.push(b as u8);
            e.stats.extend_from_slice(s);
        }
    }
}

/// For small nodes: sort (bin, position) keys and sum runs of equal bins.
#[inline(never)]
fn sparse<A: Acc>(acc: &A, col: &[u8], idx: &[u32], width: usize, keys: &mut Vec<u32>, e: &mut Entries) {
    sort_keys(col, idx, keys);
    for &k in keys.iter() {
        let b = (k >> 24) as u8;
        if e.bins.last() != Some(&b) {
            e.bins.push(b);
            e.stats.resize(e.stats.len() + width, 0.0);
        }
        let base = e.stats.len() - width;
        acc.add(&mut e.stats[base..], (k & 0xFF_FFFF) as usize);
    }
}

/// `bin << 24 | position` of each sample, sorted: samples grouped by bin.
fn sort_keys(col: &[u8], idx: &[u32], keys: &mut Vec<u32>) {
    keys.clear();
    keys.extend(idx.iter().enumerate().map(|(j, &i)| (col[i as usize] as u32) << 24 | j as u32));
    keys.sort_unstable();
}

/// Moves the samples going left to the front, keeping the order on both
/// sides (samples stay ascending, so later passes read the columns in
/// order); returns how many go left. Branch-free: each sample is written to
/// both sides and the side it belongs to advances.
#[inline(never)]
fn partition(samples: &mut [u32], col: &[u8], bits: &BinSet, spill: &mut Vec<u32>) -> usize {
    let len = samples.len();
    if spill.len() < len {
        spill.resize(len, 0);
    }
    let spill = &mut spill[..len];
    let (mut l, mut r) = (0, 0);
    for k in 0..len {
        let i = samples[k];
        let left = usize::from(goes_left(bits, col[i as usize]));
        samples[l] = i;
        spill[r] = i;
        l += left;
        r += 1 - left;
    }
    samples[l..].copy_from_slice(&spill[..r]);
    l
}
