//! Dense linear algebra on `faer`: the factorisations and products PCA and the linear models
//! share (thin SVD, symmetric eigendecomposition, thin QR, LU with partial pivoting, inverse,
//! log-determinant, GEMM), with the parallelism passed explicitly and every input-sized buffer
//! allocated fallibly, so an impossible allocation is a [`KernelError::OutOfMemory`].
//!
//! Matrices live in [`ColMajor`] buffers (faer's preferred layout); row-major NumPy data is
//! viewed without copying through [`row_major`]. Results do not depend on the thread count:
//! faer splits products over output tiles, never over the summed dimension, so products run
//! on the pool; faer's parallel factorisations round differently for different thread counts,
//! so the factorisations here run sequentially (callers parallelise the passes over the data
//! around them). Both properties are tested in this module.

pub mod gram;
pub mod syrk;
pub mod tsqr;

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::svd::ComputeSvdVectors;
use faer::traits::RealField;
use faer::{Accum, Conj, MatMut, MatRef, Par};

use crate::alloc;
use crate::float::Float;
use crate::KernelError;

/// The float types the dense linear algebra runs on.
pub trait Real: Float + RealField {}
impl Real for f32 {}
impl Real for f64 {}

/// The parallelism for faer calls made from inside a kernel: the threads of the rayon pool
/// the kernel runs on (one thread means sequential).
pub fn par() -> Par {
    match rayon::current_num_threads() {
        0 | 1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// An owned column-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct ColMajor<T> {
    pub data: Vec<T>,
    pub rows: usize,
    pub cols: usize,
}

impl<T: Real> ColMajor<T> {
    /// A zero matrix; fails with `OutOfMemory` rather than aborting.
    pub fn zeros(rows: usize, cols: usize) -> Result<Self, KernelError> {
        Ok(ColMajor {
            data: alloc::filled(&[rows, cols], T::ZERO)?,
            rows,
            cols,
        })
    }

    /// The first `cols` columns of the identity of size `rows`.
    pub fn identity(rows: usize, cols: usize) -> Result<Self, KernelError> {
        let mut m = Self::zeros(rows, cols)?;
        for j in 0..rows.min(cols) {
            m.data[j * rows + j] = T::ONE;
        }
        Ok(m)
    }

    /// A copy of any faer view.
    pub fn copy_of(a: MatRef<'_, T>) -> Result<Self, KernelError> {
        let mut m = Self::zeros(a.nrows(), a.ncols())?;
        m.as_mut().copy_from(a);
        Ok(m)
    }

    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef::from_column_major_slice(&self.data, self.rows, self.cols)
    }

    pub fn as_mut(&mut self) -> MatMut<'_, T> {
        MatMut::from_column_major_slice_mut(&mut self.data, self.rows, self.cols)
    }

    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[j * self.rows + i]
    }

    /// Column `j` as a slice.
    pub fn col(&self, j: usize) -> &[T] {
        &self.data[j * self.rows..(j + 1) * self.rows]
    }

    /// The first `cols` columns (a copy when fewer than all).
    pub fn truncate_cols(mut self, cols: usize) -> Self {
        self.data.truncate(self.rows * cols.min(self.cols));
        self.cols = cols.min(self.cols);
        self
    }

    /// The row-major data of the same matrix (what NumPy's default layout expects).
    pub fn to_row_major(&self) -> Result<Vec<T>, KernelError> {
        let mut out = alloc::with_capacity::<T>(&[self.rows, self.cols])?;
        for i in 0..self.rows {
            out.extend((0..self.cols).map(|j| self.data[j * self.rows + i]));
        }
        Ok(out)
    }
}

/// A row-major `(rows, cols)` slice as a faer view.
pub fn row_major<T: Real>(data: &[T], rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::from_row_major_slice(data, rows, cols)
}

/// A row-major `(rows, cols)` mutable slice as a faer view.
pub fn row_major_mut<T: Real>(data: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(data, rows, cols)
}

/// Workspace for a faer call.
pub(crate) fn workspace(req: StackReq) -> Result<MemBuffer, KernelError> {
    MemBuffer::try_new(req).map_err(|_| alloc::out_of_memory::<u8>(&[req.size_bytes()]))
}

/// `dst = alpha * lhs * rhs` (or `dst += ...` with `Accum::Add`).
pub fn matmul<T: Real>(
    dst: MatMut<'_, T>,
    accum: Accum,
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
    alpha: T,
    par: Par,
) {
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, par);
}

/// `lhs * rhs` in a new matrix.
pub fn product<T: Real>(
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
    par: Par,
) -> Result<ColMajor<T>, KernelError> {
    let mut out = ColMajor::zeros(lhs.nrows(), rhs.ncols())?;
    matmul(out.as_mut(), Accum::Replace, lhs, rhs, T::ONE, par);
    Ok(out)
}

/// Thin singular value decomposition `A = U diag(s) V^T`, singular values in nonincreasing
/// order (LAPACK's `gesdd` convention up to the signs of the vectors).
pub struct Svd<T> {
    pub s: Vec<T>,
    /// `(rows, min(rows, cols))`, when asked for.
    pub u: Option<ColMajor<T>>,
    /// `(cols, min(rows, cols))`: the right singular vectors as columns.
    pub v: ColMajor<T>,
}

pub fn svd<T: Real>(a: MatRef<'_, T>, want_u: bool) -> Result<Svd<T>, KernelError> {
    let par = Par::Seq;
    let (m, n) = a.shape();
    let size = m.min(n);
    let mut s = ColMajor::<T>::zeros(size, 1)?;
    let mut u = if want_u {
        Some(ColMajor::<T>::zeros(m, size)?)
    } else {
        None
    };
    let mut v = ColMajor::<T>::zeros(n, size)?;
    let compute_u = if want_u {
        ComputeSvdVectors::Thin
    } else {
        ComputeSvdVectors::No
    };
    let req = faer::linalg::svd::svd_scratch::<T>(
        m,
        n,
        compute_u,
        ComputeSvdVectors::Thin,
        par,
        Default::default(),
    );
    let mut buffer = workspace(req)?;
    faer::linalg::svd::svd(
        a,
        s.as_mut().col_mut(0).as_diagonal_mut(),
        u.as_mut().map(|u| u.as_mut()),
        Some(v.as_mut()),
        par,
        MemStack::new(&mut buffer),
        Default::default(),
    )
    .map_err(|_| KernelError::NoConvergence("SVD did not converge".into()))?;
    Ok(Svd { s: s.data, u, v })
}

/// Eigendecomposition of the symmetric matrix `a` (only its lower triangle is read):
/// eigenvalues in nondecreasing order and the eigenvectors as columns.
pub fn eigh<T: Real>(a: MatRef<'_, T>) -> Result<(Vec<T>, ColMajor<T>), KernelError> {
    let par = Par::Seq;
    use faer::linalg::evd::{self, ComputeEigenvectors};
    let n = a.nrows();
    let mut w = ColMajor::<T>::zeros(n, 1)?;
    let mut v = ColMajor::<T>::zeros(n, n)?;
    let req =
        evd::self_adjoint_evd_scratch::<T>(n, ComputeEigenvectors::Yes, par, Default::default());
    let mut buffer = workspace(req)?;
    evd::self_adjoint_evd(
        a,
        w.as_mut().col_mut(0).as_diagonal_mut(),
        Some(v.as_mut()),
        par,
        MemStack::new(&mut buffer),
        Default::default(),
    )
    .map_err(|_| KernelError::NoConvergence("Eigenvalues did not converge".into()))?;
    Ok((w.data, v))
}

/// The orthonormal factor of the thin QR decomposition of `a`: `(rows, min(rows, cols))`
/// (`scipy.linalg.qr(a, mode="economic")[0]` up to the signs of its columns).
pub fn thin_q<T: Real>(a: MatRef<'_, T>) -> Result<ColMajor<T>, KernelError> {
    let par = Par::Seq;
    use faer::linalg::householder;
    use faer::linalg::qr::no_pivoting::factor;
    let (m, n) = a.shape();
    let size = m.min(n);
    let mut qr = ColMajor::copy_of(a)?;
    if size == 0 {
        return ColMajor::zeros(m, size);
    }
    let block = factor::recommended_block_size::<T>(m, n);
    let mut coeff = ColMajor::<T>::zeros(block, size)?;
    let mut buffer = workspace(factor::qr_in_place_scratch::<T>(
        m,
        n,
        block,
        par,
        Default::default(),
    ))?;
    factor::qr_in_place(
        qr.as_mut(),
        coeff.as_mut(),
        par,
        MemStack::new(&mut buffer),
        Default::default(),
    );
    let mut q = ColMajor::identity(m, size)?;
    let mut buffer = workspace(
        householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<T>(
            m, block, size,
        ),
    )?;
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        qr.as_ref().get(.., ..size),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut buffer),
    );
    Ok(q)
}

/// LU decomposition with partial pivoting in place: `a` holds `L` (unit diagonal implied)
/// below its diagonal and `U` on and above it. Returns the row permutation `fwd` (row `i` of
/// `L U` is row `fwd[i]` of `a`) and its inverse.
fn lu_in_place<T: Real>(a: MatMut<'_, T>) -> Result<(Vec<usize>, Vec<usize>), KernelError> {
    let par = Par::Seq;
    use faer::linalg::lu::partial_pivoting::factor;
    let (m, n) = a.shape();
    let mut fwd = vec![0usize; m];
    let mut bwd = vec![0usize; m];
    let mut buffer = workspace(factor::lu_in_place_scratch::<usize, T>(
        m,
        n,
        par,
        Default::default(),
    ))?;
    factor::lu_in_place(
        a,
        &mut fwd,
        &mut bwd,
        par,
        MemStack::new(&mut buffer),
        Default::default(),
    );
    Ok((fwd, bwd))
}

/// The permuted lower factor `P L` of `a = P L U` (`scipy.linalg.lu(a, permute_l=True)[0]`):
/// `(rows, min(rows, cols))`.
pub fn permuted_lower<T: Real>(a: MatRef<'_, T>) -> Result<ColMajor<T>, KernelError> {
    let (m, n) = a.shape();
    let size = m.min(n);
    let mut lu = ColMajor::copy_of(a)?;
    let (_, bwd) = lu_in_place(lu.as_mut())?;
    let mut pl = ColMajor::<T>::zeros(m, size)?;
    for j in 0..size {
        let column = &mut pl.data[j * m..(j + 1) * m];
        for (r, value) in column.iter_mut().enumerate() {
            let i = bwd[r];
            *value = match i.cmp(&j) {
                std::cmp::Ordering::Greater => lu.at(i, j),
                std::cmp::Ordering::Equal => T::ONE,
                std::cmp::Ordering::Less => T::ZERO,
            };
        }
    }
    Ok(pl)
}

/// LU factors of a square matrix, for its inverse and determinant.
pub struct Lu<T> {
    lu: ColMajor<T>,
    fwd: Vec<usize>,
    bwd: Vec<usize>,
}

impl<T: Real> Lu<T> {
    pub fn new(a: MatRef<'_, T>) -> Result<Self, KernelError> {
        if a.nrows() != a.ncols() {
            return Err(KernelError::Shape("LU of a non-square matrix".into()));
        }
        let mut lu = ColMajor::copy_of(a)?;
        let (fwd, bwd) = lu_in_place(lu.as_mut())?;
        Ok(Lu { lu, fwd, bwd })
    }

    /// Whether a pivot is exactly zero (the matrix is singular).
    pub fn is_singular(&self) -> bool {
        (0..self.lu.rows).any(|i| self.lu.at(i, i) == T::ZERO)
    }

    /// The inverse (`scipy.linalg.inv`); `None` when the matrix is exactly singular.
    pub fn inverse(&self) -> Result<Option<ColMajor<T>>, KernelError> {
        let par = Par::Seq;
        if self.is_singular() {
            return Ok(None);
        }
        let n = self.lu.rows;
        let mut out = ColMajor::<T>::zeros(n, n)?;
        let perm = faer::perm::PermRef::new_checked(&self.fwd, &self.bwd, n);
        let mut buffer = workspace(
            faer::linalg::lu::partial_pivoting::inverse::inverse_scratch::<usize, T>(n, par),
        )?;
        faer::linalg::lu::partial_pivoting::inverse::inverse(
            out.as_mut(),
            self.lu.as_ref(),
            self.lu.as_ref(),
            perm,
            par,
            MemStack::new(&mut buffer),
        );
        Ok(Some(out))
    }

    /// `(sign, log|det|)` as `numpy.linalg.slogdet` gives them (sign 0 and `-inf` when singular).
    pub fn slogdet(&self) -> (f64, f64) {
        let n = self.lu.rows;
        let mut sign = permutation_sign(&self.fwd);
        let mut log_abs = 0.0f64;
        for i in 0..n {
            let pivot = self.lu.at(i, i).to_f64();
            if pivot == 0.0 {
                return (0.0, f64::NEG_INFINITY);
            }
            if pivot < 0.0 {
                sign = -sign;
            }
            log_abs += pivot.abs().ln();
        }
        (sign, log_abs)
    }
}

/// +1 for an even permutation, -1 for an odd one.
fn permutation_sign(perm: &[usize]) -> f64 {
    let mut seen = vec![false; perm.len()];
    let mut sign = 1.0;
    for start in 0..perm.len() {
        if seen[start] {
            continue;
        }
        let mut len = 0;
        let mut i = start;
        while !seen[i] {
            seen[i] = true;
            i = perm[i];
            len += 1;
        }
        if len % 2 == 0 {
            sign = -sign;
        }
    }
    sign
}

#[cfg(test)]
mod tests;
