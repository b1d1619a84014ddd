//! Elkan's algorithm: the same iterations as Lloyd, but per-sample upper and per-(sample, center)
//! lower bounds on distances, maintained through the triangle inequality, skip most distance
//! computations. Labels, centers and convergence follow scikit-learn's `_k_means_elkan.pyx`.

use rayon::prelude::*;
use std::ops::Range;

use super::iterate::{Assignment, Pass};
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
}

struct Geometry<'a, T> {
    centers: &'a [T],
    c_norms: Vec<T>,
    half: Vec<T>,
    next: Vec<T>,
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
    per_block: impl Fn(std::ops::Range<usize>, &mut [i32], &mut [T], &mut [T]) -> R + Sync,
) -> Vec<R> {
    let blocks = blocks::partition(labels.len(), state);
    let lab = split_by_blocks(labels, &blocks, 1);
    let up = split_by_blocks(&mut b.upper, &blocks, 1);
    let low = split_by_blocks(&mut b.lower, &blocks, k);
    blocks
        .par_iter()
        .zip(lab)
        .zip(up)
        .zip(low)
        .map(|(((blk, lab), up), low)| per_block(blk.clone(), lab, up, low))
        .collect()
}

/// One block's labels, upper bounds and `k` lower bounds per sample.
struct BlockBounds<'b, T> {
    labels: &'b mut [i32],
    upper: &'b mut [T],
    lower: &'b mut [T],
}

/// Exact first assignment, skipping centers the triangle inequality rules out.
fn init_bounds<T: Float, S: Samples<T>>(
    x: &S,
    g: &Geometry<T>,
    labels: &mut [i32],
    b: &mut Bounds<T>,
) {
    over_blocks(labels, b, g.k, 0, |rows, labels, upper, lower| {
        init_block(
            x,
            g,
            rows,
            BlockBounds {
                labels,
                upper,
                lower,
            },
        )
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
    for (r, i) in rows.enumerate() {
        let lower = &mut b.lower[r * k..(r + 1) * k];
        let mut best = 0;
        let mut min_dist = g.dist(x, i, 0);
        lower[0] = min_dist;
        for j in 1..k {
            if min_dist > g.half[best * k + j] {
                let dist = g.dist(x, i, j);
                lower[j] = dist;
                if dist < min_dist {
                    min_dist = dist;
                    best = j;
                }
            }
        }
        b.labels[r] = best as i32;
        b.upper[r] = min_dist;
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
    accumulate: bool,
) -> Result<ClusterSums<T>, KernelError> {
    let (k, d) = (g.k, g.d);
    let state = if accumulate { k * d + k } else { 0 };
    let parts = over_blocks(labels, b, k, state, |rows, labels, upper, lower| {
        let (k_sums, d_sums) = if accumulate { (k, d) } else { (0, 0) };
        let mut sums = ClusterSums::zeros(k_sums, d_sums)?;
        let bounds = BlockBounds {
            labels,
            upper,
            lower,
        };
        let sums_arg = accumulate.then_some(&mut sums);
        assign_block(x, sample_weight, g, rows, bounds, sums_arg);
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
    mut sums: Option<&mut ClusterSums<T>>,
) {
    let (k, d) = (g.k, g.d);
    for (r, i) in rows.enumerate() {
        let lower = &mut b.lower[r * k..(r + 1) * k];
        let mut label = b.labels[r] as usize;
        let mut upper = b.upper[r];
        let mut tight = false;
        if g.next[label] < upper {
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
        sums: Option<&mut ClusterSums<T>>,
    ) -> () = assign_block_body;
);

/// Loosens the bounds by how far each center moved.
fn shift_bounds<T: Float>(labels: &[i32], shift: &[T], b: &mut Bounds<T>, k: usize) {
    b.upper
        .par_iter_mut()
        .zip(labels)
        .for_each(|(u, &l)| *u += shift[l as usize]);
    b.lower.par_chunks_mut(k).for_each(|row| {
        for (lb, &s) in row.iter_mut().zip(shift) {
            *lb = (*lb - s).max(T::ZERO);
        }
    });
}

/// Elkan's state between iterations: the bounds, and the labels of the previous iteration
/// (scikit-learn compares whole label arrays, starting from all -1).
pub struct Elkan<'a, T, S> {
    x: &'a S,
    sample_weight: &'a [T],
    bounds: Bounds<T>,
    labels_before: Vec<i32>,
    k: usize,
    d: usize,
}

impl<T: Float, S: Samples<T>> Assignment<T> for Elkan<'_, T, S> {
    fn start(&mut self, centers: &[T], labels: &mut [i32]) -> Result<(), KernelError> {
        let g = Geometry::new(centers, self.k, self.d)?;
        init_bounds(self.x, &g, labels, &mut self.bounds);
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
            accumulate,
        )?;
        let changed = accumulate && labels != self.labels_before.as_slice();
        if accumulate {
            self.labels_before.copy_from_slice(labels);
        }
        Ok((changed, sums))
    }

    fn centers_moved(&mut self, labels: &[i32], shift: &[T]) {
        shift_bounds(labels, shift, &mut self.bounds, self.k);
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
            },
            labels_before: alloc::filled(&[n], -1i32)?,
            k,
            d: x.n_features(),
        })
    }
}
