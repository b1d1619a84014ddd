//! scikit-learn's `_randomized_svd` on the implicitly centred data `X - 1 mean^T`: the same
//! Gaussian test matrix (drawn by the caller from the estimator's `RandomState`), the same
//! power iterations and normalisers, then the SVD of the small projected matrix.
//!
//! When X has many more rows than columns, the power iterations run on the centred Gram matrix
//! `M^T M` (one pass over X) instead of on X (two passes per iteration): the iterates span the
//! same subspaces, the normaliser is applied once per iteration instead of twice, and the
//! final range and projection are computed on X as scikit-learn does.

use faer::MatRef;

use super::Factors;
use crate::dense::{self, gram, ColMajor, Real};
use crate::samples::{Dense, Samples};
use crate::{KernelError, StopCheck};

/// How power iterations are re-normalised (`power_iteration_normalizer`, "auto" resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    None,
    Lu,
    Qr,
}

/// The randomized solver's settings, as scikit-learn resolves them.
pub struct Randomized<'a> {
    pub n_iter: usize,
    pub normalizer: Normalizer,
    /// Whether scikit-learn works on `X^T` (`n_samples < n_features`).
    pub transpose: bool,
    /// The test matrix `random_state.normal(size=(M.shape[1], n_random))`, row-major, where
    /// `M` is `X` or `X^T`.
    pub test_matrix: &'a [f64],
    pub n_random: usize,
}

/// `M = X - 1 mean^T` (or its transpose), applied without forming it.
struct Centred<'a, T> {
    x: MatRef<'a, T>,
    mean: &'a [T],
    transpose: bool,
}

impl<T: Real> Centred<'_, T> {
    /// `(X - 1 m^T) q` for `q` of shape `(d, l)`.
    fn x_centred(&self, q: MatRef<'_, T>) -> Result<ColMajor<T>, KernelError> {
        let mut out = dense::product(self.x, q, dense::par())?;
        // subtract 1 (m^T q)
        for j in 0..q.ncols() {
            let shift: T = (0..q.nrows()).map(|r| self.mean[r] * q[(r, j)]).sum();
            out.as_mut().col_mut(j).iter_mut().for_each(|v| *v -= shift);
        }
        Ok(out)
    }

    /// `(X - 1 m^T)^T y` for `y` of shape `(n, l)`.
    fn xt_centred(&self, y: MatRef<'_, T>) -> Result<ColMajor<T>, KernelError> {
        let mut out = dense::product(self.x.transpose(), y, dense::par())?;
        // subtract m (1^T y)
        for j in 0..y.ncols() {
            let total: T = y.col(j).iter().copied().sum();
            out.as_mut()
                .col_mut(j)
                .iter_mut()
                .zip(self.mean)
                .for_each(|(v, &m)| *v -= m * total);
        }
        Ok(out)
    }

    /// `M q`
    fn apply(&self, q: MatRef<'_, T>) -> Result<ColMajor<T>, KernelError> {
        if self.transpose {
            self.xt_centred(q)
        } else {
            self.x_centred(q)
        }
    }

    /// `M^T y`
    fn apply_transpose(&self, y: MatRef<'_, T>) -> Result<ColMajor<T>, KernelError> {
        if self.transpose {
            self.x_centred(y)
        } else {
            self.xt_centred(y)
        }
    }
}

fn normalise<T: Real>(a: ColMajor<T>, normalizer: Normalizer) -> Result<ColMajor<T>, KernelError> {
    match normalizer {
        Normalizer::None => Ok(a),
        Normalizer::Lu => dense::permuted_lower(a.as_ref()),
        Normalizer::Qr => dense::thin_q(a.as_ref()),
    }
}

/// Whether forming `M^T M` (one pass over X, `n d^2 / 2` multiply-adds) and iterating on it
/// costs less than the `2 n_iter` products with X (`n d l` each). Only for `n >= d`: the Gram
/// matrix of the transposed problem would be `(n, n)`.
fn gram_is_cheaper(rows: usize, cols: usize, l: usize, settings: &Randomized<'_>) -> bool {
    if settings.transpose || settings.n_iter == 0 {
        return false;
    }
    let (n, d, l, iters) = (rows as f64, cols as f64, l as f64, settings.n_iter as f64);
    let gram = n * d * d / 2.0 + iters * d * d * l;
    let direct = 2.0 * iters * n * d * l;
    // The Gram pass runs at about two thirds of the speed of plain products.
    1.5 * gram < direct
}

/// scikit-learn's `_randomized_range_finder` followed by the rest of `_randomized_svd`,
/// returning the `n_components` leading singular triplets of the centred data.
pub(super) fn factors<T: Real>(
    x: &Dense<'_, T>,
    settings: &Randomized<'_>,
    n_components: usize,
    stop: StopCheck,
) -> Result<Factors<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let l = settings.n_random;
    let (rows, cols) = if settings.transpose { (d, n) } else { (n, d) };
    // The Gram route's single pass gives the mean too.
    let (mean, gram) = if gram_is_cheaper(rows, cols, l, settings) {
        let moments = gram::centred_moments(x, stop)?;
        (super::finite_means(moments.mean)?, Some(moments.scatter))
    } else {
        (super::means(x)?, None)
    };
    let data = x.rows(0, n);
    let m = Centred {
        x: dense::row_major(data, n, d),
        mean: &mean,
        transpose: settings.transpose,
    };
    if settings.test_matrix.len() != cols * l {
        return Err(KernelError::Shape(format!(
            "the test matrix has {} values, expected {cols} x {l}",
            settings.test_matrix.len()
        )));
    }
    let mut q = ColMajor::<T>::zeros(cols, l)?;
    for r in 0..cols {
        for c in 0..l {
            q.data[c * cols + r] = T::from_f64(settings.test_matrix[r * l + c]);
        }
    }
    if let Some(gram) = gram {
        // Power iterations on the Gram matrix: M^T normalise(M Q) spans the same space as
        // (M^T M) Q, since the normalisers only recombine columns.
        for _ in 0..settings.n_iter {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let product = dense::product(gram.as_ref(), q.as_ref(), dense::par())?;
            q = normalise(product, settings.normalizer)?;
        }
    } else {
        for _ in 0..settings.n_iter {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            q = normalise(m.apply(q.as_ref())?, settings.normalizer)?;
            q = normalise(m.apply_transpose(q.as_ref())?, settings.normalizer)?;
        }
    }
    let q = dense::thin_q(m.apply(q.as_ref())?.as_ref())?;
    // B = Q^T M = (M^T Q)^T, shape (q.cols, cols)
    let bt = m.apply_transpose(q.as_ref())?;
    let f = dense::svd(bt.as_ref().transpose(), true)?;
    let uhat = f.u.expect("requested");
    let u = dense::product(q.as_ref(), uhat.as_ref(), dense::par())?; // (rows, r)
    let k = n_components.min(f.s.len());
    // svd_flip happens after the transposition is undone.
    let (left, right_columns) = if settings.transpose {
        // X^T = U S V^T, so X = V S U^T: left vectors are f.v, right vectors are u.
        (f.v.truncate_cols(k), u.truncate_cols(k))
    } else {
        (u.truncate_cols(k), f.v.truncate_cols(k))
    };
    debug_assert_eq!(left.rows, n);
    debug_assert_eq!(right_columns.rows, d);
    let vt = super::columns_as_rows(&right_columns, k);
    let s = f.s[..k].to_vec();
    // Total variance: the squared centred data summed, over n - 1 (scikit-learn squares its
    // centred copy in place).
    let total = total_squared_deviation(x, &mean) / T::from_f64(n as f64 - 1.0);
    Ok(Factors {
        explained_variance: super::squared_singular_values(&s, n),
        mean,
        s,
        vt,
        u: Some(left),
        total_variance: Some(total),
    })
}

/// `sum((X - mean)^2)` in the data's precision.
fn total_squared_deviation<T: Real>(x: &Dense<'_, T>, mean: &[T]) -> T {
    use rayon::prelude::*;
    let d = x.n_features();
    crate::blocks::partition(x.n_samples(), 1)
        .into_par_iter()
        .map(|b| {
            x.rows(b.start, b.end)
                .chunks_exact(d)
                .map(|row| {
                    row.iter()
                        .zip(mean)
                        .map(|(&v, &m)| (v - m) * (v - m))
                        .sum::<T>()
                })
                .sum::<T>()
        })
        .collect::<Vec<T>>()
        .into_iter()
        .sum()
}
