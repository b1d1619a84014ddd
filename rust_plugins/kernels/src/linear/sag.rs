//! SAG and SAGA for ridge regression (squared loss, one target at a time): a line-by-line port
//! of scikit-learn's `sag_fast.pyx` (`sag`, `lagged_update`, `scale_weights`,
//! `predict_sample`) without the L1 proximal step Ridge never uses, with samples drawn as
//! `SequentialDataset.random` draws them (`our_rand_r`, a 32-bit xorshift, modulo
//! `n_samples`) from the seed scikit-learn's `make_dataset` takes from `random_state`.
//!
//! The arithmetic keeps the C types of the original: the weights, gradients, cumulative sums
//! and `wscale` in X's dtype, the step size, penalty and tolerance in float64. The algorithm is
//! sequential by nature (each step reads the weights the previous one wrote), so it runs on
//! one thread; the samples are read in place (dense rows centred on the fly).

use super::operator::Rows;
use crate::dense::Real;
use crate::{KernelError, StopCheck};

/// scikit-learn's `our_rand_r`.
fn our_rand_r(seed: &mut u32) -> u32 {
    if *seed == 0 {
        *seed = 1;
    }
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    *seed % (2147483647u32 + 1)
}

/// What one SAG/SAGA fit needs beyond the data.
pub struct SagSettings {
    pub saga: bool,
    /// `alpha / n_samples`.
    pub alpha_scaled: f64,
    pub step_size: f64,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u32,
    pub fit_intercept: bool,
    /// 1 for dense data, `SPARSE_INTERCEPT_DECAY` (0.01) for sparse data.
    pub intercept_decay: f64,
}

pub struct SagFit<T> {
    pub coef: Vec<T>,
    pub intercept: T,
    /// Epochs run (scikit-learn's `n_iter_`).
    pub n_iter: usize,
    /// The epoch (1-based) at which weights overflowed: scikit-learn's "Floating-point
    /// under-/overflow occurred at epoch #..." ValueError.
    pub overflow_epoch: Option<usize>,
}

/// One sample as SAG reads it: `(feature, value)` pairs; dense rows centred by `offset`.
fn for_each_value<T: Real>(
    rows: &Rows<'_, T>,
    offset: &[T],
    i: usize,
    mut f: impl FnMut(usize, T),
) {
    match rows {
        Rows::Dense(x) => {
            for (j, (&v, &m)) in x.row(i).iter().zip(offset).enumerate() {
                f(j, v - m);
            }
        }
        Rows::Csr(x) => {
            let (indices, values) = x.row(i);
            for (&j, &v) in indices.iter().zip(values) {
                f(j as usize, v);
            }
        }
    }
}

/// `get_auto_step_size` for the squared loss.
pub fn auto_step_size(
    max_squared_sum: f64,
    alpha_scaled: f64,
    fit_intercept: bool,
    n_samples: usize,
    saga: bool,
) -> f64 {
    let lipschitz = max_squared_sum + f64::from(u8::from(fit_intercept)) + alpha_scaled;
    if saga {
        let mun = (2.0 * n_samples as f64 * alpha_scaled).min(lipschitz);
        1.0 / (2.0 * lipschitz + mun)
    } else {
        1.0 / lipschitz
    }
}

/// `max_i ||x_i||^2` of the samples as SAG sees them (`row_norms(X, squared=True).max()`).
pub fn max_squared_sum<T: Real>(rows: &Rows<'_, T>, offset: &[T]) -> f64 {
    let mut best = 0.0f64;
    for i in 0..rows.n_samples() {
        let mut sum = T::ZERO;
        for_each_value(rows, offset, i, |_, v| sum += v * v);
        best = best.max(sum.to_f64());
    }
    best
}

/// The weights with their pending just-in-time updates (`lagged_update`): feature `j` still
/// owes the steps of the cumulative sums since `feature_hist[j]`, and the weights are stored
/// divided by `wscale`.
struct JitWeights<T> {
    weights: Vec<T>,
    sum_gradient: Vec<T>,
    cumulative_sums: Vec<T>,
    feature_hist: Vec<usize>,
}

impl<T: Real> JitWeights<T> {
    /// `lagged_update` for one feature; false when a reset weight is not finite.
    #[inline]
    fn update(&mut self, j: usize, sample_itr: usize, wscale: T, reset: bool) -> bool {
        let mut cum_sum = self.cumulative_sums[sample_itr - 1];
        if self.feature_hist[j] != 0 {
            cum_sum -= self.cumulative_sums[self.feature_hist[j] - 1];
        }
        self.weights[j] -= cum_sum * self.sum_gradient[j];
        if reset {
            self.weights[j] *= wscale;
            if !self.weights[j].is_finite() {
                return false;
            }
            self.feature_hist[j] = sample_itr % self.cumulative_sums.len();
        } else {
            self.feature_hist[j] = sample_itr;
        }
        true
    }

    /// `scale_weights`: every feature's pending update, then `wscale = 1`; false on overflow.
    fn reset(&mut self, sample_itr: usize, wscale: &mut T) -> bool {
        for j in 0..self.weights.len() {
            if !self.update(j, sample_itr + 1, *wscale, true) {
                return false;
            }
        }
        self.cumulative_sums[sample_itr] = T::ZERO;
        *wscale = T::ONE;
        true
    }
}

/// Fits one target `y` (already centred when the intercept is not fitted here) with sample
/// weights `weights`.
pub fn sag<T: Real>(
    rows: &Rows<'_, T>,
    offset: &[T],
    y: &[T],
    weights: &[T],
    s: &SagSettings,
    stop: StopCheck,
) -> Result<SagFit<T>, KernelError> {
    let (n, d) = (rows.n_samples(), rows.n_features());
    let mut jit = JitWeights {
        weights: crate::alloc::filled(&[d], T::ZERO)?,
        sum_gradient: crate::alloc::filled(&[d], T::ZERO)?,
        cumulative_sums: crate::alloc::filled(&[n], T::ZERO)?,
        feature_hist: crate::alloc::filled(&[d], 0usize)?,
    };
    let mut previous = crate::alloc::filled(&[d], T::ZERO)?;
    let mut gradient_memory = crate::alloc::filled(&[n], T::ZERO)?;
    let mut seen = crate::alloc::filled(&[n], 0u8)?;
    let (mut intercept, mut intercept_sum_gradient) = (T::ZERO, T::ZERO);
    let mut num_seen = 0usize;
    let mut wscale = T::ONE;
    let wscale_update = T::from_f64(1.0 - s.step_size * s.alpha_scaled);
    let mut seed = s.seed;
    let mut epoch = 0;
    let mut overflow = false;
    'epochs: while epoch < s.max_iter {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        for sample_itr in 0..n {
            let i = (our_rand_r(&mut seed) % n as u32) as usize;
            if seen[i] == 0 {
                num_seen += 1;
                seen[i] = 1;
            }
            if sample_itr > 0 {
                for_each_value(rows, offset, i, |j, _| {
                    jit.update(j, sample_itr, wscale, false);
                });
            }
            let mut inner = T::ZERO;
            for_each_value(rows, offset, i, |j, v| inner += jit.weights[j] * v);
            let prediction = wscale * inner + intercept;
            // The loss gradient is a double in the original, cast to X's dtype once scaled.
            let gradient = T::from_f64((prediction.to_f64() - y[i].to_f64()) * weights[i].to_f64());
            wscale *= wscale_update;
            let keep = 1.0 - 1.0 / num_seen as f64;
            for_each_value(rows, offset, i, |j, v| {
                let correction = v * (gradient - gradient_memory[i]);
                if s.saga {
                    let step = correction.to_f64() * s.step_size * keep / wscale.to_f64();
                    jit.weights[j] = T::from_f64(jit.weights[j].to_f64() - step);
                }
                jit.sum_gradient[j] += correction;
            });
            if s.fit_intercept {
                let correction = gradient - gradient_memory[i];
                intercept_sum_gradient += correction;
                let average_step = s.step_size * intercept_sum_gradient.to_f64() / num_seen as f64
                    * s.intercept_decay;
                let step = if s.saga {
                    average_step + T::from_f64(correction.to_f64() * (s.step_size * keep)).to_f64()
                } else {
                    average_step
                };
                intercept = T::from_f64(intercept.to_f64() - step);
                if !intercept.is_finite() {
                    overflow = true;
                    break 'epochs;
                }
            }
            gradient_memory[i] = gradient;
            let increment = s.step_size / (wscale * T::from_f64(num_seen as f64)).to_f64();
            let sums = &mut jit.cumulative_sums;
            sums[sample_itr] = if sample_itr == 0 {
                T::from_f64(increment)
            } else {
                T::from_f64(sums[sample_itr - 1].to_f64() + increment)
            };
            if wscale.to_f64() < 1e-9 && !jit.reset(sample_itr, &mut wscale) {
                overflow = true;
                break 'epochs;
            }
        }
        if !jit.reset(n - 1, &mut wscale) {
            overflow = true;
            break;
        }
        let (mut max_change, mut max_weight) = (T::ZERO, T::ZERO);
        for (w, p) in jit.weights.iter().zip(previous.iter_mut()) {
            max_weight = max_weight.max(T::from_f64(w.to_f64().abs()));
            max_change = max_change.max(T::from_f64((*w - *p).to_f64().abs()));
            *p = *w;
        }
        let converged = (max_weight != T::ZERO && (max_change / max_weight).to_f64() <= s.tol)
            || (max_weight == T::ZERO && max_change == T::ZERO);
        if converged {
            break;
        }
        epoch += 1;
    }
    // Cython's `for n_iter in range(max_iter)` leaves the last index; `n_iter += 1` follows.
    let n_iter = epoch.min(s.max_iter.saturating_sub(1)) + 1;
    Ok(SagFit {
        coef: jit.weights,
        intercept,
        n_iter,
        overflow_epoch: overflow.then_some(n_iter),
    })
}
