//! Points sorted into a grid of cells at least `eps` wide, so that every point within `eps` of
//! a point lies in its cell or in an adjacent one (Wang, Gu and Shun, SIGMOD 2020, with cells
//! sized for exactness instead of the `eps / sqrt(d)` shortcut).
//!
//! Only dimensions in which the metric bounds the coordinate difference of two neighbours are
//! gridded (every Minkowski metric bounds each one by `eps`, weighted Minkowski by
//! `eps / w_k^(1/p)`), at most [`MAX_GRID_DIMS`] of them, chosen for the most cells. With no
//! gridded dimension the grid is one cell and the search is brute force.

use std::ops::Range;

use crate::KernelError;

/// More gridded dimensions multiply the adjacent cells (3^G) faster than they prune.
pub const MAX_GRID_DIMS: usize = 3;
/// Cells per gridded dimension at most: wider cells are still correct, and keys stay in a u64.
const MAX_CELLS_PER_DIM: u64 = 1 << 20;
/// Relative widening of a cell beyond the neighbour bound; it absorbs the rounding of both the
/// distance (so a pair the metric puts within `eps` is never two cells apart) and the cell
/// coordinates.
const WIDENING: f64 = 1e-6;

/// The sorted points and their cells.
pub struct Grid {
    /// `order[s]` is the original index of the point at sorted position `s`.
    pub order: Vec<usize>,
    /// The points in sorted order, row-major, as float64.
    pub points: Vec<f64>,
    pub n_features: usize,
    /// Cell `c` holds sorted positions `cell_start[c]..cell_start[c + 1]`.
    cell_start: Vec<usize>,
    /// Sorted keys of the non-empty cells.
    cell_keys: Vec<u64>,
    /// Cells along each gridded dimension (its key radix).
    radix: Vec<u64>,
}

impl Grid {
    /// Sorts the `n` rows of the row-major `(n, d)` matrix `values` into cells. `bound[k]`
    /// bounds `|a_k - b_k|` for any two points within `eps` (None: unbounded, the dimension
    /// is not gridded).
    pub fn build(
        values: &[f64],
        n: usize,
        d: usize,
        bound: &[Option<f64>],
    ) -> Result<Self, KernelError> {
        let (lo, hi) = extents(values, n, d);
        // Per dimension: (cells, width); gridded dims are those with a bound and > 1 cell.
        let mut candidates: Vec<(usize, u64, f64)> = (0..d)
            .filter_map(|k| {
                let b = bound[k]?;
                let span = hi[k] - lo[k];
                let magnitude = lo[k].abs().max(hi[k].abs());
                let mut width = b * (1.0 + WIDENING) + 8.0 * f64::EPSILON * magnitude;
                if width.is_nan() || width <= 0.0 || !span.is_finite() {
                    return None;
                }
                if span / width >= (MAX_CELLS_PER_DIM - 1) as f64 {
                    width = span / (MAX_CELLS_PER_DIM - 2) as f64;
                }
                let cells = (span / width).floor() as u64 + 1;
                (cells > 1).then_some((k, cells, width))
            })
            .collect();
        // The dimensions with the most cells prune the most.
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(MAX_GRID_DIMS);
        candidates.sort_by_key(|c| c.0);

        let key_of = |row: &[f64]| -> u64 {
            candidates.iter().fold(0u64, |key, &(k, cells, width)| {
                let c = ((row[k] - lo[k]) / width).floor() as u64; // saturates at 0 for NaN
                key * cells + c.min(cells - 1)
            })
        };
        let mut keyed: Vec<(u64, usize)> = Vec::new();
        keyed
            .try_reserve_exact(n)
            .map_err(|_| crate::alloc::out_of_memory::<u64>(&[n, 2]))?;
        keyed.extend((0..n).map(|i| (key_of(&values[i * d..(i + 1) * d]), i)));
        {
            use rayon::slice::ParallelSliceMut;
            keyed.par_sort_unstable();
        }

        let mut points = crate::alloc::with_capacity::<f64>(&[n, d])?;
        let mut order = Vec::new();
        order
            .try_reserve_exact(n)
            .map_err(|_| crate::alloc::out_of_memory::<i64>(&[n]))?;
        let (mut cell_start, mut cell_keys) = (Vec::new(), Vec::new());
        for (s, &(key, i)) in keyed.iter().enumerate() {
            if cell_keys.last() != Some(&key) {
                cell_keys.push(key);
                cell_start.push(s);
            }
            order.push(i);
            points.extend_from_slice(&values[i * d..(i + 1) * d]);
        }
        cell_start.push(n);
        Ok(Grid {
            order,
            points,
            n_features: d,
            cell_start,
            cell_keys,
            radix: candidates.iter().map(|c| c.1).collect(),
        })
    }

    /// All `n` points in one cell, in input order (no coordinates: brute force).
    pub fn one_cell(n: usize) -> Self {
        Grid {
            order: (0..n).collect(),
            points: Vec::new(),
            n_features: 0,
            cell_start: vec![0, n],
            cell_keys: vec![0],
            radix: Vec::new(),
        }
    }

    pub fn n_cells(&self) -> usize {
        self.cell_keys.len()
    }

    /// The cell holding sorted position `s`.
    pub fn cell_at(&self, s: usize) -> usize {
        self.cell_start.partition_point(|&start| start <= s) - 1
    }

    /// Sorted positions of cell `c`'s points.
    pub fn cell(&self, c: usize) -> Range<usize> {
        self.cell_start[c]..self.cell_start[c + 1]
    }

    /// The point at sorted position `s`.
    #[inline(always)]
    pub fn point(&self, s: usize) -> &[f64] {
        &self.points[s * self.n_features..(s + 1) * self.n_features]
    }

    /// Sorted-position ranges covering cell `c` and every adjacent cell, in increasing order.
    /// Adjacent cells along the last gridded dimension have consecutive keys, so each row of
    /// the 3^G neighbourhood is one contiguous range of cells. `cursor` remembers where each
    /// row's search ended: cells visited in increasing order find their rows by a short
    /// forward search instead of a binary search over all cells.
    pub fn neighbourhood(&self, c: usize, cursor: &mut Cursor, out: &mut Vec<Range<usize>>) {
        out.clear();
        let g = self.radix.len();
        if g == 0 {
            out.push(0..*self.cell_start.last().unwrap_or(&0));
            return;
        }
        // Decode the cell's coordinates.
        let mut coords = [0u64; MAX_GRID_DIMS];
        let mut key = self.cell_keys[c];
        for k in (0..g).rev() {
            coords[k] = key % self.radix[k];
            key /= self.radix[k];
        }
        let rows = 3usize.pow(g as u32 - 1);
        if cursor.next.len() != rows || cursor.last_cell.is_none_or(|last| last > c) {
            cursor.next = vec![0; rows];
        }
        cursor.last_cell = Some(c);
        'rows: for r in 0..rows {
            // Offsets -1, 0, +1 for the leading dimensions, in lexicographic order.
            let mut digits = r;
            let mut shifted = [0u64; MAX_GRID_DIMS];
            for k in (0..g - 1).rev() {
                let offset = (digits % 3) as i64 - 1;
                digits /= 3;
                let v = coords[k] as i64 + offset;
                if v < 0 || v >= self.radix[k] as i64 {
                    continue 'rows;
                }
                shifted[k] = v as u64;
            }
            let first = (0..g - 1).fold(0u64, |key, k| key * self.radix[k] + shifted[k]);
            let last_dim = coords[g - 1];
            let lo_key = first * self.radix[g - 1] + last_dim.saturating_sub(1);
            let hi_key = first * self.radix[g - 1] + (last_dim + 1).min(self.radix[g - 1] - 1);
            let a = seek(&self.cell_keys, cursor.next[r], lo_key);
            cursor.next[r] = a;
            let mut b = a;
            while b < self.cell_keys.len() && self.cell_keys[b] <= hi_key {
                b += 1;
            }
            if a < b {
                out.push(self.cell_start[a]..self.cell_start[b]);
            }
        }
    }
}

/// Where the neighbourhood searches of one sequence of increasing cells stand.
#[derive(Default)]
pub struct Cursor {
    next: Vec<usize>,
    last_cell: Option<usize>,
}

/// The first index `>= from` whose key is `>= target` (`keys` sorted), by galloping forward.
fn seek(keys: &[u64], from: usize, target: u64) -> usize {
    let n = keys.len();
    if from >= n || keys[from] >= target {
        // Targets only grow while cells increase, so this is the answer unless `from` is
        // past it (a fresh cursor starts at 0).
        return if from < n && from > 0 && keys[from - 1] >= target {
            keys.partition_point(|&k| k < target)
        } else {
            from.min(n)
        };
    }
    let mut step = 1;
    let mut lo = from;
    while lo + step < n && keys[lo + step] < target {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step + 1).min(n);
    lo + keys[lo..hi].partition_point(|&k| k < target)
}

/// Per-dimension minimum and maximum over the finite values.
fn extents(values: &[f64], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![f64::INFINITY; d];
    let mut hi = vec![f64::NEG_INFINITY; d];
    for i in 0..n {
        for k in 0..d {
            let v = values[i * d + k];
            if v < lo[k] {
                lo[k] = v;
            }
            if v > hi[k] {
                hi[k] = v;
            }
        }
    }
    (lo, hi)
}
