//! The seeded three-way split of a table's rows, stratified by class for
//! classification: the test part the host judges the model on (never handed to
//! the plugin), the validation part handed to the plugin for early stopping and
//! progress, and the training part. Also the folds of cross-validation, which
//! are drawn from the training part alone (`folds`).
//!
//! Owns which row goes where and nothing else: it must not look at the values,
//! encode, or call a plugin (`training` does, with the row indices returned here).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The largest share of the rows the test and validation parts may take
/// together: the training part always keeps at least a tenth.
pub const MAX_HELD_OUT: f64 = 0.9;

/// The shares of all rows that go to the test and the validation parts; the
/// rest is trained on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    /// Share judged by the host for the final metrics; the plugin never sees these rows.
    pub test: f64,
    /// Share handed to the plugin as its validation table (`request.validation`).
    pub plugin_validation: f64,
}

impl SplitFractions {
    /// The fractions a request gets when it names neither.
    pub const DEFAULT: SplitFractions = SplitFractions { test: 0.2, plugin_validation: 0.1 };

    /// Only a test part: the plugin gets no validation table.
    pub fn test_only(test: f64) -> SplitFractions {
        SplitFractions { test, plugin_validation: 0.0 }
    }

    /// The fractions a request asks for, with the defaults for what it leaves
    /// out. A plugin validation share left out is the default cut to what the
    /// test share leaves, so every test share the older contract accepted (up
    /// to 0.9) is still accepted alone.
    pub fn requested(test: Option<f64>, plugin_validation: Option<f64>) -> SplitFractions {
        let test = test.unwrap_or(Self::DEFAULT.test);
        let plugin_validation = plugin_validation.unwrap_or_else(|| Self::DEFAULT.plugin_validation.min(MAX_HELD_OUT - test).max(0.0));
        SplitFractions { test, plugin_validation }
    }

    /// Whether the fractions make a split: each from 0 to 0.9, and at most
    /// 0.9 of the rows held out from training in all.
    pub fn check(self) -> Result<SplitFractions, FractionError> {
        let in_range = |x: f64| (0.0..=MAX_HELD_OUT).contains(&x);
        if !in_range(self.test) {
            return Err(FractionError::Test);
        }
        if !in_range(self.plugin_validation) {
            return Err(FractionError::PluginValidation);
        }
        if self.held_out() > MAX_HELD_OUT + ROUNDING {
            return Err(FractionError::TooMuchHeldOut(self.held_out()));
        }
        Ok(self)
    }

    fn held_out(self) -> f64 {
        self.test + self.plugin_validation
    }

    /// The fractions brought into range: the test share within 0..=0.9, and
    /// the validation share cut to what the test share leaves of `MAX_HELD_OUT`.
    /// Requests are checked before they are queued; this keeps a record written
    /// by hand (or by an older build) from emptying the training part.
    pub fn clamped(self) -> SplitFractions {
        let test = finite_or_zero(self.test).clamp(0.0, MAX_HELD_OUT);
        let mut plugin_validation = finite_or_zero(self.plugin_validation).max(0.0);
        if test + plugin_validation > MAX_HELD_OUT + ROUNDING {
            plugin_validation = MAX_HELD_OUT - test;
        }
        SplitFractions { test, plugin_validation }
    }
}

/// Slack for sums such as 0.8 + 0.1, which is a little over 0.9 in floating point.
const ROUNDING: f64 = 1e-9;

/// Why requested fractions make no split; the API and the CLI name their own field or flag.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FractionError {
    #[error("the test fraction must be a number from 0 to 0.9")]
    Test,
    #[error("the plugin validation fraction must be a number from 0 to 0.9")]
    PluginValidation,
    #[error("the test and plugin validation fractions add up to {0}, but together they may hold out at most 0.9 of the rows")]
    TooMuchHeldOut(f64),
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Row indices of the three parts, each in table order. Disjoint, and together
/// every row of the table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits `rows` rows. `labels` (class codes) makes the split stratified: each
/// class is split in the same proportions. A class with at least two rows keeps
/// at least one in training and one in the test part (when the test fraction is
/// not 0); one with at least three also gives one to the validation part (when
/// its fraction is not 0), and training never loses its last row of a class to it.
///
/// The test rows are drawn first, from the same seeded shuffle whatever the
/// validation fraction: changing only the validation share never changes which
/// rows the model is judged on, and with no validation share the split is the
/// two-way split of earlier builds.
pub fn split(rows: usize, labels: Option<&[u32]>, fractions: SplitFractions, seed: u64) -> Split {
    let fractions = fractions.clamped();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = Split { train: Vec::with_capacity(rows), ..Split::default() };
    for mut group in class_groups(rows, labels) {
        group.shuffle(&mut rng);
        let test = test_take(group.len(), fractions.test);
        let validation = validation_take(group.len(), test, fractions.plugin_validation);
        parts.test.extend_from_slice(&group[..test]);
        parts.validation.extend_from_slice(&group[test..test + validation]);
        parts.train.extend_from_slice(&group[test + validation..]);
    }
    // Table order inside each part, so the result does not depend on how
    // classes happened to be grouped.
    parts.train.sort_unstable();
    parts.validation.sort_unstable();
    parts.test.sort_unstable();
    parts
}

/// The rows of each class (one group of every row without labels).
fn class_groups(rows: usize, labels: Option<&[u32]>) -> Vec<Vec<usize>> {
    match labels {
        Some(labels) => {
            let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
            let mut groups = vec![Vec::new(); classes];
            for (row, &label) in labels.iter().enumerate() {
                groups[label as usize].push(row);
            }
            groups
        }
        None => vec![(0..rows).collect()],
    }
}

/// The fewest and the most folds a cross-validation may ask for (0 is off).
pub const MIN_FOLDS: usize = 2;
pub const MAX_FOLDS: usize = 20;

/// Whether `k` folds is a request this build runs: 0 (no cross-validation) or `MIN_FOLDS..=MAX_FOLDS`.
pub fn folds_in_range(k: usize) -> bool {
    k == 0 || (MIN_FOLDS..=MAX_FOLDS).contains(&k)
}

/// The rows each of `k` folds holds out, each in table order: disjoint, and
/// together exactly `rows` (the training part's row indices, as `split` gives
/// them). `labels` (class codes of the whole table, indexed by row) makes the
/// folds stratified: each class is shuffled and dealt round the folds, the deal
/// going on where the previous class stopped, so fold sizes differ by at most
/// one and every fold gets `n / k` or `n / k + 1` rows of a class of `n`.
/// Without labels (regression) the rows are shuffled and dealt alike.
///
/// Seeded from `seed` on a stream of its own, so the folds do not repeat the
/// shuffle that drew the split. This is the one fold assignment: training
/// runs it, and tests that check cross-validation call it too.
pub fn folds(rows: &[usize], labels: Option<&[u32]>, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(FOLD_STREAM);
    let mut groups: Vec<Vec<usize>> = match labels {
        Some(labels) => {
            let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
            for &row in rows {
                by_class.entry(labels.get(row).copied().unwrap_or(u32::MAX)).or_default().push(row);
            }
            by_class.into_values().collect()
        }
        None => vec![rows.to_vec()],
    };
    let mut out = vec![Vec::new(); k];
    let mut next = 0;
    for group in &mut groups {
        group.sort_unstable();
        group.shuffle(&mut rng);
        for &row in group.iter() {
            out[next].push(row);
            next = (next + 1) % k;
        }
    }
    out.iter_mut().for_each(|fold| fold.sort_unstable());
    out
}

/// The ChaCha stream the folds are drawn from (the split uses stream 0).
const FOLD_STREAM: u64 = 1;

/// How many of a class's `n` rows the split leaves in the training part: what
/// a fold assignment can deal out for that class.
pub fn training_rows_of_class(n: usize, fractions: SplitFractions) -> usize {
    let fractions = fractions.clamped();
    let test = test_take(n, fractions.test);
    n - test - validation_take(n, test, fractions.plugin_validation)
}

/// How many of a class's `n` rows go to the test part (as earlier builds held out).
fn test_take(n: usize, fraction: f64) -> usize {
    let take = (n as f64 * fraction).round() as usize;
    if fraction > 0.0 && n >= 2 {
        take.clamp(1, n - 1)
    } else {
        take.min(n)
    }
}

/// How many of a class's `n` rows go to the validation part once `test` are taken.
fn validation_take(n: usize, test: usize, fraction: f64) -> usize {
    let left = n - test;
    if fraction <= 0.0 || left < 2 {
        return 0;
    }
    ((n as f64 * fraction).round() as usize).clamp(1, left - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fractions(test: f64, plugin_validation: f64) -> SplitFractions {
        SplitFractions { test, plugin_validation }
    }

    fn assert_partition(split: &Split, rows: usize) {
        let mut all: Vec<usize> = split.train.iter().chain(&split.validation).chain(&split.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..rows).collect::<Vec<_>>(), "disjoint and covering");
    }

    fn count_of(rows: &[usize], labels: &[u32], class: u32) -> usize {
        rows.iter().filter(|&&r| labels[r] == class).count()
    }

    #[test]
    fn the_three_parts_are_disjoint_cover_the_table_and_honour_the_fractions() {
        let parts = split(1000, None, fractions(0.2, 0.1), 5);
        assert_partition(&parts, 1000);
        assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (700, 100, 200));
        let parts = split(999, None, fractions(0.25, 0.15), 5);
        assert_partition(&parts, 999);
        assert_eq!((parts.validation.len(), parts.test.len()), (150, 250));
    }

    #[test]
    fn stratified_split_keeps_class_proportions_in_every_part() {
        let labels: Vec<u32> = (0..200).map(|i| if i < 160 { 0 } else { 1 }).collect();
        let parts = split(200, Some(&labels), fractions(0.25, 0.1), 7);
        assert_partition(&parts, 200);
        assert_eq!((count_of(&parts.test, &labels, 0), count_of(&parts.test, &labels, 1)), (40, 10));
        assert_eq!((count_of(&parts.validation, &labels, 0), count_of(&parts.validation, &labels, 1)), (16, 4));
        assert_eq!((count_of(&parts.train, &labels, 0), count_of(&parts.train, &labels, 1)), (104, 26));
    }

    #[test]
    fn the_split_is_seeded() {
        let labels: Vec<u32> = (0..100).map(|i| (i % 3) as u32).collect();
        let one = split(100, Some(&labels), SplitFractions::DEFAULT, 7);
        assert_eq!(split(100, Some(&labels), SplitFractions::DEFAULT, 7), one);
        let other = split(100, Some(&labels), SplitFractions::DEFAULT, 8);
        assert_ne!(other.test, one.test);
        assert_ne!(other.validation, one.validation);
    }

    #[test]
    fn the_validation_share_never_moves_the_test_rows() {
        let labels: Vec<u32> = (0..90).map(|i| (i % 4) as u32).collect();
        let two_way = split(90, Some(&labels), SplitFractions::test_only(0.2), 11);
        assert!(two_way.validation.is_empty());
        for plugin_validation in [0.05, 0.1, 0.3] {
            let three_way = split(90, Some(&labels), fractions(0.2, plugin_validation), 11);
            assert_eq!(three_way.test, two_way.test, "validation {plugin_validation}");
        }
    }

    #[test]
    fn with_no_validation_share_it_is_the_earlier_two_way_split() {
        // The holdout an earlier build drew for these rows, seed and fraction.
        let labels: Vec<u32> = (0..100).map(|i| if i < 80 { 0 } else { 1 }).collect();
        let parts = split(100, Some(&labels), SplitFractions::test_only(0.25), 7);
        assert_eq!((parts.train.len(), parts.test.len()), (75, 25));
        assert_eq!(count_of(&parts.test, &labels, 1), 5);
        assert!(parts.validation.is_empty());
    }

    #[test]
    fn tiny_classes_keep_a_training_row_and_a_test_row() {
        let labels = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 3];
        let parts = split(labels.len(), Some(&labels), SplitFractions::DEFAULT, 1);
        assert_partition(&parts, labels.len());
        for class in [1, 2] {
            assert_eq!(count_of(&parts.test, &labels, class), 1, "class {class}");
            assert!(count_of(&parts.train, &labels, class) >= 1, "class {class}");
        }
        // Two rows: one to train, one to test, none left for validation.
        assert_eq!(count_of(&parts.validation, &labels, 1), 0);
        // Three rows: one in each part.
        assert_eq!(count_of(&parts.validation, &labels, 2), 1);
        // One row: it is trained on.
        assert_eq!(parts.train.iter().filter(|&&r| labels[r] == 3).count(), 1);
    }

    #[test]
    fn zero_fractions_keep_everything_for_training() {
        let parts = split(10, None, fractions(0.0, 0.0), 1);
        assert_eq!(parts.train.len(), 10);
        assert!(parts.validation.is_empty() && parts.test.is_empty());
        let parts = split(10, None, fractions(0.0, 0.3), 1);
        assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (7, 3, 0));
    }

    #[test]
    fn requests_get_defaults_that_fit_and_are_checked() {
        assert_eq!(SplitFractions::requested(None, None), SplitFractions::DEFAULT);
        assert_eq!(SplitFractions::requested(Some(0.9), None).check(), Ok(fractions(0.9, 0.0)));
        assert_eq!(SplitFractions::requested(Some(0.85), None).plugin_validation, MAX_HELD_OUT - 0.85);
        assert_eq!(SplitFractions::requested(Some(0.3), Some(0.0)), fractions(0.3, 0.0));
        assert_eq!(fractions(0.8, 0.1).check(), Ok(fractions(0.8, 0.1)), "0.8 + 0.1 is 0.9, rounding aside");
        assert_eq!(fractions(0.95, 0.0).check(), Err(FractionError::Test));
        assert_eq!(fractions(-0.1, 0.0).check(), Err(FractionError::Test));
        assert_eq!(fractions(f64::NAN, 0.0).check(), Err(FractionError::Test));
        assert_eq!(fractions(0.2, 1.0).check(), Err(FractionError::PluginValidation));
        assert!(matches!(fractions(0.5, 0.5).check(), Err(FractionError::TooMuchHeldOut(_))));
        assert_eq!(fractions(0.8, 0.1).clamped(), fractions(0.8, 0.1));
    }

    #[test]
    fn folds_partition_the_training_part_and_keep_class_proportions() {
        let labels: Vec<u32> = (0..300).map(|i| if i % 3 == 0 { 1 } else { 0 }).collect();
        let parts = split(300, Some(&labels), SplitFractions::DEFAULT, 4);
        let folds = folds(&parts.train, Some(&labels), 5, 4);
        assert_eq!(folds.len(), 5);
        let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, parts.train, "disjoint and covering the training part, nothing else");
        for fold in &folds {
            assert!(fold.windows(2).all(|w| w[0] < w[1]), "table order");
            assert!(fold.iter().all(|r| !parts.test.contains(r) && !parts.validation.contains(r)));
            // 140 rows of class 0 and 70 of class 1 in the training part: 28 and 14 a fold.
            assert_eq!((count_of(fold, &labels, 0), count_of(fold, &labels, 1)), (28, 14));
        }
        assert_eq!(super::folds(&parts.train, Some(&labels), 5, 4), folds, "seeded");
        assert_ne!(super::folds(&parts.train, Some(&labels), 5, 5), folds);
    }

    #[test]
    fn unstratified_folds_differ_in_size_by_at_most_one() {
        let rows: Vec<usize> = (0..103).collect();
        let folds = folds(&rows, None, 10, 1);
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 103);
        assert!(sizes.iter().all(|&n| n == 10 || n == 11), "{sizes:?}");
        assert!(folds_in_range(0) && folds_in_range(2) && folds_in_range(20));
        assert!(!folds_in_range(1) && !folds_in_range(21));
    }

    #[test]
    fn the_training_rows_of_a_class_are_what_the_split_leaves() {
        let labels: Vec<u32> = (0..57).map(|i| u32::from(i >= 50)).collect();
        let parts = split(57, Some(&labels), SplitFractions::DEFAULT, 3);
        assert_eq!(training_rows_of_class(50, SplitFractions::DEFAULT), count_of(&parts.train, &labels, 0));
        assert_eq!(training_rows_of_class(7, SplitFractions::DEFAULT), count_of(&parts.train, &labels, 1));
    }

    #[test]
    fn out_of_range_fractions_are_brought_into_range() {
        assert_eq!(fractions(0.8, 0.5).clamped(), fractions(0.8, MAX_HELD_OUT - 0.8));
        assert_eq!(fractions(f64::NAN, -1.0).clamped(), fractions(0.0, 0.0));
        let parts = split(100, None, fractions(0.95, 0.5), 3);
        assert_partition(&parts, 100);
        assert_eq!((parts.train.len(), parts.test.len()), (10, 90));
    }
}
