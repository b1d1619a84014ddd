//! What scikit-learn's `KDTree` and `BallTree` share (`_binary_tree.pxi.tp`): the node layout,
//! the partition of every node, the depth-first `query` and `query_radius` walks. Each tree
//! brings its node bounds (a box, a ball) to the walks through [`query::NodeBounds`] and
//! [`radius::RadiusBounds`].
//!
//! - Build: `2^levels - 1` nodes in an implicit binary heap layout; node `i` holds the samples
//!   `idx[start..end]`, split at `(end - start) / 2` on the dimension of largest spread by
//!   libstdc++'s `nth_element` ordered by (value, index). Node ranges depend only on `n`, so
//!   subtrees are built in parallel and any thread count gives the same tree. A tree that
//!   computes its bounds from a node's samples in their order before the node's own split
//!   (the ball tree's centroids) does so through [`NodeInit`].

pub mod query;
pub mod radius;

use super::nth_element::nth_element;
use crate::alloc;
use crate::{KernelError, StopCheck};

/// Nodes holding more samples than this are split in parallel with their sibling.
const PARALLEL_NODE: usize = 1 << 14;

/// A tree's rows, indices and nodes borrowed for queries, checked against each other.
pub struct TreeView<'a> {
    /// The samples' rows in tree order (row `i` is sample `idx[i]`).
    pub(crate) data: &'a [f64],
    pub(crate) d: usize,
    pub(crate) idx: &'a [i64],
    /// `(idx_start, idx_end, is_leaf)` per node.
    pub(crate) nodes: Vec<[i64; 3]>,
}

impl<'a> TreeView<'a> {
    /// Checks the parts of a built tree: its rows in tree order (`(n, d)` row-major), indices
    /// and nodes (flattened triples); `what` names the tree in errors.
    pub fn new(
        data: &'a [f64],
        d: usize,
        idx: &'a [i64],
        nodes: &[i64],
        what: &str,
    ) -> Result<Self, KernelError> {
        let n = idx.len();
        let bad = |why: &str| Err(KernelError::Shape(format!("{what}: {why}")));
        if d == 0 || data.len() != n * d {
            return bad("data does not match the indices");
        }
        if !nodes.len().is_multiple_of(3) {
            return bad("nodes are not (start, end, is_leaf) triples");
        }
        let nodes: Vec<[i64; 3]> = nodes.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        if nodes.is_empty() {
            return bad("no nodes");
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
        })
    }

    pub fn n_samples(&self) -> usize {
        self.idx.len()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }
}

/// scikit-learn's node count: `2^levels - 1` with
/// `levels = floor(log2(max(1, (n - 1) / leaf_size))) + 1`.
pub fn n_nodes(n: usize, leaf_size: usize) -> usize {
    let ratio = (n.saturating_sub(1) as f64 / leaf_size as f64).max(1.0);
    let levels = ratio.log2() as u32 + 1;
    (1usize << levels) - 1
}

/// `(start, end, is_leaf)` of every node: fixed by `n` and the node count alone.
pub(crate) fn node_ranges(n: usize, count: usize) -> Vec<[i64; 3]> {
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

/// The checks scikit-learn's trees make of their data and `leaf_size`, and its nodes.
pub(crate) fn check_build(
    data: &[f64],
    n: usize,
    d: usize,
    leaf_size: usize,
    what: &str,
) -> Result<Vec<[i64; 3]>, KernelError> {
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
            "a {what} holds at most {} samples, got {n}",
            u32::MAX
        )));
    }
    Ok(node_ranges(n, n_nodes(n, leaf_size)))
}

/// Bounds computed from a node's samples when the node is reached by the build, in their
/// order at that point (before the node's own partition), as scikit-learn's `init_node` is
/// called. Each node is reached once, from one thread.
pub(crate) trait NodeInit: Sync {
    /// Node `i` holds `rows`, in their current order.
    fn init<'r, I: Iterator<Item = &'r [f64]> + Clone>(&self, i: usize, rows: I);
}

/// No bounds during the build (the k-d tree's boxes are found from the finished tree).
pub(crate) struct NoInit;

impl NodeInit for NoInit {
    #[inline(always)]
    fn init<'r, I: Iterator<Item = &'r [f64]> + Clone>(&self, _: usize, _: I) {}
}

/// The rows in tree order and their sample indices, every node partitioned as scikit-learn
/// partitions it, `init` shown each node's rows before its partition.
pub(crate) fn partition<B: NodeInit>(
    data: &[f64],
    d: usize,
    nodes: &[[i64; 3]],
    init: &B,
    stop: StopCheck,
) -> Result<(Vec<f64>, Vec<i64>), KernelError> {
    match d {
        1 => partition_carried::<1, B>(data, nodes, init, stop),
        2 => partition_carried::<2, B>(data, nodes, init, stop),
        3 => partition_carried::<3, B>(data, nodes, init, stop),
        4 => partition_carried::<4, B>(data, nodes, init, stop),
        _ => partition_keyed(data, d, nodes, init, stop),
    }
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

fn partition_carried<const D: usize, B: NodeInit>(
    data: &[f64],
    nodes: &[[i64; 3]],
    init: &B,
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
    split_carried(nodes, 0, &mut entries, init, stop);
    let mut rows = alloc::with_capacity::<f64>(&[n, D])?;
    rows.extend(entries.iter().flat_map(|e| e.row));
    let mut idx = alloc::with_capacity::<i64>(&[n])?;
    idx.extend(entries.iter().map(|e| e.index as i64));
    Ok((rows, idx))
}

/// Partitions node `i`'s `entries`, then its children's.
fn split_carried<const D: usize, B: NodeInit>(
    nodes: &[[i64; 3]],
    i: usize,
    entries: &mut [Carried<D>],
    init: &B,
    stop: StopCheck,
) {
    init.init(i, entries.iter().map(|e| &e.row[..]));
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
            || split_carried(nodes, l, left, init, stop),
            || split_carried(nodes, r, right, init, stop),
        );
    } else {
        split_carried(nodes, l, left, init, stop);
        split_carried(nodes, r, right, init, stop);
    }
}

/// The rows in tree order and their sample indices for any `d`: each partition runs on
/// (value, index, position) keys, and the rows then follow their indices.
fn partition_keyed<B: NodeInit>(
    data: &[f64],
    d: usize,
    nodes: &[[i64; 3]],
    init: &B,
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
    let mut parts = Parts {
        idx: &mut idx,
        rows: &mut rows,
        keys: &mut keys,
        old: &mut old,
    };
    split(d, nodes, 0, &mut parts, init, stop);
    Ok((rows, idx))
}

/// Minima and maxima of each feature over `rows` (scikit-learn's k-d `init_node`).
pub(crate) fn node_bounds(rows: &[f64], d: usize, lo: &mut [f64], hi: &mut [f64]) {
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

/// A node's samples, their rows, and scratch of the node's size.
struct Parts<'p> {
    idx: &'p mut [i64],
    rows: &'p mut [f64],
    keys: &'p mut [SplitKey],
    old: &'p mut [f64],
}

impl Parts<'_> {
    /// The first `mid` samples' parts and the others'.
    fn split_at(&mut self, mid: usize, d: usize) -> (Parts<'_>, Parts<'_>) {
        let (li, ri) = self.idx.split_at_mut(mid);
        let (lr, rr) = self.rows.split_at_mut(mid * d);
        let (lk, rk) = self.keys.split_at_mut(mid);
        let (lo, ro) = self.old.split_at_mut(mid * d);
        (
            Parts {
                idx: li,
                rows: lr,
                keys: lk,
                old: lo,
            },
            Parts {
                idx: ri,
                rows: rr,
                keys: rk,
                old: ro,
            },
        )
    }
}

/// Partitions node `i`'s samples and their rows (and recursively its children's).
/// scikit-learn partitions the indices alone with `nth_element` ordered by (value, index);
/// running it on (value, index, position) entries makes the same comparisons, so the same
/// moves, and the rows then follow their indices.
fn split<B: NodeInit>(
    d: usize,
    nodes: &[[i64; 3]],
    i: usize,
    parts: &mut Parts<'_>,
    init: &B,
    stop: StopCheck,
) {
    init.init(i, parts.rows.chunks_exact(d));
    if nodes[i][2] != 0 || stop() {
        return;
    }
    let Parts {
        idx,
        rows,
        keys,
        old,
    } = parts;
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
    let n_here = idx.len();
    let (mut left, mut right) = parts.split_at(mid, d);
    let (l, r) = (2 * i + 1, 2 * i + 2);
    if n_here > PARALLEL_NODE {
        rayon::join(
            || split(d, nodes, l, &mut left, init, stop),
            || split(d, nodes, r, &mut right, init, stop),
        );
    } else {
        split(d, nodes, l, &mut left, init, stop);
        split(d, nodes, r, &mut right, init, stop);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_count_follows_sklearn() {
        assert_eq!(n_nodes(1, 30), 1);
        assert_eq!(n_nodes(31, 30), 1);
        assert_eq!(n_nodes(61, 30), 3);
        assert_eq!(n_nodes(1_000_000, 30), (1 << 16) - 1);
    }
}
