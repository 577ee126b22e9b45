//! A seeded generator (PCG-XSH-RR 64/32 pairs, seeded through the SDK's
//! splitmix64) kept here so a model depends on nothing whose output could
//! change between versions: the same seed gives the same model bytes.

use trainhost_sdk::splitmix64;

pub struct Rng {
    state: u64,
    inc: u64,
}

impl Rng {
    /// The generator of one purpose (`stream`: bagging, feature sampling) at
    /// one round, independent of how many draws came before it.
    pub fn new(seed: u64, stream: u64, round: usize) -> Rng {
        let mut s = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (round as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let state = splitmix64(&mut s);
        let inc = splitmix64(&mut s) | 1;
        Rng { state, inc }
    }

    fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }

    pub fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    /// A number in 0..n (n > 0) by multiply-shift; its bias (< 2^-32 for our
    /// sizes) is far below sampling noise.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `k` distinct indices of 0..n, sorted (Floyd's algorithm for small k,
    /// a partial shuffle otherwise).
    pub fn sample_sorted(&mut self, n: usize, k: usize, out: &mut Vec<u32>) {
        out.clear();
        let mut all: Vec<u32> = (0..n as u32).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        out.extend_from_slice(&all[..k.min(n)]);
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_repeat_and_samples_are_distinct_and_sorted() {
        let (mut a, mut b) = (Rng::new(7, 1, 3), Rng::new(7, 1, 3));
        assert!((0..50).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(Rng::new(7, 1, 3).next_u64(), Rng::new(7, 1, 4).next_u64());
        let mut out = Vec::new();
        a.sample_sorted(100, 30, &mut out);
        assert_eq!(out.len(), 30);
        assert!(out.windows(2).all(|w| w[0] < w[1]));
        let mut counts = [0usize; 4];
        (0..4000).for_each(|_| counts[a.below(4)] += 1);
        assert!(counts.iter().all(|&c| (850..1150).contains(&c)), "{counts:?}");
    }
}
