//! The building blocks shared by Lloyd and Elkan: the assignment step, the center update
//! (with relocation of empty clusters), center shifts and the inertia.

use rayon::prelude::*;
use std::ops::Range;

use super::panels;
use crate::alloc;
use crate::blocks::{self, split_by_blocks, CHUNK};
use crate::error::NON_FINITE;
use crate::float::Float;
use crate::linalg::{self, row_sq_norms};
use crate::nearest::NearestSearch;
use crate::samples::Samples;
use crate::stats;
use crate::KernelError;

/// Weighted per-cluster sums of the samples, the E-step's contribution to the M-step.
pub struct ClusterSums<T> {
    pub sums: Vec<T>,
    pub weights: Vec<T>,
}

impl<T: Float> ClusterSums<T> {
    pub fn zeros(k: usize, d: usize) -> Result<Self, KernelError> {
        Ok(Self {
            sums: alloc::filled(&[k, d], T::ZERO)?,
            weights: alloc::filled(&[k], T::ZERO)?,
        })
    }

    fn add(&mut self, other: &Self) {
        self.sums
            .iter_mut()
            .zip(&other.sums)
            .for_each(|(a, &b)| *a += b);
        self.weights
            .iter_mut()
            .zip(&other.weights)
            .for_each(|(a, &b)| *a += b);
    }

    /// Combines block partial sums in block order (deterministic).
    pub fn combine(parts: Vec<Self>, k: usize, d: usize) -> Result<Self, KernelError> {
        let mut it = parts.into_iter();
        let mut total = match it.next() {
            Some(first) => first,
            None => Self::zeros(k, d)?,
        };
        for p in it {
            total.add(&p);
        }
        Ok(total)
    }
}

/// Assigns every sample to its closest center (Lloyd's E-step, blocked and fused with the
/// accumulation of the weighted cluster sums when `accumulate` is set).
/// Returns whether any label changed, and the sums.
pub fn assign<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    labels: &mut [i32],
    accumulate: bool,
) -> Result<(bool, ClusterSums<T>), KernelError> {
    let d = x.n_features();
    let n = x.n_samples();
    let (changed, parts, k) =
        assign_blocks(x, sample_weight, centers, labels, accumulate, |state| {
            blocks::partition(n, state)
        })?;
    let sums = if accumulate {
        ClusterSums::combine(parts, k, d)?
    } else {
        ClusterSums::zeros(0, 0)?
    };
    Ok((changed, sums))
}

/// [`assign`] over the blocks `blocks_for(per_block_state)` gives, returning each block's
/// cluster sums (empty without `accumulate`) and the number of centers: the leaves of the
/// reduction that [`ClusterSums::combine`] folds in block order.
pub fn assign_blocks<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    labels: &mut [i32],
    accumulate: bool,
    blocks_for: impl FnOnce(usize) -> Vec<Range<usize>>,
) -> Result<(bool, Vec<ClusterSums<T>>, usize), KernelError> {
    let pass = AssignPass {
        accumulate,
        check_finite: false,
        inertia: false,
    };
    let (changed, sums, k, _) =
        assign_blocks_with(x, sample_weight, centers, labels, pass, blocks_for)?;
    Ok((changed, sums, k))
}

/// What an assignment pass does besides labelling.
#[derive(Clone, Copy)]
struct AssignPass {
    /// Accumulate the weighted cluster sums.
    accumulate: bool,
    /// Fail with [`NON_FINITE`] if X holds NaN or infinity (checked chunk by chunk while the
    /// rows are in cache, instead of a separate pass over X).
    check_finite: bool,
    /// Sum each block's weighted inertia (as [`inertia_blocks`] sums it, while the rows are in
    /// cache).
    inertia: bool,
}

/// Whether any label changed, each block's cluster sums, the number of centers and each
/// block's inertia (empty unless asked).
type BlocksPass<T> = (bool, Vec<ClusterSums<T>>, usize, Vec<f64>);

fn assign_blocks_with<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    labels: &mut [i32],
    pass: AssignPass,
    blocks_for: impl FnOnce(usize) -> Vec<Range<usize>>,
) -> Result<BlocksPass<T>, KernelError> {
    let AssignPass {
        accumulate,
        check_finite,
        inertia,
    } = pass;
    let d = x.n_features();
    let prepared = x.prepare_centers(centers)?;
    let c_norms = if inertia {
        row_sq_norms(centers, d)
    } else {
        Vec::new()
    };
    let k = prepared.n_centers();
    let state = if accumulate { k * d + k } else { 0 };
    let blocks = blocks_for(state);
    let label_slices = split_by_blocks(labels, &blocks, 1);
    let parts: Vec<(bool, ClusterSums<T>, f64)> = blocks
        .par_iter()
        .zip(label_slices)
        .map(|(block, block_labels)| {
            let mut sums = if accumulate {
                ClusterSums::zeros(k, d)?
            } else {
                ClusterSums::zeros(0, 0)?
            };
            let mut scratch = Vec::new();
            let mut nearest = [0u32; CHUNK];
            let mut changed = false;
            let mut block_inertia_sum = 0.0;
            for chunk in blocks::chunks(block.clone()) {
                let m = chunk.len();
                scratch.resize(prepared.scratch_len(), T::ZERO);
                x.nearest(chunk.start, &prepared, &mut nearest[..m], &mut scratch);
                if check_finite && !x.rows_finite(chunk.start, chunk.end) {
                    return Err(KernelError::InvalidArgument(NON_FINITE.into()));
                }
                let labels = &mut block_labels[chunk.start - block.start..chunk.end - block.start];
                let weights = &sample_weight[chunk.clone()];
                let sums = accumulate.then_some(&mut sums);
                changed |= record_chunk(x, chunk.start, &nearest[..m], labels, weights, sums);
                if inertia {
                    block_inertia_sum = block_inertia(
                        x,
                        chunk,
                        sample_weight,
                        centers,
                        &c_norms,
                        labels,
                        block_inertia_sum,
                    );
                }
            }
            Ok((changed, sums, block_inertia_sum))
        })
        .collect::<Result<_, KernelError>>()?;
    let changed = parts.iter().any(|p| p.0);
    let inertias = if inertia {
        parts.iter().map(|p| p.2).collect()
    } else {
        Vec::new()
    };
    let sums = parts.into_iter().map(|p| p.1).collect();
    Ok((changed, sums, k, inertias))
}

/// Problems of up to this many multiply-adds are labelled with scikit-learn's own arithmetic
/// where scikit-learn runs `_labels_inertia` on the data as given (predict, score,
/// MiniBatchKMeans' steps and labels): see [`NearestSearch::nearest_as_scikit_learn`]. On
/// small data MiniBatchKMeans' reassignment moves centers onto samples that other centers
/// already sit on (to rounding), and which of them a sample then joins is decided by the
/// rounding of scikit-learn's distances; its running means then go apart. Larger problems
/// take the register-blocked kernels, which agree with it except at such ties.
pub const SCIKIT_LEARN_ARITHMETIC_WORK: usize = 1 << 16;

/// Every sample's closest center, as scikit-learn's `_labels_inertia` finds it (its own
/// arithmetic on small problems, see [`SCIKIT_LEARN_ARITHMETIC_WORK`]), and with
/// `with_inertia` the weighted inertia of those labels (the bits of [`inertia`]).
/// With `check_finite`, fails with [`NON_FINITE`] when X holds NaN or infinity.
pub fn assign_as_labels_inertia<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    labels: &mut [i32],
    with_inertia: bool,
    check_finite: bool,
) -> Result<Option<f64>, KernelError> {
    let work = x.n_samples().saturating_mul(centers.len());
    if work > SCIKIT_LEARN_ARITHMETIC_WORK || x.n_features() == 0 {
        let n = x.n_samples();
        let pass = AssignPass {
            accumulate: false,
            check_finite,
            inertia: with_inertia,
        };
        // Without sums the blocks are `inertia`'s, `partition(n, 0)`: its sums, in its order.
        let blocks = |state| blocks::partition(n, state);
        let (_, _, _, inertias) =
            assign_blocks_with(x, sample_weight, centers, labels, pass, blocks)?;
        return Ok(with_inertia.then(|| inertias.into_iter().sum()));
    }
    if check_finite && !x.rows_finite(0, x.n_samples()) {
        return Err(KernelError::InvalidArgument(NON_FINITE.into()));
    }
    let mut nearest = vec![0u32; x.n_samples()];
    x.nearest_as_scikit_learn(centers, &mut nearest);
    labels
        .iter_mut()
        .zip(&nearest)
        .for_each(|(l, &n)| *l = n as i32);
    Ok(with_inertia.then(|| inertia(x, sample_weight, centers, labels)))
}

#[inline(always)]
fn record_chunk_body<T: Float, S: Samples<T>>(
    x: &S,
    start: usize,
    nearest: &[u32],
    labels: &mut [i32],
    weights: &[T],
    sums: Option<&mut ClusterSums<T>>,
) -> bool {
    let mut changed = false;
    for (slot, &label) in labels.iter_mut().zip(nearest) {
        changed |= *slot != label as i32;
        *slot = label as i32;
    }
    if let Some(sums) = sums {
        add_chunk_to_sums(x, start, nearest, weights, sums);
    }
    changed
}

/// Adds the chunk of rows from `start` (one per label of `nearest`) to their clusters' sums.
#[inline(always)]
fn add_chunk_to_sums<T: Float, S: Samples<T>>(
    x: &S,
    start: usize,
    nearest: &[u32],
    weights: &[T],
    sums: &mut ClusterSums<T>,
) {
    let d = x.n_features();
    if let Some(rows) = x.dense_rows(start, start + nearest.len()) {
        return add_dense_rows(rows, d, nearest, weights, sums);
    }
    for (r, (&label, &w)) in nearest.iter().zip(weights).enumerate() {
        let label = label as usize;
        x.add_scaled_row(start + r, w, &mut sums.sums[label * d..(label + 1) * d]);
        sums.weights[label] += w;
    }
}

/// Adds the samples of `block` (one of [`blocks::partition`]'s, `labels` its labels) to their
/// clusters' sums in the order Lloyd's pass adds them, chunk by chunk: a pass that labels
/// the samples another way (Elkan) then gets Lloyd's bits.
#[inline(always)]
pub fn add_block_to_sums<T: Float, S: Samples<T>>(
    x: &S,
    block: Range<usize>,
    labels: &[i32],
    sample_weight: &[T],
    sums: &mut ClusterSums<T>,
) {
    let mut nearest = [0u32; CHUNK];
    for chunk in blocks::chunks(block.clone()) {
        let chunk_labels = &labels[chunk.start - block.start..chunk.end - block.start];
        let nearest = &mut nearest[..chunk.len()];
        for (n, &l) in nearest.iter_mut().zip(chunk_labels) {
            *n = l as u32;
        }
        add_chunk_to_sums(x, chunk.start, nearest, &sample_weight[chunk], sums);
    }
}

/// Adds dense rows to their clusters' sums (`sum += w * x`, in row order as the generic path,
/// except that rows of up to 4 features are dealt to four copies of the sums, see
/// [`add_rows_interleaved`]), with the loop over features unrolled for few features. Each row
/// and its cluster's sum are copied into local arrays before the stores, so that the compiler
/// may use vectors (it cannot prove that the sums and the rows do not overlap); the products
/// and sums stay separate roundings, element by element, as in the scalar loop.
#[inline(always)]
fn add_dense_rows<T: Float>(
    rows: &[T],
    d: usize,
    nearest: &[u32],
    weights: &[T],
    sums: &mut ClusterSums<T>,
) {
    macro_rules! unrolled {
        ($($n:literal)*) => {
            match d {
                $($n => return add_rows_of::<T, $n>(rows, nearest, weights, sums),)*
                _ => {}
            }
        };
    }
    unrolled!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    let (sum_all, weight_all) = (&mut sums.sums[..], &mut sums.weights[..]);
    for ((row, &label), &w) in rows.chunks_exact(d).zip(nearest).zip(weights) {
        let l = label as usize;
        let sum = &mut sum_all[l * d..(l + 1) * d];
        let mut sum_blocks = sum.chunks_exact_mut(8);
        let mut row_blocks = row.chunks_exact(8);
        for (s, r) in (&mut sum_blocks).zip(&mut row_blocks) {
            add_scaled::<T, 8>(s.try_into().unwrap(), r.try_into().unwrap(), w);
        }
        for (s, &v) in sum_blocks
            .into_remainder()
            .iter_mut()
            .zip(row_blocks.remainder())
        {
            *s += w * v;
        }
        weight_all[l] += w;
    }
}

/// `sum += w * row`, element by element (a product then a sum, as the scalar loop).
#[inline(always)]
fn add_scaled<T: Float, const D: usize>(sum: &mut [T; D], row: &[T; D], w: T) {
    let r = *row;
    let mut s = *sum;
    for f in 0..D {
        s[f] += w * r[f];
    }
    *sum = s;
}

#[inline(always)]
fn add_rows_of<T: Float, const D: usize>(
    rows: &[T],
    nearest: &[u32],
    weights: &[T],
    sums: &mut ClusterSums<T>,
) {
    let k = sums.weights.len();
    if D <= INTERLEAVED_FEATURES && k <= INTERLEAVED_CLUSTERS {
        return add_rows_interleaved::<T, D>(rows, nearest, weights, sums);
    }
    let (sum_all, weight_all) = (&mut sums.sums[..], &mut sums.weights[..]);
    for ((row, &label), &w) in rows.chunks_exact(D).zip(nearest).zip(weights) {
        let l = label as usize;
        let sum: &mut [T; D] = (&mut sum_all[l * D..(l + 1) * D]).try_into().unwrap();
        add_scaled(sum, row.try_into().unwrap(), w);
        weight_all[l] += w;
    }
}

/// Copies of the sums that consecutive rows go to in turn (see [`add_rows_interleaved`]).
const SUM_LANES: usize = 4;
/// Most features, and most clusters, summed in interleaved copies (longer rows take long
/// enough to add that the chains do not show).
const INTERLEAVED_FEATURES: usize = 4;
const INTERLEAVED_CLUSTERS: usize = 64;

/// [`add_rows_of`] for few, short clusters: row `r` of the chunk goes to copy `r % 4` of the
/// sums, and the copies are added to the sums at the end, `(c0 + c1) + (c2 + c3)`. With few
/// clusters nearby rows often share one, and a single copy would chain each row's additions
/// to the previous row's stores; four copies let four rows proceed at once. The order depends
/// only on the rows' places in the chunk, so any thread count gives the same bits.
#[inline(always)]
fn add_rows_interleaved<T: Float, const D: usize>(
    rows: &[T],
    nearest: &[u32],
    weights: &[T],
    sums: &mut ClusterSums<T>,
) {
    let k = sums.weights.len();
    // Copy `lane` of the sums, then of the weights, at `lane * stride` (heap memory: a stack
    // array sized for the largest case would cost more to clear than the chunk's additions).
    let stride = k * D + k;
    let mut copies = vec![T::ZERO; SUM_LANES * stride];
    let mut add = |lane: usize, row: &[T], label: u32, w: T| {
        let l = label as usize;
        assert!(l < k);
        let copy = &mut copies[lane * stride..(lane + 1) * stride];
        let sum: &mut [T; D] = (&mut copy[l * D..(l + 1) * D]).try_into().unwrap();
        add_scaled(sum, row.try_into().unwrap(), w);
        copy[k * D + l] += w;
    };
    let mut quads = rows.chunks_exact(SUM_LANES * D);
    let mut r = 0;
    for quad in &mut quads {
        for (lane, row) in quad.chunks_exact(D).enumerate() {
            add(lane, row, nearest[r + lane], weights[r + lane]);
        }
        r += SUM_LANES;
    }
    for (lane, row) in quads.remainder().chunks_exact(D).enumerate() {
        add(lane, row, nearest[r + lane], weights[r + lane]);
    }
    let fold = |totals: &mut [T], offset: usize| {
        for (i, total) in totals.iter_mut().enumerate() {
            let c = |lane: usize| copies[lane * stride + offset + i];
            *total += (c(0) + c(1)) + (c(2) + c(3));
        }
    };
    fold(&mut sums.sums[..k * D], 0);
    fold(&mut sums.weights[..k], k * D);
}

crate::simd::simd_variants!(
    /// Stores a chunk's labels (reporting whether any changed) and adds its samples to the
    /// cluster sums.
    pub(super) fn record_chunk<T: Float, S: Samples<T>>(
        x: &S,
        start: usize,
        nearest: &[u32],
        labels: &mut [i32],
        weights: &[T],
        sums: Option<&mut ClusterSums<T>>,
    ) -> bool = record_chunk_body;
);

/// Turns cluster sums into new centers: relocates empty clusters to the samples farthest from
/// their current center, then divides by the cluster weights (scikit-learn's
/// `_relocate_empty_clusters_*` and `_average_centers`).
/// `centers_old` is used for the relocation distances; returns the new `(k, d)` centers.
pub fn update_centers<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers_old: &[T],
    labels: &[i32],
    mut sums: ClusterSums<T>,
) -> Result<Vec<T>, KernelError> {
    let d = x.n_features();
    let empty = empty_clusters(&sums);
    if !empty.is_empty() {
        let far = farthest_samples(x, sample_weight, centers_old, labels, empty.len(), 0)?;
        if far.any_off_center {
            relocate(&mut sums, &empty, &far.samples, d);
        }
    }
    let means = || Ok((!x.is_sparse()).then(|| stats::feature_means(x)));
    let (mut centers, overflowed) = average_centers(sums, d, means)?;
    if !overflowed.is_empty() {
        rescaled_means(x, sample_weight, labels, &overflowed, &mut centers);
    }
    Ok(centers)
}

/// The clusters without weight.
pub fn empty_clusters<T: Float>(sums: &ClusterSums<T>) -> Vec<usize> {
    (0..sums.weights.len())
        .filter(|&j| sums.weights[j] == T::ZERO)
        .collect()
}

/// Divides the cluster sums by their weights (scikit-learn's `_average_centers`). A cluster
/// still without weight takes the heaviest cluster's center; `feature_means` gives the column
/// means of dense samples (None for sparse ones) when that copy needs them. Returns the
/// centers and the clusters whose center overflowed.
pub fn average_centers<T: Float>(
    sums: ClusterSums<T>,
    d: usize,
    feature_means: impl FnOnce() -> Result<Option<Vec<f64>>, KernelError>,
) -> Result<(Vec<T>, Vec<usize>), KernelError> {
    let k = sums.weights.len();
    let mut centers = sums.sums;
    // scikit-learn's `_average_centers`: a cluster still without weight (relocation skipped)
    // is put where the heaviest cluster is, copied as that cluster stands at that point of
    // the loop: already divided when it comes earlier, still the weighted sum when later.
    let heaviest = (0..k).fold(0, |best, j| {
        if sums.weights[j] > sums.weights[best] {
            j
        } else {
            best
        }
    });
    let undivided_copy = (0..heaviest).any(|j| sums.weights[j] <= T::ZERO);
    // That weighted sum is of samples centred on their column means m when they are dense
    // (scikit-learn centres dense X, not sparse X): S - W m, which is S - (W - 1) m once m
    // is added back to the centers.
    let offset: Option<Vec<T>> = if undivided_copy {
        feature_means()?.map(|means| {
            let excess = sums.weights[heaviest] - T::ONE;
            means.into_iter().map(|m| excess * T::from_f64(m)).collect()
        })
    } else {
        None
    };
    for j in 0..k {
        if sums.weights[j] > T::ZERO {
            let alpha = T::ONE / sums.weights[j];
            centers[j * d..(j + 1) * d]
                .iter_mut()
                .for_each(|v| *v *= alpha);
        } else if j != heaviest {
            centers.copy_within(heaviest * d..(heaviest + 1) * d, j * d);
            if let (true, Some(offset)) = (j < heaviest, &offset) {
                let center = &mut centers[j * d..(j + 1) * d];
                center.iter_mut().zip(offset).for_each(|(c, &o)| *c -= o);
            }
        }
    }
    let overflowed: Vec<usize> = (0..k)
        .filter(|&j| centers[j * d..(j + 1) * d].iter().any(|v| !v.is_finite()))
        .collect();
    Ok((centers, overflowed))
}

/// Recomputes the centers of `clusters` as weighted means with the weights divided by the
/// cluster's largest weight: with huge weights `w * x` overflows although the mean does not
/// (scikit-learn avoids this by centering the data first). Clusters whose samples themselves
/// hold infinite values keep their non-finite center.
fn rescaled_means<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    labels: &[i32],
    clusters: &[usize],
    centers: &mut [T],
) {
    let d = x.n_features();
    for &j in clusters {
        let members = || (0..x.n_samples()).filter(move |&i| labels[i] as usize == j);
        let scale = members()
            .map(|i| sample_weight[i].max(-sample_weight[i]))
            .fold(T::ZERO, T::max);
        if scale == T::ZERO || !scale.is_finite() {
            continue;
        }
        let mut sum = vec![T::ZERO; d];
        let mut weight = T::ZERO;
        for i in members() {
            let w = sample_weight[i] / scale;
            x.add_scaled_row(i, w, &mut sum);
            weight += w;
        }
        if weight > T::ZERO {
            for (c, s) in centers[j * d..(j + 1) * d].iter_mut().zip(sum) {
                *c = s / weight;
            }
        }
    }
}

/// A sample far from its center: a candidate for an empty cluster.
#[derive(Clone, Debug)]
pub struct FarSample<T> {
    pub distance: T,
    /// Index among all samples (`offset` plus the row), which breaks ties.
    pub index: usize,
    pub row: Vec<T>,
    pub weight: T,
    pub label: usize,
}

/// The `n_far` samples farthest from their center, farthest first, and whether any sample is
/// off its center (if none is, scikit-learn skips the relocation).
pub struct Farthest<T> {
    pub samples: Vec<FarSample<T>>,
    pub any_off_center: bool,
}

/// scikit-learn's order of relocation candidates: farthest first; the index breaks ties so the
/// choice is deterministic.
fn farther<T: Float>(a: (T, usize), b: (T, usize)) -> std::cmp::Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// The `n_far` samples of `x` farthest from their center (their indices counted from
/// `offset`). Farthest samples of pieces of the data merged by [`merge_farthest`] are those of
/// the whole.
pub fn farthest_samples<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers_old: &[T],
    labels: &[i32],
    n_far: usize,
    offset: usize,
) -> Result<Farthest<T>, KernelError> {
    let d = x.n_features();
    let n = x.n_samples();
    let c_norms = row_sq_norms(centers_old, d);
    let mut dist: Vec<T> = alloc::with_capacity(&[n])?;
    dist.par_extend((0..n).into_par_iter().map(|i| {
        let l = labels[i] as usize;
        x.sq_dist(i, &centers_old[l * d..(l + 1) * d], c_norms[l])
    }));
    // All samples on their center means more clusters than distinct samples: relocating is
    // pointless, and scikit-learn skips it.
    let any_off_center = dist.iter().any(|&v| v != T::ZERO);
    let mut order: Vec<usize> = alloc::with_capacity(&[n])?;
    order.extend(0..n);
    let n_far = n_far.min(order.len());
    let cmp = |a: &usize, b: &usize| farther((dist[*a], *a), (dist[*b], *b));
    if n_far < order.len() {
        order.select_nth_unstable_by(n_far, cmp);
    }
    order.truncate(n_far);
    order.sort_by(cmp);
    let samples = order
        .into_iter()
        .map(|i| {
            let mut row = vec![T::ZERO; d];
            x.copy_row(i, &mut row);
            FarSample {
                distance: dist[i],
                index: offset + i,
                row,
                weight: sample_weight[i],
                label: labels[i] as usize,
            }
        })
        .collect();
    Ok(Farthest {
        samples,
        any_off_center,
    })
}

/// The farthest `n_far` samples of the whole from the farthest of its pieces.
pub fn merge_farthest<T: Float>(pieces: Vec<Farthest<T>>, n_far: usize) -> Farthest<T> {
    let any_off_center = pieces.iter().any(|p| p.any_off_center);
    let mut samples: Vec<FarSample<T>> = pieces.into_iter().flat_map(|p| p.samples).collect();
    samples.sort_by(|a, b| farther((a.distance, a.index), (b.distance, b.index)));
    samples.truncate(n_far);
    Farthest {
        samples,
        any_off_center,
    }
}

/// Moves the farthest samples into the empty clusters, one each, in order.
pub fn relocate<T: Float>(
    sums: &mut ClusterSums<T>,
    empty: &[usize],
    far: &[FarSample<T>],
    d: usize,
) {
    for (&new_id, sample) in empty.iter().zip(far) {
        let (w, old_id, row) = (sample.weight, sample.label, &sample.row);
        for (f, &v) in row.iter().enumerate().take(d) {
            sums.sums[old_id * d + f] -= v * w;
            sums.sums[new_id * d + f] = v * w;
        }
        sums.weights[new_id] = w;
        sums.weights[old_id] -= w;
    }
}

/// Euclidean distance each center moved.
pub fn center_shifts<T: Float>(old: &[T], new: &[T], d: usize) -> Vec<T> {
    if d == 0 {
        return vec![T::ZERO; old.len()];
    }
    old.chunks_exact(d)
        .zip(new.chunks_exact(d))
        .map(|(a, b)| linalg::sq_dist(a, b).sqrt())
        .collect()
}

/// Sum of squared distances of samples to their assigned centers, weighted.
pub fn inertia<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    labels: &[i32],
) -> f64 {
    let blocks = blocks::partition(x.n_samples(), 0);
    inertia_blocks(x, sample_weight, centers, labels, &blocks)
        .into_iter()
        .sum()
}

/// The inertia of each of `blocks`, which [`inertia`] adds in block order.
pub fn inertia_blocks<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    labels: &[i32],
    blocks: &[Range<usize>],
) -> Vec<f64> {
    let d = x.n_features();
    let c_norms = row_sq_norms(centers, d);
    blocks
        .par_iter()
        .map(|b| {
            let block_labels = &labels[b.clone()];
            block_inertia(
                x,
                b.clone(),
                sample_weight,
                centers,
                &c_norms,
                block_labels,
                0.0,
            )
        })
        .collect()
}

#[inline(always)]
fn block_inertia_body<T: Float, S: Samples<T>>(
    x: &S,
    block: Range<usize>,
    sample_weight: &[T],
    centers: &[T],
    c_norms: &[T],
    labels: &[i32],
    start: f64,
) -> f64 {
    let d = x.n_features();
    let mut s = start;
    for (i, &l) in block.zip(labels) {
        let l = l as usize;
        let sq = x.sq_dist(i, &centers[l * d..(l + 1) * d], c_norms[l]);
        s += (sq * sample_weight[i]).to_f64();
    }
    s
}

crate::simd::simd_variants!(
    /// `start` plus the weighted inertia of the rows `block`, whose labels are `labels`, added
    /// in row order.
    fn block_inertia<T: Float, S: Samples<T>>(
        x: &S,
        block: Range<usize>,
        sample_weight: &[T],
        centers: &[T],
        c_norms: &[T],
        labels: &[i32],
        start: f64,
    ) -> f64 = block_inertia_body;
);

/// Euclidean distances `(n, k)` from every sample to every center (`KMeans.transform`); `out`
/// holds `n * k` values. With `check_finite`, fails with [`NON_FINITE`] when X holds NaN or
/// infinity.
pub fn distances<T: Float, S: Samples<T>>(
    x: &S,
    centers: &[T],
    out: &mut [T],
    check_finite: bool,
) -> Result<(), KernelError> {
    let d = x.n_features();
    let k = out.len() / x.n_samples().max(1);
    let c_norms = row_sq_norms(centers, d);
    // Dense rows take their distances to eight centers at a time, with the same bits.
    let panels = match x.dense_rows(0, 0) {
        Some(_) if d > 0 => Some(panels::center_panels(centers, k, d)?),
        _ => None,
    };
    let blocks = blocks::partition(x.n_samples(), 0);
    let slices = split_by_blocks(out, &blocks, k);
    let finite = blocks.par_iter().zip(slices).map(|(b, rows)| {
        for chunk in blocks::chunks(b.clone()) {
            if check_finite && !x.rows_finite(chunk.start, chunk.end) {
                return false;
            }
            let out = &mut rows[(chunk.start - b.start) * k..(chunk.end - b.start) * k];
            if let (Some(panels), Some(dense)) = (&panels, x.dense_rows(chunk.start, chunk.end)) {
                panels::distances(dense, d, k, panels, out);
                continue;
            }
            for (i, out) in chunk.zip(out.chunks_exact_mut(k.max(1))) {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = x
                        .sq_dist(i, &centers[j * d..(j + 1) * d], c_norms[j])
                        .sqrt();
                }
            }
        }
        true
    });
    if finite.all(|f| f) {
        Ok(())
    } else {
        Err(KernelError::InvalidArgument(NON_FINITE.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::Dense;

    /// The unrolled and blocked sums give the bits of the plain loop `sum += w * x`, row by row;
    /// for rows of up to 4 features, of four such loops over every fourth row, added together
    /// as `(c0 + c1) + (c2 + c3)`.
    #[test]
    fn dense_cluster_sums_are_the_scalar_loops_bits() {
        fn check<T: Float>(n: usize, d: usize, k: usize) {
            let value = |i: usize, m: usize| T::from_f64(((i * m) % 1013) as f64 / 37.0 - 13.3);
            let x: Vec<T> = (0..n * d).map(|i| value(i, 7919)).collect();
            let w: Vec<T> = (0..n).map(|i| value(i, 31) / T::from_f64(7.0)).collect();
            let nearest: Vec<u32> = (0..n).map(|i| ((i * 5 + i / 3) % k) as u32).collect();
            let lanes = if d <= 4 { 4 } else { 1 };
            let mut lane_sums = vec![vec![T::ZERO; k * d]; 4];
            let mut lane_weights = vec![vec![T::ZERO; k]; 4];
            for i in 0..n {
                let (l, lane) = (nearest[i] as usize, i % lanes);
                for f in 0..d {
                    lane_sums[lane][l * d + f] += w[i] * x[i * d + f];
                }
                lane_weights[lane][l] += w[i];
            }
            let fold = |c: &[Vec<T>]| -> Vec<T> {
                if lanes == 1 {
                    return c[0].clone();
                }
                (0..c[0].len())
                    .map(|i| T::ZERO + ((c[0][i] + c[1][i]) + (c[2][i] + c[3][i])))
                    .collect()
            };
            let (want_sums, want_weights) = (fold(&lane_sums), fold(&lane_weights));
            let s = Dense::new(&x, n, d).unwrap();
            let mut sums = ClusterSums::zeros(k, d).unwrap();
            let mut labels = vec![-1; n];
            record_chunk(&s, 0, &nearest, &mut labels, &w, Some(&mut sums));
            let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&sums.sums), bits(&want_sums), "n={n} d={d} k={k}");
            assert_eq!(
                bits(&sums.weights),
                bits(&want_weights),
                "n={n} d={d} k={k}"
            );
            assert!(labels.iter().zip(&nearest).all(|(&l, &j)| l == j as i32));
        }
        for d in [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 50] {
            for k in [1, 3, 16] {
                check::<f64>(100, d, k);
                check::<f32>(100, d, k);
            }
        }
    }
}
