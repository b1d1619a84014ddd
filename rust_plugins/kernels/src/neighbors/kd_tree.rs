//! scikit-learn's k-d tree (`KDTree`, `_binary_tree.pxi.tp` and `_kd_tree.pyx.tp`): the same
//! build and the same depth-first `query`, so that it finds the same neighbours, in the same
//! order where distances tie, with distances computed pair by pair as scikit-learn's tree
//! computes them.
//!
//! - Build: `2^levels - 1` nodes in an implicit binary heap layout; node `i` holds the samples
//!   `idx[start..end]`, split at `(end - start) / 2` on the dimension of largest spread by
//!   libstdc++'s `nth_element` ordered by (value, index). Node ranges depend only on `n`, so
//!   subtrees are built in parallel and any thread count gives the same tree.
//! - Query: one query at a time, nearest child first (ties to the left), a node skipped when
//!   its minimum reduced distance exceeds the heap's largest; scikit-learn's heap and sort.
//!   Queries are independent, searched in parallel blocks.
//!
//! - Radius queries: [`radius`], scikit-learn's `query_radius`.
//!
//! Float64 only: scikit-learn's estimators build a float64 tree for float32 data too.

pub mod radius;

use super::heap::{heap_push, simultaneous_sort};
use super::nth_element::nth_element;
use super::{KNeighbors, QUERY_BLOCK};
use crate::alloc;
use crate::metric::Metric;
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// Nodes holding more samples than this are split in parallel with their sibling.
const PARALLEL_NODE: usize = 1 << 14;

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
    data: &'a [f64],
    d: usize,
    idx: &'a [i64],
    nodes: Vec<[i64; 3]>,
    bounds: &'a [f64],
}

/// Node triples `(idx_start, idx_end, is_leaf)` from their flat form.
fn triples(flat: &[i64]) -> Vec<[i64; 3]> {
    flat.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

/// scikit-learn's node count: `2^levels - 1` with
/// `levels = floor(log2(max(1, (n - 1) / leaf_size))) + 1`.
pub fn n_nodes(n: usize, leaf_size: usize) -> usize {
    let ratio = (n.saturating_sub(1) as f64 / leaf_size as f64).max(1.0);
    let levels = ratio.log2() as u32 + 1;
    (1usize << levels) - 1
}

/// `(start, end, is_leaf)` of every node: fixed by `n` and the node count alone.
fn node_ranges(n: usize, count: usize) -> Vec<[i64; 3]> {
    let mut nodes = vec![[0i64; 3]; count];
    nodes[0] = [0, n as i64, 0];
    for i in 0..count {
        let [start, end, _] = nodes[i];
        let leaf = 2 * i + 1 >= count || end - start < 2;
        nodes[i][2] = leaf as i64;
        if !leaf {
            let mid = start + (end - start) / 2;
            nodes[2 * i + 1] = [start, mid, 0];
            nodes[2 * i + 2] = [mid, end, 0];
        }
    }
    nodes
}

/// Builds scikit-learn's tree over the row-major `(n, d)` float64 `data`.
pub fn build(
    data: &[f64],
    n: usize,
    d: usize,
    leaf_size: usize,
    stop: StopCheck,
) -> Result<KdTree, KernelError> {
    if n == 0 || d == 0 || data.len() != n * d {
        return Err(KernelError::Shape(format!(
            "data of length {} is not ({n}, {d}) with n, d > 0",
            data.len()
        )));
    }
    if leaf_size == 0 {
        return Err(KernelError::InvalidArgument(
            "leaf_size must be positive".into(),
        ));
    }
    if n > u32::MAX as usize {
        return Err(KernelError::InvalidArgument(format!(
            "a k-d tree holds at most {} samples, got {n}",
            u32::MAX
        )));
    }
    let count = n_nodes(n, leaf_size);
    let nodes = node_ranges(n, count);
    let (rows, idx) = match d {
        1 => partition_carried::<1>(data, &nodes, stop)?,
        2 => partition_carried::<2>(data, &nodes, stop)?,
        3 => partition_carried::<3>(data, &nodes, stop)?,
        4 => partition_carried::<4>(data, &nodes, stop)?,
        _ => partition_keyed(data, d, &nodes, stop)?,
    };
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
                node_bounds(&rows[start as usize * d..end as usize * d], d, lo, hi)
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

/// scikit-learn's order for a node's partition: (value on the split feature, sample index).
#[inline(always)]
fn before(value_a: f64, index_a: u32, value_b: f64, index_b: u32) -> bool {
    if value_a == value_b {
        index_a < index_b
    } else {
        value_a < value_b
    }
}

/// A sample carried through the partitions with its row (small `D`): each partition moves
/// rows and indices together, with no rows to gather after it.
#[derive(Clone, Copy)]
struct Carried<const D: usize> {
    row: [f64; D],
    index: u32,
}

/// The rows in tree order and their sample indices, every node partitioned as scikit-learn
/// partitions it, for `D` features.
fn partition_carried<const D: usize>(
    data: &[f64],
    nodes: &[[i64; 3]],
    stop: StopCheck,
) -> Result<(Vec<f64>, Vec<i64>), KernelError> {
    let n = data.len() / D;
    let mut entries: Vec<Carried<D>> = Vec::new();
    entries
        .try_reserve_exact(n)
        .map_err(|_| alloc::out_of_memory::<f64>(&[n, D + 1]))?;
    entries.extend(data.chunks_exact(D).enumerate().map(|(i, row)| Carried {
        row: row.try_into().unwrap(),
        index: i as u32,
    }));
    split_carried(nodes, 0, &mut entries, stop);
    let mut rows = alloc::with_capacity::<f64>(&[n, D])?;
    rows.extend(entries.iter().flat_map(|e| e.row));
    let mut idx = alloc::with_capacity::<i64>(&[n])?;
    idx.extend(entries.iter().map(|e| e.index as i64));
    Ok((rows, idx))
}

/// Partitions node `i`'s `entries`, then its children's.
fn split_carried<const D: usize>(
    nodes: &[[i64; 3]],
    i: usize,
    entries: &mut [Carried<D>],
    stop: StopCheck,
) {
    if nodes[i][2] != 0 || stop() {
        return;
    }
    let (mut lo, mut hi) = ([f64::INFINITY; D], [f64::NEG_INFINITY; D]);
    for e in entries.iter() {
        for j in 0..D {
            lo[j] = lo[j].min(e.row[j]);
            hi[j] = hi[j].max(e.row[j]);
        }
    }
    let dim = widest(&lo, &hi);
    let mid = entries.len() / 2;
    nth_element(entries, mid, &|a: &Carried<D>, b: &Carried<D>| {
        before(a.row[dim], a.index, b.row[dim], b.index)
    });
    let (left, right) = entries.split_at_mut(mid);
    let (l, r) = (2 * i + 1, 2 * i + 2);
    if left.len() + right.len() > PARALLEL_NODE {
        rayon::join(
            || split_carried(nodes, l, left, stop),
            || split_carried(nodes, r, right, stop),
        );
    } else {
        split_carried(nodes, l, left, stop);
        split_carried(nodes, r, right, stop);
    }
}

/// The rows in tree order and their sample indices for any `d`: each partition runs on
/// (value, index, position) keys, and the rows then follow their indices.
fn partition_keyed(
    data: &[f64],
    d: usize,
    nodes: &[[i64; 3]],
    stop: StopCheck,
) -> Result<(Vec<f64>, Vec<i64>), KernelError> {
    let n = data.len() / d;
    let mut idx = alloc::filled(&[n], 0i64)?;
    idx.iter_mut().enumerate().for_each(|(i, v)| *v = i as i64);
    let mut rows = alloc::copied(data, &[n, d])?;
    // Scratch for every node's partition, split between the children as the rows are.
    let mut keys: Vec<SplitKey> = Vec::new();
    keys.try_reserve_exact(n)
        .map_err(|_| alloc::out_of_memory::<f64>(&[n, 2]))?;
    keys.resize(n, (0.0, 0, 0));
    let mut old = alloc::filled(&[n, d], 0.0f64)?;
    split(d, nodes, 0, &mut idx, &mut rows, &mut keys, &mut old, stop)?;
    Ok((rows, idx))
}

/// Minima and maxima of each feature over `rows` (scikit-learn's `init_node`).
fn node_bounds(rows: &[f64], d: usize, lo: &mut [f64], hi: &mut [f64]) {
    lo.fill(f64::INFINITY);
    hi.fill(f64::NEG_INFINITY);
    for row in rows.chunks_exact(d) {
        for j in 0..d {
            lo[j] = lo[j].min(row[j]);
            hi[j] = hi[j].max(row[j]);
        }
    }
}

/// A sample's entry in a node's partition: (value on the split feature, sample index,
/// position in the node).
type SplitKey = (f64, u32, u32);

/// Partitions node `i`'s samples `idx` and their `rows` (and recursively its children's),
/// with `keys` and `old` as scratch of the node's size.
/// scikit-learn partitions the indices alone with `nth_element` ordered by (value, index);
/// running it on (value, index, position) entries makes the same comparisons, so the same
/// moves, and the rows then follow their indices.
#[allow(clippy::too_many_arguments)]
fn split(
    d: usize,
    nodes: &[[i64; 3]],
    i: usize,
    idx: &mut [i64],
    rows: &mut [f64],
    keys: &mut [SplitKey],
    old: &mut [f64],
    stop: StopCheck,
) -> Result<(), KernelError> {
    if nodes[i][2] != 0 || stop() {
        return Ok(());
    }
    let dim = split_dim(rows, d);
    let mid = idx.len() / 2;
    for (at, (key, &j)) in keys.iter_mut().zip(idx.iter()).enumerate() {
        *key = (rows[at * d + dim], j as u32, at as u32);
    }
    nth_element(keys, mid, &|a: &SplitKey, b: &SplitKey| {
        before(a.0, a.1, b.0, b.1)
    });
    old.copy_from_slice(rows);
    for (to, &(_, j, from)) in keys.iter().enumerate() {
        idx[to] = j as i64;
        let (to, from) = (to * d, from as usize * d);
        rows[to..to + d].copy_from_slice(&old[from..from + d]);
    }
    let (left, right) = idx.split_at_mut(mid);
    let (left_rows, right_rows) = rows.split_at_mut(mid * d);
    let (left_keys, right_keys) = keys.split_at_mut(mid);
    let (left_old, right_old) = old.split_at_mut(mid * d);
    let (l, r) = (2 * i + 1, 2 * i + 2);
    if left.len() + right.len() > PARALLEL_NODE {
        let (a, b) = rayon::join(
            || split(d, nodes, l, left, left_rows, left_keys, left_old, stop),
            || split(d, nodes, r, right, right_rows, right_keys, right_old, stop),
        );
        a.and(b)
    } else {
        split(d, nodes, l, left, left_rows, left_keys, left_old, stop)?;
        split(d, nodes, r, right, right_rows, right_keys, right_old, stop)
    }
}

/// scikit-learn's `find_node_split_dim`: the first feature of largest spread.
fn split_dim(rows: &[f64], d: usize) -> usize {
    let mut lo = vec![f64::INFINITY; d];
    let mut hi = vec![f64::NEG_INFINITY; d];
    node_bounds(rows, d, &mut lo, &mut hi);
    widest(&lo, &hi)
}

/// The first feature of largest spread `hi - lo`.
fn widest(lo: &[f64], hi: &[f64]) -> usize {
    let (mut best, mut best_spread) = (0, 0.0);
    for (j, (&lo, &hi)) in lo.iter().zip(hi).enumerate() {
        let spread = hi - lo;
        if spread > best_spread {
            best_spread = spread;
            best = j;
        }
    }
    best
}

impl<'a> KdTreeView<'a> {
    /// Checks the parts of a tree built by [`build`]: its rows in tree order (`(n, d)`
    /// row-major), indices and nodes (flattened).
    pub fn new(
        data: &'a [f64],
        d: usize,
        idx: &'a [i64],
        nodes: &[i64],
        bounds: &'a [f64],
    ) -> Result<Self, KernelError> {
        let n = idx.len();
        let bad = |what: &str| Err(KernelError::Shape(format!("k-d tree: {what}")));
        if d == 0 || data.len() != n * d {
            return bad("data does not match the indices");
        }
        if !nodes.len().is_multiple_of(3) {
            return bad("nodes are not (start, end, is_leaf) triples");
        }
        let nodes = triples(nodes);
        if nodes.is_empty() || bounds.len() != 2 * nodes.len() * d {
            return bad("bounds do not match the nodes");
        }
        // Sample indices are only reported, never used to reach memory: they are not scanned
        // here, which would cost every call O(n) (a one-query call a thousand times over).
        let count = nodes.len() as i64;
        for (i, &[start, end, leaf]) in nodes.iter().enumerate() {
            if start < 0
                || start > end
                || end > n as i64
                || (leaf == 0 && 2 * i as i64 + 2 >= count)
            {
                return bad("node out of range");
            }
        }
        Ok(Self {
            data,
            d,
            idx,
            nodes,
            bounds,
        })
    }

    pub fn n_samples(&self) -> usize {
        self.idx.len()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
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

/// One metric's reduced distance, accumulated coordinate by coordinate in scikit-learn's
/// order; each metric is its own type so that its loops are compiled on their own.
trait Norm: Copy + Sync {
    /// `acc` grown by the difference `diff` of one coordinate.
    fn add(self, acc: f64, diff: f64) -> f64;
    /// `acc` grown by one coordinate's gap (>= 0) to a node's box (scikit-learn's `min_rdist`).
    #[inline(always)]
    fn add_gap(self, acc: f64, gap: f64) -> f64 {
        self.add(acc, gap)
    }
}

#[derive(Clone, Copy)]
struct SquaredL2;
impl Norm for SquaredL2 {
    #[inline(always)]
    fn add(self, acc: f64, diff: f64) -> f64 {
        acc + diff * diff
    }
}

#[derive(Clone, Copy)]
struct L1;
impl Norm for L1 {
    #[inline(always)]
    fn add(self, acc: f64, diff: f64) -> f64 {
        acc + diff.abs()
    }
}

#[derive(Clone, Copy)]
struct LInf;
impl Norm for LInf {
    #[inline(always)]
    fn add(self, acc: f64, diff: f64) -> f64 {
        acc.max(diff.abs())
    }
}

/// Minkowski's `p`-th powers (unweighted).
#[derive(Clone, Copy)]
struct Lp(f64);
impl Norm for Lp {
    #[inline(always)]
    fn add(self, acc: f64, diff: f64) -> f64 {
        acc + diff.abs().powf(self.0)
    }
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

/// A query's walk over the tree, for one metric `N` and `D` features (`D = 0`: the tree's
/// `d`, read at run time; small `D` are compiled with their loops unrolled).
struct Search<'t, 'a, N, const D: usize> {
    tree: &'t KdTreeView<'a>,
    /// Node `i`'s minima then maxima at `[2 d i, 2 d (i + 1))`: one node's box in one place.
    /// Made for calls with enough queries to repay it ([`COPY_QUERIES`]); the tree's own
    /// bounds are read otherwise.
    boxes: Option<Vec<f64>>,
    /// The rows of each leaf `[s, e)` feature by feature at `[s d, e d)`: feature `j` of its
    /// rows at `s d + j (e - s)`, so that a leaf is scanned [`LANES`] rows at a time. Made
    /// with `boxes`; leaves are scanned row by row from the tree's rows otherwise.
    columns: Option<Vec<f64>>,
    norm: N,
}

/// A call makes its own copies of the boxes and leaves (O(n d) work) when it has at least
/// one query per this many samples, enough for the faster scans to repay them; a call with
/// a few queries reads the tree as it is.
const COPY_QUERIES: usize = 32;

/// Rows a leaf scan computes side by side (one AVX-512 vector of float64).
const LANES: usize = 8;

/// Deepest node stack a search can need: one entry per level and one more.
const MAX_DEPTH: usize = 66;

impl<'t, 'a, N: Norm, const D: usize> Search<'t, 'a, N, D> {
    fn new(tree: &'t KdTreeView<'a>, norm: N, n_queries: usize) -> Result<Self, KernelError> {
        if n_queries.saturating_mul(COPY_QUERIES) < tree.idx.len() {
            return Ok(Self {
                tree,
                boxes: None,
                columns: None,
                norm,
            });
        }
        let (d, count) = (tree.d, tree.nodes.len());
        let mut boxes = alloc::with_capacity::<f64>(&[count, 2, d])?;
        let (lower, upper) = tree.bounds.split_at(count * d);
        for (lo, hi) in lower.chunks_exact(d).zip(upper.chunks_exact(d)) {
            boxes.extend_from_slice(lo);
            boxes.extend_from_slice(hi);
        }
        let mut columns = alloc::filled(&[tree.idx.len(), d], 0.0f64)?;
        for &[start, end, leaf] in &tree.nodes {
            let (start, end) = (start as usize, end as usize);
            if leaf == 0 || start == end {
                continue;
            }
            let m = end - start;
            let cols = &mut columns[start * d..end * d];
            for (r, row) in tree.data[start * d..end * d].chunks_exact(d).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    cols[j * m + r] = v;
                }
            }
        }
        Ok(Self {
            tree,
            boxes: Some(boxes),
            columns: Some(columns),
            norm,
        })
    }

    #[inline(always)]
    fn d(&self) -> usize {
        if D == 0 {
            self.tree.d
        } else {
            D
        }
    }

    /// The reduced distance from `pt` to the sample whose feature `f` is `x(f)`, summed
    /// feature by feature as scikit-learn's `rdist` sums it (and as each leaf-scan lane does).
    #[inline(always)]
    fn rdist(&self, pt: &[f64], x: impl Fn(usize) -> f64) -> f64 {
        let mut acc = 0.0f64;
        for (f, &q) in pt.iter().enumerate() {
            acc = self.norm.add(acc, q - x(f));
        }
        acc
    }

    /// scikit-learn's `min_rdist`: reduced distance from `pt` to node `i`'s box.
    #[inline(always)]
    fn min_rdist(&self, i: usize, pt: &[f64]) -> f64 {
        let d = self.d();
        let (lo, hi) = match &self.boxes {
            Some(boxes) => boxes[2 * d * i..2 * d * (i + 1)].split_at(d),
            None => {
                let upper = self.tree.nodes.len() * d;
                let bounds = self.tree.bounds;
                (
                    &bounds[i * d..(i + 1) * d],
                    &bounds[upper + i * d..upper + (i + 1) * d],
                )
            }
        };
        let pt = &pt[..d];
        let mut acc = 0.0f64;
        for j in 0..d {
            let d_lo = lo[j] - pt[j];
            let d_hi = pt[j] - hi[j];
            let gap = 0.5 * ((d_lo + d_lo.abs()) + (d_hi + d_hi.abs()));
            acc = self.norm.add_gap(acc, gap);
        }
        acc
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
    /// distances computed at a time (each summed feature by feature, as one at a time).
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
        let offer = |values: &mut [f64], indices: &mut [i64], rdist: f64, j: i64| {
            // heap_push's own first test, kept here so that rejected rows cost no call.
            if heap_takes(rdist, values[0]) {
                heap_push(values, indices, rdist, j);
            }
        };
        let Some(columns) = &self.columns else {
            for (row, &j) in self.tree.data[start * d..end * d].chunks_exact(d).zip(idx) {
                offer(values, indices, self.rdist(pt, |f| row[f]), j);
            }
            return;
        };
        let cols = &columns[start * d..end * d];
        let mut r = 0;
        while r + LANES <= m {
            let mut acc = [0.0f64; LANES];
            for (j, &q) in pt.iter().enumerate() {
                let col: &[f64; LANES] = cols[j * m + r..][..LANES].try_into().unwrap();
                for l in 0..LANES {
                    acc[l] = self.norm.add(acc[l], q - col[l]);
                }
            }
            // The heap's largest only shrinks: rows none of which beats it now are all rejected.
            let largest = values[0];
            if acc.iter().any(|&rdist| heap_takes(rdist, largest)) {
                for (l, &rdist) in acc.iter().enumerate() {
                    offer(values, indices, rdist, idx[r + l]);
                }
            }
            r += LANES;
        }
        for r in r..m {
            offer(values, indices, self.rdist(pt, |f| cols[f * m + r]), idx[r]);
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

/// A [`Search`] of any metric and feature count, for [`search_block`].
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

impl<N: Norm, const D: usize> KnnSearch for Search<'_, '_, N, D> {
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

/// Runs `$body` with `$search` a [`Search`] for `$norm` and `$n_queries` queries, its
/// feature count compiled in for `d <= 8`.
macro_rules! with_search {
    ($tree:expr, $norm:expr, $n_queries:expr, |$search:ident| $body:expr) => {
        with_search!(@dims $tree, $norm, $n_queries, $search, $body, 1 2 3 4 5 6 7 8)
    };
    (@dims $tree:expr, $norm:expr, $n_queries:expr, $search:ident, $body:expr, $($d:literal)*) => {
        match $tree.d {
            $($d => {
                let $search = Search::<_, $d>::new($tree, $norm, $n_queries)?;
                $body
            })*
            _ => {
                let $search = Search::<_, 0>::new($tree, $norm, $n_queries)?;
                $body
            }
        }
    };
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
    let p = metric_p(metric)?;
    let n_q = queries.len() / d;
    let mut indices = alloc::filled(&[n_q, k], 0i64)?;
    let mut distances = alloc::filled(&[n_q, k], f64::INFINITY)?;
    let out = DisjointRows::new(&mut distances, &mut indices, k);
    match metric {
        Metric::Euclidean => with_search!(tree, SquaredL2, n_q, |s| s
            .query_all(queries, metric, reduced, &out, stop)?),
        Metric::Manhattan => with_search!(tree, L1, n_q, |s| s
            .query_all(queries, metric, reduced, &out, stop)?),
        Metric::Chebyshev => with_search!(tree, LInf, n_q, |s| s
            .query_all(queries, metric, reduced, &out, stop)?),
        _ => with_search!(tree, Lp(p), n_q, |s| s
            .query_all(queries, metric, reduced, &out, stop)?),
    }
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(KNeighbors { distances, indices })
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
        let mut seed = 7u64;
        let data: Vec<f64> = (0..n * d)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 11) as f64 / (1u64 << 53) as f64 * 10.0).round() / 10.0
            })
            .collect();
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
            let mut seed = 11u64;
            let data: Vec<f64> = (0..n * d)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 11) % 5) as f64
                })
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

    #[test]
    fn node_count_follows_sklearn() {
        assert_eq!(n_nodes(1, 30), 1);
        assert_eq!(n_nodes(31, 30), 1);
        assert_eq!(n_nodes(61, 30), 3);
        assert_eq!(n_nodes(1_000_000, 30), (1 << 16) - 1);
    }
}
