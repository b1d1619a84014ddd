//! scikit-learn's `BinaryTree.query_radius` on the k-d tree (`_query_radius_single`): the
//! samples within a radius of each query, in scikit-learn's depth-first order, with distances
//! computed as its tree computes them.
//!
//! From the root, left child first: a node whose minimum distance to the query exceeds `r` is
//! skipped; one whose maximum distance is at most `r` is reported whole, its samples not
//! checked one by one; a leaf in between is checked sample by sample on reduced distances
//! (`rdist <= dist_to_rdist(r)`). scikit-learn compares the node bounds as distances, computed
//! with C's `pow` (`pow(gap, p)` summed, then `pow(sum, 1 / p)`), so which samples are reported
//! near the radius (a sample whose own distance rounds above `r` is still reported when its
//! node's maximum does not) depends on those bounds bit for bit. For `p` 1 and 2 the bounds
//! are first computed with products and `sqrt`, within 1e-13 relative of `pow`'s (its error is
//! below 0.52 ulp), and recomputed with `pow` only when that does not decide the comparison;
//! other `p` use `pow` throughout, chebyshev needs none.

use super::{metric_p, KdTreeView};
use crate::alloc;
use crate::metric::Metric;
use crate::neighbors::heap::simultaneous_sort;
use crate::neighbors::{RadiusNeighbors, QUERY_BLOCK};
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// Relative margin around the radius within which fast node bounds are recomputed with `pow`.
const MARGIN: f64 = 1e-9;
/// Fast bounds below this may have lost their relative precision to underflow.
const TINY: f64 = 1e-140;

/// Where a node lies against the radius (scikit-learn's cases 1, 2, and 3/4).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Node {
    Outside,
    Inside,
    Straddles,
}

/// What every query's walk shares.
struct Radius<'t, 'a> {
    tree: &'t KdTreeView<'a>,
    metric: &'t Metric,
    /// The bounds' exponent (`metric_p`).
    p: f64,
    r: f64,
    reduced_r: f64,
    with_distances: bool,
}

/// A query's walk, `rdist` the metric's reduced distance (a closure, so each metric's loop is
/// compiled on its own).
struct Walk<'c, 't, 'a, R> {
    radius: &'c Radius<'t, 'a>,
    rdist: R,
}

/// One block's neighbour lists, concatenated.
struct Lists {
    lengths: Vec<usize>,
    indices: Vec<i64>,
    distances: Vec<f64>,
}

/// Room for one more element, grown fallibly: a result too large for memory is a
/// MemoryError, never an abort.
fn grow<T: alloc::Dtype>(v: &mut Vec<T>) -> Result<(), KernelError> {
    if v.len() == v.capacity() {
        let more = v.len().max(64);
        v.try_reserve(more)
            .map_err(|_| alloc::out_of_memory::<T>(&[v.len() + more]))?;
    }
    Ok(())
}

impl Lists {
    #[inline]
    fn push(&mut self, j: i64, dist: Option<f64>) -> Result<(), KernelError> {
        grow(&mut self.indices)?;
        self.indices.push(j);
        if let Some(dist) = dist {
            grow(&mut self.distances)?;
            self.distances.push(dist);
        }
        Ok(())
    }
}

impl<R: Fn(&[f64], &[f64]) -> f64 + Sync> Walk<'_, '_, '_, R> {
    fn node_box(&self, i: usize) -> (&[f64], &[f64]) {
        let d = self.radius.tree.d;
        let count = self.radius.tree.nodes.len();
        (
            &self.radius.tree.bounds[i * d..(i + 1) * d],
            &self.radius.tree.bounds[(count + i) * d..(count + i + 1) * d],
        )
    }

    /// scikit-learn's `min_max_dist`: the smallest and largest distance from `pt` to node
    /// `i`'s box, with its arithmetic.
    fn exact_bounds(&self, i: usize, pt: &[f64]) -> (f64, f64) {
        let (lo, hi) = self.node_box(i);
        let (mut min_dist, mut max_dist) = (0.0f64, 0.0f64);
        // Opaque here too: the caller's `p == 2.0` test must not turn `pow` into products.
        let p = std::hint::black_box(self.radius.p);
        if p == f64::INFINITY {
            for j in 0..self.radius.tree.d {
                let d_lo = lo[j] - pt[j];
                let d_hi = pt[j] - hi[j];
                let gap = (d_lo + d_lo.abs()) + (d_hi + d_hi.abs());
                min_dist = min_dist.max(0.5 * gap);
                max_dist = max_dist.max(d_lo.abs());
                max_dist = max_dist.max(d_hi.abs());
            }
            return (min_dist, max_dist);
        }
        for j in 0..self.radius.tree.d {
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
        for j in 0..self.radius.tree.d {
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

    /// scikit-learn's case for node `i`.
    #[inline]
    fn classify(&self, i: usize, pt: &[f64]) -> Node {
        let squares = self.radius.p == 2.0;
        if squares || self.radius.p == 1.0 {
            let (lb, ub, lb_zero) = self.fast_bounds(i, pt, squares);
            if let Some(node) = decide(lb, lb_zero, ub, self.radius.r) {
                return node;
            }
        }
        let (lb, ub) = self.exact_bounds(i, pt);
        if lb > self.radius.r {
            Node::Outside
        } else if ub <= self.radius.r {
            Node::Inside
        } else {
            Node::Straddles
        }
    }

    /// scikit-learn's `_query_radius_single` from node `i`.
    fn walk(&self, i: usize, pt: &[f64], out: &mut Lists) -> Result<(), KernelError> {
        let [start, end, leaf] = self.radius.tree.nodes[i];
        let (start, end) = (start as usize, end as usize);
        let d = self.radius.tree.d;
        let rows = self.radius.tree.data[start * d..end * d].chunks_exact(d);
        let samples = rows.zip(&self.radius.tree.idx[start..end]);
        match self.classify(i, pt) {
            Node::Outside => {}
            Node::Inside => {
                for (row, &j) in samples {
                    let dist = self
                        .radius
                        .with_distances
                        .then(|| self.radius.metric.rdist_to_dist((self.rdist)(pt, row)));
                    out.push(j, dist)?;
                }
            }
            Node::Straddles if leaf != 0 => {
                for (row, &j) in samples {
                    let rdist = (self.rdist)(pt, row);
                    if rdist <= self.radius.reduced_r {
                        let dist = self
                            .radius
                            .with_distances
                            .then(|| self.radius.metric.rdist_to_dist(rdist));
                        out.push(j, dist)?;
                    }
                }
            }
            Node::Straddles => {
                self.walk(2 * i + 1, pt, out)?;
                self.walk(2 * i + 2, pt, out)?;
            }
        }
        Ok(())
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

/// scikit-learn's `KDTree.query_radius(queries, radius, return_distance, sort_results)` for
/// the `(n_queries, d)` row-major `queries`: CSR-like lists, each query's in scikit-learn's
/// order, or sorted by its `simultaneous_sort` on the distances when `sort`. With
/// `exclude_self` the queries are the fitted samples in their own order and each query's
/// index is then removed from its list (scikit-learn's `X=None`). Without `with_distances`
/// the distances stay empty (and `sort` is not allowed).
#[allow(clippy::too_many_arguments)]
pub fn radius_neighbors(
    tree: &KdTreeView<'_>,
    queries: &[f64],
    metric: &Metric,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<RadiusNeighbors, KernelError> {
    let d = tree.d;
    if !queries.len().is_multiple_of(d) {
        return Err(KernelError::Shape(format!(
            "queries of length {} do not have {d} features",
            queries.len()
        )));
    }
    if sort && !with_distances {
        return Err(KernelError::InvalidArgument(
            "sorting the neighbours needs their distances".into(),
        ));
    }
    let p = metric_p(metric)?;
    let reduced_r = metric.dist_to_rdist(radius);
    let n_q = queries.len() / d;
    let shared = Radius {
        tree,
        metric,
        p,
        r: radius,
        reduced_r,
        with_distances,
    };
    let args = (queries, n_q, sort, exclude_self, stop);
    let blocks = match metric {
        Metric::Euclidean => {
            let rdist = |a: &[f64], b: &[f64]| Metric::Euclidean.rdist(a, b);
            search_all(
                &Walk {
                    radius: &shared,
                    rdist,
                },
                args,
            )
        }
        Metric::Manhattan => {
            let rdist = |a: &[f64], b: &[f64]| Metric::Manhattan.rdist(a, b);
            search_all(
                &Walk {
                    radius: &shared,
                    rdist,
                },
                args,
            )
        }
        Metric::Chebyshev => {
            let rdist = |a: &[f64], b: &[f64]| Metric::Chebyshev.rdist(a, b);
            search_all(
                &Walk {
                    radius: &shared,
                    rdist,
                },
                args,
            )
        }
        _ => {
            let rdist = |a: &[f64], b: &[f64]| metric.rdist(a, b);
            search_all(
                &Walk {
                    radius: &shared,
                    rdist,
                },
                args,
            )
        }
    };
    if stop() {
        return Err(KernelError::Interrupted);
    }
    concatenate(blocks, n_q, with_distances)
}

/// Every query's list, in parallel blocks of queries (each query's list depends on it alone).
fn search_all<R: Fn(&[f64], &[f64]) -> f64 + Sync>(
    walk: &Walk<'_, '_, '_, R>,
    (queries, n_q, sort, exclude_self, stop): (&[f64], usize, bool, bool, StopCheck),
) -> Vec<Result<Lists, KernelError>> {
    let d = walk.radius.tree.d;
    (0..n_q.div_ceil(QUERY_BLOCK))
        .into_par_iter()
        .map(|b| {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let rows = b * QUERY_BLOCK..((b + 1) * QUERY_BLOCK).min(n_q);
            let mut out = Lists {
                lengths: Vec::with_capacity(rows.len()),
                indices: Vec::new(),
                distances: Vec::new(),
            };
            for q in rows {
                let pt = &queries[q * d..(q + 1) * d];
                let start = out.indices.len();
                walk.walk(0, pt, &mut out)?;
                if sort {
                    simultaneous_sort(&mut out.distances[start..], &mut out.indices[start..]);
                }
                if exclude_self {
                    // After sorting, as scikit-learn masks the sorted lists.
                    if let Some(at) = out.indices[start..].iter().position(|&j| j == q as i64) {
                        out.indices.remove(start + at);
                        if walk.radius.with_distances {
                            out.distances.remove(start + at);
                        }
                    }
                }
                out.lengths.push(out.indices.len() - start);
            }
            Ok(out)
        })
        .collect()
}

/// The blocks' lists as one result; distances allocated before indices (as scikit-learn's
/// distance graph concatenates them).
fn concatenate(
    blocks: Vec<Result<Lists, KernelError>>,
    n_q: usize,
    with_distances: bool,
) -> Result<RadiusNeighbors, KernelError> {
    let mut offsets = alloc::with_capacity::<i64>(&[n_q + 1])?;
    offsets.push(0);
    let mut total = 0usize;
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        let block = block?;
        for &len in &block.lengths {
            total += len;
            offsets.push(total as i64);
        }
        parts.push(block);
    }
    let mut distances = alloc::with_capacity::<f64>(&[if with_distances { total } else { 0 }])?;
    let mut indices = alloc::with_capacity::<i64>(&[total])?;
    for part in parts {
        indices.extend_from_slice(&part.indices);
        distances.extend_from_slice(&part.distances);
    }
    Ok(RadiusNeighbors {
        offsets,
        indices,
        distances,
    })
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::*;

    fn never() -> bool {
        false
    }

    /// Values on a grid of tenths: many exact ties and samples exactly at the radius.
    fn grid_data(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 * 10.0).round() / 10.0
            })
            .collect()
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
                let got =
                    radius_neighbors(&view, &queries, &metric, radius, true, false, true, &never)
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
        let all = radius_neighbors(&view, &data, &m, 0.2, false, false, false, &never).unwrap();
        let own = radius_neighbors(&view, &data, &m, 0.2, false, true, false, &never).unwrap();
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
