//! Elkan's algorithm: the same iterations as Lloyd, but per-sample upper and per-(sample, center)
//! lower bounds on distances, maintained through the triangle inequality, skip most distance
//! computations. Labels, centers and convergence follow scikit-learn's `_k_means_elkan.pyx`.

use rayon::prelude::*;
use std::ops::Range;

use super::iterate::{Assignment, Pass};
use super::panels::{center_panels, sq_dists_to_panels, PANEL};
use super::steps::ClusterSums;
use crate::alloc;
use crate::blocks::{self, split_by_blocks};
use crate::float::Float;
use crate::linalg;
use crate::samples::Samples;
use crate::KernelError;

/// Half the distances between centers `(k, k)` and, for each center, the half-distance to its
/// closest other center.
fn center_geometry<T: Float>(
    centers: &[T],
    k: usize,
    d: usize,
) -> Result<(Vec<T>, Vec<T>), KernelError> {
    let mut half = alloc::filled(&[k, k], T::ZERO)?;
    for a in 0..k {
        for b in (a + 1)..k {
            let h = linalg::sq_dist(&centers[a * d..(a + 1) * d], &centers[b * d..(b + 1) * d])
                .sqrt()
                * T::from_f64(0.5);
            half[a * k + b] = h;
            half[b * k + a] = h;
        }
    }
    let next = (0..k)
        .map(|a| {
            (0..k)
                .filter(|&b| b != a)
                .map(|b| half[a * k + b])
                .fold(T::INFINITY, T::min)
        })
        .map(|v| if v == T::INFINITY { T::ZERO } else { v })
        .collect();
    Ok((half, next))
}

struct Bounds<T> {
    upper: Vec<T>,
    lower: Vec<T>,
    /// How many rows of the shift history each sample's lower bounds have taken.
    applied: Vec<u32>,
}

/// The center shifts the lower bounds have not all taken yet. A sample's `k` lower bounds are
/// loosened only when its pass needs them (most samples are settled by their upper bound
/// alone), by each pending shift in turn: the same operations, in the same order, as loosening
/// every bound after every iteration, without reading and writing all `(n, k)` of them each
/// time.
struct PendingShifts<T> {
    /// One row of `k` shifts per iteration, oldest first.
    history: Vec<T>,
    /// The last shift, which the upper bounds take in the next pass.
    for_upper: Option<Vec<T>>,
}

/// Shift rows kept before they are applied to every sample at once (bounds the history).
const MAX_PENDING_SHIFTS: usize = 16;

struct Geometry<'a, T> {
    centers: &'a [T],
    c_norms: Vec<T>,
    half: Vec<T>,
    next: Vec<T>,
    /// The centers as [`center_panels`] lays them out, for the first assignment of dense rows.
    panels: Option<Vec<T>>,
    k: usize,
    d: usize,
}

impl<'a, T: Float> Geometry<'a, T> {
    fn new(centers: &'a [T], k: usize, d: usize) -> Result<Self, KernelError> {
        let (half, next) = center_geometry(centers, k, d)?;
        Ok(Geometry {
            centers,
            c_norms: linalg::row_sq_norms(centers, d),
            half,
            next,
            panels: None,
            k,
            d,
        })
    }

    #[inline(always)]
    fn dist<S: Samples<T>>(&self, x: &S, i: usize, j: usize) -> T {
        x.sq_dist(
            i,
            &self.centers[j * self.d..(j + 1) * self.d],
            self.c_norms[j],
        )
        .sqrt()
    }
}

/// Runs `per_block(block, labels, upper, lower)` in parallel for every block of
/// `blocks::partition(n, state)` with the block's slices of the labels and bounds (`lower`
/// holds `k` values per sample). Results come back in block order.
fn over_blocks<T: Float, R: Send>(
    labels: &mut [i32],
    b: &mut Bounds<T>,
    k: usize,
    state: usize,
    per_block: impl Fn(std::ops::Range<usize>, BlockBounds<'_, T>) -> R + Sync,
) -> Vec<R> {
    let blocks = blocks::partition(labels.len(), state);
    let lab = split_by_blocks(labels, &blocks, 1);
    let up = split_by_blocks(&mut b.upper, &blocks, 1);
    let low = split_by_blocks(&mut b.lower, &blocks, k);
    let applied = split_by_blocks(&mut b.applied, &blocks, 1);
    blocks
        .par_iter()
        .zip(lab)
        .zip(up)
        .zip(low)
        .zip(applied)
        .map(|((((blk, labels), upper), lower), applied)| {
            let bounds = BlockBounds {
                labels,
                upper,
                lower,
                applied,
            };
            per_block(blk.clone(), bounds)
        })
        .collect()
}

/// One block's labels, upper bounds, `k` lower bounds per sample and their shift counts.
struct BlockBounds<'b, T> {
    labels: &'b mut [i32],
    upper: &'b mut [T],
    lower: &'b mut [T],
    applied: &'b mut [u32],
}

/// Loosens `lower` by the shift rows of `history` it has not taken (`from` onwards).
#[inline(always)]
fn catch_up<T: Float>(lower: &mut [T], history: &[T], from: usize) {
    let k = lower.len();
    for shift in history.chunks_exact(k).skip(from) {
        for (lb, &s) in lower.iter_mut().zip(shift) {
            *lb = (*lb - s).max(T::ZERO);
        }
    }
}

/// Exact first assignment, skipping centers the triangle inequality rules out.
fn init_bounds<T: Float, S: Samples<T>>(
    x: &S,
    g: &Geometry<T>,
    labels: &mut [i32],
    b: &mut Bounds<T>,
) {
    over_blocks(labels, b, g.k, 0, |rows, bounds| {
        init_block(x, g, rows, bounds)
    });
}

#[inline(always)]
fn init_block_body<T: Float, S: Samples<T>>(
    x: &S,
    g: &Geometry<'_, T>,
    rows: Range<usize>,
    b: BlockBounds<'_, T>,
) {
    let k = g.k;
    // Dense rows take all their distances in one pass over the row (the same values as
    // `g.dist`); the pruned ones are simply not used.
    let mut sq = vec![T::ZERO; k.div_ceil(PANEL) * PANEL];
    for (r, i) in rows.enumerate() {
        let dense = x.dense_rows(i, i + 1);
        if let (Some(row), Some(panels)) = (dense, &g.panels) {
            sq_dists_to_panels(row, panels, &mut sq);
        }
        let distance = |j: usize| match (dense, &g.panels) {
            (Some(_), Some(_)) => sq[j].sqrt(),
            _ => g.dist(x, i, j),
        };
        let lower = &mut b.lower[r * k..(r + 1) * k];
        let mut best = 0;
        let mut min_dist = distance(0);
        lower[0] = min_dist;
        for (j, lower_j) in lower.iter_mut().enumerate().skip(1) {
            if min_dist > g.half[best * k + j] {
                let dist = distance(j);
                *lower_j = dist;
                if dist < min_dist {
                    min_dist = dist;
                    best = j;
                }
            }
        }
        b.labels[r] = best as i32;
        b.upper[r] = min_dist;
        b.applied[r] = 0;
    }
}

crate::simd::simd_variants!(
    /// The first assignment of one block (the distances compiled per instruction set).
    fn init_block<T: Float, S: Samples<T>>(
        x: &S,
        g: &Geometry<'_, T>,
        rows: Range<usize>,
        b: BlockBounds<'_, T>,
    ) -> () = init_block_body;
);

/// One Elkan assignment pass, returning the cluster sums when `accumulate` (else empty sums).
/// Convergence compares whole label arrays, as scikit-learn does, so no change flag is kept.
fn assign<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    g: &Geometry<T>,
    labels: &mut [i32],
    b: &mut Bounds<T>,
    pending: &PendingShifts<T>,
    accumulate: bool,
) -> Result<ClusterSums<T>, KernelError> {
    let (k, d) = (g.k, g.d);
    let state = if accumulate { k * d + k } else { 0 };
    let parts = over_blocks(labels, b, k, state, |rows, bounds| {
        let (k_sums, d_sums) = if accumulate { (k, d) } else { (0, 0) };
        let mut sums = ClusterSums::zeros(k_sums, d_sums)?;
        let sums_arg = accumulate.then_some(&mut sums);
        assign_block(x, sample_weight, g, rows, bounds, pending, sums_arg);
        Ok(sums)
    });
    let parts = parts.into_iter().collect::<Result<Vec<_>, KernelError>>()?;
    ClusterSums::combine(parts, k, d)
}

#[inline(always)]
fn assign_block_body<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    g: &Geometry<'_, T>,
    rows: Range<usize>,
    b: BlockBounds<'_, T>,
    pending: &PendingShifts<T>,
    mut sums: Option<&mut ClusterSums<T>>,
) {
    let (k, d) = (g.k, g.d);
    let n_pending = (pending.history.len() / k) as u32;
    for (r, i) in rows.enumerate() {
        let lower = &mut b.lower[r * k..(r + 1) * k];
        let mut label = b.labels[r] as usize;
        let mut upper = b.upper[r];
        if let Some(shift) = &pending.for_upper {
            upper += shift[label];
        }
        let mut tight = false;
        if g.next[label] < upper {
            catch_up(lower, &pending.history, b.applied[r] as usize);
            b.applied[r] = n_pending;
            for j in 0..k {
                if j != label && upper > lower[j] && upper > g.half[label * k + j] {
                    if !tight {
                        upper = g.dist(x, i, label);
                        lower[label] = upper;
                        tight = true;
                    }
                    if upper > lower[j] || upper > g.half[label * k + j] {
                        let dist = g.dist(x, i, j);
                        lower[j] = dist;
                        if dist < upper {
                            label = j;
                            upper = dist;
                        }
                    }
                }
            }
        }
        b.labels[r] = label as i32;
        b.upper[r] = upper;
        if let Some(sums) = sums.as_deref_mut() {
            let w = sample_weight[i];
            x.add_scaled_row(i, w, &mut sums.sums[label * d..(label + 1) * d]);
            sums.weights[label] += w;
        }
    }
}

crate::simd::simd_variants!(
    /// One block of an Elkan pass (the distances compiled per instruction set).
    fn assign_block<T: Float, S: Samples<T>>(
        x: &S,
        sample_weight: &[T],
        g: &Geometry<'_, T>,
        rows: Range<usize>,
        b: BlockBounds<'_, T>,
        pending: &PendingShifts<T>,
        sums: Option<&mut ClusterSums<T>>,
    ) -> () = assign_block_body;
);

/// Loosens every sample's lower bounds by all pending shifts (keeps the history short).
fn apply_pending<T: Float>(b: &mut Bounds<T>, history: &[T], k: usize) {
    b.lower
        .par_chunks_mut(k)
        .zip(b.applied.par_iter_mut())
        .for_each(|(row, applied)| {
            catch_up(row, history, *applied as usize);
            *applied = 0;
        });
}

/// Elkan's state between iterations: the bounds, and the labels of the previous iteration
/// (scikit-learn compares whole label arrays, starting from all -1).
pub struct Elkan<'a, T, S> {
    x: &'a S,
    sample_weight: &'a [T],
    bounds: Bounds<T>,
    pending: PendingShifts<T>,
    labels_before: Vec<i32>,
    k: usize,
    d: usize,
}

impl<T: Float, S: Samples<T>> Assignment<T> for Elkan<'_, T, S> {
    fn start(&mut self, centers: &[T], labels: &mut [i32]) -> Result<(), KernelError> {
        let mut g = Geometry::new(centers, self.k, self.d)?;
        if self.x.dense_rows(0, 0).is_some() {
            g.panels = Some(center_panels(centers, self.k, self.d)?);
        }
        init_bounds(self.x, &g, labels, &mut self.bounds);
        self.pending.history.clear();
        self.pending.for_upper = None;
        Ok(())
    }

    fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> Pass<T> {
        let g = Geometry::new(centers, self.k, self.d)?;
        let sums = assign(
            self.x,
            self.sample_weight,
            &g,
            labels,
            &mut self.bounds,
            &self.pending,
            accumulate,
        )?;
        self.pending.for_upper = None;
        let changed = accumulate && labels != self.labels_before.as_slice();
        if accumulate {
            self.labels_before.copy_from_slice(labels);
        }
        Ok((changed, sums))
    }

    fn centers_moved(&mut self, _labels: &[i32], shift: &[T]) {
        // The upper bounds take `shift` at the start of the next pass (by then-current
        // label, which the center update does not change), the lower bounds when needed.
        if self.pending.history.len() / self.k.max(1) >= MAX_PENDING_SHIFTS {
            apply_pending(&mut self.bounds, &self.pending.history, self.k);
            self.pending.history.clear();
        }
        self.pending.history.extend_from_slice(shift);
        self.pending.for_upper = Some(shift.to_vec());
    }
}

impl<'a, T: Float, S: Samples<T>> Elkan<'a, T, S> {
    /// The state of a run with `k` clusters.
    pub fn new(x: &'a S, sample_weight: &'a [T], k: usize) -> Result<Self, KernelError> {
        let n = x.n_samples();
        Ok(Elkan {
            x,
            sample_weight,
            // The (n, k) lower bounds are the largest buffer, allocated first (as scikit-learn).
            bounds: Bounds {
                lower: alloc::filled(&[n, k], T::ZERO)?,
                upper: alloc::filled(&[n], T::ZERO)?,
                applied: alloc::filled(&[n], 0u32)?,
            },
            pending: PendingShifts {
                history: Vec::new(),
                for_upper: None,
            },
            labels_before: alloc::filled(&[n], -1i32)?,
            k,
            d: x.n_features(),
        })
    }
}
