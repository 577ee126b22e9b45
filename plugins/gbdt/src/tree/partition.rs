//! The rows of each leaf, as one contiguous range of an index array: a
//! split partitions its leaf's range in place (stably: rows stay in
//! ascending order, which keeps the bin reads of a histogram pass forward),
//! the left child keeping the front. No allocation after the first tree.

use super::split::{bin_in, BinSet};

#[derive(Default)]
pub struct Partition {
    idx: Vec<u32>,
    scratch: Vec<u32>,
    begin: Vec<usize>,
    count: Vec<usize>,
}

impl Partition {
    /// One leaf holding `bag` (sorted), or every row of `rows`.
    pub fn reset(&mut self, rows: usize, bag: Option<&[u32]>) {
        self.idx.clear();
        match bag {
            Some(b) => self.idx.extend_from_slice(b),
            None => self.idx.extend(0..rows as u32),
        }
        self.scratch.resize(self.idx.len(), 0);
        self.begin.clear();
        self.count.clear();
        self.begin.push(0);
        self.count.push(self.idx.len());
    }

    pub fn rows(&self, leaf: usize) -> &[u32] {
        &self.idx[self.begin[leaf]..self.begin[leaf] + self.count[leaf]]
    }

    /// Splits `leaf`: rows whose bin in `col` is in `left` stay, the others
    /// become leaf `new` (which must be the next leaf number). Returns the
    /// number of rows that went left.
    pub fn split(&mut self, leaf: usize, new: usize, col: &[u8], left: &BinSet) -> usize {
        debug_assert_eq!(new, self.begin.len());
        let (b, n) = (self.begin[leaf], self.count[leaf]);
        let mut lut = [false; 256];
        lut.iter_mut().enumerate().for_each(|(bin, v)| *v = bin_in(left, bin as u8));
        let went_left = stable_split(&mut self.idx[b..b + n], &mut self.scratch[..n], col, &lut);
        self.count[leaf] = went_left;
        self.begin.push(b + went_left);
        self.count.push(n - went_left);
        went_left
    }
}

/// Calls `f` with each of `rows` in order, four a turn: under wasmtime every
/// loop back-edge carries an interruption check and Cranelift does not
/// unroll, so in the short per-row loops of a tree (the root's sums, the
/// score update) the check was a large share of each row's work.
#[inline(always)]
pub fn each_row(rows: &[u32], mut f: impl FnMut(u32)) {
    let mut quads = rows.chunks_exact(4);
    for q in &mut quads {
        q.iter().for_each(|&r| f(r));
    }
    quads.remainder().iter().for_each(|&r| f(r));
}

/// Reorders `rows` so those whose bin in `col` is marked in `goes_left`
/// come first, both sides keeping their order; returns how many went left.
/// Branch-free: every row is written to both places and only the side it
/// belongs to advances (a branch would mispredict half the time). Four rows
/// a turn, all read before any is written (a write lands at or before the
/// row it moves, never past the ones still to read): WASM engines check for
/// interruption at every loop back-edge and Cranelift does not unroll, so in
/// a loop this short the check was a large share of each row's work.
fn stable_split(rows: &mut [u32], scratch: &mut [u32], col: &[u8], goes_left: &[bool; 256]) -> usize {
    let (mut l, mut r) = (0usize, 0usize);
    let mut place = |rows: &mut [u32], row: u32| {
        let left = goes_left[col[row as usize] as usize];
        rows[l] = row;
        scratch[r] = row;
        l += usize::from(left);
        r += usize::from(!left);
    };
    let quads = rows.len() / 4;
    for q in 0..quads {
        let four = [rows[4 * q], rows[4 * q + 1], rows[4 * q + 2], rows[4 * q + 3]];
        four.into_iter().for_each(|row| place(rows, row));
    }
    for i in 4 * quads..rows.len() {
        let row = rows[i];
        place(rows, row);
    }
    let went_left = l;
    let went_right = rows.len() - went_left;
    rows[went_left..].copy_from_slice(&scratch[..went_right]);
    went_left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::split::{bin_add, bin_in};

    #[test]
    fn four_at_a_time_splits_as_one_at_a_time_would_at_every_length() {
        // Lengths 0..=13 cover whole quads, every remainder and the empty leaf.
        let col: Vec<u8> = (0..40u32).map(|r| (r * 37 % 11) as u8).collect();
        let mut left = [0u64; 4];
        [0u8, 3, 4, 9].into_iter().for_each(|b| bin_add(&mut left, b));
        let lut: [bool; 256] = std::array::from_fn(|b| bin_in(&left, b as u8));
        for len in 0..=13usize {
            let rows: Vec<u32> = (0..len as u32).map(|i| 3 * i + 1).collect();
            let expected: Vec<u32> = rows
                .iter()
                .copied()
                .filter(|&r| lut[col[r as usize] as usize])
                .chain(rows.iter().copied().filter(|&r| !lut[col[r as usize] as usize]))
                .collect();
            let (mut got, mut scratch) = (rows.clone(), vec![0u32; len]);
            let went_left = stable_split(&mut got, &mut scratch, &col, &lut);
            assert_eq!(got, expected, "length {len}");
            assert_eq!(went_left, rows.iter().filter(|&&r| lut[col[r as usize] as usize]).count(), "length {len}");
        }
    }

    #[test]
    fn splits_keep_rows_sorted_and_disjoint() {
        let col = [0u8, 3, 1, 3, 2, 1];
        let mut p = Partition::default();
        p.reset(6, None);
        let mut set = [0u64; 4];
        bin_add(&mut set, 1);
        bin_add(&mut set, 0);
        assert_eq!(p.split(0, 1, &col, &set), 3);
        assert_eq!(p.rows(0), &[0, 2, 5]);
        assert_eq!(p.rows(1), &[1, 3, 4]);
        let mut three = [0u64; 4];
        bin_add(&mut three, 3);
        assert_eq!(p.split(1, 2, &col, &three), 2);
        assert_eq!(p.rows(1), &[1, 3]);
        assert_eq!(p.rows(2), &[4]);
    }
}
