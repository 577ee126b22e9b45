//! The stable, branch-free partition of a node's items (its rows, or a
//! feature's presorted keys) into its children's, left ones first. Owns the
//! algorithm only: which side an item goes to is the caller's, and so are the
//! arrays.

use super::{goes_left, BinSet};

/// Moves the items going left to the front, keeping the order on both sides
/// (rows stay ascending, so later passes read the columns in order); returns
/// how many go left. Branch-free: each item is written to both sides and the
/// side it belongs to advances, since a mispredicted branch per item costs
/// more than a second store. Four items a turn, all four read before any is
/// written (an item lands at or before its own place, never past the ones
/// still to read): under wasmtime every loop back-edge carries an
/// interruption check and Cranelift does not unroll, so in a loop this short
/// the check is a large share of each item's work. `spill` holds at least
/// `items.len()`.
#[inline(always)]
pub fn stable_partition(items: &mut [u32], spill: &mut [u32], side: impl Fn(u32) -> usize) -> usize {
    let (mut l, mut r) = (0, 0);
    let mut place = |items: &mut [u32], item: u32| {
        let left = side(item);
        items[l] = item;
        spill[r] = item;
        l += left;
        r += 1 - left;
    };
    let quads = items.len() / 4;
    for q in 0..quads {
        let four = [items[4 * q], items[4 * q + 1], items[4 * q + 2], items[4 * q + 3]];
        four.into_iter().for_each(|item| place(items, item));
    }
    for k in 4 * quads..items.len() {
        let item = items[k];
        place(items, item);
    }
    let went_right = items.len() - l;
    items[l..].copy_from_slice(&spill[..went_right]);
    l
}

/// `spill` grown to at least `len`, as a slice of `len`.
pub fn spill_of(spill: &mut Vec<u32>, len: usize) -> &mut [u32] {
    if spill.len() < len {
        spill.resize(len, 0);
    }
    &mut spill[..len]
}

/// Partitions a node's rows by the bins of their values in `col`; returns
/// how many go left.
#[inline(never)]
pub fn partition_rows(samples: &mut [u32], col: &[u8], bits: &BinSet, spill: &mut Vec<u32>) -> usize {
    let spill = spill_of(spill, samples.len());
    stable_partition(samples, spill, |i| usize::from(goes_left(bits, col[i as usize])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_at_a_time_partitions_as_one_at_a_time_would_at_every_length() {
        // Lengths 0..=13 cover whole quads, every remainder and the empty node.
        let side = |item: u32| usize::from(item % 3 == 1 || item.is_multiple_of(7));
        for len in 0..=13u32 {
            let items: Vec<u32> = (0..len).map(|i| 5 * i + 2).collect();
            let expected: Vec<u32> = items.iter().copied().filter(|&i| side(i) == 1).chain(items.iter().copied().filter(|&i| side(i) == 0)).collect();
            let (mut got, mut spill) = (items.clone(), vec![0u32; len as usize]);
            let went_left = stable_partition(&mut got, &mut spill, side);
            assert_eq!(got, expected, "length {len}");
            assert_eq!(went_left, items.iter().filter(|&&i| side(i) == 1).count(), "length {len}");
        }
    }
}
