//! A small seeded generator (xoshiro256++ seeded through splitmix64), written
//! here so the model depends on nothing whose output could change between
//! versions: the same seed must give the same forest byte for byte, forever.

pub struct Rng {
    s: [u64; 4],
}

use trainhost_sdk::splitmix64 as splitmix;

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut state = seed;
        Rng { s: [splitmix(&mut state), splitmix(&mut state), splitmix(&mut state), splitmix(&mut state)] }
    }

    /// The generator of tree `index`: independent of how many trees came before,
    /// so tree k is the same whatever `nEstimators` is.
    pub fn for_tree(seed: u64, index: usize) -> Rng {
        let mut state = seed ^ 0xA076_1D64_78BD_642F;
        let mixed = splitmix(&mut state) ^ (index as u64).wrapping_mul(0xE703_7ED1_A0B4_28DB);
        Rng::new(mixed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A number in 0..n (n > 0), by multiply-shift: the bias is below 2^-32 for
    /// any table size we handle, far under sampling noise.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_below_stays_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut counts = [0usize; 5];
        for _ in 0..5000 {
            counts[a.below(5)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 850 && c < 1150), "{counts:?}");
        assert_ne!(Rng::for_tree(1, 0).next_u64(), Rng::for_tree(1, 1).next_u64());
    }
}
