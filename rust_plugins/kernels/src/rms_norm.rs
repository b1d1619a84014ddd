//! RMSNorm over one row (the last dimension), forward and backward, with each model family's
//! cast order.
//!
//! For a row x of d values: r = 1 / sqrt(sum(x²) / d + eps), the normalised row n = x·r and
//! the output w·n. The families differ only in where results are rounded to a storage type
//! ([`Plan`]): Llama/Mistral/Qwen/Phi-3 round n to the input's type before the weight
//! multiplies it (`weight * x.to(input_dtype)`), Gemma multiplies by `1 + weight` in float32
//! and rounds once, T5 rounds n to the weight's half type, and `torch.nn.RMSNorm` multiplies
//! by the weight in float32 and rounds once. Half types are computed in `f32`, `f32` in `f32`
//! and `f64` in `f64`.
//!
//! Sums run over 16 interleaved accumulators combined in a fixed tree, so a row's result does
//! not depend on the instruction set, the thread or where the row sits in memory.

use crate::float::Float;
use crate::half::{Bf16, F16};
use crate::simd::simd_variants;

/// A storage type of tensors and the precision it is computed in.
pub trait Storage: Copy + Default + Send + Sync + 'static {
    type Compute: Float;
    fn load(self) -> Self::Compute;
    fn store(value: Self::Compute) -> Self;
    /// `value` rounded to this type and widened back.
    #[inline(always)]
    fn round(value: Self::Compute) -> Self::Compute {
        Self::store(value).load()
    }
}

impl Storage for f32 {
    type Compute = f32;
    #[inline(always)]
    fn load(self) -> f32 {
        self
    }
    #[inline(always)]
    fn store(value: f32) -> f32 {
        value
    }
}

impl Storage for f64 {
    type Compute = f64;
    #[inline(always)]
    fn load(self) -> f64 {
        self
    }
    #[inline(always)]
    fn store(value: f64) -> f64 {
        value
    }
}

impl Storage for Bf16 {
    type Compute = f32;
    #[inline(always)]
    fn load(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn store(value: f32) -> Bf16 {
        Bf16::from_f32(value)
    }
}

impl Storage for F16 {
    type Compute = f32;
    #[inline(always)]
    fn load(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn store(value: f32) -> F16 {
        F16::from_f32(value)
    }
}

/// Which reference module's cast order to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `LlamaRMSNorm` (also Mistral, Qwen2, Qwen3, Phi-3): `weight * (x·r).to(input_dtype)`.
    Llama,
    /// `GemmaRMSNorm` (Gemma 1-3): `((x·r) * (1 + weight.float())).type_as(x)`.
    Gemma,
    /// `T5LayerNorm`: x·r in float32, rounded to the weight's type when that is a half type.
    T5,
    /// `torch.nn.RMSNorm` / `F.rms_norm`: `((x·r) * weight).type_as(x)`.
    Torch,
}

impl Mode {
    /// The code the C++ shim passes (the order of `MODES` in csrc/ops/rms_norm.cpp).
    pub fn from_code(code: i32) -> Option<Mode> {
        [Mode::Llama, Mode::Gemma, Mode::T5, Mode::Torch]
            .get(code as usize)
            .copied()
    }
}

/// What a call computes once the mode and the dtypes are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// n is rounded to the input's storage type before the weight multiplies it.
    pub round_normed: bool,
    /// The weight is used as `1 + weight` (Gemma).
    pub offset_weight: bool,
}

impl Plan {
    /// `weight_is_input_type`: the weight has the input's dtype (else it is wider: float32 for
    /// half inputs, or float32 for float64 inputs).
    pub fn new(mode: Mode, has_weight: bool, weight_is_input_type: bool) -> Plan {
        let round_normed = has_weight
            && match mode {
                Mode::Llama => true,
                // T5 rounds to the weight's type only when that is a half type, which here
                // means the input's type.
                Mode::T5 => weight_is_input_type,
                Mode::Gemma | Mode::Torch => false,
            };
        Plan {
            round_normed,
            offset_weight: mode == Mode::Gemma,
        }
    }
}

const LANES: usize = 16;

/// Σ f(a[i], b[i]) over 16 interleaved accumulators, combined as a fixed tree.
#[inline(always)]
fn lane_sum<A: Copy, B: Copy, C: Float>(a: &[A], b: &[B], f: impl Fn(A, B) -> C) -> C {
    let mut acc = [C::ZERO; LANES];
    let body = a.len() - a.len() % LANES;
    let (a_body, a_tail) = a.split_at(body);
    let (b_body, b_tail) = b.split_at(body);
    for (ca, cb) in a_body.chunks_exact(LANES).zip(b_body.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += f(ca[i], cb[i]);
        }
    }
    for (i, (&va, &vb)) in a_tail.iter().zip(b_tail).enumerate() {
        acc[i] += f(va, vb);
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// The weight as the kernels use it, in the compute precision: `1 + weight` for Gemma (added
/// in that precision, as `1.0 + weight.float()` does in float32).
pub fn effective_weight<C: Float>(weight: impl Iterator<Item = C>, plan: Plan) -> Vec<C> {
    if plan.offset_weight {
        weight.map(|w| C::ONE + w).collect()
    } else {
        weight.collect()
    }
}

/// 1 / sqrt(mean(x²) + eps), as torch computes it: the sum divided by d, eps added in the
/// compute precision, then `1 / sqrt` (torch's rsqrt).
#[inline(always)]
fn inverse_rms<T: Storage>(x: &[T], eps: T::Compute) -> T::Compute {
    type C<T> = <T as Storage>::Compute;
    let sum = lane_sum(x, x, |a: T, _b: T| {
        let v = a.load();
        v * v
    });
    let mean = sum / C::<T>::from_f64(x.len() as f64);
    C::<T>::ONE / (mean + eps).sqrt()
}

simd_variants! {
    fn forward_dispatch<T: Storage, O: Storage>(
        x: &[T],
        weight: Option<&[T::Compute]>,
        eps: T::Compute,
        round_normed: bool,
        out: &mut [O],
    ) -> T::Compute = forward_generic;
}

/// The row loop; `O::Compute` is `T::Compute` (the dispatch macro takes single bounds only, so
/// `forward_row` states it).
#[inline(always)]
fn forward_generic<T: Storage, O: Storage>(
    x: &[T],
    weight: Option<&[T::Compute]>,
    eps: T::Compute,
    round_normed: bool,
    out: &mut [O],
) -> T::Compute {
    let r = inverse_rms(x, eps);
    let to_out = |v: T::Compute| -> O { O::store(cast::<T::Compute, O::Compute>(v)) };
    match weight {
        None => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = to_out(v.load() * r);
            }
        }
        Some(w) if round_normed => {
            for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
                *o = to_out(w * T::round(v.load() * r));
            }
        }
        Some(w) => {
            for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
                *o = to_out(v.load() * r * w);
            }
        }
    }
    r
}

/// A value of one compute type as another of the same width (identity; the pairs used always
/// share a compute type).
#[inline(always)]
fn cast<A: Float, B: Float>(value: A) -> B {
    debug_assert_eq!(std::mem::size_of::<A>(), std::mem::size_of::<B>());
    // SAFETY: A and B are the same type (both f32 or both f64) for every caller.
    unsafe { std::mem::transmute_copy(&value) }
}

/// Normalises one row: `out = w · n` with the plan's rounding; returns r, the inverse RMS.
/// `weight` is [`effective_weight`]'s output (length d) or None.
pub fn forward_row<T: Storage, O: Storage<Compute = T::Compute>>(
    x: &[T],
    weight: Option<&[T::Compute]>,
    eps: T::Compute,
    plan: Plan,
    out: &mut [O],
) -> T::Compute {
    assert_eq!(x.len(), out.len());
    if let Some(w) = weight {
        assert_eq!(w.len(), x.len());
    }
    forward_dispatch(x, weight, eps, plan.round_normed, out)
}

/// `sum = x + residual` rounded to the storage type (as torch adds two tensors of that type),
/// then [`forward_row`] of `sum`.
pub fn add_forward_row<T: Storage, O: Storage<Compute = T::Compute>>(
    x: &[T],
    residual: &[T],
    weight: Option<&[T::Compute]>,
    eps: T::Compute,
    plan: Plan,
    sum: &mut [T],
    out: &mut [O],
) -> T::Compute {
    assert_eq!(x.len(), residual.len());
    assert_eq!(x.len(), sum.len());
    add_dispatch(x, residual, sum);
    forward_row(sum, weight, eps, plan, out)
}

simd_variants! {
    fn add_dispatch<T: Storage>(x: &[T], residual: &[T], sum: &mut [T]) -> () = add_generic;
}

#[inline(always)]
fn add_generic<T: Storage>(x: &[T], residual: &[T], sum: &mut [T]) {
    for ((s, &a), &b) in sum.iter_mut().zip(x).zip(residual) {
        *s = T::store(a.load() + b.load());
    }
}

/// The gradients of one row given `grad` (the output's gradient, of the output's type) and r
/// from the forward pass: `dx = r·(g·w − n·mean(g·w·n))` (plus `grad_sum`, the gradient that
/// reaches the sum of [`add_forward_row`] directly), and `dweight += g·n` (n rounded as the
/// forward rounded it) when `dweight` is given. Computed in the compute precision, rounded once.
#[allow(clippy::too_many_arguments)]
pub fn backward_row<T: Storage, G: Storage<Compute = T::Compute>>(
    grad: &[G],
    x: &[T],
    weight: Option<&[T::Compute]>,
    r: T::Compute,
    plan: Plan,
    grad_sum: Option<&[T]>,
    dx: &mut [T],
    dweight: Option<&mut [T::Compute]>,
) {
    let d = x.len();
    assert!(grad.len() == d && dx.len() == d);
    assert!(weight.is_none_or(|w| w.len() == d));
    assert!(grad_sum.is_none_or(|g| g.len() == d));
    assert!(dweight.as_ref().is_none_or(|g| g.len() == d));
    backward_dispatch(grad, x, weight, r, plan.round_normed, grad_sum, dx, dweight)
}

simd_variants! {
    fn backward_dispatch<T: Storage, G: Storage>(
        grad: &[G],
        x: &[T],
        weight: Option<&[T::Compute]>,
        r: T::Compute,
        round_normed: bool,
        grad_sum: Option<&[T]>,
        dx: &mut [T],
        dweight: Option<&mut [T::Compute]>,
    ) -> () = backward_generic;
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_generic<T: Storage, G: Storage>(
    grad: &[G],
    x: &[T],
    weight: Option<&[T::Compute]>,
    r: T::Compute,
    round_normed: bool,
    grad_sum: Option<&[T]>,
    dx: &mut [T],
    dweight: Option<&mut [T::Compute]>,
) {
    type C<T> = <T as Storage>::Compute;
    let g = |v: G| -> C<T> { cast::<G::Compute, C<T>>(v.load()) };
    let d = C::<T>::from_f64(x.len() as f64);
    // mean(g·w·n) = r · Σ(g·w·x) / d
    let dot = match weight {
        Some(w) => {
            let gw_x = |i: usize| g(grad[i]) * w[i] * x[i].load();
            lane_sum_indexed(x.len(), gw_x)
        }
        None => lane_sum(grad, x, |a: G, b: T| g(a) * b.load()),
    };
    let scale = dot * r / d;
    match weight {
        Some(w) => {
            for i in 0..x.len() {
                let n = x[i].load() * r;
                let mut v = (g(grad[i]) * w[i] - n * scale) * r;
                if let Some(extra) = grad_sum {
                    v += extra[i].load();
                }
                dx[i] = T::store(v);
            }
        }
        None => {
            for i in 0..x.len() {
                let n = x[i].load() * r;
                let mut v = (g(grad[i]) - n * scale) * r;
                if let Some(extra) = grad_sum {
                    v += extra[i].load();
                }
                dx[i] = T::store(v);
            }
        }
    }
    if let Some(dw) = dweight {
        if round_normed {
            for i in 0..x.len() {
                dw[i] += g(grad[i]) * T::round(x[i].load() * r);
            }
        } else {
            for i in 0..x.len() {
                dw[i] += g(grad[i]) * (x[i].load() * r);
            }
        }
    }
}

/// [`lane_sum`] of `f(i)` for `i` in `0..len`.
#[inline(always)]
fn lane_sum_indexed<C: Float>(len: usize, f: impl Fn(usize) -> C) -> C {
    let mut acc = [C::ZERO; LANES];
    let body = len - len % LANES;
    let mut i = 0;
    while i < body {
        for (lane, a) in acc.iter_mut().enumerate() {
            *a += f(i + lane);
        }
        i += LANES;
    }
    for (lane, a) in acc.iter_mut().enumerate().take(len - body) {
        *a += f(body + lane);
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n * d)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64 * 6.0 - 3.0
            })
            .collect()
    }

    fn reference(x: &[f64], w: &[f64], eps: f64) -> (Vec<f64>, f64) {
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let r = 1.0 / (ms + eps).sqrt();
        (x.iter().zip(w).map(|(v, w)| v * r * w).collect(), r)
    }

    #[test]
    fn float64_matches_the_formula() {
        for d in [1, 3, 16, 17, 100, 1000] {
            let x = rows(1, d, d as u64);
            let w = rows(1, d, 7);
            let (want, want_r) = reference(&x, &w, 1e-6);
            let mut out = vec![0.0f64; d];
            for mode in [Mode::Llama, Mode::T5, Mode::Torch] {
                let plan = Plan::new(mode, true, true);
                let r = forward_row(&x, Some(&w), 1e-6, plan, &mut out);
                assert!((r - want_r).abs() <= 1e-14 * want_r);
                for (a, b) in out.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn llama_rounds_the_normalised_row_before_the_weight() {
        let x: Vec<Bf16> = rows(1, 40, 3)
            .iter()
            .map(|&v| Bf16::from_f32(v as f32))
            .collect();
        let w: Vec<f32> = rows(1, 40, 4).iter().map(|&v| v as f32).collect();
        let plan = Plan::new(Mode::Llama, true, false);
        let mut out = vec![0.0f32; 40];
        let r = forward_row(&x, Some(&w), 1e-6, plan, &mut out);
        for i in 0..40 {
            let n = Bf16::from_f32(x[i].to_f32() * r).to_f32();
            assert_eq!(out[i], w[i] * n);
        }
        // Gemma/torch: one rounding at the end.
        let plan = Plan::new(Mode::Gemma, true, false);
        let w1 = effective_weight(w.iter().copied(), plan);
        let mut out = vec![Bf16::default(); 40];
        let r = forward_row(&x, Some(&w1), 1e-6, plan, &mut out);
        for i in 0..40 {
            let want = Bf16::from_f32(x[i].to_f32() * r * (1.0 + w[i]));
            assert_eq!(out[i], want);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let d = 37;
        let x = rows(1, d, 11);
        let w = rows(1, d, 12);
        let g = rows(1, d, 13);
        let plan = Plan::new(Mode::Torch, true, true);
        let mut out = vec![0.0; d];
        let r = forward_row(&x, Some(&w), 1e-5, plan, &mut out);
        let mut dx = vec![0.0; d];
        let mut dw = vec![0.0; d];
        backward_row(&g, &x, Some(&w), r, plan, None, &mut dx, Some(&mut dw));
        let loss = |x: &[f64], w: &[f64]| -> f64 {
            let (y, _) = reference(x, w, 1e-5);
            y.iter().zip(&g).map(|(a, b)| a * b).sum()
        };
        for i in 0..d {
            let h = 1e-6;
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (loss(&xp, &w) - loss(&xm, &w)) / (2.0 * h);
            assert!((fd - dx[i]).abs() < 1e-7, "dx[{i}] {fd} {}", dx[i]);
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[i] += h;
            wm[i] -= h;
            let fd = (loss(&x, &wp) - loss(&x, &wm)) / (2.0 * h);
            assert!((fd - dw[i]).abs() < 1e-7, "dw[{i}] {fd} {}", dw[i]);
        }
    }

    #[test]
    fn results_do_not_depend_on_the_instruction_set_or_alignment() {
        // The dispatched variants and the portable body give the same bits, wherever the row
        // starts.
        let data: Vec<f32> = rows(1, 300, 21).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = rows(1, 257, 22).iter().map(|&v| v as f32).collect();
        let plan = Plan::new(Mode::Llama, true, true);
        let mut want = vec![0.0f32; 257];
        let want_r = forward_generic::<f32, f32>(&data[5..262], Some(&w), 1e-6, true, &mut want);
        for offset in 0..8 {
            let x: Vec<f32> = data[5..262].to_vec();
            let mut buffer = vec![0.0f32; 257 + offset];
            let out = &mut buffer[offset..];
            let r = forward_row(&x, Some(&w), 1e-6, plan, out);
            assert_eq!(r, want_r);
            assert_eq!(out, &want[..]);
        }
    }
}
