//! Initial centers: scikit-learn's greedy k-means++ and weighted random sampling.

use rayon::prelude::*;

use crate::alloc;
use crate::blocks::{self, split_by_blocks};
use crate::float::Float;
use crate::linalg;
use crate::rng::Mt19937;
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

/// numpy's `searchsorted(cumsum, value)` (left side: the first `i` with `value <= cumsum[i]`),
/// clipped to the last index as scikit-learn clips it.
fn search_sorted_left(cumsum: &[f64], value: f64) -> usize {
    cumsum.partition_point(|&c| c < value).min(cumsum.len() - 1)
}

/// numpy's legacy `RandomState.choice(n, p=p)` (one draw with replacement) turns a uniform into
/// an index: `cdf = cumsum(p); cdf /= cdf[-1]; cdf.searchsorted(u, side='right')`.
pub(crate) struct Cdf {
    pub(crate) cdf: Vec<f64>,
}

impl Cdf {
    /// `p` in float64 (numpy converts the probabilities to it), summed left to right.
    pub(crate) fn new(p: &[f64]) -> Result<Self, KernelError> {
        let mut cdf = alloc::with_capacity(&[p.len()])?;
        let mut acc = 0.0;
        cdf.extend(p.iter().map(|&v| {
            acc += v;
            acc
        }));
        let last = cdf[cdf.len() - 1];
        cdf.iter_mut().for_each(|c| *c /= last);
        Ok(Self { cdf })
    }

    /// The first `i` with `u < cdf[i]` (searchsorted, right side).
    pub(crate) fn index(&self, u: f64) -> usize {
        self.cdf.partition_point(|&c| c <= u)
    }
}

/// scikit-learn's probabilities `sample_weight / sample_weight.sum()`, computed in the samples'
/// dtype as scikit-learn computes them, then widened to float64 as numpy's `choice` widens them.
pub(crate) fn probabilities<T: Float>(sample_weight: &[T]) -> Result<Vec<f64>, KernelError> {
    let total = T::from_f64(sample_weight.iter().map(|w| w.to_f64()).sum::<f64>());
    let mut p = alloc::with_capacity(&[sample_weight.len()])?;
    p.extend(sample_weight.iter().map(|&w| (w / total).to_f64()));
    Ok(p)
}

/// scikit-learn's `np.cumsum(sample_weight * closest_dist_sq)`: products and running sum in the
/// samples' dtype, left to right (`closest` holds values of that dtype).
fn weighted_cumsum<T: Float>(weights: &[T], closest: &[f64], out: &mut [f64]) {
    let mut acc = T::ZERO;
    for ((o, &w), &c) in out.iter_mut().zip(weights).zip(closest) {
        acc += w * T::from_f64(c);
        *o = acc.to_f64();
    }
}

/// `sum_i w_i * closest_i`, rounded to the samples' dtype as scikit-learn's potential is.
fn potential<T: Float>(weights: &[T], closest: &[f64]) -> f64 {
    T::from_f64(potential_from(weights, closest, 0.0)).to_f64()
}

/// The running sum of `w_i * closest_i` continued from `start` (pieces of the samples, in
/// order, give the sum of the whole).
pub fn potential_from<T: Float>(weights: &[T], closest: &[f64], start: f64) -> f64 {
    closest
        .iter()
        .zip(weights)
        .fold(start, |acc, (c, w)| acc + c * w.to_f64())
}

/// The last value of [`weighted_cumsum`] continued from `start`.
pub fn cumsum_end<T: Float>(weights: &[T], closest: &[f64], start: T) -> T {
    weights
        .iter()
        .zip(closest)
        .fold(start, |acc, (&w, &c)| acc + w * T::from_f64(c))
}

/// For each value, the first index whose [`weighted_cumsum`] continued from `start` is at
/// least the value (numpy's left-side search), if any.
pub fn cumsum_search<T: Float>(
    weights: &[T],
    closest: &[f64],
    start: T,
    values: &[f64],
) -> Vec<Option<usize>> {
    let mut found = vec![None; values.len()];
    let mut acc = start;
    for (i, (&w, &c)) in weights.iter().zip(closest).enumerate() {
        acc += w * T::from_f64(c);
        for (f, &v) in found.iter_mut().zip(values) {
            if f.is_none() && acc.to_f64() >= v {
                *f = Some(i);
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found
}

/// The first center's index: `choice(n, p=sample_weight / sum)` on the uniform `u`.
pub fn first_center<T: Float>(sample_weight: &[T], u: f64) -> Result<usize, KernelError> {
    if sample_weight.is_empty() {
        return Err(KernelError::Shape("no samples".into()));
    }
    Ok(Cdf::new(&probabilities(sample_weight)?)?.index(u))
}

/// Greedy k-means++ (Arthur & Vassilvitskii, with `n_local_trials` candidates per step) exactly
/// as scikit-learn's `_kmeans_plusplus` draws it: `uniforms` are the `1 + (k - 1) *
/// n_local_trials` values its `RandomState` gives (`random_sample`, in order): the first picks
/// the first center as `choice(n, p=sample_weight / sum)` does, each further group of
/// `n_local_trials` gives the candidates `searchsorted(cumsum(sample_weight * D(x)^2), u *
/// potential)`, and the candidate that most reduces the potential (the first on ties) is kept.
pub fn kmeans_plusplus<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    k: usize,
    n_local_trials: usize,
    uniforms: &[f64],
    stop: StopCheck,
) -> Result<Init<T>, KernelError> {
    check(x, sample_weight, k)?;
    let (n, d) = (x.n_samples(), x.n_features());
    let trials = n_local_trials;
    if trials == 0 || uniforms.len() != 1 + (k - 1) * trials {
        return Err(KernelError::InvalidArgument(format!(
            "k-means++ needs 1 + (n_clusters - 1) * n_local_trials = {} uniforms, got {}",
            1 + (k - 1) * trials,
            uniforms.len()
        )));
    }

    let mut centers = alloc::filled(&[k, d], T::ZERO)?;
    let mut indices = alloc::filled(&[k], -1i64)?;
    let first = Cdf::new(&probabilities(sample_weight)?)?.index(uniforms[0]);
    x.copy_row(first, &mut centers[..d]);
    indices[0] = first as i64;

    // Squared distance of each sample to its closest chosen center, and to each candidate of
    // the step (kept from the scoring pass, so the winner's lower `closest` without another
    // pass over the samples; scikit-learn holds the same `n_local_trials x n` distances).
    let mut closest = alloc::filled(&[n], f64::INFINITY)?;
    lower_to_distances(x, &centers[..d], &mut closest);
    let mut potential = potential(sample_weight, &closest);
    let mut cumsum = alloc::filled(&[n], 0.0f64)?;
    let mut candidate_rows = alloc::filled(&[trials, d], T::ZERO)?;
    let mut to_candidates = alloc::filled(&[n, trials], 0.0f64)?;
    let blocks = blocks::partition(n, 0);

    for (c, draws) in (1..k).zip(uniforms[1..].chunks_exact(trials)) {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        weighted_cumsum(sample_weight, &closest, &mut cumsum);
        let candidates: Vec<usize> = draws
            .iter()
            .map(|&u| search_sorted_left(&cumsum, u * potential))
            .collect();
        for (t, &id) in candidates.iter().enumerate() {
            x.copy_row(id, &mut candidate_rows[t * d..(t + 1) * d]);
        }
        let pots: Vec<f64> = candidate_potentials_keeping(
            x,
            sample_weight,
            &closest,
            &candidate_rows,
            &blocks,
            &mut to_candidates,
        )
        .into_iter()
        .map(|p| T::from_f64(p).to_f64())
        .collect();
        let best = (0..trials).fold(0, |best, t| if pots[t] < pots[best] { t } else { best });
        potential = pots[best];
        let best_row = &candidate_rows[best * d..(best + 1) * d];
        // The same values `lower_to_distances` would compute for the winner.
        lower_to_kept(&mut closest, &to_candidates, &blocks, trials, best);
        centers[c * d..(c + 1) * d].copy_from_slice(best_row);
        indices[c] = candidates[best] as i64;
    }
    Ok(Init { centers, indices })
}

/// `closest[i] = min(closest[i], ||x_i - y||^2)`.
pub fn lower_to_distances<T: Float, S: Samples<T>>(x: &S, y: &[T], closest: &mut [f64]) {
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

/// Potential of each candidate row of `ys`: `sum_i w_i * min(closest_i, ||x_i - y||^2)`, with
/// `||x_i - y_t||^2` kept in `to_candidates`: block by block of `blocks`, candidate by
/// candidate within a block (so one candidate's values of a block are contiguous).
fn candidate_potentials_keeping<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    closest: &[f64],
    ys: &[T],
    blocks: &[std::ops::Range<usize>],
    to_candidates: &mut [f64],
) -> Vec<f64> {
    let d = x.n_features();
    let y_norms: Vec<T> = ys.chunks_exact(d).map(linalg::sq_norm).collect();
    let slices = split_by_blocks(to_candidates, blocks, y_norms.len());
    let partials: Vec<Vec<f64>> = blocks
        .par_iter()
        .zip(slices)
        .map(|(b, kept)| {
            potentials_block(
                x,
                b.clone(),
                sample_weight,
                closest,
                ys,
                &y_norms,
                Some(kept),
            )
        })
        .collect();
    combine_potentials(partials, y_norms.len())
}

/// `closest[i] = min(closest[i], ||x_i - y_best||^2)` from the distances
/// [`candidate_potentials_keeping`] kept.
fn lower_to_kept(
    closest: &mut [f64],
    to_candidates: &[f64],
    blocks: &[std::ops::Range<usize>],
    trials: usize,
    best: usize,
) {
    let mut kept = to_candidates;
    let mut parts = Vec::with_capacity(blocks.len());
    for b in blocks {
        let (head, tail) = kept.split_at(b.len() * trials);
        parts.push(&head[best * b.len()..(best + 1) * b.len()]);
        kept = tail;
    }
    split_by_blocks(closest, blocks, 1)
        .into_par_iter()
        .zip(parts)
        .for_each(|(c, winner)| c.iter_mut().zip(winner).for_each(|(c, &v)| *c = c.min(v)));
}

/// Each block's candidate potentials, which [`combine_potentials`] adds in block order.
pub fn candidate_potentials_blocks<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    closest: &[f64],
    ys: &[T],
    blocks: &[std::ops::Range<usize>],
) -> Vec<Vec<f64>> {
    let d = x.n_features();
    let y_norms: Vec<T> = ys.chunks_exact(d).map(linalg::sq_norm).collect();
    blocks
        .par_iter()
        .map(|b| potentials_block(x, b.clone(), sample_weight, closest, ys, &y_norms, None))
        .collect()
}

/// Block potentials combined in block order: the result does not depend on the thread count.
pub fn combine_potentials(partials: Vec<Vec<f64>>, n_candidates: usize) -> Vec<f64> {
    let mut pots = vec![0.0f64; n_candidates];
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
    mut kept: Option<&mut [f64]>,
) -> Vec<f64> {
    let d = x.n_features();
    let trials = y_norms.len();
    // Few features: the per-pair horizontal sum costs more than the arithmetic.
    if d <= TILED_FEATURES {
        if let Some(rows) = x.dense_rows(block.start, block.end) {
            return dense_potentials(rows, d, block.start, sample_weight, closest, ys, kept);
        }
    }
    let mut pots = vec![0.0f64; trials];
    let block_len = block.len();
    for (r, i) in block.enumerate() {
        let w = sample_weight[i].to_f64();
        for (t, p) in pots.iter_mut().enumerate() {
            let dist = x.sq_dist(i, &ys[t * d..(t + 1) * d], y_norms[t]).to_f64();
            if let Some(kept) = kept.as_deref_mut() {
                kept[t * block_len + r] = dist;
            }
            *p += w * dist.min(closest[i]);
        }
    }
    pots
}

/// Samples side by side in the lanes of a tile.
const TILE: usize = 8;
/// Up to this many features, dense candidate distances are computed a tile of samples at a
/// time (beyond, the per-pair sum is a small share and the tile's transposition is not).
const TILED_FEATURES: usize = 16;

/// [`potentials_block_body`] for dense rows starting at sample `first`: `TILE` samples at a
/// time side by side in SIMD lanes, each lane doing `linalg::sq_dist`'s operations in its order
/// (per-residue partial sums of the first `d - d % 8` features, the rest summed apart, then
/// the partials added), so the distances are the same bits without a horizontal reduction
/// per pair; potentials are then added in sample order.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lanes indexed alike in several arrays
fn dense_potentials<T: Float>(
    rows: &[T],
    d: usize,
    first: usize,
    sample_weight: &[T],
    closest: &[f64],
    ys: &[T],
    mut kept: Option<&mut [f64]>,
) -> Vec<f64> {
    let trials = ys.len() / d.max(1);
    let n = rows.len() / d.max(1);
    let split = d - d % 8;
    let mut pots = vec![0.0f64; trials];
    let mut tile = vec![T::ZERO; d * TILE]; // tile[f * TILE + lane]
    let mut dist = vec![[T::ZERO; TILE]; trials];
    for start in (0..n).step_by(TILE) {
        let m = TILE.min(n - start);
        for lane in 0..m {
            let row = &rows[(start + lane) * d..(start + lane + 1) * d];
            for (f, &v) in row.iter().enumerate() {
                tile[f * TILE + lane] = v;
            }
        }
        for (y, out) in ys.chunks_exact(d).zip(dist.iter_mut()) {
            let mut partial = [[T::ZERO; TILE]; 8];
            for f in 0..split {
                let column: &[T; TILE] = tile[f * TILE..(f + 1) * TILE].try_into().unwrap();
                for lane in 0..TILE {
                    let t = column[lane] - y[f];
                    partial[f % 8][lane] += t * t;
                }
            }
            let mut sum = [T::ZERO; TILE];
            for f in split..d {
                let column: &[T; TILE] = tile[f * TILE..(f + 1) * TILE].try_into().unwrap();
                for lane in 0..TILE {
                    let t = column[lane] - y[f];
                    sum[lane] += t * t;
                }
            }
            for p in &partial {
                for lane in 0..TILE {
                    sum[lane] += p[lane];
                }
            }
            *out = sum;
        }
        for lane in 0..m {
            let (r, i) = (start + lane, first + start + lane);
            let w = sample_weight[i].to_f64();
            for (t, p) in pots.iter_mut().enumerate() {
                let value = dist[t][lane].to_f64();
                if let Some(kept) = kept.as_deref_mut() {
                    kept[t * n + r] = value;
                }
                *p += w * value.min(closest[i]);
            }
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
        kept: Option<&mut [f64]>,
    ) -> Vec<f64> = potentials_block_body;
);

/// `k` distinct samples drawn as scikit-learn's `init='random'` draws them: numpy's legacy
/// `RandomState.choice(n, size=k, replace=False, p=sample_weight / sum)`, run on the generator's
/// own state (which this advances as numpy does). Each round draws one uniform per missing
/// sample, zeroes the probabilities of the samples found so far, maps the uniforms through the
/// renormalised cdf (searchsorted, right side) and keeps the new distinct indices in the order of
/// their first appearance.
pub fn random_init<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    k: usize,
    rng: &mut Mt19937,
) -> Result<Init<T>, KernelError> {
    check(x, sample_weight, k)?;
    let d = x.n_features();
    let mut p = probabilities(sample_weight)?;
    if p.iter().filter(|&&v| v > 0.0).count() < k {
        return Err(KernelError::InvalidArgument(
            "Fewer non-zero entries in p than size".into(),
        ));
    }
    let mut found: Vec<usize> = Vec::with_capacity(k);
    let mut seen = alloc::filled(&[x.n_samples()], 0u32)?;
    let mut draws = Vec::with_capacity(k);
    while found.len() < k {
        draws.clear();
        draws.extend((0..k - found.len()).map(|_| rng.random_sample()));
        for &i in &found {
            p[i] = 0.0;
        }
        let cdf = Cdf::new(&p)?;
        let before = found.len();
        for &u in &draws {
            let i = cdf.index(u);
            if seen[i] == 0 {
                seen[i] = 1;
                found.push(i);
            }
        }
        if found.len() == before {
            // Only non-finite probabilities can stall the draws.
            return Err(KernelError::InvalidArgument(
                "probabilities contain NaN".into(),
            ));
        }
    }
    let mut centers = alloc::filled(&[k, d], T::ZERO)?;
    for (c, &i) in found.iter().enumerate() {
        x.copy_row(i, &mut centers[c * d..(c + 1) * d]);
    }
    Ok(Init {
        centers,
        indices: found.into_iter().map(|i| i as i64).collect(),
    })
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
        let mut rng = Mt19937::from_seed(7);
        let uniforms: Vec<f64> = (0..1 + 7 * 4).map(|_| rng.random_sample()).collect();
        let a = kmeans_plusplus(&s, &w, 8, 4, &uniforms, &never).unwrap();
        let b = kmeans_plusplus(&s, &w, 8, 4, &uniforms, &never).unwrap();
        assert!(kmeans_plusplus(&s, &w, 8, 4, &uniforms[1..], &never).is_err());
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
        let init = random_init(&s, &w, 10, &mut Mt19937::from_seed(3)).unwrap();
        let mut idx = init.indices.clone();
        idx.sort();
        assert_eq!(idx, (0..10).collect::<Vec<i64>>());
        assert!(random_init(&s, &w, 11, &mut Mt19937::from_seed(3)).is_err());
    }

    #[test]
    fn random_init_is_numpys_choice_without_replacement() {
        let (x, n, d) = data();
        let s = Dense::new(&x, n, d).unwrap();
        // np.random.RandomState(0).choice(200, size=20, replace=False, p=w / w.sum()) with
        // w = 1 + (i % 3), and the state's position afterwards (get_state()[2]).
        let w: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let mut rng = Mt19937::from_seed(0);
        let init = random_init(&s, &w, 20, &mut rng).unwrap();
        assert_eq!(init.indices, CHOICE_SEED_0.to_vec());
        assert_eq!(rng.pos(), CHOICE_SEED_0_POS);
        // Duplicates make it draw again: 150 of 200 equally weighted samples.
        let w = vec![1.0f64; n];
        let mut rng = Mt19937::from_seed(1);
        let init = random_init(&s, &w, 150, &mut rng).unwrap();
        assert_eq!(&init.indices[..5], &CHOICE_150_SEED_1_HEAD);
        assert_eq!(rng.pos(), CHOICE_150_SEED_1_POS);
    }

    const CHOICE_SEED_0: [i64; 20] = [
        109, 143, 120, 85, 128, 87, 178, 192, 76, 158, 106, 113, 185, 14, 17, 4, 166, 155, 173, 196,
    ];
    const CHOICE_SEED_0_POS: usize = 42;
    const CHOICE_150_SEED_1_HEAD: [i64; 5] = [83, 144, 0, 60, 29];
    const CHOICE_150_SEED_1_POS: usize = 428;
}
