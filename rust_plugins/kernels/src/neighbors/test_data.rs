//! Deterministic test data for the neighbours' unit tests (one generator for all of them).

/// Knuth's MMIX linear congruential generator: a stream of `u64` from `seed`.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n * d` values on a grid of tenths in `[0, 10]`: many exact ties (and samples exactly at
/// a radius).
pub fn grid_data(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = Lcg::new(seed);
    (0..n * d)
        .map(|_| (rng.unit() * 10.0).round() / 10.0)
        .collect()
}

/// `n` values drawn from `levels` evenly spaced ones (`level * step`).
pub fn levels(n: usize, seed: u64, levels: u64, step: f64) -> Vec<f64> {
    let mut rng = Lcg::new(seed);
    (0..n)
        .map(|_| ((rng.next_u64() >> 33) % levels) as f64 * step)
        .collect()
}
