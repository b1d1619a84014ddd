//! Nearest-center search: the index of the closest of `k` centers (the first one on ties, as
//! scikit-learn's kernels) for each sample of a block, without writing a distance matrix.
//! Shared by every estimator that assigns samples to centers (k-means fit/predict, mini-batch
//! k-means). Dense samples use the fused register-blocked kernels of [`dense`]; CSR samples
//! accumulate sparse dot products against transposed centers ([`sparse`]).

pub mod dense;
mod sparse;

use crate::alloc;
use crate::float::Float;
use crate::linalg::{numpy_sq_norm, row_sq_norms, transpose};
use crate::samples::{Csr, Dense, Samples};
use crate::KernelError;
use dense::PackedCenters;

/// Centers laid out once for a pass of searches over one storage.
pub enum NearestCenters<T> {
    Dense {
        packed: PackedCenters<T>,
        /// Row-major centers times -2, kept when the rows-in-lanes kernel suits the shape.
        small: Option<Vec<T>>,
        norms: Vec<T>,
    },
    /// Centers transposed to `(d, k)`, so that each non-zero updates `k` contiguous sums.
    Sparse { centers_t: Vec<T>, norms: Vec<T> },
}

impl<T: Float> NearestCenters<T> {
    pub fn n_centers(&self) -> usize {
        match self {
            NearestCenters::Dense { norms, .. } | NearestCenters::Sparse { norms, .. } => {
                norms.len()
            }
        }
    }

    /// Scratch values one search call needs (`nearest`'s `scratch` argument).
    pub fn scratch_len(&self) -> usize {
        match self {
            NearestCenters::Dense { .. } => 0,
            NearestCenters::Sparse { norms, .. } => norms.len(),
        }
    }
}

/// Samples storages that can search their rows' nearest centers.
pub trait NearestSearch<T: Float>: Samples<T> {
    /// Centers in the layout `nearest` needs, computed once per pass.
    fn prepare_centers(&self, centers: &[T]) -> Result<NearestCenters<T>, KernelError>;

    /// Closest center of the rows `start..start + out.len()`; `tmp` holds at least
    /// `centers.scratch_len()` values.
    fn nearest(&self, start: usize, centers: &NearestCenters<T>, out: &mut [u32], tmp: &mut [T]);

    /// Closest center of every row with scikit-learn's own arithmetic (`_labels_inertia` on
    /// data it does not centre), so that near ties (centers that coincide to rounding) go the
    /// way scikit-learn's go: `||c||^2` as NumPy's `einsum` sums it, then `||c||^2 - 2 <x, c>`
    /// rounded once, with `<x, c>` accumulated from zero in feature order (fused multiply-adds
    /// for dense rows, as OpenBLAS's GEMM kernels accumulate on this shape; products then sums
    /// over the stored values of a CSR row, as `_update_chunk_sparse`). One thread, plain
    /// loops: for small problems, where coinciding centers happen.
    fn nearest_as_scikit_learn(&self, centers: &[T], out: &mut [u32]) {
        let d = self.n_features();
        let norms: Vec<T> = centers.chunks_exact(d.max(1)).map(numpy_sq_norm).collect();
        let two = T::from_f64(2.0);
        for (i, label) in out.iter_mut().enumerate() {
            let mut best = (0, T::INFINITY);
            for (j, &norm) in norms.iter().enumerate() {
                let dist = norm - two * self.dot_as_scikit_learn(i, &centers[j * d..(j + 1) * d]);
                if dist < best.1 || j == 0 {
                    best = (j, dist);
                }
            }
            *label = best.0 as u32;
        }
    }

    /// `<x_i, c>` in scikit-learn's order of operations (see `nearest_as_scikit_learn`).
    fn dot_as_scikit_learn(&self, i: usize, c: &[T]) -> T;
}

impl<T: Float> NearestSearch<T> for Dense<'_, T> {
    fn prepare_centers(&self, centers: &[T]) -> Result<NearestCenters<T>, KernelError> {
        let d = self.n_features();
        let norms = row_sq_norms(centers, d);
        let packed = PackedCenters::new(centers, &norms, d)?;
        // The rows-in-lanes kernel suits short centers (it takes a copy scaled by -2).
        let small =
            dense::prefers_small_kernel(norms.len(), d).then(|| dense::scaled_for_search(centers));
        Ok(NearestCenters::Dense {
            packed,
            small,
            norms,
        })
    }

    fn nearest(&self, start: usize, centers: &NearestCenters<T>, out: &mut [u32], _: &mut [T]) {
        let NearestCenters::Dense {
            packed,
            small,
            norms,
        } = centers
        else {
            unreachable!("dense samples get dense centers from prepare_centers");
        };
        let d = self.n_features();
        let rows = self.rows(start, start + out.len());
        if let Some(scaled) = small {
            if dense::nearest_small(rows, scaled, norms, d, out) {
                return;
            }
        }
        dense::nearest(rows, packed, out);
    }

    fn dot_as_scikit_learn(&self, i: usize, c: &[T]) -> T {
        self.row(i)
            .iter()
            .zip(c)
            .fold(T::ZERO, |acc, (&x, &cf)| x.mul_add(cf, acc))
    }
}

impl<T: Float> NearestSearch<T> for Csr<'_, T> {
    fn prepare_centers(&self, centers: &[T]) -> Result<NearestCenters<T>, KernelError> {
        let d = self.n_features();
        let norms = row_sq_norms(centers, d);
        let mut centers_t = alloc::filled(&[d, norms.len()], T::ZERO)?;
        transpose(centers, norms.len(), d, &mut centers_t);
        Ok(NearestCenters::Sparse { centers_t, norms })
    }

    fn nearest(&self, start: usize, centers: &NearestCenters<T>, out: &mut [u32], tmp: &mut [T]) {
        let NearestCenters::Sparse { centers_t, norms } = centers else {
            unreachable!("CSR samples get sparse centers from prepare_centers");
        };
        sparse::nearest_rows(self, start, centers_t, norms, out, tmp);
    }

    fn dot_as_scikit_learn(&self, i: usize, c: &[T]) -> T {
        let (idx, vals) = self.row(i);
        idx.iter()
            .zip(vals)
            .fold(T::ZERO, |acc, (&j, &v)| acc + c[j as usize] * v)
    }
}
