//! scikit-learn's depth-first `query` (`_query_single_depthfirst`) on either tree: one query
//! at a time, nearest child first (ties to the left), a node skipped when its minimum reduced
//! distance (the tree's [`NodeBounds`]) exceeds the heap's largest; scikit-learn's heap and
//! sort. Queries are independent, searched in parallel blocks.

use super::TreeView;
use crate::alloc;
use crate::metric::Metric;
use crate::neighbors::heap::{heap_push, simultaneous_sort};
use crate::neighbors::{KNeighbors, QUERY_BLOCK};
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// One metric's reduced distance, computed as scikit-learn's tree computes it; each metric is
/// its own type so that its loops are compiled on their own.
pub(crate) trait Norm: Copy + Sync {
    /// Whether the reduced distance is a sum (or maximum) over coordinates, accumulated in
    /// order by [`Self::add`]: leaves are then scanned several rows at a time.
    const COORDINATEWISE: bool = true;
    /// `acc` grown by the difference `diff` of coordinate `j`.
    fn add(self, j: usize, acc: f64, diff: f64) -> f64;
    /// The reduced distance from `pt` to the row whose feature `f` is `x(f)`.
    #[inline(always)]
    fn rdist(self, pt: &[f64], x: impl Fn(usize) -> f64) -> f64 {
        let mut acc = 0.0f64;
        for (f, &q) in pt.iter().enumerate() {
            acc = self.add(f, acc, q - x(f));
        }
        acc
    }
    /// scikit-learn's `_rdist_to_dist`.
    fn to_dist(self, rdist: f64) -> f64;
    /// scikit-learn's `_dist_to_rdist`.
    fn to_rdist(self, dist: f64) -> f64;
}

#[derive(Clone, Copy)]
pub(crate) struct SquaredL2;
impl Norm for SquaredL2 {
    #[inline(always)]
    fn add(self, _: usize, acc: f64, diff: f64) -> f64 {
        acc + diff * diff
    }
    #[inline(always)]
    fn to_dist(self, rdist: f64) -> f64 {
        rdist.sqrt()
    }
    #[inline(always)]
    fn to_rdist(self, dist: f64) -> f64 {
        dist * dist
    }
}

#[derive(Clone, Copy)]
pub(crate) struct L1;
impl Norm for L1 {
    #[inline(always)]
    fn add(self, _: usize, acc: f64, diff: f64) -> f64 {
        acc + diff.abs()
    }
    #[inline(always)]
    fn to_dist(self, rdist: f64) -> f64 {
        rdist
    }
    #[inline(always)]
    fn to_rdist(self, dist: f64) -> f64 {
        dist
    }
}

#[derive(Clone, Copy)]
pub(crate) struct LInf;
impl Norm for LInf {
    #[inline(always)]
    fn add(self, _: usize, acc: f64, diff: f64) -> f64 {
        acc.max(diff.abs())
    }
    #[inline(always)]
    fn to_dist(self, rdist: f64) -> f64 {
        rdist
    }
    #[inline(always)]
    fn to_rdist(self, dist: f64) -> f64 {
        dist
    }
}

/// Minkowski's `p`-th powers (unweighted).
#[derive(Clone, Copy)]
pub(crate) struct Lp(pub f64);
impl Norm for Lp {
    #[inline(always)]
    fn add(self, _: usize, acc: f64, diff: f64) -> f64 {
        acc + diff.abs().powf(self.0)
    }
    #[inline(always)]
    fn to_dist(self, rdist: f64) -> f64 {
        rdist.powf(1.0 / self.0)
    }
    #[inline(always)]
    fn to_rdist(self, dist: f64) -> f64 {
        dist.powf(self.0)
    }
}

/// Minkowski's weighted `p`-th powers, `w_j |x_j - y_j|^p` (scikit-learn's order).
#[derive(Clone, Copy)]
pub(crate) struct WeightedLp<'w> {
    pub p: f64,
    pub w: &'w [f64],
}
impl Norm for WeightedLp<'_> {
    #[inline(always)]
    fn add(self, j: usize, acc: f64, diff: f64) -> f64 {
        acc + self.w[j] * diff.abs().powf(self.p)
    }
    #[inline(always)]
    fn to_dist(self, rdist: f64) -> f64 {
        rdist.powf(1.0 / self.p)
    }
    #[inline(always)]
    fn to_rdist(self, dist: f64) -> f64 {
        dist.powf(self.p)
    }
}

/// Haversine on (latitude, longitude): not a sum over coordinates.
#[derive(Clone, Copy)]
pub(crate) struct Haversine;
impl Norm for Haversine {
    const COORDINATEWISE: bool = false;
    /// Not used: leaves are scanned row by row through [`Self::rdist`].
    #[inline(always)]
    fn add(self, _: usize, acc: f64, _: f64) -> f64 {
        acc
    }
    #[inline(always)]
    fn rdist(self, pt: &[f64], x: impl Fn(usize) -> f64) -> f64 {
        let sin_0 = (0.5 * (pt[0] - x(0))).sin();
        let sin_1 = (0.5 * (pt[1] - x(1))).sin();
        sin_0 * sin_0 + pt[0].cos() * x(0).cos() * sin_1 * sin_1
    }
    #[inline(always)]
    fn to_dist(self, rdist: f64) -> f64 {
        2.0 * rdist.sqrt().asin()
    }
    #[inline(always)]
    fn to_rdist(self, dist: f64) -> f64 {
        let s = (0.5 * dist).sin();
        s * s
    }
}

/// A tree's node bounds as its query sees them.
pub(crate) trait NodeBounds<N: Norm>: Sync {
    /// scikit-learn's `min_rdist`: a lower bound of the reduced distance from `pt` (`d`
    /// features) to node `i`'s samples.
    fn min_rdist(&self, norm: N, d: usize, i: usize, pt: &[f64]) -> f64;
}

/// Rows a leaf scan computes side by side (one AVX-512 vector of float64).
const LANES: usize = 8;

/// Deepest node stack a search can need: one entry per level and one more.
const MAX_DEPTH: usize = 66;

/// A query's walk over the tree, for one metric `N`, node bounds `B` and `D` features
/// (`D = 0`: the tree's `d`, read at run time; small `D` are compiled with their loops
/// unrolled).
struct Search<'t, 'a, N, B, const D: usize> {
    tree: &'t TreeView<'a>,
    bounds: &'t B,
    norm: N,
}

impl<'t, 'a, N: Norm, B: NodeBounds<N>, const D: usize> Search<'t, 'a, N, B, D> {
    fn new(tree: &'t TreeView<'a>, bounds: &'t B, norm: N) -> Self {
        Self { tree, bounds, norm }
    }

    #[inline(always)]
    fn d(&self) -> usize {
        if D == 0 {
            self.tree.d
        } else {
            D
        }
    }

    #[inline(always)]
    fn min_rdist(&self, i: usize, pt: &[f64]) -> f64 {
        self.bounds.min_rdist(self.norm, self.d(), i, pt)
    }

    /// scikit-learn's `_query_single_depthfirst` from the root, its recursion kept as a stack
    /// of (node, lower bound): the nearer child is searched first, and a node is skipped when
    /// its bound exceeds the heap's largest at the time it is reached.
    #[inline(always)]
    fn search(&self, pt: &[f64], values: &mut [f64], indices: &mut [i64]) {
        let mut stack = [(0usize, 0.0f64); MAX_DEPTH];
        stack[0] = (0, self.min_rdist(0, pt));
        let mut top = 1;
        while top > 0 {
            top -= 1;
            let (i, lb) = stack[top];
            if lb > values[0] {
                continue;
            }
            let [start, end, leaf] = self.tree.nodes[i];
            if leaf != 0 {
                self.scan_leaf(start as usize, end as usize, pt, values, indices);
                continue;
            }
            let (i1, i2) = (2 * i + 1, 2 * i + 2);
            let (lb1, lb2) = (self.min_rdist(i1, pt), self.min_rdist(i2, pt));
            let (near, far) = if lb1 <= lb2 {
                ((i1, lb1), (i2, lb2))
            } else {
                ((i2, lb2), (i1, lb1))
            };
            stack[top] = far;
            stack[top + 1] = near;
            top += 2;
        }
    }

    /// Offers the leaf `[start, end)`'s samples to the heap in order, [`LANES`] reduced
    /// distances computed at a time from its columns (each summed feature by feature, as one
    /// at a time).
    #[inline(always)]
    fn scan_leaf(
        &self,
        start: usize,
        end: usize,
        pt: &[f64],
        values: &mut [f64],
        indices: &mut [i64],
    ) {
        let (d, m) = (self.d(), end - start);
        let pt = &pt[..d];
        let idx = &self.tree.idx[start..end];
        let cols = self.tree.leaf(start, end);
        let offer = |values: &mut [f64], indices: &mut [i64], rdist: f64, j: u32| {
            // heap_push's own first test, kept here so that rejected rows cost no call.
            if heap_takes(rdist, values[0]) {
                heap_push(values, indices, rdist, j as i64);
            }
        };
        let mut r = 0;
        if N::COORDINATEWISE {
            while r + LANES <= m {
                let mut acc = [0.0f64; LANES];
                for (j, &q) in pt.iter().enumerate() {
                    let col: &[f64; LANES] = cols[j * m + r..][..LANES].try_into().unwrap();
                    for l in 0..LANES {
                        acc[l] = self.norm.add(j, acc[l], q - col[l]);
                    }
                }
                // The heap's largest only shrinks: rows none of which beats it now are all
                // rejected.
                let largest = values[0];
                if acc.iter().any(|&rdist| heap_takes(rdist, largest)) {
                    for (l, &rdist) in acc.iter().enumerate() {
                        offer(values, indices, rdist, idx[r + l]);
                    }
                }
                r += LANES;
            }
        }
        for r in r..m {
            offer(
                values,
                indices,
                self.norm.rdist(pt, |f| cols[f * m + r]),
                idx[r],
            );
        }
    }

    /// The leaf a query's search reaches first (nearest child first, ties to the left).
    fn first_leaf(&self, pt: &[f64]) -> usize {
        let mut i = 0;
        while self.tree.nodes[i][2] == 0 {
            let (i1, i2) = (2 * i + 1, 2 * i + 2);
            i = if self.min_rdist(i1, pt) <= self.min_rdist(i2, pt) {
                i1
            } else {
                i2
            };
        }
        i
    }

    /// The queries ordered by the leaf their search starts at: queries searched one after the
    /// other then walk mostly the same nodes and rows, which stay in cache. A query's result
    /// does not depend on when it is searched.
    fn tree_order(&self, queries: &[f64]) -> Result<Vec<(u32, u32)>, KernelError> {
        let d = self.tree.d;
        let n_q = queries.len() / d;
        if n_q > u32::MAX as usize {
            return Err(KernelError::InvalidArgument(format!(
                "at most {} queries at a time, got {n_q}",
                u32::MAX
            )));
        }
        let mut order: Vec<(u32, u32)> = Vec::new();
        order
            .try_reserve_exact(n_q)
            .map_err(|_| alloc::out_of_memory::<u32>(&[n_q, 2]))?;
        queries
            .par_chunks(d)
            .enumerate()
            .map(|(q, pt)| (self.first_leaf(pt) as u32, q as u32))
            .collect_into_vec(&mut order);
        order.par_sort_unstable();
        Ok(order)
    }

    /// Every query's `k` nearest, in parallel blocks of queries taken in [`Self::tree_order`].
    fn query_all(
        &self,
        queries: &[f64],
        metric: &Metric,
        reduced: bool,
        out: &DisjointRows,
        stop: StopCheck,
    ) -> Result<(), KernelError> {
        let order = self.tree_order(queries)?;
        order.par_chunks(QUERY_BLOCK).for_each(|block| {
            if !stop() {
                search_block(self, block, queries, out, metric, reduced);
            }
        });
        Ok(())
    }
}

/// Whether [`heap_push`] takes `rdist` into a heap whose largest is `largest`: unless
/// `rdist >= largest`.
#[inline(always)]
fn heap_takes(rdist: f64, largest: f64) -> bool {
    matches!(
        rdist.partial_cmp(&largest),
        Some(std::cmp::Ordering::Less) | None
    )
}

/// A [`Search`] of any metric, bounds and feature count, for [`search_block`].
trait KnnSearch: Sync {
    /// Searches the queries `block` lists (`(first leaf, query)`) and writes their sorted rows.
    fn search_block(
        &self,
        block: &[(u32, u32)],
        queries: &[f64],
        out: &DisjointRows,
        metric: &Metric,
        reduced: bool,
    );
}

impl<N: Norm, B: NodeBounds<N>, const D: usize> KnnSearch for Search<'_, '_, N, B, D> {
    #[inline(always)]
    fn search_block(
        &self,
        block: &[(u32, u32)],
        queries: &[f64],
        out: &DisjointRows,
        metric: &Metric,
        reduced: bool,
    ) {
        let d = self.tree.d;
        for &(_, q) in block {
            let q = q as usize;
            // SAFETY: the query order holds each query once, so one thread writes each row.
            let (hv, hi) = unsafe { out.row(q) };
            self.search(&queries[q * d..(q + 1) * d], hv, hi);
            simultaneous_sort(hv, hi);
            if !reduced {
                hv.iter_mut().for_each(|v| *v = metric.rdist_to_dist(*v));
            }
        }
    }
}

#[inline(always)]
fn search_block_body<S: KnnSearch>(
    search: &S,
    block: &[(u32, u32)],
    queries: &[f64],
    out: &DisjointRows,
    metric: &Metric,
    reduced: bool,
) {
    search.search_block(block, queries, out, metric, reduced)
}

crate::simd::simd_variants!(
    /// One block of queries searched with the widest vectors the CPU has (the leaf scans'
    /// lanes); the same additions and products in the same order on every instruction set.
    fn search_block<S: KnnSearch>(search: &S, block: &[(u32, u32)], queries: &[f64], out: &DisjointRows, metric: &Metric, reduced: bool) -> () = search_block_body;
);

/// The `(distances, indices)` rows of a k-neighbours result, handed to threads that each
/// write rows no other thread writes.
struct DisjointRows {
    distances: *mut f64,
    indices: *mut i64,
    k: usize,
    rows: usize,
}

// SAFETY: rows are written through `row`, whose callers write each row from one thread only.
unsafe impl Sync for DisjointRows {}

impl DisjointRows {
    fn new(distances: &mut [f64], indices: &mut [i64], k: usize) -> Self {
        assert_eq!(distances.len(), indices.len());
        let rows = distances.len().checked_div(k).unwrap_or(0);
        Self {
            distances: distances.as_mut_ptr(),
            indices: indices.as_mut_ptr(),
            k,
            rows,
        }
    }

    /// Row `r` of both arrays.
    ///
    /// # Safety
    /// No other reference to row `r` may be alive while the returned ones are.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, r: usize) -> (&mut [f64], &mut [i64]) {
        assert!(r < self.rows, "row {r} of {}", self.rows);
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.distances.add(r * self.k), self.k),
                std::slice::from_raw_parts_mut(self.indices.add(r * self.k), self.k),
            )
        }
    }
}

/// The `k` nearest of every query into `out`, with `N`'s search on `B`'s bounds, its feature
/// count compiled in for `d <= 8`.
#[allow(clippy::too_many_arguments)]
fn query_with<N: Norm, B: NodeBounds<N>>(
    tree: &TreeView<'_>,
    bounds: &B,
    norm: N,
    queries: &[f64],
    metric: &Metric,
    reduced: bool,
    out: &DisjointRows,
    stop: StopCheck,
) -> Result<(), KernelError> {
    macro_rules! dims {
        ($($d:literal)*) => {
            match tree.d {
                $($d => Search::<N, B, $d>::new(tree, bounds, norm)
                    .query_all(queries, metric, reduced, out, stop),)*
                _ => Search::<N, B, 0>::new(tree, bounds, norm)
                    .query_all(queries, metric, reduced, out, stop),
            }
        };
    }
    dims!(1 2 3 4 5 6 7 8)
}

/// scikit-learn's `query(queries, k)` (depth-first, sorted) on a tree: the `k`
/// (`1 <= k <= n`) nearest samples of each row of the `(n_queries, d)` row-major `queries`,
/// `norm` the tree's form of `metric`; distances left reduced when `reduced`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn kneighbors<N: Norm, B: NodeBounds<N>>(
    tree: &TreeView<'_>,
    bounds: &B,
    norm: N,
    queries: &[f64],
    metric: &Metric,
    k: usize,
    reduced: bool,
    stop: StopCheck,
) -> Result<KNeighbors, KernelError> {
    let d = tree.d;
    if !queries.len().is_multiple_of(d) {
        return Err(KernelError::Shape(format!(
            "queries of length {} do not have {d} features",
            queries.len()
        )));
    }
    let n = tree.n_samples();
    if k == 0 || k > n {
        return Err(KernelError::InvalidArgument(format!(
            "k={k} must be in [1, n_samples_fit={n}]"
        )));
    }
    let n_q = queries.len() / d;
    let mut indices = alloc::filled(&[n_q, k], 0i64)?;
    let mut distances = alloc::filled(&[n_q, k], f64::INFINITY)?;
    let out = DisjointRows::new(&mut distances, &mut indices, k);
    query_with(tree, bounds, norm, queries, metric, reduced, &out, stop)?;
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(KNeighbors { distances, indices })
}
