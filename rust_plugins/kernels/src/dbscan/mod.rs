//! DBSCAN with scikit-learn's labels, in O(n) memory beyond the input.
//!
//! scikit-learn's result, stated without reference to its traversal: a point is *core* when the
//! (weighted) count of points within `eps` of it, itself included, is at least `min_samples`;
//! clusters are the connected components of core points; they are numbered in the order of their
//! smallest-index core point; a non-core point within `eps` of core points takes the smallest of
//! their labels; every other point is noise (-1). scikit-learn materialises every neighbourhood
//! and walks them depth first; here the points are sorted into a grid (`grid`), core points are
//! counted with an early exit, joined with a concurrent union-find (`union_find`) and labelled
//! in parallel (`cluster`). Precomputed distance matrices follow scikit-learn's walk exactly,
//! row by row (`precomputed`), because a non-symmetric matrix makes the walk order matter.
//!
//! "Within `eps`" is decided as scikit-learn's neighbour search decides it (see [`EpsTest`]),
//! so pairs at exactly `eps` (integer grids) agree.

mod cluster;
mod grid;
mod precomputed;
mod products;
#[cfg(test)]
mod tests;
mod union_find;

use crate::float::Float;
use crate::metric::{CsrRow, Metric};

pub use cluster::{cluster_csr_rows, cluster_pairs, cluster_points};
pub use precomputed::{cluster_precomputed_csr, cluster_precomputed_dense};

/// How DBSCAN decides whether two points (rows of float64) are within `eps`.
pub trait EpsTest: Sync {
    /// Whether `dist(a, b) <= eps`, computed as scikit-learn's search computes it (a tree leaf
    /// tests the reduced distance: `sum (a_k - b_k)^2 <= eps^2` for the euclidean metric). Must
    /// be symmetric in `a` and `b`.
    fn within(&self, a: &[f64], b: &[f64]) -> bool;

    /// For each of the `d` features, a bound on `|a_k - b_k|` that holds for every pair within
    /// `eps` (None where the metric bounds nothing, as cosine).
    fn coordinate_bounds(&self, d: usize) -> Vec<Option<f64>>;

    /// `Some(eps^2)` when rows of `d` features are compared as scikit-learn's brute force
    /// compares them, by products (`|a|^2 - 2 a.b + |b|^2 <= eps^2`), instead of by `within`.
    fn by_products(&self, _d: usize) -> Option<f64> {
        None
    }
}

/// A metric of [`crate::metric`] tested as scikit-learn's KD and ball tree leaves test it:
/// reduced distance `<=` the reduced `eps` (`sum_k (a_k - b_k)^2 <= eps^2` for euclidean).
pub struct MetricTest {
    metric: Metric,
    eps: f64,
    reduced_eps: f64,
}

impl MetricTest {
    pub fn new(metric: Metric, eps: f64) -> Self {
        let reduced_eps = metric.dist_to_rdist(eps);
        MetricTest {
            metric,
            eps,
            reduced_eps,
        }
    }

    /// The test on two CSR rows.
    pub fn within_csr<T: Float>(&self, a: CsrRow<T>, b: CsrRow<T>) -> bool {
        self.metric.rdist_csr(a, b) <= self.reduced_eps
    }
}

impl EpsTest for MetricTest {
    #[inline]
    fn within(&self, a: &[f64], b: &[f64]) -> bool {
        if self.metric != Metric::Euclidean {
            return self.metric.rdist(a, b) <= self.reduced_eps;
        }
        // The trees' sum in the trees' order, stopped once it exceeds the bound (partial sums
        // of squares only grow, so the answer is unchanged).
        let mut sum = 0.0;
        for (x, y) in a.iter().zip(b) {
            let t = x - y;
            sum += t * t;
            if sum > self.reduced_eps {
                return false;
            }
        }
        sum <= self.reduced_eps
    }

    fn by_products(&self, d: usize) -> Option<f64> {
        (self.metric == Metric::Euclidean && d > TREE_MAX_FEATURES).then_some(self.reduced_eps)
    }

    fn coordinate_bounds(&self, d: usize) -> Vec<Option<f64>> {
        let eps = self.eps;
        match &self.metric {
            Metric::Euclidean | Metric::Manhattan | Metric::Chebyshev => vec![Some(eps); d],
            Metric::Minkowski { w: None, .. } => vec![Some(eps); d],
            // w_k |a_k - b_k|^p <= eps^p
            Metric::Minkowski { p, w: Some(w) } => w
                .iter()
                .map(|&wk| (wk > 0.0).then(|| eps / wk.powf(1.0 / p)))
                .collect(),
            Metric::SqEuclidean => vec![Some(eps.max(0.0).sqrt()); d],
            Metric::Cosine | Metric::Haversine => vec![None; d],
        }
    }
}

/// Above this many features scikit-learn's `auto` search is brute force, whose euclidean
/// distances come from `|a|^2 - 2 a.b + |b|^2` by matrix products.
const TREE_MAX_FEATURES: usize = 15;

/// DBSCAN's result in the input's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// Cluster of each point, -1 for noise.
    pub labels: Vec<i64>,
    /// Whether each point is a core point.
    pub core: Vec<bool>,
}

/// The core-point rule: the weighted count of neighbours must reach `min_samples`.
#[derive(Clone, Copy)]
pub struct CoreRule<'a> {
    pub min_samples: f64,
    /// Per-point weights in the input's order (None: 1 each).
    pub weights: Option<&'a [f64]>,
}

impl CoreRule<'_> {
    /// The weights must cover the `n` points.
    fn check(&self, n: usize) -> Result<(), crate::KernelError> {
        match self.weights {
            Some(w) if w.len() != n => Err(crate::KernelError::Shape(format!(
                "{} sample weights for {n} samples",
                w.len()
            ))),
            _ => Ok(()),
        }
    }

    /// Counting may stop once `min_samples` is reached only when no weight is negative.
    fn counts_only_grow(&self) -> bool {
        self.weights.is_none_or(|w| w.iter().all(|&v| v >= 0.0))
    }
}
