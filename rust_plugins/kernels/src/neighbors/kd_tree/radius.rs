//! scikit-learn's `query_radius` on the k-d tree: the node cases of `_query_radius_single`
//! from the nodes' boxes; the walk is [`crate::neighbors::binary_tree::radius`]'s.
//!
//! scikit-learn compares the box bounds as distances, computed with C's `pow` (`pow(gap, p)`
//! summed, then `pow(sum, 1 / p)`), so which samples are reported near the radius (a sample
//! whose own distance rounds above `r` is still reported when its node's maximum does not)
//! depends on those bounds bit for bit. For `p` 1 and 2 the bounds are first computed with
//! products and `sqrt`, within 1e-13 relative of `pow`'s (its error is below 0.52 ulp), and
//! recomputed with `pow` only when that does not decide the comparison; other `p` use `pow`
//! throughout, chebyshev needs none.

use super::{metric_p, KdTreeView};
use crate::metric::Metric;
use crate::neighbors::binary_tree::query::Norm;
pub use crate::neighbors::binary_tree::radius::Radii;
use crate::neighbors::binary_tree::radius::{self, Node, RadiusBounds};
use crate::neighbors::binary_tree::TreeView;
use crate::neighbors::RadiusNeighbors;
use crate::{KernelError, StopCheck};

/// Relative margin around the radius within which fast node bounds are recomputed with `pow`.
const MARGIN: f64 = 1e-9;
/// Fast bounds below this may have lost their relative precision to underflow.
const TINY: f64 = 1e-140;

/// The tree's boxes against a radius, for the bounds' exponent `p` (`metric_p`).
struct KdRadius<'t, 'a> {
    tree: &'t KdTreeView<'a>,
    p: f64,
}

impl KdRadius<'_, '_> {
    fn node_box(&self, i: usize) -> (&[f64], &[f64]) {
        self.tree.node_box(i)
    }

    /// scikit-learn's `min_max_dist`: the smallest and largest distance from `pt` to node
    /// `i`'s box, with its arithmetic.
    fn exact_bounds(&self, i: usize, pt: &[f64]) -> (f64, f64) {
        let (lo, hi) = self.node_box(i);
        let (mut min_dist, mut max_dist) = (0.0f64, 0.0f64);
        // Opaque here too: the caller's `p == 2.0` test must not turn `pow` into products.
        let p = std::hint::black_box(self.p);
        if p == f64::INFINITY {
            for j in 0..self.tree.d {
                let d_lo = lo[j] - pt[j];
                let d_hi = pt[j] - hi[j];
                let gap = (d_lo + d_lo.abs()) + (d_hi + d_hi.abs());
                min_dist = min_dist.max(0.5 * gap);
                max_dist = max_dist.max(d_lo.abs());
                max_dist = max_dist.max(d_hi.abs());
            }
            return (min_dist, max_dist);
        }
        for j in 0..self.tree.d {
            let d_lo = lo[j] - pt[j];
            let d_hi = pt[j] - hi[j];
            let gap = (d_lo + d_lo.abs()) + (d_hi + d_hi.abs());
            min_dist += (0.5 * gap).powf(p);
            max_dist += d_lo.abs().max(d_hi.abs()).powf(p);
        }
        (min_dist.powf(1.0 / p), max_dist.powf(1.0 / p))
    }

    /// The bounds of [`Self::exact_bounds`] for `p` 1 or 2 (`squares`) with products and
    /// `sqrt`, and whether the minimum is exactly 0 (every gap 0, as `pow` also gives).
    #[inline]
    fn fast_bounds(&self, i: usize, pt: &[f64], squares: bool) -> (f64, f64, bool) {
        let (lo, hi) = self.node_box(i);
        let (mut min_sum, mut max_sum, mut largest_gap) = (0.0f64, 0.0f64, 0.0f64);
        for j in 0..self.tree.d {
            let d_lo = lo[j] - pt[j];
            let d_hi = pt[j] - hi[j];
            let gap = 0.5 * ((d_lo + d_lo.abs()) + (d_hi + d_hi.abs()));
            let far = d_lo.abs().max(d_hi.abs());
            largest_gap = largest_gap.max(gap);
            if squares {
                min_sum += gap * gap;
                max_sum += far * far;
            } else {
                min_sum += gap;
                max_sum += far;
            }
        }
        if squares {
            (min_sum.sqrt(), max_sum.sqrt(), largest_gap == 0.0)
        } else {
            (min_sum, max_sum, largest_gap == 0.0)
        }
    }
}

impl RadiusBounds for KdRadius<'_, '_> {
    fn tree(&self) -> &TreeView<'_> {
        self.tree
    }

    #[inline]
    fn classify<N: Norm>(&self, _: N, i: usize, pt: &[f64], r: f64) -> Node {
        let squares = self.p == 2.0;
        if squares || self.p == 1.0 {
            let (lb, ub, lb_zero) = self.fast_bounds(i, pt, squares);
            if let Some(node) = decide(lb, lb_zero, ub, r) {
                return node;
            }
        }
        let (lb, ub) = self.exact_bounds(i, pt);
        if lb > r {
            Node::Outside
        } else if ub <= r {
            Node::Inside
        } else {
            Node::Straddles
        }
    }
}

/// The case of a node from bounds `lb` and `ub` known to 1e-13 relative (`lb_zero`: `lb` is
/// exactly 0), when they decide it against the radius `r`.
fn decide(lb: f64, lb_zero: bool, ub: f64, r: f64) -> Option<Node> {
    let known = |v: f64| (TINY..f64::INFINITY).contains(&v);
    let outside = if lb_zero {
        0.0 > r
    } else if known(lb) && lb * (1.0 - MARGIN) > r {
        true
    } else if known(lb) && lb * (1.0 + MARGIN) <= r {
        false
    } else {
        return None;
    };
    if outside {
        Some(Node::Outside)
    } else if known(ub) && ub * (1.0 + MARGIN) <= r {
        Some(Node::Inside)
    } else if known(ub) && ub * (1.0 - MARGIN) > r {
        Some(Node::Straddles)
    } else {
        None
    }
}

/// scikit-learn's `KDTree.query_radius(queries, r, return_distance, sort_results)`; see
/// [`radius::radius_neighbors`].
#[allow(clippy::too_many_arguments)]
pub fn radius_neighbors(
    tree: &KdTreeView<'_>,
    queries: &[f64],
    metric: &Metric,
    radii: Radii<'_>,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<RadiusNeighbors, KernelError> {
    let p = metric_p(metric)?;
    let bounds = KdRadius { tree, p };
    radius::radius_neighbors(
        &bounds,
        queries,
        metric,
        radii,
        sort,
        exclude_self,
        with_distances,
        stop,
    )
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::*;
    use crate::neighbors::test_data::grid_data;

    fn never() -> bool {
        false
    }

    #[test]
    fn finds_the_samples_within_the_radius() {
        let (n, d) = (600usize, 3usize);
        let data = grid_data(n, d, 3);
        let queries = grid_data(40, d, 4);
        let metrics = [
            Metric::Euclidean,
            Metric::Manhattan,
            Metric::Chebyshev,
            Metric::minkowski(3.0, None).unwrap(),
        ];
        for metric in metrics {
            for leaf_size in [1, 7, 40] {
                let tree = build(&data, n, d, leaf_size, &never).unwrap();
                let view =
                    KdTreeView::new(&tree.data, d, &tree.idx, &tree.nodes, &tree.bounds).unwrap();
                let radius = 0.3;
                let got = radius_neighbors(
                    &view,
                    &queries,
                    &metric,
                    Radii::One(radius),
                    true,
                    false,
                    true,
                    &never,
                )
                .unwrap();
                let r_red = metric.dist_to_rdist(radius);
                for (q, pt) in queries.chunks(d).enumerate() {
                    let (a, b) = (got.offsets[q] as usize, got.offsets[q + 1] as usize);
                    let found = &got.indices[a..b];
                    let rdist = |j: i64| metric.rdist(pt, &data[j as usize * d..][..d]);
                    // Within the radius, up to the rounding of a node's bounds (a node within
                    // them is taken whole).
                    assert!(found.iter().all(|&j| rdist(j) <= r_red * (1.0 + 1e-12)));
                    let surely = (0..n as i64).filter(|&j| rdist(j) <= r_red * (1.0 - 1e-12));
                    assert!(surely.into_iter().all(|j| found.contains(&j)));
                    let mut unique = found.to_vec();
                    unique.sort_unstable();
                    unique.dedup();
                    assert_eq!(unique.len(), found.len());
                    let dist = &got.distances[a..b];
                    assert!(dist.windows(2).all(|w| w[0] <= w[1]));
                }
            }
        }
    }

    #[test]
    fn excludes_each_fitted_sample_from_its_own_list() {
        let (n, d) = (300usize, 2usize);
        let data = grid_data(n, d, 5);
        let tree = build(&data, n, d, 5, &never).unwrap();
        let view = KdTreeView::new(&tree.data, d, &tree.idx, &tree.nodes, &tree.bounds).unwrap();
        let m = Metric::Euclidean;
        let all = radius_neighbors(
            &view,
            &data,
            &m,
            Radii::One(0.2),
            false,
            false,
            false,
            &never,
        )
        .unwrap();
        let own = radius_neighbors(
            &view,
            &data,
            &m,
            Radii::One(0.2),
            false,
            true,
            false,
            &never,
        )
        .unwrap();
        assert!(own.distances.is_empty());
        for q in 0..n {
            let a = &all.indices[all.offsets[q] as usize..all.offsets[q + 1] as usize];
            let b = &own.indices[own.offsets[q] as usize..own.offsets[q + 1] as usize];
            let kept: Vec<i64> = a.iter().copied().filter(|&j| j != q as i64).collect();
            assert_eq!(b, &kept[..]);
        }
    }

    #[test]
    fn decide_leaves_close_calls_to_pow() {
        assert_eq!(decide(2.0, false, 3.0, 1.0), Some(Node::Outside));
        assert_eq!(decide(0.5, false, 0.9, 1.0), Some(Node::Inside));
        assert_eq!(decide(0.5, false, 3.0, 1.0), Some(Node::Straddles));
        assert_eq!(decide(0.0, true, 0.5, 1.0), Some(Node::Inside));
        assert_eq!(decide(0.0, true, 0.5, -1.0), Some(Node::Outside));
        assert_eq!(decide(1.0 + 1e-12, false, 3.0, 1.0), None);
        assert_eq!(decide(0.5, false, 1.0, 1.0), None);
        assert_eq!(decide(0.5, false, 3.0, f64::NAN), None);
        assert_eq!(decide(1e-200, false, 3.0, 1.0), None);
    }
}
