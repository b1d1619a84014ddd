//! scikit-learn's `BinaryTree.query_radius` (`_query_radius_single`) on either tree: the
//! samples within a radius of each query (one radius for all, or one per query), in
//! scikit-learn's depth-first order, with distances computed as its tree computes them.
//!
//! From the root, left child first: a node whose minimum distance to the query exceeds `r` is
//! skipped; one whose maximum distance is at most `r` is reported whole, its samples not
//! checked one by one; a leaf in between is checked sample by sample on reduced distances
//! (`rdist <= dist_to_rdist(r)`). Which case a node is in comes from the tree's
//! [`RadiusBounds`].

use super::query::{Haversine, LInf, Lp, Norm, SquaredL2, WeightedLp, L1};
use super::TreeView;
use crate::alloc;
use crate::metric::Metric;
use crate::neighbors::heap::simultaneous_sort;
use crate::neighbors::{RadiusNeighbors, QUERY_BLOCK};
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// Where a node lies against the radius (scikit-learn's cases 1, 2, and 3/4).
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Node {
    Outside,
    Inside,
    Straddles,
}

/// A tree's node bounds as its radius walk sees them.
pub(crate) trait RadiusBounds: Sync {
    fn tree(&self) -> &TreeView<'_>;
    /// scikit-learn's case for node `i` against the radius `r` around `pt`, `norm` the
    /// metric's.
    fn classify<N: Norm>(&self, norm: N, i: usize, pt: &[f64], r: f64) -> Node;
}

/// The radius of each query: one for all, or one per query (`query_radius`'s array `r`).
#[derive(Clone, Copy)]
pub enum Radii<'r> {
    One(f64),
    Each(&'r [f64]),
}

/// What every query's walk shares, for one metric `N` (each compiled on its own).
struct Walk<'c, B, N> {
    bounds: &'c B,
    metric: &'c Metric,
    with_distances: bool,
    norm: N,
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

impl<B: RadiusBounds, N: Norm> Walk<'_, B, N> {
    /// scikit-learn's `_query_radius_single` from node `i` for the radius `r` (`reduced_r`
    /// its reduced form).
    fn walk(
        &self,
        i: usize,
        pt: &[f64],
        r: f64,
        reduced_r: f64,
        out: &mut Lists,
    ) -> Result<(), KernelError> {
        let leaf = self.bounds.tree().nodes[i][2] != 0;
        match self.bounds.classify(self.norm, i, pt, r) {
            Node::Outside => Ok(()),
            Node::Inside => self.report_all(i, pt, out),
            Node::Straddles if leaf => self.scan_leaf(i, pt, Some(reduced_r), out),
            Node::Straddles => {
                self.walk(2 * i + 1, pt, r, reduced_r, out)?;
                self.walk(2 * i + 2, pt, r, reduced_r, out)
            }
        }
    }

    /// Every sample of node `i`, in order: its leaves' from left to right.
    fn report_all(&self, i: usize, pt: &[f64], out: &mut Lists) -> Result<(), KernelError> {
        if self.bounds.tree().nodes[i][2] != 0 {
            return self.scan_leaf(i, pt, None, out);
        }
        self.report_all(2 * i + 1, pt, out)?;
        self.report_all(2 * i + 2, pt, out)
    }

    /// The samples of leaf `i` in order: those whose reduced distance is at most `within`, or
    /// all of them (`None`, their distances computed only when reported).
    #[inline(always)]
    fn scan_leaf(
        &self,
        i: usize,
        pt: &[f64],
        within: Option<f64>,
        out: &mut Lists,
    ) -> Result<(), KernelError> {
        let tree = self.bounds.tree();
        let [start, end, _] = tree.nodes[i];
        let (start, end) = (start as usize, end as usize);
        let (cols, m) = (tree.leaf(start, end), end - start);
        for (r, &j) in tree.idx[start..end].iter().enumerate() {
            let rdist = || self.norm.rdist(pt, |f| cols[f * m + r]);
            let to_dist = |rdist| self.metric.rdist_to_dist(rdist);
            match within {
                None => out.push(j as i64, self.with_distances.then(|| to_dist(rdist())))?,
                Some(reduced_r) => {
                    let rdist = rdist();
                    if rdist <= reduced_r {
                        out.push(j as i64, self.with_distances.then(|| to_dist(rdist)))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// scikit-learn's `query_radius(queries, radius, return_distance, sort_results)` on a tree
/// for the `(n_queries, d)` row-major `queries`: CSR-like lists, each query's in
/// scikit-learn's order, or sorted by its `simultaneous_sort` on the distances when `sort`.
/// With `exclude_self` the queries are the fitted samples in their own order and each
/// query's index is then removed from its list (scikit-learn's `X=None`). Without
/// `with_distances` the distances stay empty (and `sort` is not allowed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn radius_neighbors<B: RadiusBounds>(
    bounds: &B,
    queries: &[f64],
    metric: &Metric,
    radii: Radii<'_>,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<RadiusNeighbors, KernelError> {
    let d = bounds.tree().d;
    if !queries.len().is_multiple_of(d) {
        return Err(KernelError::Shape(format!(
            "queries of length {} do not have {d} features",
            queries.len()
        )));
    }
    let n_q = queries.len() / d;
    if let Radii::Each(r) = radii {
        if r.len() != n_q {
            return Err(KernelError::Shape(format!(
                "{} radii for {n_q} queries",
                r.len()
            )));
        }
    }
    if sort && !with_distances {
        return Err(KernelError::InvalidArgument(
            "sorting the neighbours needs their distances".into(),
        ));
    }
    let args = (queries, n_q, radii, sort, exclude_self, stop);
    macro_rules! walk {
        ($norm:expr) => {
            search_all(
                &Walk {
                    bounds,
                    metric,
                    with_distances,
                    norm: $norm,
                },
                args,
            )
        };
    }
    let blocks = match metric {
        Metric::Euclidean => walk!(SquaredL2),
        Metric::Manhattan => walk!(L1),
        Metric::Chebyshev => walk!(LInf),
        Metric::Haversine => walk!(Haversine),
        Metric::Minkowski { p, w: None } => walk!(Lp(*p)),
        Metric::Minkowski { p, w: Some(w) } => walk!(WeightedLp { p: *p, w }),
        _ => {
            return Err(KernelError::InvalidArgument(
                "not a metric of the trees".into(),
            ))
        }
    };
    if stop() {
        return Err(KernelError::Interrupted);
    }
    concatenate(blocks, n_q, with_distances)
}

/// Every query's list, in parallel blocks of queries (each query's list depends on it alone).
fn search_all<B: RadiusBounds, N: Norm>(
    walk: &Walk<'_, B, N>,
    (queries, n_q, radii, sort, exclude_self, stop): (
        &[f64],
        usize,
        Radii<'_>,
        bool,
        bool,
        StopCheck,
    ),
) -> Vec<Result<Lists, KernelError>> {
    let d = walk.bounds.tree().d;
    let one = match radii {
        Radii::One(r) => Some((r, walk.metric.dist_to_rdist(r))),
        Radii::Each(_) => None,
    };
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
                let (r, reduced_r) = match (one, radii) {
                    (Some(both), _) => both,
                    (None, Radii::Each(r)) => (r[q], walk.metric.dist_to_rdist(r[q])),
                    (None, Radii::One(r)) => (r, walk.metric.dist_to_rdist(r)),
                };
                let start = out.indices.len();
                walk.walk(0, pt, r, reduced_r, &mut out)?;
                if sort {
                    simultaneous_sort(&mut out.distances[start..], &mut out.indices[start..]);
                }
                if exclude_self {
                    // After sorting, as scikit-learn masks the sorted lists.
                    if let Some(at) = out.indices[start..].iter().position(|&j| j == q as i64) {
                        out.indices.remove(start + at);
                        if walk.with_distances {
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
