//! scikit-learn's ball tree (`BallTree`, `_binary_tree.pxi.tp` and `_ball_tree.pyx.tp`): the
//! same build, `query` and `query_radius` as its tree, bit for bit. The partition and the
//! walks are [`super::binary_tree`]'s (the k-d tree's); this tree brings its balls.
//!
//! - Build: each node's centroid is the mean of its samples, summed in their order when the
//!   build reaches the node (before its own partition), then divided by their count; its
//!   radius the largest distance from the centroid to them (`init_node`).
//! - Query: a node's lower bound is `dist_to_rdist(max(0, dist(pt, centroid) - radius))`;
//!   radius queries compare `max(0, dist - radius)` and `dist + radius` with `r`.
//!
//! Metrics: euclidean, manhattan, chebyshev, minkowski (`p >= 1`, weighted or not) and
//! haversine. Float64 only, as scikit-learn's estimators build it.

use super::binary_tree::query::{
    self, Haversine, LInf, Lp, NodeBounds, Norm, SquaredL2, WeightedLp, L1,
};
use super::binary_tree::radius::{self, Node, Radii, RadiusBounds};
use super::binary_tree::{self, NodeInit, TreeView};
use super::{KNeighbors, RadiusNeighbors};
use crate::alloc;
use crate::metric::Metric;
use crate::{KernelError, StopCheck};

/// A built tree over `n` samples of `d` features.
pub struct BallTree {
    /// The samples in tree order, each leaf feature by feature
    /// ([`binary_tree::leaf_columns`]): the tree's only copy of them.
    pub data: Vec<f64>,
    /// Sample indices, each node's samples contiguous.
    pub idx: Vec<u32>,
    /// `(idx_start, idx_end, is_leaf)` per node, flattened.
    pub nodes: Vec<i64>,
    /// `[n_nodes, d]`: each node's centroid (scikit-learn's `node_bounds[0]`).
    pub centroids: Vec<f64>,
    /// Each node's radius.
    pub radii: Vec<f64>,
}

/// A tree's parts borrowed for queries, checked against each other.
pub struct BallTreeView<'a> {
    tree: TreeView<'a>,
    centroids: &'a [f64],
    radii: &'a [f64],
}

impl<'a> std::ops::Deref for BallTreeView<'a> {
    type Target = TreeView<'a>;
    fn deref(&self) -> &TreeView<'a> {
        &self.tree
    }
}

impl<'a> BallTreeView<'a> {
    /// Checks the parts of a tree built by [`build`]: its samples in leaf columns, indices,
    /// nodes (flattened), centroids and radii.
    pub fn new(
        data: &'a [f64],
        d: usize,
        idx: &'a [u32],
        nodes: &'a [i64],
        centroids: &'a [f64],
        radii: &'a [f64],
    ) -> Result<Self, KernelError> {
        let tree = TreeView::new(data, d, idx, nodes, "ball tree")?;
        if centroids.len() != tree.n_nodes() * d || radii.len() != tree.n_nodes() {
            return Err(KernelError::Shape(
                "ball tree: centroids or radii do not match the nodes".into(),
            ));
        }
        Ok(Self {
            tree,
            centroids,
            radii,
        })
    }

    #[inline(always)]
    fn centroid(&self, d: usize, i: usize) -> &[f64] {
        &self.centroids[i * d..(i + 1) * d]
    }
}

/// The metrics the ball tree computes, with scikit-learn's errors for the others.
fn check_metric(metric: &Metric, d: usize) -> Result<(), KernelError> {
    match metric {
        Metric::Euclidean | Metric::Manhattan | Metric::Chebyshev | Metric::Haversine => {}
        Metric::Minkowski { p, .. } if *p >= 1.0 => {}
        _ => {
            return Err(KernelError::InvalidArgument(
                "the ball tree supports euclidean, manhattan, chebyshev, minkowski (p >= 1) \
                 and haversine metrics"
                    .into(),
            ))
        }
    }
    metric.check_features(d)
}

/// Each node's centroid and radius, written as the build reaches the node.
struct Balls<'m> {
    centroids: *mut f64,
    radii: *mut f64,
    count: usize,
    d: usize,
    metric: &'m Metric,
}

// SAFETY: each node is initialised once, by one thread (`NodeInit`), through `init` alone.
unsafe impl Sync for Balls<'_> {}

impl NodeInit for Balls<'_> {
    /// scikit-learn's ball `init_node` (unweighted).
    fn init<'r, I: Iterator<Item = &'r [f64]> + Clone>(&self, i: usize, rows: I) {
        let d = self.d;
        assert!(i < self.count, "node {i} of {}", self.count);
        // SAFETY: node `i`'s centroid and radius are written here only, once.
        let (centroid, radius) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.centroids.add(i * d), d),
                &mut *self.radii.add(i),
            )
        };
        centroid.fill(0.0);
        let mut n_points = 0usize;
        for row in rows.clone() {
            for (c, &x) in centroid.iter_mut().zip(row) {
                *c += x;
            }
            n_points += 1;
        }
        for c in centroid.iter_mut() {
            *c /= n_points as f64;
        }
        let mut largest = 0.0f64;
        for row in rows {
            largest = largest.max(self.metric.rdist(centroid, row));
        }
        *radius = self.metric.rdist_to_dist(largest);
    }
}

/// Builds scikit-learn's `BallTree(data, leaf_size, metric)` over the row-major `(n, d)`
/// float64 `data`.
pub fn build(
    data: &[f64],
    n: usize,
    d: usize,
    leaf_size: usize,
    metric: &Metric,
    stop: StopCheck,
) -> Result<BallTree, KernelError> {
    let nodes = binary_tree::check_build(data, n, d, leaf_size, "ball tree")?;
    check_metric(metric, d)?;
    let count = nodes.len();
    let mut centroids = alloc::filled(&[count, d], 0.0f64)?;
    let mut radii = alloc::filled(&[count], 0.0f64)?;
    let balls = Balls {
        centroids: centroids.as_mut_ptr(),
        radii: radii.as_mut_ptr(),
        count,
        d,
        metric,
    };
    let (columns, idx) = binary_tree::partition(data, d, &nodes, &balls, stop)?;
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(BallTree {
        data: columns,
        idx,
        nodes: nodes.concat(),
        centroids,
        radii,
    })
}

impl<N: Norm> NodeBounds<N> for BallTreeView<'_> {
    /// scikit-learn's ball `min_rdist`: `dist_to_rdist(max(0, dist(pt, centroid) - radius))`.
    #[inline(always)]
    fn min_rdist(&self, norm: N, d: usize, i: usize, pt: &[f64]) -> f64 {
        let centroid = self.centroid(d, i);
        let dist = norm.to_dist(norm.rdist(&pt[..d], |f| centroid[f]));
        norm.to_rdist(0.0f64.max(dist - self.radii[i]))
    }
}

/// The tree's balls against a radius.
struct BallRadius<'t, 'a> {
    tree: &'t BallTreeView<'a>,
}

impl RadiusBounds for BallRadius<'_, '_> {
    fn tree(&self) -> &TreeView<'_> {
        self.tree
    }

    /// scikit-learn's ball `min_max_dist` against `r`.
    #[inline]
    fn classify<N: Norm>(&self, norm: N, i: usize, pt: &[f64], r: f64) -> Node {
        let d = self.tree.d;
        let centroid = self.tree.centroid(d, i);
        let dist = norm.to_dist(norm.rdist(&pt[..d], |f| centroid[f]));
        let rad = self.tree.radii[i];
        if 0.0f64.max(dist - rad) > r {
            Node::Outside
        } else if dist + rad <= r {
            Node::Inside
        } else {
            Node::Straddles
        }
    }
}

/// scikit-learn's `BallTree.query(queries, k)` (depth-first, sorted): the `k`
/// (`1 <= k <= n`) nearest samples of each row of the `(n_queries, d)` row-major `queries`;
/// distances left reduced when `reduced`.
pub fn kneighbors(
    tree: &BallTreeView<'_>,
    queries: &[f64],
    metric: &Metric,
    k: usize,
    reduced: bool,
    stop: StopCheck,
) -> Result<KNeighbors, KernelError> {
    check_metric(metric, tree.d)?;
    let view = &tree.tree;
    match metric {
        Metric::Euclidean => {
            query::kneighbors(view, tree, SquaredL2, queries, metric, k, reduced, stop)
        }
        Metric::Manhattan => query::kneighbors(view, tree, L1, queries, metric, k, reduced, stop),
        Metric::Chebyshev => query::kneighbors(view, tree, LInf, queries, metric, k, reduced, stop),
        Metric::Haversine => {
            query::kneighbors(view, tree, Haversine, queries, metric, k, reduced, stop)
        }
        Metric::Minkowski { p, w: Some(w) } => {
            let norm = WeightedLp { p: *p, w };
            query::kneighbors(view, tree, norm, queries, metric, k, reduced, stop)
        }
        Metric::Minkowski { p, w: None } => {
            query::kneighbors(view, tree, Lp(*p), queries, metric, k, reduced, stop)
        }
        _ => Err(KernelError::InvalidArgument(
            "not a ball-tree metric".into(),
        )),
    }
}

/// scikit-learn's `BallTree.query_radius(queries, r, return_distance, sort_results)`; see
/// [`radius::radius_neighbors`].
#[allow(clippy::too_many_arguments)]
pub fn radius_neighbors(
    tree: &BallTreeView<'_>,
    queries: &[f64],
    metric: &Metric,
    radii: Radii<'_>,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<RadiusNeighbors, KernelError> {
    check_metric(metric, tree.d)?;
    let bounds = BallRadius { tree };
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
    use super::*;
    use crate::neighbors::kd_tree;
    use crate::neighbors::test_data::grid_data;

    fn never() -> bool {
        false
    }

    fn metrics(d: usize) -> Vec<Metric> {
        let mut m = vec![
            Metric::Euclidean,
            Metric::Manhattan,
            Metric::Chebyshev,
            Metric::minkowski(3.0, None).unwrap(),
            Metric::minkowski(1.5, Some((0..d).map(|j| 0.5 + j as f64).collect())).unwrap(),
        ];
        if d == 2 {
            m.push(Metric::Haversine);
        }
        m
    }

    #[test]
    fn balls_hold_their_samples() {
        for d in [2, 3, 7] {
            let n = 500;
            let data = grid_data(n, d, 1);
            for metric in metrics(d) {
                let t = build(&data, n, d, 7, &metric, &never).unwrap();
                for (i, node) in t.nodes.chunks(3).enumerate() {
                    let c = &t.centroids[i * d..(i + 1) * d];
                    for r in node[0] as usize..node[1] as usize {
                        let row = &data[t.idx[r] as usize * d..][..d];
                        assert!(metric.dist(c, row) <= t.radii[i]);
                    }
                }
            }
        }
    }

    #[test]
    fn finds_the_brute_force_neighbours() {
        for d in [2, 3, 11] {
            let (n, k) = (600usize, 5usize);
            let data = grid_data(n, d, 3);
            let queries = grid_data(40, d, 4);
            for metric in metrics(d) {
                for leaf_size in [1, 7, 40] {
                    let t = build(&data, n, d, leaf_size, &metric, &never).unwrap();
                    let view =
                        BallTreeView::new(&t.data, d, &t.idx, &t.nodes, &t.centroids, &t.radii)
                            .unwrap();
                    let got = kneighbors(&view, &queries, &metric, k, false, &never).unwrap();
                    for (row, q) in queries.chunks(d).enumerate() {
                        let mut all: Vec<f64> =
                            data.chunks(d).map(|x| metric.rdist(q, x)).collect();
                        all.sort_by(f64::total_cmp);
                        let want: Vec<f64> =
                            all[..k].iter().map(|&r| metric.rdist_to_dist(r)).collect();
                        assert_eq!(&got.distances[row * k..(row + 1) * k], &want[..]);
                    }
                }
            }
        }
    }

    #[test]
    fn one_radius_per_query_is_each_query_searched_alone() {
        let (n, d) = (500usize, 3usize);
        let data = grid_data(n, d, 5);
        let queries = grid_data(30, d, 6);
        let radii: Vec<f64> = (0..30).map(|q| 0.05 * q as f64).collect();
        let m = Metric::Euclidean;
        let t = build(&data, n, d, 6, &m, &never).unwrap();
        let ball = BallTreeView::new(&t.data, d, &t.idx, &t.nodes, &t.centroids, &t.radii).unwrap();
        let k = kd_tree::build(&data, n, d, 6, &never).unwrap();
        let kd = kd_tree::KdTreeView::new(&k.data, d, &k.idx, &k.nodes, &k.bounds).unwrap();
        let all_ball = radius_neighbors(
            &ball,
            &queries,
            &m,
            Radii::Each(&radii),
            true,
            false,
            true,
            &never,
        )
        .unwrap();
        let all_kd = kd_tree::radius::radius_neighbors(
            &kd,
            &queries,
            &m,
            Radii::Each(&radii),
            true,
            false,
            true,
            &never,
        )
        .unwrap();
        for (q, pt) in queries.chunks(d).enumerate() {
            let one = Radii::One(radii[q]);
            let ball_one = radius_neighbors(&ball, pt, &m, one, true, false, true, &never).unwrap();
            let kd_one =
                kd_tree::radius::radius_neighbors(&kd, pt, &m, one, true, false, true, &never)
                    .unwrap();
            for (all, alone) in [(&all_ball, &ball_one), (&all_kd, &kd_one)] {
                let (a, b) = (all.offsets[q] as usize, all.offsets[q + 1] as usize);
                assert_eq!(&all.indices[a..b], &alone.indices[..]);
                assert_eq!(&all.distances[a..b], &alone.distances[..]);
            }
        }
        let short = Radii::Each(&radii[..29]);
        assert!(radius_neighbors(&ball, &queries, &m, short, true, false, true, &never).is_err());
    }

    #[test]
    fn other_metrics_are_refused() {
        let data = grid_data(10, 3, 1);
        assert!(build(&data, 10, 3, 2, &Metric::Cosine, &never).is_err());
        assert!(build(&data, 10, 3, 2, &Metric::Haversine, &never).is_err());
    }
}
