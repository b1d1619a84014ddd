//! Least squares and ridge regression: scikit-learn's `LinearRegression` and `Ridge`.
//!
//! A [`Problem`] is the design (dense or CSR `X`, targets `Y`, sample weights, intercept or
//! not); the solvers fit `min ||sqrt(w) (Y - X B - 1 b^T)||^2 + alpha ||B||^2` as
//! scikit-learn does: centred on the weighted means (`_preprocess_data`), rows scaled by
//! `sqrt(w)` (`_rescale_data`), intercept `b = m_y - B^T m_x` (`_set_intercept`).
//!
//! - Dense least squares: the minimum-norm solution with `gelsd`'s rank cutoff
//!   (`cond = tol`). float64 data that the one-pass Gram matrix shows to be far from the
//!   cutoff (condition number at most [`GRAM_MAX_CONDITION`]) is solved from it (one read of
//!   X: `X^T X`, `X^T y` together); anything else through the SVD of the small system a
//!   parallel TSQR reduces the problem to ([`small`]). `positive` runs NNLS on that system.
//! - Ridge: `cholesky` from the same one-pass Gram matrix (its dual form with the kernel
//!   matrix when `d > n`), with scipy's ill-conditioning estimate; `svd` from the small
//!   system's SVD; `lsqr` and `sparse_cg` as ports of scipy's iterative solvers on the
//!   implicitly centred operator ([`operator`]); positive coefficients by NNLS on the
//!   augmented system `[M; sqrt(alpha) I]`, which is the exact minimiser scikit-learn's
//!   L-BFGS-B approaches.
//! - Sparse least squares: LSQR, as scikit-learn.

pub mod cg;
pub mod lsqr;
pub mod nnls;
pub mod operator;
pub mod predict;
pub mod sag;
pub mod small;
pub mod spd;

#[cfg(test)]
mod tests;

use faer::Par;
use rayon::prelude::*;

use crate::blocks;
use crate::dense::gram::{self, Design};
use crate::dense::{self, ColMajor, Real};
use crate::error::NON_FINITE;
use crate::samples::Dense;
use crate::{KernelError, StopCheck};
use operator::{Centred, Rows};
use small::{SmallSystem, Spectral};

/// Largest condition number of the centred design for which float64 least squares is solved
/// from the Gram matrix: its error is then at most about `1e8` ulps of the coefficients'
/// scale, and the rank is far from any cutoff scikit-learn's `tol` sets below `1e-6`.
pub const GRAM_MAX_CONDITION: f64 = 1e4;

/// The regression problem as scikit-learn's linear models see it.
pub struct Problem<'a, T> {
    pub rows: Rows<'a, T>,
    /// `(n, t)` row-major.
    pub targets: &'a [T],
    pub n_targets: usize,
    pub weights: Option<&'a [T]>,
    pub fit_intercept: bool,
}

/// A fitted linear model and what scikit-learn reports about the fit.
pub struct Fit<T> {
    /// `(t, d)` row-major.
    pub coef: Vec<T>,
    pub intercept: Vec<T>,
    pub rank: Option<usize>,
    pub singular: Option<Vec<T>>,
    pub n_iter: Option<Vec<usize>>,
    /// The solver that produced the coefficients (scikit-learn's `solver_`).
    pub solver: &'static str,
    /// Reciprocal condition numbers of the systems solved whose value makes scipy warn
    /// "Ill-conditioned matrix".
    pub ill_conditioned: Vec<f64>,
    /// The dual system was singular and its least-squares solution was used (scikit-learn's
    /// "Singular matrix in solving dual problem" warning).
    pub singular_dual: bool,
    /// SAG's weights overflowed at this epoch (scikit-learn raises a ValueError).
    pub overflow_epoch: Option<usize>,
}

impl<T: Real> Fit<T> {
    fn new(coef: Vec<T>, solver: &'static str) -> Self {
        Fit {
            coef,
            intercept: Vec::new(),
            rank: None,
            singular: None,
            n_iter: None,
            solver,
            ill_conditioned: Vec::new(),
            singular_dual: false,
            overflow_epoch: None,
        }
    }

    /// `b = m_y - B m_x` (zero without an intercept).
    fn with_intercept(mut self, x_offset: &[f64], y_offset: &[f64]) -> Self {
        let d = x_offset.len();
        self.intercept = y_offset
            .iter()
            .enumerate()
            .map(|(k, &my)| {
                let row = &self.coef[k * d..(k + 1) * d];
                let dot: f64 = row.iter().zip(x_offset).map(|(c, m)| c.to_f64() * m).sum();
                T::from_f64(my - dot)
            })
            .collect();
        self
    }
}

impl<'a, T: Real> Problem<'a, T> {
    pub fn check(&self) -> Result<(), KernelError> {
        let n = self.rows.n_samples();
        if self.targets.len() != n * self.n_targets {
            return Err(KernelError::Shape(format!(
                "{} target values for {n} samples and {} targets",
                self.targets.len(),
                self.n_targets
            )));
        }
        if self.weights.is_some_and(|w| w.len() != n) {
            return Err(KernelError::Shape(format!("weights are not of length {n}")));
        }
        Ok(())
    }

    fn shape(&self) -> (usize, usize, usize) {
        (
            self.rows.n_samples(),
            self.rows.n_features(),
            self.n_targets,
        )
    }

    fn weight(&self, i: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[i].to_f64())
    }

    /// The weighted means of X's columns and of the targets (`X_offset`, `y_offset`), zeros
    /// without an intercept. Blocks are summed in order, so any thread count gives the same.
    pub fn offsets(&self, stop: StopCheck) -> Result<(Vec<f64>, Vec<f64>), KernelError> {
        let (n, d, t) = self.shape();
        if !self.fit_intercept {
            return Ok((vec![0.0; d], vec![0.0; t]));
        }
        let parts = blocks::partition(n, d + t);
        let partials: Vec<(Vec<f64>, f64)> = parts
            .into_par_iter()
            .map(|block| {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let mut sums = vec![0.0; d + t];
                let mut weight = 0.0;
                for i in block {
                    let w = self.weight(i);
                    weight += w;
                    let (sx, sy) = sums.split_at_mut(d);
                    match &self.rows {
                        Rows::Dense(x) => sx
                            .iter_mut()
                            .zip(x.row(i))
                            .for_each(|(s, v)| *s += w * v.to_f64()),
                        Rows::Csr(x) => {
                            let (indices, values) = x.row(i);
                            for (&j, v) in indices.iter().zip(values) {
                                sx[j as usize] += w * v.to_f64();
                            }
                        }
                    }
                    sy.iter_mut()
                        .zip(&self.targets[i * t..(i + 1) * t])
                        .for_each(|(s, v)| *s += w * v.to_f64());
                }
                Ok((sums, weight))
            })
            .collect::<Result<_, _>>()?;
        let mut sums = vec![0.0; d + t];
        let mut weight = 0.0;
        for (s, w) in partials {
            sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
            weight += w;
        }
        sums.iter_mut().for_each(|s| *s /= weight);
        let y = sums.split_off(d);
        Ok((sums, y))
    }

    /// Target `k`, centred and scaled: `sqrt(w) (y_k - m_y)`.
    fn target_column(&self, k: usize, y_offset: &[f64]) -> Vec<f64> {
        let (n, _, t) = self.shape();
        (0..n)
            .map(|i| self.weight(i).sqrt() * (self.targets[i * t + k].to_f64() - y_offset[k]))
            .collect()
    }

    fn operator(&self, x_offset: Vec<f64>) -> Centred<'a, T> {
        Centred::new(self.rows, x_offset, self.weights)
    }

    fn design<'b>(&'b self, x: &'b Dense<'b, T>) -> Design<'b, T> {
        Design {
            x,
            targets: self.targets,
            n_targets: self.n_targets,
            weights: self.weights,
            centred: self.fit_intercept,
        }
    }
}

/// The Gram blocks of a dense design: `X^T X`, `X^T Y` (centred, weighted) and the offsets.
struct Gram<T> {
    xtx: ColMajor<T>,
    xty: ColMajor<T>,
    x_offset: Vec<f64>,
    y_offset: Vec<f64>,
}

fn gram<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    stop: StopCheck,
) -> Result<Gram<T>, KernelError> {
    let (_, d, t) = p.shape();
    let moments = gram::design_moments(p.design(x), stop)?;
    let mut xtx = ColMajor::zeros(d, d)?;
    let mut xty = ColMajor::zeros(d, t)?;
    for j in 0..d {
        xtx.data[j * d..(j + 1) * d].copy_from_slice(&moments.scatter.col(j)[..d]);
    }
    for k in 0..t {
        xty.data[k * d..(k + 1) * d].copy_from_slice(&moments.scatter.col(d + k)[..d]);
    }
    let mut mean = moments.mean;
    let finite = mean.iter().all(|m| m.is_finite())
        && (0..d).all(|j| xtx.at(j, j).is_finite())
        && xty.data.iter().all(|v| v.is_finite());
    if !finite {
        return Err(KernelError::InvalidArgument(NON_FINITE.into()));
    }
    let y_offset = mean.split_off(d);
    Ok(Gram {
        xtx,
        xty,
        x_offset: mean,
        y_offset,
    })
}

/// scikit-learn's `LinearRegression.fit` numerics. `tol` is scipy's `lstsq` cutoff for dense
/// X and LSQR's `atol`/`btol` for sparse X.
pub fn linear_regression<T: Real>(
    p: &Problem<'_, T>,
    tol: f64,
    positive: bool,
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    p.check()?;
    let (n, d, t) = p.shape();
    match &p.rows {
        Rows::Dense(x) if positive => {
            let (x_offset, y_offset) = p.offsets(stop)?;
            let system = small::reduce(p, x, &x_offset, &y_offset, stop)?;
            let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
            for k in 0..t {
                let c: Vec<f64> = system.c.col(k).iter().map(|v| v.to_f64()).collect();
                let solution = nnls::nnls(&system.m, &c)?;
                set_row(&mut coef, k, d, solution);
            }
            Ok(Fit::new(coef, "nnls").with_intercept(&x_offset, &y_offset))
        }
        Rows::Dense(x) => {
            let use_gram = T::EPSILON.to_f64() < 1e-10 && n >= d && d > 0;
            if use_gram {
                if let Some(fit) = least_squares_from_gram(p, x, tol, stop)? {
                    return Ok(fit);
                }
            }
            let (x_offset, y_offset) = p.offsets(stop)?;
            let system = small::reduce(p, x, &x_offset, &y_offset, stop)?;
            let spectral = Spectral::of(&system)?;
            let mut fit = Fit::new(spectral.min_norm(tol)?, "lstsq");
            fit.rank = Some(spectral.rank(tol));
            fit.singular = Some(spectral.s.clone());
            Ok(fit.with_intercept(&x_offset, &y_offset))
        }
        Rows::Csr(_) => {
            let (x_offset, y_offset) = p.offsets(stop)?;
            let operator = p.operator(x_offset.clone());
            let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
            for k in 0..t {
                let b = p.target_column(k, &y_offset);
                let solution = lsqr::lsqr(&operator, &b, 0.0, tol, tol, None, stop)?;
                set_row(&mut coef, k, d, solution.x);
            }
            Ok(Fit::new(coef, "lsqr").with_intercept(&x_offset, &y_offset))
        }
    }
}

/// Least squares from the one-pass Gram matrix when the design is well conditioned (see
/// [`GRAM_MAX_CONDITION`]); `None` when it is not.
fn least_squares_from_gram<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    tol: f64,
    stop: StopCheck,
) -> Result<Option<Fit<T>>, KernelError> {
    let d = p.rows.n_features();
    let g = gram(p, x, stop)?;
    let (eigenvalues, vectors) = dense::eigh(g.xtx.as_ref())?;
    let (smallest, largest) = (eigenvalues[0].to_f64(), eigenvalues[d - 1].to_f64());
    let min_ratio = (1.0 / GRAM_MAX_CONDITION).max(100.0 * tol);
    if !(largest > 0.0 && smallest > 0.0 && smallest >= min_ratio * min_ratio * largest) {
        return Ok(None);
    }
    // B = V diag(1 / lambda) V^T X^T Y
    let vty = dense::product(vectors.as_ref().transpose(), g.xty.as_ref(), Par::Seq)?;
    let mut scaled = vty;
    for column in scaled.data.chunks_exact_mut(d) {
        column
            .iter_mut()
            .zip(&eigenvalues)
            .for_each(|(v, l)| *v /= *l);
    }
    let coef_columns = dense::product(vectors.as_ref(), scaled.as_ref(), Par::Seq)?;
    let mut fit = Fit::new(coef_columns.data, "lstsq");
    fit.rank = Some(d);
    fit.singular = Some(eigenvalues.iter().rev().map(|&l| l.sqrt()).collect());
    Ok(Some(fit.with_intercept(&g.x_offset, &g.y_offset)))
}

/// Row `k` of the `(t, d)` coefficients from float64 values.
fn set_row<T: Real>(coef: &mut [T], k: usize, d: usize, values: impl IntoIterator<Item = f64>) {
    coef[k * d..(k + 1) * d]
        .iter_mut()
        .zip(values)
        .for_each(|(dst, v)| *dst = T::from_f64(v));
}

/// Ridge's solvers (scikit-learn's names; `Positive` is its `lbfgs` with `positive=True`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RidgeSolver {
    Cholesky,
    Svd,
    Lsqr,
    SparseCg,
    Positive,
    /// SAG (`saga: false`) or SAGA, with scikit-learn's `make_dataset` seed of each target.
    Sag {
        saga: bool,
        seeds: Vec<u32>,
    },
}

/// scipy's threshold for its ill-conditioning warning: T's machine epsilon.
fn warning_rcond<T: Real>() -> f64 {
    T::EPSILON.to_f64()
}

/// scikit-learn's `Ridge.fit` numerics (`_ridge_regression` after `_preprocess_data`), with
/// one penalty per target.
pub fn ridge<T: Real>(
    p: &Problem<'_, T>,
    alpha: &[f64],
    solver: RidgeSolver,
    tol: f64,
    max_iter: Option<usize>,
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    p.check()?;
    let (n, d, t) = p.shape();
    if alpha.len() != t {
        return Err(KernelError::Shape(format!(
            "{} penalties for {t} targets",
            alpha.len()
        )));
    }
    match (&solver, &p.rows) {
        (RidgeSolver::Cholesky, Rows::Dense(x)) if d > n => ridge_dual(p, x, alpha, stop),
        (RidgeSolver::Cholesky, Rows::Dense(x)) => ridge_primal(p, x, alpha, stop),
        (RidgeSolver::Svd, Rows::Dense(x)) => ridge_svd(p, x, alpha, stop),
        (RidgeSolver::Positive, Rows::Dense(x)) => ridge_positive(p, x, alpha, stop),
        (RidgeSolver::Positive, Rows::Csr(x)) => ridge_positive_sparse(p, x, alpha, stop),
        (RidgeSolver::Lsqr, _) => {
            let (x_offset, y_offset) = p.offsets(stop)?;
            let operator = p.operator(x_offset.clone());
            let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
            let mut n_iter = Vec::with_capacity(t);
            for (k, a) in alpha.iter().enumerate() {
                let b = p.target_column(k, &y_offset);
                let damp = a.sqrt();
                let solution = lsqr::lsqr(&operator, &b, damp, tol, tol, max_iter, stop)?;
                set_row(&mut coef, k, d, solution.x);
                n_iter.push(solution.iterations);
            }
            let mut fit = Fit::new(coef, "lsqr");
            fit.n_iter = Some(n_iter);
            Ok(fit.with_intercept(&x_offset, &y_offset))
        }
        (RidgeSolver::SparseCg, _) => ridge_sparse_cg(p, alpha, tol, max_iter, stop),
        (RidgeSolver::Sag { saga, seeds }, _) => {
            ridge_sag(p, alpha, *saga, seeds, tol, max_iter.unwrap_or(1000), stop)
        }
        (solver, Rows::Csr(_)) => Err(KernelError::InvalidArgument(format!(
            "the {solver:?} solver does not take sparse input here"
        ))),
    }
}

/// `(X^T X + alpha I) B = X^T Y` from the one-pass Gram matrix; scipy's "Matrix is singular"
/// sends scikit-learn to the SVD solver, and so here.
fn ridge_primal<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    alpha: &[f64],
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let g = gram(p, x, stop)?;
    let Penalised::Solved(coef_columns, ill_conditioned) = solve_penalised(&g.xtx, &g.xty, alpha)?
    else {
        return ridge_svd(p, x, alpha, stop);
    };
    let mut fit = Fit::new(coef_columns.data, "cholesky");
    fit.ill_conditioned = ill_conditioned;
    Ok(fit.with_intercept(&g.x_offset, &g.y_offset))
}

/// The dual form for `d > n`: `(K + alpha I) D = Y` with `K = A A^T`, `B = A^T D`
/// (scikit-learn's `_solve_cholesky_kernel`).
fn ridge_dual<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    alpha: &[f64],
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let (x_offset, y_offset) = p.offsets(stop)?;
    let SmallSystem { m: a, c: y } = small::reduce(p, x, &x_offset, &y_offset, stop)?;
    let kernel = dense::product(a.as_ref(), a.as_ref().transpose(), dense::par())?;
    let (dual, ill_conditioned, singular_dual) = match solve_penalised(&kernel, &y, alpha)? {
        Penalised::Solved(dual, ill) => (dual, ill, false),
        // One penalty: scikit-learn warns and takes scipy's least-squares solution.
        Penalised::NotPositiveDefinite(system) if alpha.iter().all(|&v| v == alpha[0]) => {
            let spectral = Spectral::of(&SmallSystem { m: system, c: y })?;
            let n = kernel.rows;
            let mut dual = ColMajor::zeros(n, p.n_targets)?;
            dual.data
                .copy_from_slice(&spectral.min_norm(T::EPSILON.to_f64())?);
            (dual, Vec::new(), true)
        }
        Penalised::NotPositiveDefinite(_) => return ridge_svd(p, x, alpha, stop),
    };
    let coef_columns = dense::product(a.as_ref().transpose(), dual.as_ref(), dense::par())?;
    let mut fit = Fit::new(coef_columns.data, "cholesky");
    fit.ill_conditioned = ill_conditioned;
    fit.singular_dual = singular_dual;
    Ok(fit.with_intercept(&x_offset, &y_offset))
}

enum Penalised<T> {
    /// The solutions (one column per target) and the reciprocal condition numbers scipy
    /// would warn about.
    Solved(ColMajor<T>, Vec<f64>),
    /// A system `A + alpha I` that Cholesky found not positive definite.
    NotPositiveDefinite(ColMajor<T>),
}

/// `(A + alpha_k I) x_k = b_k` for every target `k`, as scikit-learn solves them: one
/// factorisation for all targets when the penalties are equal, one per target otherwise.
fn solve_penalised<T: Real>(
    a: &ColMajor<T>,
    b: &ColMajor<T>,
    alpha: &[f64],
) -> Result<Penalised<T>, KernelError> {
    let (n, t) = (a.rows, b.cols);
    let groups: Vec<(f64, Vec<usize>)> = if alpha.iter().all(|&v| v == alpha[0]) {
        vec![(alpha[0], (0..t).collect())]
    } else {
        alpha
            .iter()
            .enumerate()
            .map(|(k, &v)| (v, vec![k]))
            .collect()
    };
    let mut solutions = ColMajor::<T>::zeros(n, t)?;
    let mut ill_conditioned = Vec::new();
    for (value, targets) in groups {
        let mut system = a.clone();
        for i in 0..n {
            system.data[i * n + i] += T::from_f64(value);
        }
        let mut rhs = ColMajor::zeros(n, targets.len())?;
        for (c, &k) in targets.iter().enumerate() {
            rhs.data[c * n..(c + 1) * n].copy_from_slice(b.col(k));
        }
        let Some(solved) = spd::solve(&system, &rhs)? else {
            return Ok(Penalised::NotPositiveDefinite(system));
        };
        // scipy warns unless rcond >= eps, so a NaN estimate warns too.
        if solved.rcond.is_nan() || solved.rcond < warning_rcond::<T>() {
            ill_conditioned.push(solved.rcond);
        }
        for (c, &k) in targets.iter().enumerate() {
            solutions.data[k * n..(k + 1) * n].copy_from_slice(solved.x.col(c));
        }
    }
    Ok(Penalised::Solved(solutions, ill_conditioned))
}

/// `B = V diag(s / (s^2 + alpha)) U^T Y`, singular values at most `1e-15` dropped
/// (scikit-learn's `_solve_svd`).
fn ridge_svd<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    alpha: &[f64],
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let (x_offset, y_offset) = p.offsets(stop)?;
    let system = small::reduce(p, x, &x_offset, &y_offset, stop)?;
    let spectral = Spectral::of(&system)?;
    let coef = spectral.solve(|s, k| {
        if s.to_f64() > 1e-15 {
            s / (s * s + T::from_f64(alpha[k]))
        } else {
            T::ZERO
        }
    })?;
    Ok(Fit::new(coef, "svd").with_intercept(&x_offset, &y_offset))
}

/// Non-negative ridge coefficients: NNLS on `[M; sqrt(alpha) I]`, `[c; 0]`.
fn ridge_positive<T: Real>(
    p: &Problem<'_, T>,
    x: &Dense<'_, T>,
    alpha: &[f64],
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let (_, d, t) = p.shape();
    let (x_offset, y_offset) = p.offsets(stop)?;
    let system = small::reduce(p, x, &x_offset, &y_offset, stop)?;
    let rows = system.m.rows;
    let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
    for (k, a) in alpha.iter().enumerate() {
        let mut augmented = ColMajor::<T>::zeros(rows + d, d)?;
        for j in 0..d {
            augmented.data[j * (rows + d)..j * (rows + d) + rows].copy_from_slice(system.m.col(j));
            augmented.data[j * (rows + d) + rows + j] = T::from_f64(a.sqrt());
        }
        let mut c: Vec<f64> = system.c.col(k).iter().map(|v| v.to_f64()).collect();
        c.resize(rows + d, 0.0);
        let solution = nnls::nnls(&augmented, &c)?;
        set_row(&mut coef, k, d, solution);
    }
    Ok(Fit::new(coef, "lbfgs").with_intercept(&x_offset, &y_offset))
}

/// Non-negative ridge coefficients on CSR data: with `L L^T = A^T A + alpha I` (the weighted,
/// centred Gram matrix plus the penalty), `||A b - y||^2 + alpha ||b||^2` is
/// `||L^T b - L^{-1} A^T y||^2` up to a constant, so NNLS on that `(d, d)` system is the exact
/// constrained minimiser. The Gram matrix is centred as `X^T W X - w m m^T`, as scikit-learn
/// centres sparse data.
fn ridge_positive_sparse<T: Real>(
    p: &Problem<'_, T>,
    x: &crate::samples::Csr<'_, T>,
    alpha: &[f64],
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let (n, d, t) = p.shape();
    let (x_offset, y_offset) = p.offsets(stop)?;
    let (_, gram_t) = gram::sparse_weighted_gram(x, p.weights, stop)?;
    let total_weight: f64 = match p.weights {
        Some(w) => w.iter().map(|v| v.to_f64()).sum(),
        None => n as f64,
    };
    let mut xtx = ColMajor::<f64>::zeros(d, d)?;
    for j in 0..d {
        for i in 0..d {
            let centring = if p.fit_intercept {
                total_weight * x_offset[i] * x_offset[j]
            } else {
                0.0
            };
            xtx.data[j * d + i] = gram_t.at(i, j).to_f64() - centring;
        }
    }
    if !xtx.data.iter().all(|v| v.is_finite()) {
        return Err(KernelError::InvalidArgument(NON_FINITE.into()));
    }
    let operator = p.operator(x_offset.clone());
    let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
    for (k, a) in alpha.iter().enumerate() {
        let mut rhs = ColMajor::<f64>::zeros(d, 1)?;
        operator.rmatvec(&p.target_column(k, &y_offset), &mut rhs.data, stop)?;
        let mut system = xtx.clone();
        for j in 0..d {
            system.data[j * d + j] += a;
        }
        let Some(l) = spd::lower_factor(&system)? else {
            return Err(KernelError::InvalidArgument(
                "the penalised Gram matrix is not positive definite".into(),
            ));
        };
        spd::solve_lower(&l, &mut rhs);
        let mut upper = ColMajor::<f64>::zeros(d, d)?;
        for j in 0..d {
            for i in 0..=j {
                upper.data[j * d + i] = l.at(j, i);
            }
        }
        let solution = nnls::nnls(&upper, &rhs.data)?;
        set_row(&mut coef, k, d, solution);
    }
    Ok(Fit::new(coef, "lbfgs").with_intercept(&x_offset, &y_offset))
}

/// scikit-learn's `_solve_sparse_cg`: CG on `A^T A + alpha I` (or on the kernel operator
/// `A A^T + alpha I` when `d > n`, where scikit-learn passes no iteration limit).
fn ridge_sparse_cg<T: Real>(
    p: &Problem<'_, T>,
    alpha: &[f64],
    tol: f64,
    max_iter: Option<usize>,
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let (n, d, t) = p.shape();
    let (x_offset, y_offset) = p.offsets(stop)?;
    let operator = p.operator(x_offset.clone());
    let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
    for (k, &a) in alpha.iter().enumerate() {
        let y = p.target_column(k, &y_offset);
        let solution = if d > n {
            let mut tmp = vec![0.0; d];
            let (z, _) = cg::cg(&y, tol, None, stop, |v, out| {
                operator.rmatvec(v, &mut tmp, stop)?;
                operator.matvec(&tmp, out, stop)?;
                out.iter_mut().zip(v).for_each(|(o, x)| *o += a * x);
                Ok(())
            })?;
            let mut b = vec![0.0; d];
            operator.rmatvec(&z, &mut b, stop)?;
            b
        } else {
            let mut rhs = vec![0.0; d];
            operator.rmatvec(&y, &mut rhs, stop)?;
            let mut tmp = vec![0.0; n];
            cg::cg(&rhs, tol, max_iter, stop, |v, out| {
                operator.matvec(v, &mut tmp, stop)?;
                operator.rmatvec(&tmp, out, stop)?;
                out.iter_mut().zip(v).for_each(|(o, x)| *o += a * x);
                Ok(())
            })?
            .0
        };
        set_row(&mut coef, k, d, solution);
    }
    Ok(Fit::new(coef, "sparse_cg").with_intercept(&x_offset, &y_offset))
}

/// scikit-learn's `sag_solver` per target: on dense data X and y centred (the intercept
/// follows from the offsets); on sparse data with an intercept, SAG fits the intercept itself
/// (with scikit-learn's sparse intercept decay) and `y` alone is centred.
fn ridge_sag<T: Real>(
    p: &Problem<'_, T>,
    alpha: &[f64],
    saga: bool,
    seeds: &[u32],
    tol: f64,
    max_iter: usize,
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let (n, d, t) = p.shape();
    if seeds.len() != t {
        return Err(KernelError::Shape(format!(
            "{} seeds for {t} targets",
            seeds.len()
        )));
    }
    let (x_offset, y_offset) = p.offsets(stop)?;
    let sparse = matches!(p.rows, Rows::Csr(_));
    let centre_x = p.fit_intercept && !sparse;
    let offset: Vec<T> = if centre_x {
        x_offset.iter().map(|&m| T::from_f64(m)).collect()
    } else {
        vec![T::ZERO; d]
    };
    let rows = p.rows;
    let ones;
    let weights = match p.weights {
        Some(w) => w,
        None => {
            ones = crate::alloc::filled(&[n], T::ONE)?;
            &ones
        }
    };
    let max_squared_sum = sag::max_squared_sum(&rows, &offset);
    let mut coef = crate::alloc::filled(&[t, d], T::ZERO)?;
    let mut intercepts = vec![T::ZERO; t];
    let mut n_iter = Vec::with_capacity(t);
    let mut overflow_epoch = None;
    for k in 0..t {
        let y_offset_t = T::from_f64(y_offset[k]);
        let y: Vec<T> = (0..n).map(|i| p.targets[i * t + k] - y_offset_t).collect();
        let alpha_scaled = alpha[k] / n as f64;
        let fit_intercept = p.fit_intercept && sparse;
        let settings = sag::SagSettings {
            saga,
            alpha_scaled,
            step_size: sag::auto_step_size(max_squared_sum, alpha_scaled, fit_intercept, n, saga),
            max_iter,
            tol,
            seed: seeds[k],
            fit_intercept,
            intercept_decay: if sparse { 0.01 } else { 1.0 },
        };
        let fit = sag::sag(&rows, &offset, &y, weights, &settings, stop)?;
        coef[k * d..(k + 1) * d].copy_from_slice(&fit.coef);
        intercepts[k] = fit.intercept + y_offset_t;
        n_iter.push(fit.n_iter);
        if fit.overflow_epoch.is_some() {
            overflow_epoch = fit.overflow_epoch;
            break;
        }
    }
    let name = if saga { "saga" } else { "sag" };
    let mut fit = if centre_x || !p.fit_intercept {
        Fit::new(coef, name).with_intercept(&x_offset, &y_offset)
    } else {
        let mut fit = Fit::new(coef, name);
        fit.intercept = intercepts;
        fit
    };
    fit.n_iter = Some(n_iter);
    fit.overflow_epoch = overflow_epoch;
    Ok(fit)
}
