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
    /// The samples' rows in tree order (row `i` is sample `idx[i]`): each node's rows are
    /// contiguous, so building and scanning leaves read memory in order.
    pub data: Vec<f64>,
    /// Sample indices, each node's samples contiguous.
    pub idx: Vec<i64>,
    /// `(idx_start, idx_end, is_leaf)` per node, flattened.
    pub nodes: Vec<i64>,
    /// `[2, n_nodes, d]`: each node's per-feature minima, then maxima.
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
    let (rows, idx) = binary_tree::partition(data, d, &nodes, &NoInit, stop)?;
    if stop() {
        return Err(KernelError::Interrupted);
    }
    let bounds = all_node_bounds(&rows, d, &nodes)?;
    Ok(KdTree {
        data: rows,
        idx,
        nodes: nodes.concat(),
        bounds,
    })
}

/// `[2, n_nodes, d]`: every node's per-feature minima, then maxima. Leaves' from their rows;
/// an inner node's are its children's combined, the same values scikit-learn's pass over the
/// node's rows finds (a minimum of minima is the minimum).
fn all_node_bounds(rows: &[f64], d: usize, nodes: &[[i64; 3]]) -> Result<Vec<f64>, KernelError> {
    let count = nodes.len();
    let mut bounds = alloc::filled(&[2, count, d], 0.0f64)?;
    let (lower, upper) = bounds.split_at_mut(count * d);
    lower
        .par_chunks_mut(d)
        .zip(upper.par_chunks_mut(d))
        .zip(nodes.par_iter())
        .for_each(|((lo, hi), &[start, end, leaf])| {
            if leaf != 0 {
                binary_tree::node_bounds(&rows[start as usize * d..end as usize * d], d, lo, hi)
            }
        });
    for i in (0..count).rev().filter(|&i| nodes[i][2] == 0) {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        for j in 0..d {
            lower[i * d + j] = lower[l * d + j].min(lower[r * d + j]);
            upper[i * d + j] = upper[l * d + j].max(upper[r * d + j]);
        }
    }
    Ok(bounds)
}

impl<'a> KdTreeView<'a> {
    /// Checks the parts of a tree built by [`build`]: its rows in tree order (`(n, d)`
    /// row-major), indices, nodes (flattened) and bounds.
    pub fn new(
        data: &'a [f64],
        d: usize,
        idx: &'a [i64],
        nodes: &[i64],
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

/// The nodes' boxes a query reads.
struct Boxes<'b> {
    /// Node `i`'s minima then maxima at `[2 d i, 2 d (i + 1))`: one node's box in one place.
    /// Made for calls with enough queries to repay it ([`query::makes_copies`]); the tree's
    /// own bounds are read otherwise.
    copy: Option<Vec<f64>>,
    bounds: &'b [f64],
    count: usize,
}

impl<'b> Boxes<'b> {
    fn new(tree: &KdTreeView<'b>, n_queries: usize) -> Result<Self, KernelError> {
        let (d, count) = (tree.d, tree.n_nodes());
        let copy = if query::makes_copies(tree, n_queries) {
            let mut boxes = alloc::with_capacity::<f64>(&[count, 2, d])?;
            let (lower, upper) = tree.bounds.split_at(count * d);
            for (lo, hi) in lower.chunks_exact(d).zip(upper.chunks_exact(d)) {
                boxes.extend_from_slice(lo);
                boxes.extend_from_slice(hi);
            }
            Some(boxes)
        } else {
            None
        };
        Ok(Self {
            copy,
            bounds: tree.bounds,
            count,
        })
    }
}

impl<N: BoxNorm> NodeBounds<N> for Boxes<'_> {
    /// scikit-learn's `min_rdist`: reduced distance from `pt` to node `i`'s box.
    #[inline(always)]
    fn min_rdist(&self, norm: N, d: usize, i: usize, pt: &[f64]) -> f64 {
        let (lo, hi) = match &self.copy {
            Some(boxes) => boxes[2 * d * i..2 * d * (i + 1)].split_at(d),
            None => {
                let upper = self.count * d;
                (
                    &self.bounds[i * d..(i + 1) * d],
                    &self.bounds[upper + i * d..upper + (i + 1) * d],
                )
            }
        };
        let pt = &pt[..d];
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
    let boxes = Boxes::new(tree, queries.len() / tree.d)?;
    match metric {
        Metric::Euclidean => {
            query::kneighbors(tree, &boxes, SquaredL2, queries, metric, k, reduced, stop)
        }
        Metric::Manhattan => query::kneighbors(tree, &boxes, L1, queries, metric, k, reduced, stop),
        Metric::Chebyshev => {
            query::kneighbors(tree, &boxes, LInf, queries, metric, k, reduced, stop)
        }
        _ => query::kneighbors(tree, &boxes, Lp(p), queries, metric, k, reduced, stop),
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
    fn few_queries_read_the_tree_as_many_read_its_copies() {
        // 600 queries on 700 samples make the call copy the boxes and leaves; one query at a
        // time reads the tree's own bounds and rows. Both must give the same bits, ties too.
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
