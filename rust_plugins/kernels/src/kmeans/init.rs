//! Initial centers: scikit-learn's greedy k-means++ and weighted random sampling.

use rayon::prelude::*;

use crate::alloc;
use crate::blocks::{self, split_by_blocks};
use crate::float::Float;
use crate::linalg;
use crate::rng::Rng;
use crate::samples::Samples;
use crate::simd;
use crate::KernelError;
use crate::StopCheck;

/// Initial centers and the indices of the samples they were taken from.
pub struct Init<T> {
    pub centers: Vec<T>,
    pub indices: Vec<i64>,
}

fn check<T: Float, S: Samples<T>>(x: &S, sample_weight: &[T], k: usize) -> Result<(), KernelError> {
    if sample_weight.len() != x.n_samples() {
        return Err(KernelError::Shape(
            "sample_weight length differs from n_samples".into(),
        ));
    }
    if k == 0 || k > x.n_samples() {
        return Err(KernelError::InvalidArgument(format!(
            "n_clusters={k} must be in [1, n_samples={}]",
            x.n_samples()
        )));
    }
    if x.n_features() == 0 {
        return Err(KernelError::Shape("X has no features".into()));
    }
    Ok(())
}

/// Index `i` such that `cumsum[i - 1] < value <= cumsum[i]` (numpy's `searchsorted`, left side),
/// clipped to the last index.
fn search_sorted(cumsum: &[f64], value: f64) -> usize {
    cumsum.partition_point(|&c| c < value).min(cumsum.len() - 1)
}

/// `out[i] = sum_{j <= i} weights[j] * values[j]`, in float64 like scikit-learn's stable_cumsum.
fn weighted_cumsum<T: Float>(weights: &[T], values: &[f64], out: &mut [f64]) {
    let mut acc = 0.0;
    for ((o, w), v) in out.iter_mut().zip(weights).zip(values) {
        acc += w.to_f64() * v;
        *o = acc;
    }
}

/// Greedy k-means++ (Arthur & Vassilvitskii, with `n_local_trials` candidates per step as in
/// scikit-learn): each new center is the candidate, sampled proportionally to
/// `sample_weight * D(x)^2`, that most reduces the potential.
pub fn kmeans_plusplus<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    k: usize,
    n_local_trials: Option<usize>,
    seed: u64,
    stop: StopCheck,
) -> Result<Init<T>, KernelError> {
    check(x, sample_weight, k)?;
    let (n, d) = (x.n_samples(), x.n_features());
    let trials = n_local_trials
        .unwrap_or(2 + (k as f64).ln() as usize)
        .max(1);
    let mut rng = Rng::new(seed);

    let mut centers = alloc::filled(&[k, d], T::ZERO)?;
    let mut indices = alloc::filled(&[k], -1i64)?;
    let mut cumsum = alloc::filled(&[n], 0.0f64)?;
    let mut acc = 0.0;
    for (c, w) in cumsum.iter_mut().zip(sample_weight) {
        acc += w.to_f64();
        *c = acc;
    }
    let first = search_sorted(&cumsum, rng.uniform() * cumsum[n - 1]);
    x.copy_row(first, &mut centers[..d]);
    indices[0] = first as i64;

    // Squared distance of each sample to its closest chosen center. Candidates' distances are
    // computed twice (once to score them, once for the winner) rather than stored, which keeps
    // the memory at two `n`-long buffers.
    let mut closest = alloc::filled(&[n], f64::INFINITY)?;
    lower_to_distances(x, &centers[..d], &mut closest);
    let mut potential: f64 = closest
        .iter()
        .zip(sample_weight)
        .map(|(c, w)| c * w.to_f64())
        .sum();
    let mut candidate_rows = alloc::filled(&[trials, d], T::ZERO)?;

    for c in 1..k {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        weighted_cumsum(sample_weight, &closest, &mut cumsum);
        let candidates: Vec<usize> = (0..trials)
            .map(|_| search_sorted(&cumsum, rng.uniform() * potential))
            .collect();
        for (t, &id) in candidates.iter().enumerate() {
            x.copy_row(id, &mut candidate_rows[t * d..(t + 1) * d]);
        }
        let pots = candidate_potentials(x, sample_weight, &closest, &candidate_rows);
        let best = (0..trials).fold(0, |best, t| if pots[t] < pots[best] { t } else { best });
        potential = pots[best];
        let best_row = &candidate_rows[best * d..(best + 1) * d];
        lower_to_distances(x, best_row, &mut closest);
        centers[c * d..(c + 1) * d].copy_from_slice(best_row);
        indices[c] = candidates[best] as i64;
    }
    Ok(Init { centers, indices })
}

/// `closest[i] = min(closest[i], ||x_i - y||^2)`.
fn lower_to_distances<T: Float, S: Samples<T>>(x: &S, y: &[T], closest: &mut [f64]) {
    let y_norm = linalg::sq_norm(y);
    let blocks = blocks::partition(x.n_samples(), 0);
    let slices = split_by_blocks(closest, &blocks, 1);
    blocks
        .par_iter()
        .zip(slices)
        .for_each(|(b, out)| lower_block(x, b.clone(), y, y_norm, out));
}

#[inline(always)]
fn lower_block_body<T: Float, S: Samples<T>>(
    x: &S,
    block: std::ops::Range<usize>,
    y: &[T],
    y_norm: T,
    closest: &mut [f64],
) {
    for (c, i) in closest.iter_mut().zip(block) {
        *c = c.min(x.sq_dist(i, y, y_norm).to_f64());
    }
}

simd::simd_variants!(
    fn lower_block<T: Float, S: Samples<T>>(
        x: &S, block: std::ops::Range<usize>, y: &[T], y_norm: T, closest: &mut [f64],
    ) -> () = lower_block_body;
);

/// Potential of each candidate row of `ys`: `sum_i w_i * min(closest_i, ||x_i - y||^2)`.
fn candidate_potentials<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    closest: &[f64],
    ys: &[T],
) -> Vec<f64> {
    let d = x.n_features();
    let y_norms: Vec<T> = ys.chunks_exact(d).map(linalg::sq_norm).collect();
    let blocks = blocks::partition(x.n_samples(), 0);
    let partials: Vec<Vec<f64>> = blocks
        .par_iter()
        .map(|b| potentials_block(x, b.clone(), sample_weight, closest, ys, &y_norms))
        .collect();
    // Combined in block order: the result does not depend on the thread count.
    let mut pots = vec![0.0f64; y_norms.len()];
    for p in partials {
        pots.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    pots
}

#[inline(always)]
fn potentials_block_body<T: Float, S: Samples<T>>(
    x: &S,
    block: std::ops::Range<usize>,
    sample_weight: &[T],
    closest: &[f64],
    ys: &[T],
    y_norms: &[T],
) -> Vec<f64> {
    let d = x.n_features();
    let mut pots = vec![0.0f64; y_norms.len()];
    for i in block {
        let w = sample_weight[i].to_f64();
        for (t, p) in pots.iter_mut().enumerate() {
            let dist = x.sq_dist(i, &ys[t * d..(t + 1) * d], y_norms[t]).to_f64();
            *p += w * dist.min(closest[i]);
        }
    }
    pots
}

simd::simd_variants!(
    fn potentials_block<T: Float, S: Samples<T>>(
        x: &S,
        block: std::ops::Range<usize>,
        sample_weight: &[T],
        closest: &[f64],
        ys: &[T],
        y_norms: &[T],
    ) -> Vec<f64> = potentials_block_body;
);

/// `k` distinct samples drawn without replacement with probabilities proportional to
/// `sample_weight` (Efraimidis–Spirakis keys), for `init='random'`.
pub fn random_init<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    k: usize,
    seed: u64,
) -> Result<Init<T>, KernelError> {
    check(x, sample_weight, k)?;
    let d = x.n_features();
    let positive = sample_weight.iter().filter(|w| **w > T::ZERO).count();
    if positive < k {
        return Err(KernelError::InvalidArgument(
            "Fewer non-zero entries in p than size".into(),
        ));
    }
    let mut rng = Rng::new(seed);
    // key = u^(1/w) ranks samples; compare log(u)/w to stay in range.
    let mut keyed: Vec<(f64, usize)> = alloc::with_capacity(&[x.n_samples()])?;
    keyed.extend(sample_weight.iter().enumerate().map(|(i, w)| {
        let u = rng.uniform().max(f64::MIN_POSITIVE);
        let w = w.to_f64();
        (
            if w > 0.0 {
                u.ln() / w
            } else {
                f64::NEG_INFINITY
            },
            i,
        )
    }));
    keyed.select_nth_unstable_by(k - 1, |a, b| {
        b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1))
    });
    let mut chosen: Vec<(f64, usize)> = keyed[..k].to_vec();
    chosen.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
    let mut centers = alloc::filled(&[k, d], T::ZERO)?;
    let indices = chosen.iter().map(|&(_, i)| i as i64).collect();
    for (c, &(_, i)) in chosen.iter().enumerate() {
        x.copy_row(i, &mut centers[c * d..(c + 1) * d]);
    }
    Ok(Init { centers, indices })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::Dense;

    fn data() -> (Vec<f64>, usize, usize) {
        let (n, d) = (200, 3);
        let x = (0..n * d)
            .map(|i| ((i * 7919) % 1013) as f64 / 37.0 + (i / d / 50) as f64 * 100.0)
            .collect();
        (x, n, d)
    }

    #[test]
    fn kmeans_plusplus_picks_distinct_weighted_rows_deterministically() {
        let (x, n, d) = data();
        let s = Dense::new(&x, n, d).unwrap();
        // Odd samples have no weight: they can never be picked.
        let w: Vec<f64> = (0..n).map(|i| (i % 2 == 0) as u8 as f64).collect();
        let never = || false;
        let a = kmeans_plusplus(&s, &w, 8, None, 7, &never).unwrap();
        let b = kmeans_plusplus(&s, &w, 8, None, 7, &never).unwrap();
        assert_eq!(a.indices, b.indices);
        let mut unique = a.indices.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8);
        for (c, &i) in a.indices.iter().enumerate() {
            assert_eq!(i % 2, 0);
            assert_eq!(
                &a.centers[c * d..(c + 1) * d],
                &x[i as usize * d..(i as usize + 1) * d]
            );
        }
        // The four well-separated groups are all seeded in the first four picks.
        let groups: std::collections::HashSet<i64> =
            a.indices[..4].iter().map(|&i| i / 50).collect();
        assert_eq!(groups.len(), 4);
    }

    #[test]
    fn random_init_samples_without_replacement_and_honours_zero_weights() {
        let (x, n, d) = data();
        let s = Dense::new(&x, n, d).unwrap();
        let w: Vec<f64> = (0..n).map(|i| if i < 10 { 1.0 } else { 0.0 }).collect();
        let init = random_init(&s, &w, 10, 3).unwrap();
        let mut idx = init.indices.clone();
        idx.sort();
        assert_eq!(idx, (0..10).collect::<Vec<i64>>());
        assert!(random_init(&s, &w, 11, 3).is_err());
    }
}
