//! The stable, branch-free partition of a node's items (its rows, or a
//! feature's presorted keys) into its children's, left ones first. Owns the
//! algorithm only: which side an item goes to is the caller's, and so are the
//! arrays.

use super::{goes_left, BinSet};

/// Moves the items going left to the front, keeping the order on both sides
/// (rows stay ascending, so later passes read the columns in order); returns
/// how many go left. Branch-free: each item is written to both sides and the
/// side it belongs to advances, since a mispredicted branch per item costs
/// more than a second store. `spill` holds at least `items.len()`.
#[inline(always)]
pub fn stable_partition(items: &mut [u32], spill: &mut [u32], side: impl Fn(u32) -> usize) -> usize {
    let (mut l, mut r) = (0, 0);
    for k in 0..items.len() {
        let item = items[k];
        let left = side(item);
        items[l] = item;
        spill[r] = item;
        l += left;
        r += 1 - left;
    }
    items[l..].copy_from_slice(&spill[..r]);
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
