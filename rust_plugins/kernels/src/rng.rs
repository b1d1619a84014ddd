//! NumPy's legacy generator: the Mersenne Twister (MT19937) behind `numpy.random.RandomState`,
//! and its `random_sample` (53-bit doubles). The Python layer hands over the state of the
//! estimator's `RandomState` (`get_state()`: the 624-word key and the position) and writes the
//! advanced state back, so a kernel draws exactly the values scikit-learn would have drawn and
//! leaves the generator where scikit-learn leaves it.

/// Words in the state.
pub const MT_N: usize = 624;
const MT_M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

#[derive(Clone)]
pub struct Mt19937 {
    key: [u32; MT_N],
    pos: usize,
}

impl Mt19937 {
    /// The state `RandomState(seed)` starts from, for a seed below 2^32 (`init_genrand`).
    pub fn from_seed(seed: u32) -> Self {
        let mut key = [0u32; MT_N];
        key[0] = seed;
        for i in 1..MT_N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { key, pos: MT_N }
    }

    /// The state `RandomState.get_state()` reports: the key and the position in it (0..=624).
    pub fn from_state(key: &[u32], pos: usize) -> Option<Self> {
        if key.len() != MT_N || pos > MT_N {
            return None;
        }
        let mut k = [0u32; MT_N];
        k.copy_from_slice(key);
        Some(Self { key: k, pos })
    }

    pub fn key(&self) -> &[u32; MT_N] {
        &self.key
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn generate(&mut self) {
        let twist = |upper: u32, lower: u32, far: u32| {
            let y = (upper & UPPER_MASK) | (lower & LOWER_MASK);
            far ^ (y >> 1) ^ ((y & 1).wrapping_neg() & MATRIX_A)
        };
        for i in 0..MT_N - MT_M {
            self.key[i] = twist(self.key[i], self.key[i + 1], self.key[i + MT_M]);
        }
        for i in MT_N - MT_M..MT_N - 1 {
            self.key[i] = twist(self.key[i], self.key[i + 1], self.key[i + MT_M - MT_N]);
        }
        self.key[MT_N - 1] = twist(self.key[MT_N - 1], self.key[0], self.key[MT_M - 1]);
        self.pos = 0;
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.pos == MT_N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `RandomState.random_sample()`: uniform in `[0, 1)` from two words (27 + 26 bits).
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// numpy's `random_interval(max)`: uniform in `0..=max` by masked rejection, one word a
    /// try below 2^32 (two above).
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        loop {
            let value = if max <= u32::MAX as u64 {
                self.next_u32() as u64 & mask
            } else {
                let high = self.next_u32() as u64;
                ((high << 32) | self.next_u32() as u64) & mask
            };
            if value <= max {
                return value;
            }
        }
    }

    /// `RandomState.permutation(n)`: `arange(n)` shuffled by numpy's legacy Fisher-Yates
    /// (swaps from the last position down).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut values: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.random_interval(i as u64) as usize;
            values.swap(i, j);
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_sample_matches_numpy() {
        // np.random.RandomState(0).random_sample(3)
        let mut r = Mt19937::from_seed(0);
        assert_eq!(r.random_sample(), 0.5488135039273248);
        assert_eq!(r.random_sample(), 0.7151893663724195);
        assert_eq!(r.random_sample(), 0.6027633760716439);
        // np.random.RandomState(12345).random_sample(2)
        let mut r = Mt19937::from_seed(12345);
        assert_eq!(r.random_sample(), 0.9296160928171479);
        assert_eq!(r.random_sample(), 0.3163755545817859);
        // np.random.RandomState(4294967295).randint(2**32, dtype=np.uint32) draws one word.
        let mut r = Mt19937::from_seed(u32::MAX);
        assert_eq!(r.next_u32(), NEXT_U32_OF_MAX_SEED);
    }

    const NEXT_U32_OF_MAX_SEED: u32 = 419_326_371;

    #[test]
    fn state_round_trips_across_a_regeneration() {
        // np.random.RandomState(7) after random_sample(400) (800 words: one regeneration),
        // then random_sample(2).
        let mut r = Mt19937::from_seed(7);
        for _ in 0..400 {
            r.random_sample();
        }
        assert_eq!(r.pos(), 176); // get_state()[2]
        let copy = Mt19937::from_state(r.key(), r.pos()).unwrap();
        let mut a = copy.clone();
        assert_eq!(a.random_sample(), AFTER_400[0]);
        assert_eq!(a.random_sample(), AFTER_400[1]);
        assert_eq!(r.random_sample(), AFTER_400[0]);
        assert!(Mt19937::from_state(&[0; 3], 0).is_none());
        assert!(Mt19937::from_state(r.key(), MT_N + 1).is_none());
    }

    #[test]
    fn permutation_matches_numpy() {
        // np.random.RandomState(0).permutation(10)
        assert_eq!(
            Mt19937::from_seed(0).permutation(10),
            [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]
        );
        // np.random.RandomState(5).permutation(100)[:8] and permutation(5000)[:6]
        assert_eq!(
            Mt19937::from_seed(5).permutation(100)[..8],
            [66, 32, 46, 28, 74, 23, 10, 20]
        );
        assert_eq!(
            Mt19937::from_seed(5).permutation(5000)[..6],
            [27, 1482, 3021, 3867, 637, 4191]
        );
        assert!(Mt19937::from_seed(1).permutation(0).is_empty());
    }

    const AFTER_400: [f64; 2] = [0.8070553190721129, 0.48446895203866336];
}
