//! scikit-learn's k-d tree (`KDTree`, `_binary_tree.pxi.tp` and `_kd_tree.pyx.tp`): the same
//! build and the same depth-first `query`, so that it finds the same neighbours, in the same
//! order where distances tie, with distances computed pair by pair as scikit-learn's tree
//! computes them. The build's partition and the walks are [`super::binary_tree`]'s; this tree
//! brings its node boxes.
//!
//! - Build: the nodes' boxes (per-feature minima and maxima) from the partitioned rows.
//! - Query: a node's lower bound is the reduced distance to its box.
//! - Radius queries: [`radius`], scikit-learn's `query_radius`.
//!
//! Float64 only: scikit-learn's estimators build a float64 tree for float32 data too.

pub mod radius;

use super::binary_tree::query::{self, LInf, Lp, NodeBounds, Norm, SquaredL2, L1};
use super::binary_tree::{self, NoInit, TreeView};
use super::KNeighbors;
use crate::alloc;
use crate::metric::Metric;
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

pub use super::binary_tree::n_nodes;

/// A built tree over `n` samples of `d` features.
pub struct KdTree {
    /// The samples in tree order, each leaf feature by feature
    /// ([`binary_tree::leaf_columns`]): the tree's only copy of them.
    pub data: Vec<f64>,
    /// Sample indices, each node's samples contiguous.
    pub idx: Vec<u32>,
    /// `(idx_start, idx_end, is_leaf)` per node, flattened.
    pub nodes: Vec<i64>,
    /// `[n_nodes, 2, d]`: each node's per-feature minima, then maxima (scikit-learn's
    /// `node_bounds` with its first two axes swapped: one node's box in one place).
    pub bounds: Vec<f64>,
}

/// A tree's parts borrowed for queries, checked against each other.
pub struct KdTreeView<'a> {
    tree: TreeView<'a>,
    bounds: &'a [f64],
}

impl<'a> std::ops::Deref for KdTreeView<'a> {
    type Target = TreeView<'a>;
    fn deref(&self) -> &TreeView<'a> {
        &self.tree
    }
}

/// Builds scikit-learn's tree over the row-major `(n, d)` float64 `data`.
pub fn build(
    data: &[f64],
    n: usize,
    d: usize,
    leaf_size: usize,
    stop: StopCheck,
) -> Result<KdTree, KernelError> {
    let nodes = binary_tree::check_build(data, n, d, leaf_size, "k-d tree")?;
    let (columns, idx) = binary_tree::partition(data, d, &nodes, &NoInit, stop)?;
    if stop() {
        return Err(KernelError::Interrupted);
    }
    let bounds = all_node_bounds(&columns, d, &nodes)?;
    Ok(KdTree {
        data: columns,
        idx,
        nodes: nodes.concat(),
        bounds,
    })
}

/// `[n_nodes, 2, d]`: every node's per-feature minima, then maxima. Leaves' from their
/// columns, each in row order; an inner node's are its children's combined, the same values
/// scikit-learn's pass over the node's rows finds (a minimum of minima is the minimum).
fn all_node_bounds(columns: &[f64], d: usize, nodes: &[[i64; 3]]) -> Result<Vec<f64>, KernelError> {
    let count = nodes.len();
    let mut bounds = alloc::filled(&[count, 2, d], 0.0f64)?;
    bounds
        .par_chunks_mut(2 * d)
        .zip(nodes.par_iter())
        .for_each(|(node, &[start, end, leaf])| {
            if leaf != 0 {
                let (start, end) = (start as usize, end as usize);
                let (lo, hi) = node.split_at_mut(d);
                let cols = &columns[start * d..end * d];
                let m = end - start;
                for j in 0..d {
                    let col = &cols[j * m..(j + 1) * m];
                    lo[j] = col.iter().fold(f64::INFINITY, |a, &v| a.min(v));
                    hi[j] = col.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                }
            }
        });
    for i in (0..count).rev().filter(|&i| nodes[i][2] == 0) {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        for j in 0..d {
            bounds[2 * d * i + j] = bounds[2 * d * l + j].min(bounds[2 * d * r + j]);
            bounds[2 * d * i + d + j] = bounds[2 * d * l + d + j].max(bounds[2 * d * r + d + j]);
        }
    }
    Ok(bounds)
}

impl<'a> KdTreeView<'a> {
    /// Checks the parts of a tree built by [`build`]: its samples in leaf columns, indices,
    /// nodes (flattened) and bounds.
    pub fn new(
        data: &'a [f64],
        d: usize,
        idx: &'a [u32],
        nodes: &'a [i64],
        bounds: &'a [f64],
    ) -> Result<Self, KernelError> {
        let tree = TreeView::new(data, d, idx, nodes, "k-d tree")?;
        if bounds.len() != 2 * tree.n_nodes() * d {
            return Err(KernelError::Shape(
                "k-d tree: bounds do not match the nodes".into(),
            ));
        }
        Ok(Self { tree, bounds })
    }

    /// Node `i`'s per-feature minima and maxima.
    #[inline(always)]
    pub(crate) fn node_box(&self, i: usize) -> (&'a [f64], &'a [f64]) {
        let d = self.tree.d;
        self.bounds[2 * d * i..2 * d * (i + 1)].split_at(d)
    }
}

/// The exponent scikit-learn's node bounds use for a metric (`dist_metric.p`).
fn metric_p(metric: &Metric) -> Result<f64, KernelError> {
    match metric {
        Metric::Euclidean => Ok(2.0),
        Metric::Manhattan => Ok(1.0),
        Metric::Chebyshev => Ok(f64::INFINITY),
        Metric::Minkowski { p, w: None } if *p >= 1.0 => Ok(*p),
        _ => Err(KernelError::InvalidArgument(
            "the k-d tree supports euclidean, manhattan, chebyshev and minkowski (p >= 1, \
             unweighted) metrics"
                .into(),
        )),
    }
}

/// A norm whose reduced distance to a box adds each coordinate's gap.
trait BoxNorm: Norm {
    /// `acc` grown by one coordinate's gap (>= 0) to a node's box (scikit-learn's `min_rdist`).
    #[inline(always)]
    fn add_gap(self, acc: f64, gap: f64) -> f64 {
        self.add(0, acc, gap)
    }
}

impl BoxNorm for SquaredL2 {}
impl BoxNorm for L1 {}
impl BoxNorm for LInf {}
impl BoxNorm for Lp {
    #[inline(always)]
    fn add_gap(self, acc: f64, gap: f64) -> f64 {
        let p = self.0;
        if p == f64::INFINITY {
            acc.max(gap)
        } else if p == 2.0 {
            acc + gap * gap
        } else if p == 1.0 {
            acc + gap
        } else {
            acc + gap.powf(p)
        }
    }
}

impl<N: BoxNorm> NodeBounds<N> for KdTreeView<'_> {
    /// scikit-learn's `min_rdist`: reduced distance from `pt` to node `i`'s box.
    #[inline(always)]
    fn min_rdist(&self, norm: N, d: usize, i: usize, pt: &[f64]) -> f64 {
        let (lo, hi) = self.node_box(i);
        let (lo, hi, pt) = (&lo[..d], &hi[..d], &pt[..d]);
        let mut acc = 0.0f64;
        for j in 0..d {
            let d_lo = lo[j] - pt[j];
            let d_hi = pt[j] - hi[j];
            let gap = 0.5 * ((d_lo + d_lo.abs()) + (d_hi + d_hi.abs()));
            acc = norm.add_gap(acc, gap);
        }
        acc
    }
}

/// scikit-learn's `KDTree.query(queries, k)` (depth-first, sorted): the `k` (`1 <= k <= n`)
/// nearest samples of each row of the `(n_queries, d)` row-major `queries`; distances left
/// reduced when `reduced`.
pub fn kneighbors(
    tree: &KdTreeView<'_>,
    queries: &[f64],
    metric: &Metric,
    k: usize,
    reduced: bool,
    stop: StopCheck,
) -> Result<KNeighbors, KernelError> {
    let p = metric_p(metric)?;
    match metric {
        Metric::Euclidean => {
            query::kneighbors(tree, tree, SquaredL2, queries, metric, k, reduced, stop)
        }
        Metric::Manhattan => query::kneighbors(tree, tree, L1, queries, metric, k, reduced, stop),
        Metric::Chebyshev => query::kneighbors(tree, tree, LInf, queries, metric, k, reduced, stop),
        _ => query::kneighbors(tree, tree, Lp(p), queries, metric, k, reduced, stop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    #[test]
    fn finds_the_brute_force_neighbours() {
        // d = 3 and 8 are compiled with their feature count, 11 reads it at run time.
        for d in [3, 8, 11] {
            finds_the_brute_force_neighbours_in(d);
        }
    }

    fn finds_the_brute_force_neighbours_in(d: usize) {
        let (n, k) = (700usize, 6usize);
        let data = crate::neighbors::test_data::grid_data(n, d, 7);
        let queries = &data[..50 * d];
        for metric in [Metric::Euclidean, Metric::Manhattan, Metric::Chebyshev] {
            for leaf_size in [1, 5, 40] {
                let tree = build(&data, n, d, leaf_size, &never).unwrap();
                let view =
                    KdTreeView::new(&tree.data, d, &tree.idx, &tree.nodes, &tree.bounds).unwrap();
                let got = kneighbors(&view, queries, &metric, k, false, &never).unwrap();
                // The k smallest exact distances of each query, as the tree computes them
                // (ties may be other samples at the same distance).
                for (row, q) in queries.chunks(d).enumerate() {
                    let mut all: Vec<f64> = data.chunks(d).map(|x| metric.rdist(q, x)).collect();
                    all.sort_by(f64::total_cmp);
                    let want: Vec<f64> =
                        all[..k].iter().map(|&r| metric.rdist_to_dist(r)).collect();
                    assert_eq!(&got.distances[row * k..(row + 1) * k], &want[..]);
                }
                for (row, ind) in got.indices.chunks(k).enumerate() {
                    for (&j, &dist) in ind.iter().zip(&got.distances[row * k..]) {
                        let own =
                            metric.dist(&queries[row * d..][..d], &data[j as usize * d..][..d]);
                        assert_eq!(own, dist);
                    }
                }
            }
        }
    }

    #[test]
    fn one_query_at_a_time_gives_the_bits_of_many() {
        // A call orders its queries by their first leaf: a query's result, ties included,
        // must not depend on the queries searched with it.
        for d in [2, 8, 11] {
            let (n, k) = (700usize, 7usize);
            let mut rng = crate::neighbors::test_data::Lcg::new(11);
            let data: Vec<f64> = (0..n * d)
                .map(|_| ((rng.next_u64() >> 11) % 5) as f64)
                .collect();
            let queries = &data[..600 * d];
            let tree = build(&data, n, d, 9, &never).unwrap();
            let view =
                KdTreeView::new(&tree.data, d, &tree.idx, &tree.nodes, &tree.bounds).unwrap();
            for metric in [Metric::Euclidean, Metric::Manhattan, Metric::Chebyshev] {
                let all = kneighbors(&view, queries, &metric, k, false, &never).unwrap();
                for (q, pt) in queries.chunks(d).enumerate() {
                    let one = kneighbors(&view, pt, &metric, k, false, &never).unwrap();
                    assert_eq!(one.indices, all.indices[q * k..(q + 1) * k]);
                    assert_eq!(one.distances, all.distances[q * k..(q + 1) * k]);
                }
            }
        }
    }
}
