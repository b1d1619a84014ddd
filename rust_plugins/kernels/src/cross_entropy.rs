//! Cross-entropy of one row of logits against a class index, with label smoothing, and its
//! gradient, computed in `f32` for every type but `f64` (as transformers' causal-LM loss upcasts
//! the logits).
//!
//! For logits x (V values), lse = log Σ exp(x), the loss is
//! `lse − (1 − ε)·x[t] − ε·Σx/V` (torch's `label_smoothing` ε) and its gradient
//! `softmax(x) − (1 − ε)·onehot(t) − ε/V`. Sums run over 16 interleaved accumulators combined in
//! a fixed tree, and exponentials through the elementwise vector code in blocks, so a row's
//! result does not depend on the thread or the instruction set.

use crate::elementwise::{self, Element, Kernel, Parallelism};
use crate::float::Float;
use crate::rms_norm::Storage;
use crate::vector::Math;

const BLOCK: usize = 256;
const LANES: usize = 16;

/// e^(x − shift) for x ≤ shift, 0 below the range where e^t is a normal number.
#[derive(Clone, Copy)]
struct ExpShifted {
    shift: f64,
}

impl Kernel<1> for ExpShifted {
    const NAME: &'static str = "exp";
    #[inline(always)]
    unsafe fn apply<V: Math>(self, [x]: [V; 1]) -> V {
        let low = if std::mem::size_of::<V::Elem>() == 4 {
            -87.0
        } else {
            -700.0
        };
        let t = x.add(V::from_f64(-self.shift));
        let e = t.max_keep_nan(V::from_f64(low)).exp();
        t.where_less(V::from_f64(low), V::from_f64(0.0), e)
    }
}

/// Adds `values` (the elements from index `start`, a multiple of LANES) into accumulators
/// by element index modulo LANES.
#[inline(always)]
fn accumulate<C: Float>(acc: &mut [C; LANES], values: &[C]) {
    let body = values.len() - values.len() % LANES;
    for chunk in values[..body].chunks_exact(LANES) {
        for i in 0..LANES {
            acc[i] += chunk[i];
        }
    }
    for (i, &value) in values[body..].iter().enumerate() {
        acc[i] += value;
    }
}

fn total<C: Float>(mut acc: [C; LANES]) -> C {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// The row's log-sum-exp and its loss against `target` (which the caller checked is in range).
pub fn forward_row<T: Storage>(x: &[T], target: usize, smoothing: f64) -> (T::Compute, T::Compute)
where
    T::Compute: Element,
{
    type C<T> = <T as Storage>::Compute;
    let v = x.len();
    // Pass 1, a block at a time: the maximum, NaN, and Σx for label smoothing.
    let mut block = [C::<T>::ZERO; BLOCK];
    let mut maxes = [C::<T>::from_f64(f64::NEG_INFINITY); LANES];
    let mut sums = [C::<T>::ZERO; LANES];
    let mut nan = false;
    for start in (0..v).step_by(BLOCK) {
        let n = BLOCK.min(v - start);
        for i in 0..n {
            block[i] = x[start + i].load();
        }
        for (i, &value) in block[..n].iter().enumerate() {
            let lane = &mut maxes[i % LANES];
            *lane = if value > *lane { value } else { *lane };
            nan |= value.partial_cmp(&value).is_none();
        }
        accumulate(&mut sums, &block[..n]);
    }
    let sum_x = total(sums);
    let max = maxes
        .iter()
        .fold(C::<T>::from_f64(f64::NEG_INFINITY), |m, &v| {
            if v > m {
                v
            } else {
                m
            }
        });
    if nan {
        let nan = C::<T>::from_f64(f64::NAN);
        return (nan, nan);
    }
    // All −∞ (or an empty row): the shift must stay finite.
    let shift = if max.is_finite() { max } else { C::<T>::ZERO };
    let kernel = ExpShifted {
        shift: shift.to_f64(),
    };
    let mut exps = [C::<T>::ZERO; BLOCK];
    let mut sum_exp = [C::<T>::ZERO; LANES];
    for start in (0..v).step_by(BLOCK) {
        let n = BLOCK.min(v - start);
        for i in 0..n {
            block[i] = x[start + i].load();
        }
        elementwise::map(kernel, [&block[..n]], &mut exps[..n], Parallelism::Serial)
            .expect("blocks of equal length");
        accumulate(&mut sum_exp, &exps[..n]);
    }
    let lse = shift + ln(total(sum_exp));
    let eps = C::<T>::from_f64(smoothing);
    let mut loss = lse - (C::<T>::ONE - eps) * x[target].load();
    if smoothing != 0.0 {
        loss -= eps * sum_x / C::<T>::from_f64(v as f64);
    }
    (lse, loss)
}

fn ln<C: Float>(value: C) -> C {
    C::from_f64(value.to_f64().ln())
}

/// `dx = scale·(exp(x − lse) − (1 − ε)·onehot(target) − ε/V)`, rounded once to T.
pub fn backward_row<T: Storage>(
    x: &[T],
    target: usize,
    lse: T::Compute,
    scale: T::Compute,
    smoothing: f64,
    dx: &mut [T],
) where
    T::Compute: Element,
{
    type C<T> = <T as Storage>::Compute;
    let v = x.len();
    let kernel = ExpShifted {
        shift: lse.to_f64(),
    };
    let eps = C::<T>::from_f64(smoothing);
    let uniform = eps / C::<T>::from_f64(v as f64);
    let mut block = [C::<T>::ZERO; BLOCK];
    let mut probs = [C::<T>::ZERO; BLOCK];
    for start in (0..v).step_by(BLOCK) {
        let n = BLOCK.min(v - start);
        for i in 0..n {
            block[i] = x[start + i].load();
        }
        elementwise::map(kernel, [&block[..n]], &mut probs[..n], Parallelism::Serial)
            .expect("blocks of equal length");
        for i in 0..n {
            let mut p = probs[i] - uniform;
            if start + i == target {
                p -= C::<T>::ONE - eps;
            }
            dx[start + i] = T::store(scale * p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f64], t: usize, eps: f64) -> (f64, Vec<f64>) {
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let v = x.len() as f64;
        let loss = lse - (1.0 - eps) * x[t] - eps * x.iter().sum::<f64>() / v;
        let grad = x
            .iter()
            .enumerate()
            .map(|(j, xj)| (xj - lse).exp() - eps / v - if j == t { 1.0 - eps } else { 0.0 })
            .collect();
        (loss, grad)
    }

    #[test]
    fn matches_the_formula_in_float64_and_float32() {
        for v in [1usize, 5, 300, 1000] {
            let x: Vec<f64> = (0..v)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) * 0.3)
                .collect();
            for eps in [0.0, 0.1] {
                let t = v / 3;
                let (want, want_grad) = reference(&x, t, eps);
                let (lse, loss) = forward_row(&x, t, eps);
                assert!(
                    (loss - want).abs() < 1e-12 * want.abs().max(1.0),
                    "{v} {eps}"
                );
                let mut dx = vec![0.0; v];
                backward_row(&x, t, lse, 1.0, eps, &mut dx);
                for (a, b) in dx.iter().zip(&want_grad) {
                    assert!((a - b).abs() < 1e-14);
                }
                let x32: Vec<f32> = x.iter().map(|&a| a as f32).collect();
                let (_, loss32) = forward_row(&x32, t, eps);
                assert!(((loss32 as f64) - want).abs() < 1e-5 * want.abs().max(1.0));
            }
        }
    }

    #[test]
    fn infinite_and_nan_logits() {
        let x = [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY];
        let (lse, loss) = forward_row(&x, 1, 0.0);
        assert_eq!((lse, loss), (0.0, 0.0));
        let (_, loss) = forward_row(&[1.0f32, f32::NAN], 0, 0.0);
        assert!(loss.is_nan());
    }
}
