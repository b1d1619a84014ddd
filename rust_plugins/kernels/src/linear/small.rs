//! A dense least-squares problem `min ||A x - Y||` (`A = sqrt(w)(X - 1 m^T)`, `Y` likewise)
//! reduced to a small one with the same solutions, `min ||M x - C||`, and the SVD of `M`.
//!
//! Tall data (`n >= d`): `M` and `C` are the blocks `R11`, `R12` of the `R` factor of `[A Y]`
//! (a parallel TSQR, `dense::tsqr`): `||A x - Y||^2 = ||R11 x - R12||^2 + ||R22||^2`, and `A`
//! and `R11` share their singular values and right singular vectors. Wide data: `M = A`.
//! LAPACK's `gelsd` (scipy's `lstsq`) and `gesdd` (scikit-learn's `_solve_svd`) work on `A`
//! itself; the answers agree to rounding.

use faer::{Accum, Par};

use super::Problem;
use crate::dense::gram::Design;
use crate::dense::{self, tsqr, ColMajor, Real};
use crate::samples::{Dense, Samples};
use crate::{KernelError, StopCheck};

pub struct SmallSystem<T> {
    pub m: ColMajor<T>,
    pub c: ColMajor<T>,
}

impl<T: Real> SmallSystem<T> {
    /// The system, or the non-finite error when X held NaN or infinity (no SVD runs on it).
    fn finite(self) -> Result<Self, KernelError> {
        let all = |m: &ColMajor<T>| m.data.iter().all(|v| v.is_finite());
        if all(&self.m) && all(&self.c) {
            Ok(self)
        } else {
            Err(KernelError::InvalidArgument(
                crate::error::NON_FINITE.into(),
            ))
        }
    }
}

/// Reduces the dense problem, centred on the given offsets.
pub fn reduce<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    x_offset: &[f64],
    y_offset: &[f64],
    stop: StopCheck,
) -> Result<SmallSystem<T>, KernelError> {
    let (n, d, t) = (x.n_samples(), x.n_features(), p.n_targets);
    let shift: Vec<T> = x_offset
        .iter()
        .chain(y_offset)
        .map(|&v| T::from_f64(v))
        .collect();
    if n >= d {
        let design = Design {
            x,
            targets: p.targets,
            n_targets: t,
            weights: p.weights,
            centred: p.fit_intercept,
        };
        let r = tsqr::design_r(design, &shift, stop)?;
        let mut m = ColMajor::zeros(d, d)?;
        let mut c = ColMajor::zeros(d, t)?;
        for j in 0..d {
            m.data[j * d..(j + 1) * d].copy_from_slice(&r.col(j)[..d]);
        }
        for k in 0..t {
            c.data[k * d..(k + 1) * d].copy_from_slice(&r.col(d + k)[..d]);
        }
        return SmallSystem { m, c }.finite();
    }
    let mut m = ColMajor::zeros(n, d)?;
    let mut c = ColMajor::zeros(n, t)?;
    for i in 0..n {
        let root = p.weights.map(|w| T::from_f64(w[i].to_f64().sqrt()));
        let scaled = |v: T| root.map_or(v, |r| v * r);
        for (j, (&v, &s)) in x.row(i).iter().zip(&shift).enumerate() {
            m.data[j * n + i] = scaled(v - s);
        }
        let y = &p.targets[i * t..(i + 1) * t];
        for (k, (&v, &s)) in y.iter().zip(&shift[d..]).enumerate() {
            c.data[k * n + i] = scaled(v - s);
        }
    }
    SmallSystem { m, c }.finite()
}

/// `M = U diag(s) V^T` with `U^T C`: every filtered solution `V diag(f(s)) U^T C`.
pub struct Spectral<T> {
    pub s: Vec<T>,
    pub v: ColMajor<T>,
    pub utc: ColMajor<T>,
}

impl<T: Real> Spectral<T> {
    pub fn of(system: &SmallSystem<T>) -> Result<Self, KernelError> {
        let svd = dense::svd(system.m.as_ref(), true)?;
        let u = svd.u.expect("asked for U");
        let utc = dense::product(u.as_ref().transpose(), system.c.as_ref(), Par::Seq)?;
        Ok(Spectral {
            s: svd.s,
            v: svd.v,
            utc,
        })
    }

    /// `V diag(filter(s_i, target)) U^T c_target` for every target: `(t, d)` row-major.
    pub fn solve(&self, filter: impl Fn(T, usize) -> T) -> Result<Vec<T>, KernelError> {
        let (d, k, t) = (self.v.rows, self.s.len(), self.utc.cols);
        let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
        let mut scaled = ColMajor::<T>::zeros(k, 1)?;
        for target in 0..t {
            for i in 0..k {
                scaled.data[i] = filter(self.s[i], target) * self.utc.at(i, target);
            }
            let out = dense::row_major_mut(&mut coef[target * d..(target + 1) * d], d, 1);
            dense::matmul(
                out,
                Accum::Replace,
                self.v.as_ref(),
                scaled.as_ref(),
                T::ONE,
                Par::Seq,
            );
        }
        Ok(coef)
    }

    /// The number of singular values above `cond * s_max` (`gelsd`'s effective rank).
    pub fn rank(&self, cond: f64) -> usize {
        let cutoff = cond * self.s.first().map_or(0.0, |s| s.to_f64());
        self.s.iter().filter(|s| s.to_f64() > cutoff).count()
    }

    /// Minimum-norm least squares with `gelsd`'s cutoff.
    pub fn min_norm(&self, cond: f64) -> Result<Vec<T>, KernelError> {
        let cutoff = cond * self.s.first().map_or(0.0, |s| s.to_f64());
        self.solve(|s, _| {
            if s.to_f64() > cutoff {
                T::ONE / s
            } else {
                T::ZERO
            }
        })
    }
}

/// Minimum-norm least squares on a subset of `m`'s columns (float64 right-hand side), for
/// the active-set NNLS: `argmin ||M[:, columns] z - c||`.
pub fn min_norm_columns<T: Real>(
    m: &ColMajor<T>,
    columns: &[usize],
    c: &[f64],
) -> Result<Vec<f64>, KernelError> {
    let rows = m.rows;
    let mut sub = ColMajor::<f64>::zeros(rows, columns.len())?;
    for (k, &j) in columns.iter().enumerate() {
        for (dst, v) in sub.data[k * rows..(k + 1) * rows].iter_mut().zip(m.col(j)) {
            *dst = v.to_f64();
        }
    }
    let mut rhs = ColMajor::<f64>::zeros(rows, 1)?;
    rhs.data.copy_from_slice(c);
    let spectral = Spectral::of(&SmallSystem { m: sub, c: rhs })?;
    spectral.min_norm(f64::EPSILON * rows.max(columns.len()) as f64)
}
