//! How many components to keep and the noise variance, from the explained variances (the
//! post-processing of scikit-learn's `_fit_full` and `_fit_truncated`).

use crate::dense::Real;
use crate::KernelError;

/// `n_components` as given: a count, a fraction of the variance to explain, or Minka's MLE.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NComponents {
    Count(usize),
    Fraction(f64),
    Mle,
}

impl NComponents {
    /// The count, for the solvers that need one up front.
    pub fn count(self) -> Result<usize, KernelError> {
        match self {
            NComponents::Count(k) => Ok(k),
            other => Err(KernelError::InvalidArgument(format!(
                "n_components={other:?} needs the full solver"
            ))),
        }
    }
}

/// `(n_components, noise_variance, explained_variance_ratio)` for the full solvers.
pub fn select_full<T: Real>(
    explained_variance: &[T],
    n_components: NComponents,
    n_samples: usize,
    n_features: usize,
) -> Result<(usize, Option<T>, Vec<T>), KernelError> {
    let total: T = explained_variance.iter().copied().sum();
    let ratio: Vec<T> = explained_variance.iter().map(|&v| v / total).collect();
    let k = match n_components {
        NComponents::Count(k) => k,
        NComponents::Mle => infer_dimension(explained_variance, n_samples),
        NComponents::Fraction(f) if f > 0.0 && f < 1.0 => {
            // searchsorted(cumsum(ratio), f, side="right") + 1
            let mut cumulative = T::ZERO;
            let below = ratio
                .iter()
                .take_while(|&&r| {
                    cumulative += r;
                    cumulative.to_f64() <= f
                })
                .count();
            below + 1
        }
        NComponents::Fraction(f) => f as usize,
    };
    let k = k.min(explained_variance.len());
    let noise = (k < n_features.min(n_samples)).then(|| {
        let rest = &explained_variance[k..];
        rest.iter().copied().sum::<T>() / T::from_f64(rest.len() as f64)
    });
    Ok((k, noise, ratio))
}

/// `(n_components, noise_variance, explained_variance_ratio)` for the truncated solvers, from
/// the kept variances and the data's total variance.
pub fn truncated<T: Real>(
    explained_variance: &[T],
    total_variance: T,
    n_samples: usize,
    n_features: usize,
) -> (usize, Option<T>, Vec<T>) {
    let k = explained_variance.len();
    let ratio = explained_variance
        .iter()
        .map(|&v| v / total_variance)
        .collect();
    let rank = n_features.min(n_samples);
    let noise = (k < rank).then(|| {
        let kept: T = explained_variance.iter().copied().sum();
        (total_variance - kept) / T::from_f64((rank - k) as f64)
    });
    (k, noise, ratio)
}

/// Log-likelihood of a rank-`rank` model of the spectrum (Minka, "Automatic choice of
/// dimensionality for PCA", NIPS 2000), as scikit-learn's `_assess_dimension`.
fn assess_dimension(spectrum: &[f64], rank: usize, n_samples: usize) -> f64 {
    use std::f64::consts::PI;
    let n_features = spectrum.len();
    let eps = 1e-15;
    if spectrum[rank - 1] < eps {
        return f64::NEG_INFINITY;
    }
    let n = n_samples as f64;
    let mut pu = -(rank as f64) * 2f64.ln();
    for i in 1..=rank {
        let h = (n_features - i + 1) as f64 / 2.0;
        pu += libm::lgamma(h) - PI.ln() * h;
    }
    let pl = -spectrum[..rank].iter().map(|v| v.ln()).sum::<f64>() * n / 2.0;
    let v = (spectrum[rank..].iter().sum::<f64>() / (n_features - rank) as f64).max(eps);
    let pv = -v.ln() * n * (n_features - rank) as f64 / 2.0;
    let m = (n_features * rank) as f64 - rank as f64 * (rank as f64 + 1.0) / 2.0;
    let pp = (2.0 * PI).ln() * (m + rank as f64) / 2.0;
    let replaced = |j: usize| if j >= rank { v } else { spectrum[j] };
    let mut pa = 0.0;
    for i in 0..rank {
        for j in i + 1..n_features {
            pa += ((spectrum[i] - spectrum[j]) * (1.0 / replaced(j) - 1.0 / replaced(i))).ln()
                + n.ln();
        }
    }
    pu + pl + pv + pp - pa / 2.0 - rank as f64 * n.ln() / 2.0
}

/// The rank of highest likelihood (scikit-learn's `_infer_dimension`; rank 0 is excluded).
pub fn infer_dimension<T: Real>(spectrum: &[T], n_samples: usize) -> usize {
    let spectrum: Vec<f64> = spectrum.iter().map(|v| v.to_f64()).collect();
    let mut best = (0, f64::NEG_INFINITY);
    for rank in 1..spectrum.len() {
        // scikit-learn stores the likelihoods in an array of the spectrum's dtype.
        let ll = T::from_f64(assess_dimension(&spectrum, rank, n_samples)).to_f64();
        if ll.is_nan() {
            return rank; // numpy's argmax stops at the first NaN
        }
        if ll > best.1 {
            best = (rank, ll);
        }
    }
    best.0
}
