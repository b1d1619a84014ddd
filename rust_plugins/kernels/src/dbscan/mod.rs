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
#[cfg(test)]
mod tests;
mod union_find;

pub use cluster::cluster_points;
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
}

/// The euclidean test of scikit-learn's KD and ball trees: `sum_k (a_k - b_k)^2 <= eps^2`,
/// summed in feature order (partial sums only grow, so stopping early changes nothing).
pub struct Euclidean {
    reduced_eps: f64,
    eps: f64,
}

impl Euclidean {
    pub fn new(eps: f64) -> Self {
        Euclidean {
            reduced_eps: eps * eps,
            eps,
        }
    }
}

impl EpsTest for Euclidean {
    #[inline]
    fn within(&self, a: &[f64], b: &[f64]) -> bool {
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

    fn coordinate_bounds(&self, d: usize) -> Vec<Option<f64>> {
        vec![Some(self.eps); d]
    }
}

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
    /// Counting may stop once `min_samples` is reached only when no weight is negative.
    fn counts_only_grow(&self) -> bool {
        self.weights.is_none_or(|w| w.iter().all(|&v| v >= 0.0))
    }
}
