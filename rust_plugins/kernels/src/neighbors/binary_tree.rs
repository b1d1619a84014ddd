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
//! - Storage: the samples in tree order, each leaf feature by feature ([`leaf_columns`]), the
//!   tree's one copy of them, read by every query as it is.

pub mod query;
pub mod radius;

use super::nth_element::nth_element;
use crate::alloc;
use crate::{KernelError, StopCheck};

/// Nodes holding more samples than this are split in parallel with their sibling.
const PARALLEL_NODE: usize = 1 << 14;

/// A tree's samples, indices and nodes borrowed for queries, checked against each other.
pub struct TreeView<'a> {
    /// The samples in tree order, laid out leaf by leaf ([`leaf_columns`]).
    pub(crate) data: &'a [f64],
    pub(crate) d: usize,
    /// Sample indices in tree order: position `i` holds sample `idx[i]`.
    pub(crate) idx: &'a [u32],
    /// `(idx_start, idx_end, is_leaf)` per node.
    pub(crate) nodes: &'a [[i64; 3]],
}

impl<'a> TreeView<'a> {
    /// Checks the parts of a built tree: its samples in leaf columns (`n d` values), indices
    /// and nodes (flattened triples); `what` names the tree in errors.
    pub fn new(
        data: &'a [f64],
        d: usize,
        idx: &'a [u32],
        nodes: &'a [i64],
        what: &str,
    ) -> Result<Self, KernelError> {
        let n = idx.len();
        let bad = |why: &str| Err(KernelError::Shape(format!("{what}: {why}")));
        if d == 0 || data.len() != n * d {
            return bad("data does not match the indices");
        }
        let (nodes, rest) = nodes.as_chunks::<3>();
        if !rest.is_empty() {
            return bad("nodes are not (start, end, is_leaf) triples");
        }
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

    pub fn n_features(&self) -> usize {
        self.d
    }

    /// Leaf `[start, end)`'s samples, feature by feature ([`leaf_columns`]).
    #[inline(always)]
    pub(crate) fn leaf(&self, start: usize, end: usize) -> &'a [f64] {
        &self.data[start * self.d..end * self.d]
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

/// The samples in tree order, as [`leaf_columns`] lays them out, and their indices: every
/// node partitioned as scikit-learn partitions it, `init` shown each node's rows before its
/// partition.
pub(crate) fn partition<B: NodeInit>(
    data: &[f64],
    d: usize,
    nodes: &[[i64; 3]],
    init: &B,
    stop: StopCheck,
) -> Result<(Vec<f64>, Vec<u32>), KernelError> {
    match d {
        1 => partition_carried::<1, B>(data, nodes, init, stop),
        2 => partition_carried::<2, B>(data, nodes, init, stop),
        3 => partition_carried::<3, B>(data, nodes, init, stop),
        4 => partition_carried::<4, B>(data, nodes, init, stop),
        _ => partition_keyed(data, d, nodes, init, stop),
    }
}

/// The non-empty leaves `(start, end)` in sample order (a leaf higher in the tree, left by a
/// node of fewer than two samples, comes between deeper ones).
fn leaves_in_order(nodes: &[[i64; 3]]) -> Vec<(usize, usize)> {
    let mut leaves: Vec<(usize, usize)> = nodes
        .iter()
        .filter(|&&[start, end, leaf]| leaf != 0 && start < end)
        .map(|&[start, end, _]| (start as usize, end as usize))
        .collect();
    leaves.sort_unstable();
    leaves
}

/// How a tree keeps its samples: in tree order, each leaf `[s, e)` feature by feature, so
/// that feature `j` of its `m = e - s` rows is at `[s d + j m, s d + (j + 1) m)`. A leaf is
/// then scanned several rows at a time, each feature's values read contiguously, and the tree
/// needs no other copy of its samples for any query.
///
/// Lays the row-major `rows` (in tree order) out so, in place: each leaf's rows and columns
/// occupy the same values.
pub(crate) fn leaf_columns(rows: &mut [f64], d: usize, nodes: &[[i64; 3]]) {
    let mut scratch = Vec::new();
    for (start, end) in leaves_in_order(nodes) {
        let m = end - start;
        let leaf = &mut rows[start * d..end * d];
        scratch.clear();
        scratch.extend_from_slice(leaf);
        for (r, row) in scratch.chunks_exact(d).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                leaf[j * m + r] = v;
            }
        }
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
) -> Result<(Vec<f64>, Vec<u32>), KernelError> {
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
    let mut idx = alloc::with_capacity::<u32>(&[n])?;
    idx.extend(entries.iter().map(|e| e.index));
    Ok((carried_to_leaf_columns(entries, nodes), idx))
}

/// The entries' rows as [`leaf_columns`], written over the entries' own memory, which is then
/// shrunk: the build never holds its samples twice.
fn carried_to_leaf_columns<const D: usize>(
    entries: Vec<Carried<D>>,
    nodes: &[[i64; 3]],
) -> Vec<f64> {
    const { assert!(std::mem::size_of::<Carried<D>>() >= 8 * D + 8) };
    const { assert!(std::mem::align_of::<Carried<D>>() == std::mem::align_of::<f64>()) };
    let n = entries.len();
    let mut entries = std::mem::ManuallyDrop::new(entries);
    let (base, capacity) = (entries.as_mut_ptr(), entries.capacity());
    let out = base.cast::<f64>();
    let mut leaf_rows: Vec<[f64; D]> = Vec::new();
    for (start, end) in leaves_in_order(nodes) {
        let m = end - start;
        // SAFETY: leaves are visited in sample order, and leaf `[start, end)` writes the
        // values `[start D, end D)`, bytes below `8 D end`, where entries `>= end` begin at
        // `size_of::<Carried<D>>() end > 8 D end`: the entries read here (this leaf's, copied
        // out first) have not been overwritten. Every write is within the allocation.
        unsafe {
            leaf_rows.clear();
            leaf_rows.extend((start..end).map(|t| base.add(t).read().row));
            for (r, row) in leaf_rows.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    out.add(start * D + j * m + r).write(v);
                }
            }
        }
    }
    // SAFETY: the allocation is `capacity` entries of the same alignment as f64 and a size
    // that is a multiple of 8 bytes; the leaves cover `[0, n)`, so the first `n D` values are
    // written.
    let mut columns = unsafe {
        Vec::from_raw_parts(out, n * D, capacity * std::mem::size_of::<Carried<D>>() / 8)
    };
    columns.shrink_to_fit();
    columns
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
) -> Result<(Vec<f64>, Vec<u32>), KernelError> {
    let n = data.len() / d;
    let mut idx = alloc::with_capacity::<u32>(&[n])?;
    idx.extend(0..n as u32);
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
    drop((keys, old));
    leaf_columns(&mut rows, d, nodes);
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
    idx: &'p mut [u32],
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
        *key = (rows[at * d + dim], j, at as u32);
    }
    nth_element(keys, mid, &|a: &SplitKey, b: &SplitKey| {
        before(a.0, a.1, b.0, b.1)
    });
    old.copy_from_slice(rows);
    for (to, &(_, j, from)) in keys.iter().enumerate() {
        idx[to] = j;
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
    fn both_partitions_lay_out_the_same_leaf_columns() {
        // Rows carried through the partition (d <= 4) and keyed partitions (any d) make the
        // same moves, and each leaf's columns hold its samples' rows.
        for (n, leaf_size) in [
            (1usize, 1usize),
            (2, 1),
            (3, 1),
            (700, 1),
            (700, 7),
            (701, 40),
        ] {
            let d = 3;
            let data = crate::neighbors::test_data::grid_data(n, d, 5);
            let nodes = node_ranges(n, n_nodes(n, leaf_size));
            let never = || false;
            let carried = partition_carried::<3, _>(&data, &nodes, &NoInit, &never).unwrap();
            let keyed = partition_keyed(&data, d, &nodes, &NoInit, &never).unwrap();
            assert_eq!(carried, keyed);
            let (columns, idx) = carried;
            let mut seen = vec![false; n];
            for (start, end) in leaves_in_order(&nodes) {
                let m = end - start;
                for r in 0..m {
                    let sample = idx[start + r] as usize;
                    seen[sample] = true;
                    for j in 0..d {
                        assert_eq!(columns[start * d + j * m + r], data[sample * d + j]);
                    }
                }
            }
            assert!(seen.iter().all(|&s| s));
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
