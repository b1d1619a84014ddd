//! Read access to a samples matrix, dense (row-major) or CSR, behind one trait so that every
//! estimator's kernels are written once for both storages (scikit-learn writes its Cython
//! kernels twice, `_dense` and `_sparse`). Views borrow the caller's buffers: nothing is copied.

use crate::float::Float;
use crate::linalg;
use crate::KernelError;

/// Row-oriented view of a samples matrix.
pub trait Samples<T: Float>: Sync {
    fn n_samples(&self) -> usize;
    fn n_features(&self) -> usize;

    /// `||x_i - c||^2` computed the numerically careful way for this storage: by differences
    /// for dense rows, by scikit-learn's sparse expansion (with `||c||^2` given) for CSR rows.
    fn sq_dist(&self, i: usize, center: &[T], center_sq_norm: T) -> T;

    /// `acc += w * x_i`
    fn add_scaled_row(&self, i: usize, w: T, acc: &mut [T]);

    /// `dst = x_i` (densified).
    fn copy_row(&self, i: usize, dst: &mut [T]);

    /// Without `mean`: `acc += x_i`. With it: `acc += (x_i - mean)^2 - offset`, where
    /// `offset` is `mean^2` for the stored entries of a sparse row (so that adding
    /// `n * mean^2` per feature afterwards accounts for the implicit zeros) and 0 for dense.
    fn add_row_moment(&self, i: usize, mean: Option<&[f64]>, acc: &mut [f64]);

    /// Rows `start..end` as one row-major slice, where the storage holds them so.
    fn dense_rows(&self, _start: usize, _end: usize) -> Option<&[T]> {
        None
    }

    /// Whether `add_row_moment` uses the sparse offset.
    fn is_sparse(&self) -> bool {
        false
    }

    /// Whether the stored values of rows `start..end` are all finite (no NaN, no infinity).
    fn rows_finite(&self, start: usize, end: usize) -> bool;
}

/// A C-contiguous `(n, d)` matrix.
pub struct Dense<'a, T> {
    data: &'a [T],
    n: usize,
    d: usize,
}

impl<'a, T: Float> Dense<'a, T> {
    pub fn new(data: &'a [T], n: usize, d: usize) -> Result<Self, KernelError> {
        if n.checked_mul(d) != Some(data.len()) {
            return Err(KernelError::Shape(format!(
                "dense buffer of length {} is not ({n}, {d})",
                data.len()
            )));
        }
        Ok(Self { data, n, d })
    }

    #[inline(always)]
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// Rows `start..end` as one row-major slice.
    #[inline(always)]
    pub fn rows(&self, start: usize, end: usize) -> &[T] {
        &self.data[start * self.d..end * self.d]
    }
}

impl<T: Float> Samples<T> for Dense<'_, T> {
    fn n_samples(&self) -> usize {
        self.n
    }
    fn n_features(&self) -> usize {
        self.d
    }

    #[inline(always)]
    fn sq_dist(&self, i: usize, center: &[T], _center_sq_norm: T) -> T {
        linalg::sq_dist(self.row(i), center)
    }

    #[inline(always)]
    fn add_scaled_row(&self, i: usize, w: T, acc: &mut [T]) {
        for (a, &x) in acc.iter_mut().zip(self.row(i)) {
            *a += w * x;
        }
    }

    fn copy_row(&self, i: usize, dst: &mut [T]) {
        dst.copy_from_slice(self.row(i));
    }

    fn dense_rows(&self, start: usize, end: usize) -> Option<&[T]> {
        Some(self.rows(start, end))
    }

    fn rows_finite(&self, start: usize, end: usize) -> bool {
        linalg::all_finite(self.rows(start, end))
    }

    fn add_row_moment(&self, i: usize, mean: Option<&[f64]>, acc: &mut [f64]) {
        let row = self.row(i);
        match mean {
            None => acc.iter_mut().zip(row).for_each(|(a, v)| *a += v.to_f64()),
            Some(mean) => {
                for ((a, v), m) in acc.iter_mut().zip(row).zip(mean) {
                    let t = v.to_f64() - m;
                    *a += t * t;
                }
            }
        }
    }
}

/// A CSR matrix (`i32` column indices, `i64` row pointers), validated once on construction.
pub struct Csr<'a, T> {
    data: &'a [T],
    indices: &'a [i32],
    indptr: &'a [i64],
    n: usize,
    d: usize,
}

impl<'a, T: Float> Csr<'a, T> {
    /// Validates the structure once so the hot loops can index without surprises.
    pub fn new(
        data: &'a [T],
        indices: &'a [i32],
        indptr: &'a [i64],
        n: usize,
        d: usize,
    ) -> Result<Self, KernelError> {
        let bad = |msg: &str| Err(KernelError::Shape(format!("invalid CSR matrix: {msg}")));
        if indptr.len() != n + 1 || data.len() != indices.len() {
            return bad("indptr/indices/data lengths disagree with the shape");
        }
        if indptr[0] != 0 || indptr[n] as usize != data.len() {
            return bad("indptr does not span the data");
        }
        if indptr.windows(2).any(|w| w[1] < w[0]) {
            return bad("indptr is not non-decreasing");
        }
        if indices.iter().any(|&j| j < 0 || j as usize >= d) {
            return bad("column index out of range");
        }
        Ok(Self {
            data,
            indices,
            indptr,
            n,
            d,
        })
    }

    /// Number of stored values.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Position of row `i`'s first stored value.
    #[inline(always)]
    pub fn row_offset(&self, i: usize) -> usize {
        self.indptr[i] as usize
    }

    /// Column indices and values of row `i`.
    #[inline(always)]
    pub fn row(&self, i: usize) -> (&[i32], &[T]) {
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        (&self.indices[a..b], &self.data[a..b])
    }
}

impl<T: Float> Samples<T> for Csr<'_, T> {
    fn n_samples(&self) -> usize {
        self.n
    }
    fn n_features(&self) -> usize {
        self.d
    }

    #[inline(always)]
    fn sq_dist(&self, i: usize, center: &[T], center_sq_norm: T) -> T {
        // Same expansion as scikit-learn's sparse kernels: ||x||^2 - 2<x, c> + ||c||^2, clipped at 0.
        let (idx, vals) = self.row(i);
        let mut dot = T::ZERO;
        let mut norm = T::ZERO;
        for (&j, &v) in idx.iter().zip(vals) {
            dot += v * center[j as usize];
            norm += v * v;
        }
        (norm - dot - dot + center_sq_norm).max(T::ZERO)
    }

    fn add_scaled_row(&self, i: usize, w: T, acc: &mut [T]) {
        let (idx, vals) = self.row(i);
        for (&j, &v) in idx.iter().zip(vals) {
            acc[j as usize] += w * v;
        }
    }

    fn add_row_moment(&self, i: usize, mean: Option<&[f64]>, acc: &mut [f64]) {
        let (idx, vals) = self.row(i);
        for (&j, v) in idx.iter().zip(vals) {
            let (j, v) = (j as usize, v.to_f64());
            acc[j] += match mean {
                None => v,
                Some(mean) => (v - mean[j]) * (v - mean[j]) - mean[j] * mean[j],
            };
        }
    }

    fn is_sparse(&self) -> bool {
        true
    }

    fn rows_finite(&self, start: usize, end: usize) -> bool {
        let (a, b) = (self.indptr[start] as usize, self.indptr[end] as usize);
        linalg::all_finite(&self.data[a..b])
    }

    fn copy_row(&self, i: usize, dst: &mut [T]) {
        dst.iter_mut().for_each(|v| *v = T::ZERO);
        let (idx, vals) = self.row(i);
        for (&j, &v) in idx.iter().zip(vals) {
            dst[j as usize] = v;
        }
    }
}
