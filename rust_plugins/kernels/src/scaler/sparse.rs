//! Mean and variance of a CSR or CSC batch, and their incremental update, in the arithmetic of
//! scikit-learn's `sparsefuncs_fast.pyx` (`_csr_mean_variance_axis0`,
//! `_csc_mean_variance_axis0`, `_incr_mean_variance_axis0`): float64 accumulators visited in
//! storage order, results in the data's dtype; the update in the data's dtype.
//!
//! The storage is walked once per pass in order, on one thread (the order fixes the sums).

use super::sum;
use crate::float::Float;
use crate::KernelError;
use crate::StopCheck;

/// Per-feature `(mean, variance, total weight)` in the data's dtype.
pub type Stats<T> = (Vec<T>, Vec<T>, Vec<T>);

/// Integer types of sparse index arrays.
pub trait Index: Copy + Sync {
    fn to_usize(self) -> Option<usize>;
}

impl Index for i32 {
    fn to_usize(self) -> Option<usize> {
        usize::try_from(self).ok()
    }
}

impl Index for i64 {
    fn to_usize(self) -> Option<usize> {
        usize::try_from(self).ok()
    }
}

/// The compressed storage of a batch: CSR (`by_rows`) or CSC.
pub struct Compressed<'a, T, I, P> {
    pub data: &'a [T],
    pub indices: &'a [I],
    pub indptr: &'a [P],
    pub n_samples: usize,
    pub n_features: usize,
    pub by_rows: bool,
}

impl<T: Float, I: Index, P: Index> Compressed<'_, T, I, P> {
    /// Checks the structure once, so that the passes can index without surprises.
    pub fn validate(&self) -> Result<(), KernelError> {
        let bad = |msg: &str| Err(KernelError::Shape(format!("invalid sparse matrix: {msg}")));
        let (major, minor) = if self.by_rows {
            (self.n_samples, self.n_features)
        } else {
            (self.n_features, self.n_samples)
        };
        if self.indptr.len() != major + 1 || self.data.len() != self.indices.len() {
            return bad("indptr/indices/data lengths disagree with the shape");
        }
        let ptr: Option<Vec<usize>> = self.indptr.iter().map(|p| p.to_usize()).collect();
        let Some(ptr) = ptr else {
            return bad("negative indptr");
        };
        if ptr[0] != 0 || ptr[major] != self.data.len() || ptr.windows(2).any(|w| w[1] < w[0]) {
            return bad("indptr does not span the data");
        }
        if self
            .indices
            .iter()
            .any(|&i| i.to_usize().is_none_or(|i| i >= minor))
        {
            return bad("index out of range");
        }
        Ok(())
    }

    /// Calls `f(sample, feature, value)` for every stored entry in storage order.
    fn for_each(&self, mut f: impl FnMut(usize, usize, T)) {
        let major = self.indptr.len() - 1;
        for a in 0..major {
            let (start, end) = (
                self.indptr[a].to_usize().unwrap_or(0),
                self.indptr[a + 1].to_usize().unwrap_or(0),
            );
            for k in start..end {
                let b = self.indices[k].to_usize().unwrap_or(0);
                let (row, col) = if self.by_rows { (a, b) } else { (b, a) };
                f(row, col, self.data[k]);
            }
        }
    }
}

#[allow(clippy::eq_op)]
fn is_nan<T: Float>(v: T) -> bool {
    v != v
}

/// Means, variances and total weights per feature of one batch (`mean_variance_axis(X,
/// axis=0, weights, return_sum_weights=True)`), in the data's dtype. `weights` are ones when
/// scikit-learn is given none.
pub fn mean_variance<T: Float, I: Index, P: Index>(
    x: &Compressed<T, I, P>,
    weights: &[T],
    stop: StopCheck,
) -> Result<Stats<T>, KernelError> {
    x.validate()?;
    if weights.len() != x.n_samples {
        return Err(KernelError::Shape("weights length differs from X".into()));
    }
    let d = x.n_features;
    let buffered = std::mem::size_of::<T>() < 8;
    let total = if weights.is_empty() {
        0.0
    } else {
        sum::contiguous(weights.len(), buffered, &|i| weights[i].to_f64())
    };
    let mut means = vec![0.0f64; d];
    let mut variances = vec![0.0f64; d];
    let mut sum_weights = vec![total; d];
    let mut sum_weights_nz = vec![0.0f64; d];
    let mut correction = vec![0.0f64; d];
    let mut counts = vec![x.n_samples as u64; d];
    let mut counts_nz = vec![0u64; d];
    x.for_each(|row, col, v| {
        let w = weights[row].to_f64();
        if !is_nan(v) {
            means[col] += v.to_f64() * w;
            sum_weights_nz[col] += w;
            counts_nz[col] += 1;
        } else {
            sum_weights[col] -= w;
            counts[col] -= 1;
        }
    });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    for (m, s) in means.iter_mut().zip(&sum_weights) {
        *m /= s;
    }
    x.for_each(|row, col, v| {
        if !is_nan(v) {
            let w = weights[row].to_f64();
            let diff = v.to_f64() - means[col];
            correction[col] += diff * w;
            variances[col] += diff * diff * w;
        }
    });
    for j in 0..d {
        let implicit_zeros = counts[j] != counts_nz[j];
        if implicit_zeros {
            correction[j] -= (sum_weights[j] - sum_weights_nz[j]) * means[j];
        }
        correction[j] = correction[j] * correction[j] / sum_weights[j];
        if implicit_zeros {
            variances[j] += (sum_weights[j] - sum_weights_nz[j]) * (means[j] * means[j]);
        }
        variances[j] = (variances[j] - correction[j]) / sum_weights[j];
    }
    let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
    Ok((cast(means), cast(variances), cast(sum_weights)))
}

/// `incr_mean_variance_axis`: folds the batch into `(last_mean, last_var, last_n)` (in the
/// data's dtype), returning the updated `(mean, var, n)`.
pub fn incremental<T: Float, I: Index, P: Index>(
    x: &Compressed<T, I, P>,
    weights: &[T],
    last_mean: &[T],
    last_var: &[T],
    last_n: &[T],
    stop: StopCheck,
) -> Result<Stats<T>, KernelError> {
    let d = x.n_features;
    if last_mean.len() != d || last_var.len() != d || last_n.len() != d {
        return Err(KernelError::Shape(
            "running statistics do not match the number of features".into(),
        ));
    }
    let (new_mean, new_var, new_n) = mean_variance(x, weights, stop)?;
    if last_n.iter().all(|&n| n <= T::ZERO) {
        return Ok((new_mean, new_var, new_n));
    }
    let mut mean = vec![T::ZERO; d];
    let mut var = vec![T::ZERO; d];
    let mut n = vec![T::ZERO; d];
    for i in 0..d {
        n[i] = last_n[i] + new_n[i];
    }
    for i in 0..d {
        if new_n[i] > T::ZERO {
            let last_over_new = last_n[i] / new_n[i];
            let last_mean_i = last_mean[i] * last_n[i];
            let last_var_i = last_var[i] * last_n[i];
            let new_mean_i = new_mean[i] * new_n[i];
            let new_var_i = new_var[i] * new_n[i];
            let gap = last_mean_i / last_over_new - new_mean_i;
            var[i] = last_var_i + new_var_i + last_over_new / n[i] * (gap * gap);
            mean[i] = (last_mean_i + new_mean_i) / n[i];
            var[i] = var[i] / n[i];
        } else {
            var[i] = last_var[i];
            mean[i] = last_mean[i];
            n[i] = last_n[i];
        }
    }
    Ok((mean, var, n))
}

/// Total weight of the samples whose value is not NaN, per feature, in the weights' dtype:
/// scikit-learn's `np.sum(weights) - weights @ isnan(X)` (NumPy's pairwise total; SciPy's
/// product accumulates each feature's NaN weights in storage order).
pub fn non_nan_weights<T: Float, W: Float, I: Index, P: Index>(
    x: &Compressed<T, I, P>,
    weights: &[W],
) -> Result<Vec<W>, KernelError> {
    x.validate()?;
    if weights.len() != x.n_samples {
        return Err(KernelError::Shape("weights length differs from X".into()));
    }
    let total = if weights.is_empty() {
        W::ZERO
    } else {
        sum::pairwise(weights.len(), &|i| weights[i])
    };
    let mut nan = vec![W::ZERO; x.n_features];
    x.for_each(|row, col, v| {
        if is_nan(v) {
            nan[col] += weights[row];
        }
    });
    Ok(nan.into_iter().map(|w| total - w).collect())
}

/// Multiplies every stored value of a CSR matrix by its column's `factor` (computed in
/// float64 and rounded to the data's dtype, as NumPy's `X.data *= factor[X.indices]` does).
pub fn scale_columns<T: Float, I: Index>(
    data: &mut [T],
    indices: &[I],
    factors: &[f64],
) -> Result<(), KernelError> {
    if data.len() != indices.len() {
        return Err(KernelError::Shape("indices/data lengths differ".into()));
    }
    let d = factors.len();
    if indices.iter().any(|&i| i.to_usize().is_none_or(|i| i >= d)) {
        return Err(KernelError::Shape(
            "invalid sparse matrix: index out of range".into(),
        ));
    }
    use rayon::prelude::*;
    data.par_chunks_mut(1 << 16)
        .zip(indices.par_chunks(1 << 16))
        .for_each(|(data, indices)| {
            for (v, &j) in data.iter_mut().zip(indices) {
                *v = T::from_f64(v.to_f64() * factors[j.to_usize().unwrap_or(0)]);
            }
        });
    Ok(())
}
