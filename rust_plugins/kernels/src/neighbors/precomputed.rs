//! Neighbour searches on precomputed distances (`metric="precomputed"`), as scikit-learn's
//! `neighbors/_base.py` answers them.
//!
//! A dense `(n_queries, n_fit)` matrix: the `k` smallest entries of each row, nearest first,
//! entries at equal distances by lowest column (scikit-learn's `argpartition` + `argsort`
//! leave their order to NumPy's unstable selection; ours is stable), and the entries within a
//! radius in column order, stably sorted by distance on request (scikit-learn's `np.where` and
//! `mergesort`).
//!
//! A sparse CSR graph: each row's stored entries are the candidate neighbours. scikit-learn
//! sorts each row by value with a stable sort (`sort_graph_by_row_values`), then takes the
//! first `k` of each row or the entries within a radius; [`csr_rows_sorted`],
//! [`csr_sort_rows`], [`csr_first_k`] and [`csr_within_radius`] do the same.
//!
//! Rows are independent, so any thread count gives the same result.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::alloc::{self, Dtype};
use crate::float::Float;
use crate::samples::{Dense, Samples};
use crate::{KernelError, StopCheck};

/// Rows per unit of parallel work.
const ROWS_PER_TASK: usize = 64;

/// Column indices of a CSR graph as NumPy stores them (`int32` or `int64`).
pub trait GraphIndex: Copy + Send + Sync + Dtype + 'static {
    const ZERO: Self;
    fn to_i64(self) -> i64;
}

impl GraphIndex for i32 {
    const ZERO: Self = 0;
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}

impl GraphIndex for i64 {
    const ZERO: Self = 0;
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
}

/// `(value, column)` ordered by value, then column: the stable order of one row.
#[inline(always)]
fn after<T: Float>(a: (T, usize), b: (T, usize)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

#[inline(always)]
fn by_value_then_column<T: Float>(a: &(T, usize), b: &(T, usize)) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// Restores the max-heap order of `heap` below `at` (largest `(value, column)` at the root).
#[inline(always)]
fn sift_down<T: Float>(heap: &mut [(T, usize)], mut at: usize) {
    let n = heap.len();
    loop {
        let left = 2 * at + 1;
        if left >= n {
            return;
        }
        let right = left + 1;
        let child = if right < n && after(heap[right], heap[left]) {
            right
        } else {
            left
        };
        if !after(heap[child], heap[at]) {
            return;
        }
        heap.swap(at, child);
        at = child;
    }
}

/// The `k` (`1 <= k <= row.len()`) smallest entries of `row` as `(value, column)`, ascending
/// by value then column, into `out` (cleared first).
pub fn smallest_k<T: Float>(row: &[T], k: usize, out: &mut Vec<(T, usize)>) {
    out.clear();
    let n = row.len();
    if k >= n / 4 {
        // Most of the row is kept: select, then sort the kept part.
        out.extend(row.iter().copied().zip(0..n));
        if k < n {
            out.select_nth_unstable_by(k - 1, by_value_then_column);
            out.truncate(k);
        }
        out.sort_unstable_by(by_value_then_column);
        return;
    }
    // A bounded max-heap of the k best so far; a later column at an equal value loses, so
    // only strictly smaller values enter.
    out.extend(row[..k].iter().copied().zip(0..k));
    for at in (0..k / 2).rev() {
        sift_down(out, at);
    }
    let mut top = out[0].0;
    for (j, &v) in row.iter().enumerate().skip(k) {
        if v < top {
            out[0] = (v, j);
            sift_down(out, 0);
            top = out[0].0;
        }
    }
    out.sort_unstable_by(by_value_then_column);
}

/// The `k` nearest of each row of a precomputed dense distance matrix: `(n_rows, k)`
/// row-major distances (the matrix's values) and column indices, nearest first, equal
/// distances by lowest column.
pub fn dense_kneighbors<T: Float>(
    matrix: &Dense<'_, T>,
    k: usize,
    stop: StopCheck,
) -> Result<(Vec<T>, Vec<i64>), KernelError> {
    let (n_rows, n_cols) = (matrix.n_samples(), matrix.n_features());
    if k == 0 || k > n_cols {
        return Err(KernelError::InvalidArgument(format!(
            "k={k} must be in [1, n_samples_fit={n_cols}]"
        )));
    }
    let mut indices = alloc::filled(&[n_rows, k], 0i64)?;
    let mut distances = alloc::filled(&[n_rows, k], T::ZERO)?;
    distances
        .par_chunks_mut(ROWS_PER_TASK * k)
        .zip(indices.par_chunks_mut(ROWS_PER_TASK * k))
        .enumerate()
        .for_each(|(b, (dist, ind))| {
            if stop() {
                return;
            }
            let mut best = Vec::with_capacity(k.min(n_cols));
            let rows = dist.chunks_exact_mut(k).zip(ind.chunks_exact_mut(k));
            for (r, (d, i)) in rows.enumerate() {
                smallest_k(matrix.row(b * ROWS_PER_TASK + r), k, &mut best);
                for ((dv, iv), &(v, j)) in d.iter_mut().zip(i.iter_mut()).zip(&best) {
                    *dv = v;
                    *iv = j as i64;
                }
            }
        });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok((distances, indices))
}

/// Neighbours within a radius as CSR-like lists: `offsets` (`n_rows + 1`), column `indices`
/// and `distances` (empty when not asked for).
pub struct Lists<T> {
    pub offsets: Vec<i64>,
    pub indices: Vec<i64>,
    pub distances: Vec<T>,
}

/// One block's rows: each row's neighbour indices and distances.
type RowLists<T> = Vec<(Vec<i64>, Vec<T>)>;

/// Joins per-row lists, computed in parallel blocks, into one CSR-like result.
fn join_lists<T: Float>(
    blocks: Vec<Result<RowLists<T>, KernelError>>,
    n_rows: usize,
    with_distances: bool,
) -> Result<Lists<T>, KernelError> {
    let mut offsets = alloc::with_capacity::<i64>(&[n_rows + 1])?;
    offsets.push(0);
    let mut total = 0usize;
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        let block = block?;
        for (ind, _) in &block {
            total += ind.len();
            offsets.push(total as i64);
        }
        parts.push(block);
    }
    let mut distances = alloc::with_capacity::<T>(&[if with_distances { total } else { 0 }])?;
    let mut indices = alloc::with_capacity::<i64>(&[total])?;
    for (ind, dist) in parts.into_iter().flatten() {
        indices.extend_from_slice(&ind);
        if with_distances {
            distances.extend_from_slice(&dist);
        }
    }
    Ok(Lists {
        offsets,
        indices,
        distances,
    })
}

/// Runs `row_list(i)` for every row in parallel blocks and joins the lists.
fn lists_by_row<T: Float>(
    n_rows: usize,
    with_distances: bool,
    stop: StopCheck,
    row_list: impl Fn(usize) -> Result<(Vec<i64>, Vec<T>), KernelError> + Sync,
) -> Result<Lists<T>, KernelError> {
    let blocks = (0..n_rows.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|b| {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            (b * ROWS_PER_TASK..((b + 1) * ROWS_PER_TASK).min(n_rows))
                .map(&row_list)
                .collect()
        })
        .collect();
    join_lists(blocks, n_rows, with_distances)
}

/// The entries `<= radius` of each row of a precomputed dense distance matrix, in column
/// order, or stably sorted by distance when `sort`; with `exclude_self` row `i` leaves out
/// column `i` (the fitted matrix queried against itself).
pub fn dense_within_radius<T: Float>(
    matrix: &Dense<'_, T>,
    radius: T,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<Lists<T>, KernelError> {
    lists_by_row(matrix.n_samples(), with_distances, stop, |i| {
        let row = matrix.row(i);
        let mut found: Vec<(T, usize)> = Vec::new();
        for (j, &v) in row.iter().enumerate() {
            if v <= radius && !(exclude_self && j == i) {
                found
                    .try_reserve(1)
                    .map_err(|_| alloc::out_of_memory::<i64>(&[found.len() + 1]))?;
                found.push((v, j));
            }
        }
        if sort {
            // A stable sort of a list in column order: NumPy's mergesort order.
            found.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
        }
        let ind = found.iter().map(|&(_, j)| j as i64).collect();
        let dist = if with_distances {
            found.iter().map(|&(v, _)| v).collect()
        } else {
            Vec::new()
        };
        Ok((ind, dist))
    })
}

/// Checks CSR row pointers against the number of stored entries.
fn check_indptr(indptr: &[i64], nnz: usize) -> Result<(), KernelError> {
    let bad = |msg: &str| Err(KernelError::Shape(format!("invalid CSR graph: {msg}")));
    if indptr.is_empty() || indptr[0] != 0 || indptr[indptr.len() - 1] as usize != nnz {
        return bad("indptr does not span the data");
    }
    if indptr.windows(2).any(|w| w[1] < w[0]) {
        return bad("indptr is not non-decreasing");
    }
    Ok(())
}

/// scikit-learn's `_is_sorted_by_data`: no stored value is larger than the next one of its
/// row. As there, a decrease at a position `indptr[i] - 1` (`0 < i < n_rows`) is a row change;
/// `-1` (a leading empty row) names the last position, as a NumPy index does.
/// `None` for fewer than two stored entries (scikit-learn's check then indexes an empty array).
pub fn csr_rows_sorted<T: Float>(indptr: &[i64], data: &[T]) -> Result<Option<bool>, KernelError> {
    check_indptr(indptr, data.len())?;
    let nnz = data.len();
    if nnz < 2 {
        return Ok(None);
    }
    let n_pairs = nnz - 1;
    let mut is_change = vec![false; n_pairs];
    let n_rows = indptr.len() - 1;
    for &p in &indptr[1..n_rows.max(1)] {
        let at = p - 1;
        if at == -1 {
            is_change[n_pairs - 1] = true;
        } else if (at as usize) < n_pairs {
            is_change[at as usize] = true;
        }
    }
    Ok(Some(data.windows(2).zip(&is_change).all(|(w, &change)| {
        change || w[0].partial_cmp(&w[1]) != Some(Ordering::Greater)
    })))
}

/// Rows up to this length are sorted in place by insertion (stable, no copies).
const SHORT_ROW: usize = 32;

/// A stable in-place sort of `d` by value, `i` moved along.
fn insertion_sort<T: Float, I: Copy>(d: &mut [T], i: &mut [I]) {
    for at in 1..d.len() {
        let (v, j) = (d[at], i[at]);
        let mut to = at;
        while to > 0 && d[to - 1] > v {
            d[to] = d[to - 1];
            i[to] = i[to - 1];
            to -= 1;
        }
        d[to] = v;
        i[to] = j;
    }
}

/// Sorts the stored entries of every row by value with a stable sort, in place, carrying the
/// column indices along (scikit-learn's `sort_graph_by_row_values`).
pub fn csr_sort_rows<T: Float, I: GraphIndex>(
    indptr: &[i64],
    data: &mut [T],
    indices: &mut [I],
    stop: StopCheck,
) -> Result<(), KernelError> {
    check_indptr(indptr, data.len())?;
    if indices.len() != data.len() {
        return Err(KernelError::Shape(
            "invalid CSR graph: indices and data lengths differ".into(),
        ));
    }
    let n_rows = indptr.len() - 1;
    // Blocks of rows as disjoint slices of the data and indices.
    let mut blocks = Vec::with_capacity(n_rows.div_ceil(ROWS_PER_TASK));
    let (mut rest_d, mut rest_i) = (data, indices);
    for b in (0..n_rows).step_by(ROWS_PER_TASK) {
        let end = (b + ROWS_PER_TASK).min(n_rows);
        let len = (indptr[end] - indptr[b]) as usize;
        let (d, rd) = rest_d.split_at_mut(len);
        let (i, ri) = rest_i.split_at_mut(len);
        blocks.push((&indptr[b..=end], d, i));
        rest_d = rd;
        rest_i = ri;
    }
    blocks.into_par_iter().for_each(|(ptr, d, i)| {
        if stop() {
            return;
        }
        let base = ptr[0];
        let mut row: Vec<(T, I)> = Vec::new();
        for w in ptr.windows(2) {
            let (a, b) = ((w[0] - base) as usize, (w[1] - base) as usize);
            let (d, i) = (&mut d[a..b], &mut i[a..b]);
            if d.len() <= SHORT_ROW {
                insertion_sort(d, i);
                continue;
            }
            if d.windows(2)
                .all(|p| p[0].partial_cmp(&p[1]) != Some(Ordering::Greater))
            {
                continue; // already in order: a stable sort leaves it as it is
            }
            row.clear();
            row.extend(d.iter().copied().zip(i.iter().copied()));
            row.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(Ordering::Equal));
            for ((dv, iv), &(v, j)) in d.iter_mut().zip(i.iter_mut()).zip(&row) {
                *dv = v;
                *iv = j;
            }
        }
    });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(())
}

/// The first `k` stored entries of every row of a row-sorted graph (scikit-learn's
/// `_kneighbors_from_graph`): `(n_rows, k)` values and column indices. Every row must hold at
/// least `k` entries.
pub fn csr_first_k<T: Float, I: GraphIndex>(
    indptr: &[i64],
    data: &[T],
    indices: &[I],
    k: usize,
    stop: StopCheck,
) -> Result<(Vec<T>, Vec<I>), KernelError> {
    check_indptr(indptr, data.len())?;
    let n_rows = indptr.len() - 1;
    if let Some(w) = indptr.windows(2).find(|w| ((w[1] - w[0]) as usize) < k) {
        return Err(KernelError::InvalidArgument(format!(
            "{k} neighbors per samples are required, but a row has only {}",
            w[1] - w[0]
        )));
    }
    let mut out_i = alloc::filled(&[n_rows, k], I::ZERO)?;
    let mut out_d = alloc::filled(&[n_rows, k], T::ZERO)?;
    if k == 0 {
        return Ok((out_d, out_i));
    }
    out_d
        .par_chunks_mut(ROWS_PER_TASK * k)
        .zip(out_i.par_chunks_mut(ROWS_PER_TASK * k))
        .enumerate()
        .for_each(|(b, (dist, ind))| {
            if stop() {
                return;
            }
            let rows = dist.chunks_exact_mut(k).zip(ind.chunks_exact_mut(k));
            for (r, (d, i)) in rows.enumerate() {
                let a = indptr[b * ROWS_PER_TASK + r] as usize;
                d.copy_from_slice(&data[a..a + k]);
                i.copy_from_slice(&indices[a..a + k]);
            }
        });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok((out_d, out_i))
}

/// The stored entries `<= radius` of every row (scikit-learn's
/// `_radius_neighbors_from_graph`), in stored order; with `exclude_self` row `i` leaves out
/// column `i`.
pub fn csr_within_radius<T: Float, I: GraphIndex>(
    indptr: &[i64],
    data: &[T],
    indices: &[I],
    radius: T,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<Lists<T>, KernelError> {
    check_indptr(indptr, data.len())?;
    if indices.len() != data.len() {
        return Err(KernelError::Shape(
            "invalid CSR graph: indices and data lengths differ".into(),
        ));
    }
    lists_by_row(indptr.len() - 1, with_distances, stop, |r| {
        let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
        let mut ind = Vec::new();
        let mut dist = Vec::new();
        for (&v, &j) in data[a..b].iter().zip(&indices[a..b]) {
            let j = j.to_i64();
            if v <= radius && !(exclude_self && j == r as i64) {
                ind.try_reserve(1)
                    .map_err(|_| alloc::out_of_memory::<i64>(&[ind.len() + 1]))?;
                ind.push(j);
                if with_distances {
                    dist.try_reserve(1)
                        .map_err(|_| alloc::out_of_memory::<T>(&[dist.len() + 1]))?;
                    dist.push(v);
                }
            }
        }
        Ok((ind, dist))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stop() -> bool {
        false
    }

    /// Values on a coarse grid, so rows hold many exact ties.
    fn values(n: usize, seed: u64, levels: u64) -> Vec<f64> {
        crate::neighbors::test_data::levels(n, seed, levels, 0.25)
    }

    /// A full stable sort of the row by value (ties by column), truncated to `k`.
    fn reference_k(row: &[f64], k: usize) -> Vec<(f64, usize)> {
        let mut all: Vec<(f64, usize)> = row.iter().copied().zip(0..row.len()).collect();
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        all.truncate(k);
        all
    }

    #[test]
    fn smallest_k_matches_a_stable_sort_with_ties() {
        let mut out = Vec::new();
        for (n, levels) in [(1, 3), (7, 2), (50, 5), (300, 4), (1000, 1000)] {
            let row = values(n, n as u64 + levels, levels);
            for k in [1, 2, 3, n / 5 + 1, n / 4, n / 2 + 1, n] {
                if k == 0 || k > n {
                    continue;
                }
                smallest_k(&row, k, &mut out);
                assert_eq!(out, reference_k(&row, k), "n={n} k={k}");
            }
        }
    }

    #[test]
    fn dense_searches_match_references_for_any_thread_count() {
        let (n_rows, n_cols, k) = (150, 90, 6);
        let m = values(n_rows * n_cols, 5, 7);
        let matrix = Dense::new(&m, n_rows, n_cols).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (d1, i1) = one.install(|| dense_kneighbors(&matrix, k, &no_stop).unwrap());
        let (d2, i2) = dense_kneighbors(&matrix, k, &no_stop).unwrap();
        assert_eq!((&d1, &i1), (&d2, &i2));
        for r in 0..n_rows {
            let expected = reference_k(&m[r * n_cols..(r + 1) * n_cols], k);
            let got: Vec<(f64, usize)> = d1[r * k..(r + 1) * k]
                .iter()
                .copied()
                .zip(i1[r * k..(r + 1) * k].iter().map(|&j| j as usize))
                .collect();
            assert_eq!(got, expected);
        }
        for (sort, exclude) in [(false, false), (true, false), (true, true)] {
            let found = dense_within_radius(&matrix, 0.5, sort, exclude, true, &no_stop).unwrap();
            for r in 0..n_rows {
                let row = &m[r * n_cols..(r + 1) * n_cols];
                let mut expected: Vec<(f64, usize)> = row
                    .iter()
                    .copied()
                    .zip(0..n_cols)
                    .filter(|&(v, j)| v <= 0.5 && !(exclude && j == r))
                    .collect();
                if sort {
                    expected.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
                }
                let (a, b) = (found.offsets[r] as usize, found.offsets[r + 1] as usize);
                let got: Vec<(f64, usize)> = found.distances[a..b]
                    .iter()
                    .copied()
                    .zip(found.indices[a..b].iter().map(|&j| j as usize))
                    .collect();
                assert_eq!(got, expected);
            }
        }
        assert!(dense_kneighbors(&matrix, n_cols + 1, &no_stop).is_err());
    }

    #[test]
    fn csr_row_sort_is_stable_and_searches_slice_it() {
        // Rows of 0..49 entries, values with ties, columns distinct within a row.
        let mut indptr = vec![0i64];
        let (mut data, mut indices) = (Vec::new(), Vec::new());
        for r in 0..200usize {
            let len = r % 50; // short rows sorted by insertion, long ones not
            let vals = values(len, r as u64, 3);
            for (c, v) in vals.into_iter().enumerate() {
                data.push(v);
                indices.push(((c * 7 + r) % 50) as i32);
            }
            indptr.push(data.len() as i64);
        }
        let (mut sd, mut si) = (data.clone(), indices.clone());
        csr_sort_rows(&indptr, &mut sd, &mut si, &no_stop).unwrap();
        for r in 0..200 {
            let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
            let mut expected: Vec<(f64, i32)> = data[a..b]
                .iter()
                .copied()
                .zip(indices[a..b].iter().copied())
                .collect();
            expected.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap()); // stable
            let got: Vec<(f64, i32)> = sd[a..b]
                .iter()
                .copied()
                .zip(si[a..b].iter().copied())
                .collect();
            assert_eq!(got, expected);
        }
        assert_eq!(csr_rows_sorted(&indptr, &sd).unwrap(), Some(true));
        assert_eq!(csr_rows_sorted(&indptr, &data).unwrap(), Some(false));

        // Rows with at least 3 entries: the first 3 after sorting.
        let keep: Vec<usize> = (0..200).filter(|r| r % 50 >= 3).collect();
        let mut ptr2 = vec![0i64];
        let (mut d2, mut i2) = (Vec::new(), Vec::new());
        for &r in &keep {
            let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
            d2.extend_from_slice(&sd[a..b]);
            i2.extend_from_slice(&si[a..b]);
            ptr2.push(d2.len() as i64);
        }
        let (fd, fi) = csr_first_k(&ptr2, &d2, &i2, 3, &no_stop).unwrap();
        for (q, w) in ptr2.windows(2).enumerate() {
            let a = w[0] as usize;
            assert_eq!(&fd[q * 3..q * 3 + 3], &d2[a..a + 3]);
            assert_eq!(&fi[q * 3..q * 3 + 3], &i2[a..a + 3]);
        }
        assert!(csr_first_k(&indptr, &sd, &si, 1, &no_stop).is_err()); // row 0 is empty

        let found = csr_within_radius(&indptr, &sd, &si, 0.25, true, true, &no_stop).unwrap();
        for r in 0..200 {
            let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
            let expected: Vec<(f64, i64)> = sd[a..b]
                .iter()
                .copied()
                .zip(si[a..b].iter().map(|&j| j as i64))
                .filter(|&(v, j)| v <= 0.25 && j != r as i64)
                .collect();
            let (x, y) = (found.offsets[r] as usize, found.offsets[r + 1] as usize);
            let got: Vec<(f64, i64)> = found.distances[x..y]
                .iter()
                .copied()
                .zip(found.indices[x..y].iter().copied())
                .collect();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn sorted_check_follows_numpy_indexing() {
        // Leading empty row: position -1 names the last pair, which then never counts.
        assert_eq!(
            csr_rows_sorted(&[0, 0, 3], &[1.0, 3.0, 2.0]).unwrap(),
            Some(true)
        );
        assert_eq!(
            csr_rows_sorted(&[0, 1, 3], &[1.0, 3.0, 2.0]).unwrap(),
            Some(false)
        );
        assert_eq!(
            csr_rows_sorted(&[0, 2, 3], &[1.0, 3.0, 2.0]).unwrap(),
            Some(true)
        );
        assert_eq!(csr_rows_sorted(&[0, 1], &[1.0]).unwrap(), None);
    }
}
