//! Initial centers: scikit-learn's greedy k-means++ and weighted random sampling.

use rayon::prelude::*;

use super::rng::Rng;
use super::samples::Samples;
use super::{blocks, linalg, steps::split_by_blocks, StopCheck};
use crate::float::Float;
use crate::simd;
use crate::KernelError;

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

fn weighted_cumsum<T: Float>(weights: &[T], values: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .iter()
        .zip(values)
        .map(|(w, v)| {
            acc += w.to_f64() * v;
            acc
        })
        .collect()
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

    let mut centers = vec![T::ZERO; k * d];
    let mut indices = vec![-1i64; k];
    let weight_cumsum = weighted_cumsum(sample_weight, &vec![1.0; n]);
    let first = search_sorted(&weight_cumsum, rng.uniform() * weight_cumsum[n - 1]);
    x.copy_row(first, &mut centers[..d]);
    indices[0] = first as i64;

    let mut closest = vec![0.0f64; n];
    let mut candidate_dist = vec![0.0f64; n * trials];
    sq_distances_to(x, &centers[..d], &mut closest);
    let mut potential: f64 = closest
        .iter()
        .zip(sample_weight)
        .map(|(c, w)| c * w.to_f64())
        .sum();
    let mut candidate_rows = vec![T::ZERO; trials * d];

    for c in 1..k {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        let cumsum = weighted_cumsum(sample_weight, &closest);
        let candidates: Vec<usize> = (0..trials)
            .map(|_| search_sorted(&cumsum, rng.uniform() * potential))
            .collect();
        for (t, &id) in candidates.iter().enumerate() {
            x.copy_row(id, &mut candidate_rows[t * d..(t + 1) * d]);
        }
        sq_distances_to(x, &candidate_rows, &mut candidate_dist);
        // Potential of each candidate: sum_i w_i * min(closest_i, dist_i(candidate)).
        let blocks = blocks::partition(n, 0);
        let partials: Vec<Vec<f64>> = blocks
            .par_iter()
            .map(|b| {
                let mut pot = vec![0.0f64; trials];
                for i in b.clone() {
                    let w = sample_weight[i].to_f64();
                    for (t, p) in pot.iter_mut().enumerate() {
                        *p += w * candidate_dist[i * trials + t].min(closest[i]);
                    }
                }
                pot
            })
            .collect();
        let mut pots = vec![0.0f64; trials];
        for p in partials {
            pots.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        let best = (0..trials).fold(0, |best, t| if pots[t] < pots[best] { t } else { best });
        potential = pots[best];
        closest
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = v.min(candidate_dist[i * trials + best]));
        centers[c * d..(c + 1) * d].copy_from_slice(&candidate_rows[best * d..(best + 1) * d]);
        indices[c] = candidates[best] as i64;
    }
    Ok(Init { centers, indices })
}

/// `out[i * t + j] = ||x_i - y_j||^2` for the `t` rows of `ys` (exact differences for dense
/// samples, the norm expansion for sparse ones, as `Samples::sq_dist`).
fn sq_distances_to<T: Float, S: Samples<T>>(x: &S, ys: &[T], out: &mut [f64]) {
    let d = x.n_features();
    let t = ys.len() / d;
    let y_norms: Vec<T> = ys.chunks_exact(d).map(linalg::sq_norm).collect();
    let blocks = blocks::partition(x.n_samples(), 0);
    let slices = split_by_blocks(out, &blocks, t);
    blocks.par_iter().zip(slices).for_each(|(b, rows)| {
        distances_block_simd(x, b.clone(), ys, &y_norms, t, d, rows);
    });
}

simd::simd_variants!(
    fn distances_block_simd<T: Float, S: Samples<T>>(
        x: &S, block: std::ops::Range<usize>, ys: &[T], y_norms: &[T], t: usize, d: usize, rows: &mut [f64],
    ) -> () = distances_block;
);

#[inline(always)]
fn distances_block<T: Float, S: Samples<T>>(
    x: &S,
    block: std::ops::Range<usize>,
    ys: &[T],
    y_norms: &[T],
    t: usize,
    d: usize,
    rows: &mut [f64],
) {
    for (r, i) in block.enumerate() {
        for j in 0..t {
            rows[r * t + j] = x.sq_dist(i, &ys[j * d..(j + 1) * d], y_norms[j]).to_f64();
        }
    }
}

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
    let mut keyed: Vec<(f64, usize)> = sample_weight
        .iter()
        .enumerate()
        .map(|(i, w)| {
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
        })
        .collect();
    keyed.select_nth_unstable_by(k - 1, |a, b| {
        b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1))
    });
    let mut chosen: Vec<(f64, usize)> = keyed[..k].to_vec();
    chosen.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
    let mut centers = vec![T::ZERO; k * d];
    let indices = chosen.iter().map(|&(_, i)| i as i64).collect();
    for (c, &(_, i)) in chosen.iter().enumerate() {
        x.copy_row(i, &mut centers[c * d..(c + 1) * d]);
    }
    Ok(Init { centers, indices })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::Dense;

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
