//! Standard scaling: scikit-learn's `StandardScaler` numerics.
//!
//! - Dense batches: `_incremental_mean_and_var` (`sklearn/utils/extmath.py`) in its arithmetic
//!   order: float64 column sums and NaN counts, the batch mean, sums of deviations and of their
//!   squares about it (the corrected two-pass algorithm), then Chan, Golub and LeVeque's update
//!   of the running mean and variance ([`dense`], [`update`]).
//! - Sparse batches (CSR or CSC): `mean_variance_axis` / `incr_mean_variance_axis`
//!   (`sklearn/utils/sparsefuncs_fast.pyx`) in their arithmetic order ([`sparse`]).
//! - Scales: standard deviations with near-constant features (`_is_constant_feature`'s error
//!   bound) set to 1 ([`scale_from_variance`]).
//! - `transform` / `inverse_transform`: `(x - mean) / scale` and `x * scale + mean` in the data's
//!   dtype, in place or into a fresh buffer ([`apply`]), and the sparse column scaling.

pub mod apply;
pub mod dense;
pub mod sparse;
pub mod sum;

use crate::float::Float;
use crate::KernelError;
use crate::StopCheck;

pub use dense::Batch;

/// How a dense batch's values are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Row-major `(n_samples, n_features)` (a C-ordered array with more than one feature).
    Rows,
    /// Feature-major `(n_features, n_samples)`: every feature contiguous (an F-ordered array,
    /// or any array with one feature).
    Columns,
}

/// Running statistics per feature, all float64 (scikit-learn's accumulators).
#[derive(Clone, Debug, PartialEq)]
pub struct Running {
    pub mean: Vec<f64>,
    /// `None` when the variance is not tracked (`with_std=False`).
    pub var: Option<Vec<f64>>,
    /// Samples seen per feature (weighted: their total weight).
    pub count: Vec<f64>,
}

/// Folds the dense batch `x` into the running statistics `last` (zeros on a first call), as
/// `_incremental_mean_and_var(X, last_mean, last_variance, last_sample_count, sample_weight)`.
pub fn dense_update<T: Float>(
    x: &Batch<T>,
    weights: Option<&[T]>,
    last: &Running,
    stop: StopCheck,
) -> Result<Running, KernelError> {
    let d = x.n_features;
    let var_len = last.var.as_ref().map_or(d, |v| v.len());
    if last.mean.len() != d || last.count.len() != d || var_len != d {
        return Err(KernelError::Shape(
            "running statistics do not match the number of features".into(),
        ));
    }
    let first = dense::first_pass(x, weights, stop)?;
    let second = match last.var {
        None => None,
        Some(_) => {
            let t: Vec<f64> = first
                .sum
                .iter()
                .zip(&first.count)
                .map(|(s, c)| s / c)
                .collect();
            Some(dense::second_pass(x, weights, &t, first.any_nan, stop)?)
        }
    };
    Ok(update(last, &first.sum, &first.count, second.as_ref()))
}

/// The update step of `_incremental_mean_and_var` from the batch's sums, counts and (when the
/// variance is tracked) deviation sums.
pub fn update(
    last: &Running,
    new_sum: &[f64],
    new_count: &[f64],
    deviations: Option<&dense::SecondPass>,
) -> Running {
    let d = new_sum.len();
    let mut mean = Vec::with_capacity(d);
    let mut count = Vec::with_capacity(d);
    let mut var = deviations.map(|_| Vec::with_capacity(d));
    for j in 0..d {
        let last_count = last.count[j];
        let last_sum = last.mean[j] * last_count;
        let updated_count = last_count + new_count[j];
        mean.push((last_sum + new_sum[j]) / updated_count);
        count.push(updated_count);
        if let (Some(dev), Some(var), Some(last_var)) = (deviations, var.as_mut(), &last.var) {
            let correction = dev.correction[j];
            let new_unnormalized = dev.squares[j] - correction * correction / new_count[j];
            let updated_unnormalized = if last_count == 0.0 {
                new_unnormalized
            } else {
                let last_unnormalized = last_var[j] * last_count;
                let last_over_new = last_count / new_count[j];
                let gap = last_sum / last_over_new - new_sum[j];
                last_unnormalized + new_unnormalized + last_over_new / updated_count * (gap * gap)
            };
            var.push(updated_unnormalized / updated_count);
        }
    }
    Running { mean, var, count }
}

/// `scale_` from `var_`, `mean_` and `n_samples_seen_`: the standard deviation, or 1 where
/// `_is_constant_feature` finds the variance within the two-pass algorithm's error bound
/// (`var <= n eps var + (n mean eps)^2`, float64 `eps`).
pub fn scale_from_variance(var: &[f64], mean: &[f64], count: &[f64]) -> Vec<f64> {
    let eps = f64::EPSILON;
    var.iter()
        .zip(mean)
        .zip(count)
        .map(|((&v, &m), &n)| {
            let bound = n * eps * v + {
                let e = n * m * eps;
                e * e
            };
            if v <= bound {
                1.0
            } else {
                v.sqrt()
            }
        })
        .collect()
}

/// Checks that an operation's per-feature vector has one value per feature.
fn check_len(what: &str, len: usize, d: usize) -> Result<(), KernelError> {
    if len != d {
        return Err(KernelError::Shape(format!(
            "{what} has {len} values for {d} features"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
