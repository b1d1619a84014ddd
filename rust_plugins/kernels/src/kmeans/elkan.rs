//! Elkan's algorithm: the same iterations as Lloyd, but per-sample upper and per-(sample, center)
//! lower bounds on distances, maintained through the triangle inequality, skip most distance
//! computations. Labels, centers and convergence follow scikit-learn's `_k_means_elkan.pyx`.

use rayon::prelude::*;
use std::ops::Range;

use super::iterate::{Assignment, Pass};
use super::panels::{center_panels, sq_dists_to_panels, PANEL};
use super::steps::{self, ClusterSums};
use crate::alloc;
use crate::blocks::{self, split_by_blocks, CHUNK};
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

/// scikit-learn's first assignment of one sample from its `distance` to each center: returns
/// the label and its distance, and fills `lower` with the distances taken (0 elsewhere).
#[inline(always)]
fn first_assignment<T: Float>(
    lower: &mut [T],
    half: &[T],
    mut distance: impl FnMut(usize) -> T,
) -> (usize, T) {
    let k = lower.len();
    let mut best = 0;
    let mut min_dist = distance(0);
    lower[0] = min_dist;
    for (j, lower_j) in lower.iter_mut().enumerate().skip(1) {
        if min_dist > half[best * k + j] {
            let dist = distance(j);
            *lower_j = dist;
            if dist < min_dist {
                min_dist = dist;
                best = j;
            }
        }
    }
    (best, min_dist)
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
    for (r, i) in rows.clone().enumerate() {
        let lower = &mut b.lower[r * k..(r + 1) * k];
        let (best, min_dist) = match (x.dense_rows(i, i + 1), &g.panels) {
            (Some(row), Some(panels)) => {
                sq_dists_to_panels(row, panels, &mut sq);
                for s in sq.iter_mut() {
                    *s = s.sqrt();
                }
                first_assignment(lower, &g.half, |j| sq[j])
            }
            _ => first_assignment(lower, &g.half, |j| g.dist(x, i, j)),
        };
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

/// Pending shift rows a sample's stored lower bounds may lag behind before a pass that
/// leaves them unchanged writes them back (bounds the work of catching them up again).
const MAX_LAG: usize = 4;

/// Whether some center other than `label` passes scikit-learn's first test (`upper` above
/// both its lower bound and its half-distance to `label`). Without one, the scan over the
/// centers changes nothing (no bound is tightened, no distance taken).
#[inline(always)]
fn any_candidate<T: Float>(lower: &[T], half_row: &[T], upper: T, label: usize) -> bool {
    let mut any = false;
    for (j, (&lb, &h)) in lower.iter().zip(half_row).enumerate() {
        any |= (upper > lb) & (upper > h) & (j != label);
    }
    any
}

/// scikit-learn's scan over the centers for one sample whose upper bound does not settle it,
/// with `lower` its caught-up lower bounds: tightens the upper bound and takes the distances
/// the bounds do not rule out, moving `label` to any closer center.
#[inline(always)]
fn scan<T: Float, S: Samples<T>>(
    x: &S,
    g: &Geometry<'_, T>,
    i: usize,
    lower: &mut [T],
    label: &mut usize,
    upper: &mut T,
) {
    let k = g.k;
    let mut tight = false;
    for j in 0..k {
        if j != *label && *upper > lower[j] && *upper > g.half[*label * k + j] {
            if !tight {
                *upper = g.dist(x, i, *label);
                lower[*label] = *upper;
                tight = true;
            }
            if *upper > lower[j] || *upper > g.half[*label * k + j] {
                let dist = g.dist(x, i, j);
                lower[j] = dist;
                if dist < *upper {
                    *label = j;
                    *upper = dist;
                }
            }
        }
    }
}

/// Samples ahead of the one in hand whose data is requested from memory.
const AHEAD: usize = 8;

/// Asks for the cache lines of `len` values at `values` (a hint: it never faults, so `values`
/// may point past its slice).
#[inline(always)]
fn prefetch<T>(values: *const T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = values as usize & !63;
        let end = values as usize + len * std::mem::size_of::<T>();
        for line in (start..end).step_by(64) {
            // SAFETY: a prefetch only hints the cache; no memory is accessed.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line as *const i8)
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (values, len);
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
    let n_pending = pending.history.len() / k;
    let upper_shift = |label: usize| pending.for_upper.as_ref().map_or(T::ZERO, |s| s[label]);
    let dense = x.dense_rows(rows.start, rows.end);
    // A sample's lower bounds, caught up with every pending shift.
    let mut current = vec![T::ZERO; k];
    let m = rows.len();
    for (r, i) in rows.clone().enumerate() {
        // The row and, when its upper bound will not settle it, the lower bounds of a sample
        // further on: rows are streamed anyway, lower bounds only for about half the samples.
        if r + AHEAD < m {
            let a = r + AHEAD;
            if let Some(dense) = dense {
                prefetch(dense[a * d..].as_ptr(), d);
            }
            let la = b.labels[a] as usize;
            if g.next[la] < b.upper[a] + upper_shift(la) {
                prefetch(b.lower[a * k..].as_ptr(), k);
            }
        }
        let mut label = b.labels[r] as usize;
        let mut upper = b.upper[r] + upper_shift(label);
        if g.next[label] < upper {
            let lower = &mut b.lower[r * k..(r + 1) * k];
            let applied = b.applied[r] as usize;
            let half_row = &g.half[label * k..(label + 1) * k];
            if applied == n_pending {
                if any_candidate(lower, half_row, upper, label) {
                    scan(x, g, i, lower, &mut label, &mut upper);
                }
            } else {
                let (first, rest) = pending.history[applied * k..].split_at(k);
                for ((c, &lb), &s) in current.iter_mut().zip(lower.iter()).zip(first) {
                    *c = (lb - s).max(T::ZERO);
                }
                catch_up(&mut current, rest, 0);
                let changed = any_candidate(&current, half_row, upper, label);
                if changed {
                    scan(x, g, i, &mut current, &mut label, &mut upper);
                }
                // Bounds left as they were can stay behind: catching them up again later
                // repeats the same operations on the same values.
                if changed || n_pending - applied >= MAX_LAG {
                    lower.copy_from_slice(&current);
                    b.applied[r] = n_pending as u32;
                }
            }
        }
        b.labels[r] = label as i32;
        b.upper[r] = upper;
        // Each chunk's rows go to the sums while they are in cache, as Lloyd adds them.
        if let Some(sums) = sums.as_deref_mut() {
            if (r + 1) % CHUNK == 0 || r + 1 == m {
                let chunk = r + 1 - (r % CHUNK + 1)..r + 1;
                let chunk_rows = rows.start + chunk.start..rows.start + chunk.end;
                steps::add_block_to_sums(x, chunk_rows, &b.labels[chunk], sample_weight, sums);
            }
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
        // The (n, k) lower bounds are the largest buffer, allocated first (as scikit-learn),
        // on huge pages where the system allows (as NumPy's zeros): far fewer page faults.
        let mut lower = alloc::filled(&[n, k], T::ZERO)?;
        alloc::advise_huge_pages(&mut lower);
        Ok(Elkan {
            x,
            sample_weight,
            bounds: Bounds {
                lower,
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

#[cfg(test)]
// The reference keeps scikit-learn's indexed loops.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::kmeans::iterate::{self, Pass};
    use crate::kmeans::RunConfig;
    use crate::samples::{Csr, Dense};

    /// scikit-learn's `_k_means_elkan.pyx` as written there: every bound loosened after every
    /// iteration, the full scan over the centers, and the weighted sums added row by row in
    /// the blocks of `blocks::partition` (so that the centers can be compared bit for bit).
    struct Reference<'a, T, S> {
        x: &'a S,
        w: &'a [T],
        upper: Vec<T>,
        lower: Vec<T>,
        labels_before: Vec<i32>,
        k: usize,
    }

    fn half_distances<T: Float>(centers: &[T], k: usize, d: usize) -> (Vec<T>, Vec<T>) {
        let c = |a: usize| &centers[a * d..(a + 1) * d];
        let mut half = vec![T::ZERO; k * k];
        for a in 0..k {
            for b in 0..k {
                half[a * k + b] = linalg::sq_dist(c(a), c(b)).sqrt() * T::from_f64(0.5);
            }
        }
        let next = (0..k)
            .map(|a| {
                let others = (0..k).filter(|&b| b != a).map(|b| half[a * k + b]);
                let m = others.fold(T::INFINITY, T::min);
                if m == T::INFINITY {
                    T::ZERO
                } else {
                    m
                }
            })
            .collect();
        (half, next)
    }

    impl<T: Float, S: Samples<T>> Reference<'_, T, S> {
        fn dist(&self, centers: &[T], i: usize, j: usize) -> T {
            let d = self.x.n_features();
            let c = &centers[j * d..(j + 1) * d];
            self.x.sq_dist(i, c, linalg::sq_norm(c)).sqrt()
        }
    }

    impl<T: Float, S: Samples<T>> Assignment<T> for Reference<'_, T, S> {
        fn start(&mut self, centers: &[T], labels: &mut [i32]) -> Result<(), KernelError> {
            let (k, d) = (self.k, self.x.n_features());
            let (half, _) = half_distances(centers, k, d);
            for i in 0..self.x.n_samples() {
                let mut best = 0;
                let mut min_dist = self.dist(centers, i, 0);
                self.lower[i * k] = min_dist;
                for j in 1..k {
                    if min_dist > half[best * k + j] {
                        let dist = self.dist(centers, i, j);
                        self.lower[i * k + j] = dist;
                        if dist < min_dist {
                            min_dist = dist;
                            best = j;
                        }
                    }
                }
                labels[i] = best as i32;
                self.upper[i] = min_dist;
            }
            Ok(())
        }

        fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> Pass<T> {
            let (k, d, n) = (self.k, self.x.n_features(), self.x.n_samples());
            let (half, next) = half_distances(centers, k, d);
            for i in 0..n {
                let mut label = labels[i] as usize;
                let mut upper = self.upper[i];
                let mut tight = false;
                if next[label] < upper {
                    for j in 0..k {
                        if j != label
                            && upper > self.lower[i * k + j]
                            && upper > half[label * k + j]
                        {
                            if !tight {
                                upper = self.dist(centers, i, label);
                                self.lower[i * k + label] = upper;
                                tight = true;
                            }
                            if upper > self.lower[i * k + j] || upper > half[label * k + j] {
                                let dist = self.dist(centers, i, j);
                                self.lower[i * k + j] = dist;
                                if dist < upper {
                                    label = j;
                                    upper = dist;
                                }
                            }
                        }
                    }
                }
                labels[i] = label as i32;
                self.upper[i] = upper;
            }
            if !accumulate {
                return Ok((false, ClusterSums::zeros(0, 0)?));
            }
            let mut parts = Vec::new();
            for block in blocks::partition(n, k * d + k) {
                let mut sums = ClusterSums::zeros(k, d)?;
                let block_labels = &labels[block.clone()];
                steps::add_block_to_sums(self.x, block, block_labels, self.w, &mut sums);
                parts.push(sums);
            }
            let changed = labels != self.labels_before.as_slice();
            self.labels_before.copy_from_slice(labels);
            Ok((changed, ClusterSums::combine(parts, k, d)?))
        }

        fn centers_moved(&mut self, labels: &[i32], shift: &[T]) {
            let k = self.k;
            for (i, &l) in labels.iter().enumerate() {
                self.upper[i] += shift[l as usize];
                for j in 0..k {
                    self.lower[i * k + j] = (self.lower[i * k + j] - shift[j]).max(T::ZERO);
                }
            }
        }
    }

    /// Runs the reference and the optimised passes from `init` and requires the same bits:
    /// labels, centers, inertia and iteration count, in pools of one and three threads.
    fn check_same_run<T: Float, S: Samples<T>>(x: &S, w: &[T], init: &[T], max_iter: usize) {
        let (n, k) = (x.n_samples(), init.len() / x.n_features());
        let config = RunConfig {
            max_iter,
            tol: 0.0,
            verbose: false,
        };
        let never = || false;
        let mut reference = Reference {
            x,
            w,
            upper: vec![T::ZERO; n],
            lower: vec![T::ZERO; n * k],
            labels_before: vec![-1; n],
            k,
        };
        let want = iterate::run(x, w, init, &config, &never, &mut reference).unwrap();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| {
                let mut elkan = Elkan::new(x, w, k).unwrap();
                iterate::run(x, w, init, &config, &never, &mut elkan).unwrap()
            });
            assert_eq!(got.labels, want.labels, "n={n} k={k} threads={threads}");
            assert_eq!(got.n_iter, want.n_iter);
            assert_eq!(got.inertia.to_bits(), want.inertia.to_bits());
            let bits = |c: &[T]| c.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.centers), bits(&want.centers));
        }
    }

    /// Blobs around `k` centers with noise from a fixed hash; with `grid`, values are small
    /// integers, so that many samples are exactly equidistant from several centers.
    fn blobs<T: Float>(n: usize, d: usize, k: usize, grid: bool) -> Vec<T> {
        let noise = |i: usize| ((i.wrapping_mul(2_654_435_761) >> 7) % 1001) as f64 / 1000.0;
        (0..n * d)
            .map(|i| {
                let (row, f) = (i / d, i % d);
                let center = ((row % k) * 7 + f * 3) % 11;
                let v = center as f64 * 1.5 + 4.0 * (noise(i) - 0.5);
                T::from_f64(if grid { v.round() } else { v })
            })
            .collect()
    }

    fn check_dense<T: Float>(n: usize, d: usize, k: usize, grid: bool, max_iter: usize) {
        let x = blobs::<T>(n, d, k, grid);
        let w: Vec<T> = (0..n).map(|i| T::from_f64(0.5 + (i % 4) as f64)).collect();
        // Initial centers from rows far apart in the data, some of them repeated with ties.
        let init: Vec<T> = (0..k)
            .flat_map(|j| {
                let row = (j * 7919) % n;
                x[row * d..(row + 1) * d].to_vec()
            })
            .collect();
        check_same_run(&Dense::new(&x, n, d).unwrap(), &w, &init, max_iter);
    }

    /// scikit-learn's scan as written (`_k_means_elkan.pyx`), distances taken as needed.
    fn reference_scan<T: Float, S: Samples<T>>(
        x: &S,
        g: &Geometry<'_, T>,
        i: usize,
        lower: &mut [T],
        label: &mut usize,
        upper: &mut T,
    ) {
        let k = g.k;
        let mut tight = false;
        for j in 0..k {
            if j != *label && *upper > lower[j] && *upper > g.half[*label * k + j] {
                if !tight {
                    *upper = g.dist(x, i, *label);
                    lower[*label] = *upper;
                    tight = true;
                }
                if *upper > lower[j] || *upper > g.half[*label * k + j] {
                    let dist = g.dist(x, i, j);
                    lower[j] = dist;
                    if dist < *upper {
                        *label = j;
                        *upper = dist;
                    }
                }
            }
        }
    }

    #[test]
    fn scan_matches_the_reference_from_any_bounds() {
        // Arbitrary bounds (zeros, loose, even below the distances) make the scan change label
        // several times, so it needs distances it did not take ahead.
        fn check<T: Float>(d: usize, k: usize) {
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut uniform = move || {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            let (n, reps) = (64, 40);
            let x: Vec<T> = (0..n * d)
                .map(|_| T::from_f64((uniform() * 6.0).round()))
                .collect();
            let centers: Vec<T> = (0..k * d)
                .map(|_| T::from_f64((uniform() * 6.0).round()))
                .collect();
            let samples = Dense::new(&x, n, d).unwrap();
            let g = Geometry::new(&centers, k, d).unwrap();
            let scale = 3.0 * (d as f64).sqrt();
            let mut changes = 0;
            for rep in 0..reps {
                for i in 0..n {
                    let lower: Vec<T> = (0..k)
                        .map(|_| match rep % 3 {
                            0 => T::ZERO,
                            _ => T::from_f64(uniform() * scale),
                        })
                        .collect();
                    let label = (uniform() * k as f64) as usize % k;
                    let upper = T::from_f64(uniform() * 2.0 * scale);
                    let (mut want_lower, mut want_label, mut want_upper) =
                        (lower.clone(), label, upper);
                    reference_scan(
                        &samples,
                        &g,
                        i,
                        &mut want_lower,
                        &mut want_label,
                        &mut want_upper,
                    );
                    let (mut got_lower, mut got_label, mut got_upper) = (lower, label, upper);
                    scan(
                        &samples,
                        &g,
                        i,
                        &mut got_lower,
                        &mut got_label,
                        &mut got_upper,
                    );
                    assert_eq!(got_label, want_label);
                    assert_eq!(got_upper.to_f64().to_bits(), want_upper.to_f64().to_bits());
                    let bits = |v: &[T]| v.iter().map(|t| t.to_f64().to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got_lower), bits(&want_lower));
                    changes += usize::from(got_label != label);
                }
            }
            assert!(changes > 0);
        }
        for (d, k) in [(1, 2), (3, 7), (8, 32), (50, 33)] {
            check::<f64>(d, k);
            check::<f32>(d, k);
        }
    }

    #[test]
    fn elkan_matches_the_reference_bit_for_bit() {
        // Enough iterations to wrap the shift history (MAX_PENDING_SHIFTS) more than once.
        for (n, d, k) in [
            (3000, 50, 32),
            (1200, 3, 9),
            (700, 1, 5),
            (513, 17, 1),
            (900, 8, 40),
        ] {
            for grid in [false, true] {
                check_dense::<f64>(n, d, k, grid, 40);
                check_dense::<f32>(n, d, k, grid, 40);
            }
        }
    }

    #[test]
    fn elkan_on_csr_matches_the_reference() {
        let (n, d, k) = (1500, 20, 6);
        let dense = blobs::<f64>(n, d, k, true);
        let (mut data, mut indices, mut indptr) = (Vec::new(), Vec::new(), vec![0i64]);
        for row in dense.chunks_exact(d) {
            for (f, &v) in row.iter().enumerate() {
                if v > 4.0 {
                    data.push(v);
                    indices.push(f as i32);
                }
            }
            indptr.push(data.len() as i64);
        }
        let x = Csr::new(&data, &indices, &indptr, n, d).unwrap();
        let w = vec![1.0; n];
        let init: Vec<f64> = dense[..k * d]
            .iter()
            .map(|&v| if v > 4.0 { v } else { 0.0 })
            .collect();
        check_same_run(&x, &w, &init, 30);
    }
}
