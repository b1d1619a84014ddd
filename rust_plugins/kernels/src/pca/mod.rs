//! PCA (scikit-learn's `decomposition/_pca.py`): the four solvers on the dense linear algebra
//! of [`crate::dense`], scikit-learn's sign convention and its choice of the number of
//! components. Projections, covariance, precision and log-likelihoods are in [`project`].
//!
//! - `full`: thin SVD of the centred data (LAPACK's `gesdd` in scikit-learn, faer here).
//! - `covariance_eigh`: eigendecomposition of the covariance matrix, built in one pass over X.
//! - `arpack`: scikit-learn calls ARPACK for the leading `k` singular triplets; they are
//!   computed exactly here (thin SVD for dense data, the covariance for sparse data), which gives
//!   the subspace ARPACK converges to.
//! - `randomized`: Halko et al.'s randomized SVD as scikit-learn runs it (same Gaussian test
//!   matrix, power iterations with its normalisers), with the data centred implicitly.

pub mod project;
mod randomized;
mod spectrum;

use rayon::prelude::*;

use crate::dense::{self, gram, ColMajor, Real};
use crate::samples::{Csr, Dense, Samples};
use crate::stats;
use crate::{KernelError, StopCheck};

pub use randomized::{Normalizer, Randomized};
pub use spectrum::{infer_dimension, NComponents};

/// The solver scikit-learn's `_fit_svd_solver` names.
pub enum Solver<'a> {
    Full,
    CovarianceEigh,
    Arpack,
    Randomized(Randomized<'a>),
}

/// Everything a fit sets, as scikit-learn names it (row-major matrices).
pub struct Fit<T> {
    pub mean: Vec<T>,
    /// `(n_components, n_features)`
    pub components: Vec<T>,
    pub explained_variance: Vec<T>,
    pub explained_variance_ratio: Vec<T>,
    pub singular_values: Vec<T>,
    /// `None` where scikit-learn sets the Python float 0.0 (all components kept).
    pub noise_variance: Option<T>,
    pub n_components: usize,
    /// `fit_transform`'s result `(n_samples, n_components)` when asked for: `U * S` (or
    /// `U * sqrt(n_samples - 1)` when whitening) where the solver forms `U` (randomized),
    /// else the projection of the training data, which equals it.
    pub projected: Option<Vec<T>>,
}

/// The factorisation a solver produces before scikit-learn's post-processing.
struct Factors<T> {
    mean: Vec<T>,
    /// Singular values of the centred data, nonincreasing.
    s: Vec<T>,
    /// Right singular vectors as rows, `(s.len(), n_features)`, signs not yet fixed.
    vt: Vec<T>,
    /// Left singular vectors `(n_samples, s.len())` column-major, where the solver forms them.
    u: Option<ColMajor<T>>,
    /// `explained_variance_` as the solver computes it (`S^2 / (n - 1)` or eigenvalues).
    explained_variance: Vec<T>,
    /// Total variance for the truncated solvers (`None`: the sum of `explained_variance`).
    total_variance: Option<T>,
}

fn magnitude<T: Real>(v: T) -> T {
    if v < T::ZERO {
        -v
    } else {
        v
    }
}

/// scikit-learn's `svd_flip(U, Vt, u_based_decision=False)`: each row of `Vt` (and column of
/// `U`) is multiplied by the sign of its entry of largest magnitude (the first such entry).
fn flip_signs<T: Real>(vt: &mut [T], u: Option<&mut ColMajor<T>>, d: usize) {
    let mut signs = Vec::with_capacity(vt.len() / d.max(1));
    for row in vt.chunks_exact_mut(d) {
        let mut best = 0;
        for (j, v) in row.iter().enumerate() {
            if magnitude(*v) > magnitude(row[best]) {
                best = j;
            }
        }
        let sign = if row[best] > T::ZERO {
            T::ONE
        } else if row[best] < T::ZERO {
            -T::ONE
        } else {
            T::ZERO
        };
        row.iter_mut().for_each(|v| *v *= sign);
        signs.push(sign);
    }
    if let Some(u) = u {
        let n = u.rows;
        for (j, sign) in signs.into_iter().enumerate().take(u.cols) {
            u.data[j * n..(j + 1) * n]
                .iter_mut()
                .for_each(|v| *v *= sign);
        }
    }
}

/// Column means of the rows (accumulated in float64, as [`stats::feature_means`]); an error
/// when one is not finite, so that no factorisation runs on NaN or infinite values (the
/// caller validates finiteness with scikit-learn's message only when this fails).
fn means<T: Real, S: Samples<T>>(x: &S) -> Result<Vec<T>, KernelError> {
    finite_means(stats::feature_means(x))
}

fn finite_means<T: Real>(means: Vec<f64>) -> Result<Vec<T>, KernelError> {
    if means.iter().all(|m| m.is_finite()) {
        Ok(means.into_iter().map(T::from_f64).collect())
    } else {
        Err(KernelError::InvalidArgument(NON_FINITE.into()))
    }
}

pub use crate::error::NON_FINITE;

/// `X - mean` as a column-major `(n, d)` matrix (faer's layout for the SVD).
fn centred_copy<T: Real>(x: &Dense<'_, T>, mean: &[T]) -> Result<ColMajor<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let mut out = ColMajor::<T>::zeros(n, d)?;
    const COLUMNS: usize = 16;
    out.data
        .par_chunks_mut(n.max(1) * COLUMNS)
        .enumerate()
        .for_each(|(c, columns)| {
            let j0 = c * COLUMNS;
            let width = columns.len() / n.max(1);
            for i in 0..n {
                let row = &x.row(i)[j0..j0 + width];
                for (k, (v, m)) in row.iter().zip(&mean[j0..j0 + width]).enumerate() {
                    columns[k * n + i] = *v - *m;
                }
            }
        });
    Ok(out)
}

/// Transposes `v` (`(d, r)` column-major: vectors as columns) into rows `(r, d)`.
fn columns_as_rows<T: Real>(v: &ColMajor<T>, count: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(count * v.rows);
    for j in 0..count {
        out.extend_from_slice(v.col(j));
    }
    out
}

fn squared_singular_values<T: Real>(s: &[T], n_samples: usize) -> Vec<T> {
    let denominator = T::from_f64((n_samples as f64) - 1.0);
    s.iter().map(|&v| v * v / denominator).collect()
}

/// `full` (and dense `arpack`): thin SVD of the centred data. `U` is not formed:
/// `fit_transform`'s `U S` is `(X - mean) V`, computed as a projection afterwards. Tall data
/// is first reduced to its `(d, d)` `R` factor (parallel TSQR), which has the same singular
/// values and right singular vectors.
fn svd_factors<T: Real>(
    x: &Dense<'_, T>,
    truncated: bool,
    stop: StopCheck,
) -> Result<Factors<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let mean = means(x)?;
    let f = if n >= 2 * d {
        let r = dense::tsqr::shifted_r(x, &mean, stop)?;
        dense::svd(r.as_ref(), false)?
    } else {
        let centred = centred_copy(x, &mean)?;
        if stop() {
            return Err(KernelError::Interrupted);
        }
        dense::svd(centred.as_ref(), false)?
    };
    // scikit-learn's truncated solvers divide by the total variance of the centred data: the
    // sum of all its squared singular values.
    let total_variance = truncated.then(|| {
        let sum: T = f.s.iter().map(|&v| v * v).sum();
        sum / T::from_f64(n as f64 - 1.0)
    });
    let vt = columns_as_rows(&f.v, f.s.len());
    Ok(Factors {
        explained_variance: squared_singular_values(&f.s, n),
        mean,
        s: f.s,
        vt,
        u: None,
        total_variance,
    })
}

/// `(eigenvalues, singular values, eigenvectors as rows)` of a covariance matrix.
type CovarianceFactors<T> = (Vec<T>, Vec<T>, Vec<T>);

/// Eigenvalues (nonincreasing, clipped at 0) and eigenvectors (as rows) of a covariance.
fn covariance_factors<T: Real>(
    covariance: &ColMajor<T>,
    n_samples: usize,
) -> Result<CovarianceFactors<T>, KernelError> {
    let d = covariance.rows;
    let (mut w, v) = dense::eigh(covariance.as_ref())?;
    w.reverse();
    w.iter_mut().for_each(|e| {
        if *e < T::ZERO {
            *e = T::ZERO
        }
    });
    let mut vt = Vec::with_capacity(d * d);
    for j in (0..d).rev() {
        vt.extend_from_slice(v.col(j));
    }
    let scale = T::from_f64(n_samples as f64 - 1.0);
    let s = w.iter().map(|&e| (e * scale).sqrt()).collect();
    Ok((w, s, vt))
}

/// `covariance_eigh` on dense rows: one pass for the mean and the centred scatter matrix.
fn dense_covariance_factors<T: Real>(
    x: &Dense<'_, T>,
    stop: StopCheck,
) -> Result<Factors<T>, KernelError> {
    let moments = gram::centred_moments(x, stop)?;
    moments_covariance_factors(moments, x.n_samples())
}

/// `covariance_eigh`'s factors from the rows' mean and full centred scatter matrix.
fn moments_covariance_factors<T: Real>(
    mut moments: gram::Moments<T>,
    n: usize,
) -> Result<Factors<T>, KernelError> {
    let denominator = T::from_f64(n as f64 - 1.0);
    moments
        .scatter
        .data
        .iter_mut()
        .for_each(|v| *v /= denominator);
    let mean = finite_means(moments.mean)?;
    let (w, s, vt) = covariance_factors(&moments.scatter, n)?;
    Ok(Factors {
        mean,
        s,
        vt,
        u: None,
        explained_variance: w,
        total_variance: None,
    })
}

/// Covariance of CSR rows as scikit-learn forms it: `(X^T X - n m m^T) / (n - 1)`.
fn sparse_covariance_factors<T: Real>(
    x: &Csr<'_, T>,
    truncated: bool,
    stop: StopCheck,
) -> Result<Factors<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let (sums, mut covariance) = gram::sparse_gram(x, stop)?;
    let mean: Vec<T> = finite_means(sums.iter().map(|&s| s / n as f64).collect())?;
    let (nt, denominator) = (T::from_f64(n as f64), T::from_f64(n as f64 - 1.0));
    for j in 0..d {
        for i in 0..d {
            let c = &mut covariance.data[j * d + i];
            *c = (*c - nt * mean[i] * mean[j]) / denominator;
        }
    }
    let (w, s, vt) = covariance_factors(&covariance, n)?;
    // scikit-learn's arpack path: `mean_variance_axis(X)[1].sum() * n / (n - 1)`.
    let total_variance = truncated.then(|| {
        T::from_f64(stats::mean_feature_variance(x) * d as f64 * n as f64 / (n as f64 - 1.0))
    });
    Ok(Factors {
        mean,
        s,
        vt,
        u: None,
        explained_variance: w,
        total_variance,
    })
}

/// Fits PCA on dense rows.
pub fn fit_dense<T: Real>(
    x: &Dense<'_, T>,
    solver: Solver<'_>,
    n_components: NComponents,
    want_projected: bool,
    whiten: bool,
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let factors = match &solver {
        Solver::Full => svd_factors(x, false, stop)?,
        Solver::Arpack => svd_factors(x, true, stop)?,
        Solver::CovarianceEigh => dense_covariance_factors(x, stop)?,
        Solver::Randomized(r) => randomized::factors(x, r, n_components.count()?, stop)?,
    };
    let mut fit = finish(factors, x.n_samples(), x.n_features(), n_components, whiten)?;
    if want_projected && fit.projected.is_none() {
        let whiten_by = whiten.then_some(fit.explained_variance.as_slice());
        fit.projected = Some(project::transform_dense(
            x,
            &fit.mean,
            &fit.components,
            whiten_by,
            stop,
        )?);
    }
    Ok(fit)
}

/// Fits PCA with `covariance_eigh` from the moments of `n_samples` dense rows (the merge of
/// [`gram::blocks_moments`] over the partition's blocks, lower triangle): the fit
/// [`fit_dense`] makes on those rows, for rows held in pieces.
pub fn fit_from_moments<T: Real>(
    moments: gram::Moments<T>,
    n_features: usize,
    n_components: NComponents,
    whiten: bool,
) -> Result<Fit<T>, KernelError> {
    let n_samples = moments.count;
    let factors = moments_covariance_factors(moments.symmetric(), n_samples)?;
    finish(factors, n_samples, n_features, n_components, whiten)
}

/// Fits PCA on CSR rows (`covariance_eigh` and `arpack`, the solvers scikit-learn accepts).
pub fn fit_sparse<T: Real>(
    x: &Csr<'_, T>,
    solver: Solver<'_>,
    n_components: NComponents,
    stop: StopCheck,
) -> Result<Fit<T>, KernelError> {
    let truncated = match solver {
        Solver::CovarianceEigh => false,
        Solver::Arpack => true,
        _ => {
            return Err(KernelError::InvalidArgument(
                "sparse input needs the covariance_eigh or arpack solver".into(),
            ))
        }
    };
    let factors = sparse_covariance_factors(x, truncated, stop)?;
    finish(factors, x.n_samples(), x.n_features(), n_components, false)
}

/// scikit-learn's post-processing: signs, ratios, the number of components, noise variance.
fn finish<T: Real>(
    mut f: Factors<T>,
    n_samples: usize,
    n_features: usize,
    n_components: NComponents,
    whiten: bool,
) -> Result<Fit<T>, KernelError> {
    let d = n_features;
    flip_signs(&mut f.vt, f.u.as_mut(), d);
    let (k, noise_variance, ratio) = match f.total_variance {
        None => spectrum::select_full(&f.explained_variance, n_components, n_samples, n_features)?,
        Some(total) => {
            let k = n_components.count()?;
            spectrum::truncated(&f.explained_variance[..k], total, n_samples, n_features)
        }
    };
    let projected = f.u.as_ref().map(|u| {
        let scale: Vec<T> = if whiten {
            vec![T::from_f64((n_samples as f64 - 1.0).sqrt()); k]
        } else {
            f.s[..k].to_vec()
        };
        let mut out = Vec::with_capacity(n_samples * k);
        for i in 0..n_samples {
            out.extend((0..k).map(|j| u.data[j * n_samples + i] * scale[j]));
        }
        out
    });
    Ok(Fit {
        mean: f.mean,
        components: f.vt[..k * d].to_vec(),
        explained_variance: f.explained_variance[..k].to_vec(),
        explained_variance_ratio: ratio[..k].to_vec(),
        singular_values: f.s[..k].to_vec(),
        noise_variance,
        n_components: k,
        projected,
    })
}

#[cfg(test)]
mod tests;
