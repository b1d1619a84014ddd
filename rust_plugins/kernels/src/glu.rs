//! Gated activations of transformer MLPs, `act(gate) * up`, forward and backward (recomputing
//! the activation instead of storing it): SwiGLU (`act` = SiLU, Llama/Mistral/Qwen) and GeGLU
//! (`act` = tanh-GELU, Gemma).
//!
//! The reference models compute `act_fn(gate) * up` as two torch ops, so a half-type result is
//! rounded twice: the activation to the storage type, then the product. These kernels keep that
//! cast order (computing in `f32` for half types, in `f64` for `f64`); the backward follows
//! autograd's: `d_up = g·act(gate)` with the rounded activation, `d_act = g·up` rounded, then
//! `d_gate = d_act·act'(gate)`.
//!
//! Elements are processed in blocks of [`BLOCK`] through the vector formulas of
//! [`crate::elementwise`], so every element's result is the same wherever a block starts.

use crate::elementwise::{self, Element, Kernel, Parallelism};
use crate::rms_norm::Storage;
use crate::vector::Math;

/// Elements converted to the compute type at a time (stays in the L1 cache).
pub const BLOCK: usize = 256;

/// Which activation gates the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// silu(x) = x·σ(x)
    Silu,
    /// tanh-approximated GELU, as `F.gelu(x, approximate="tanh")`
    GeluTanh,
}

/// silu(x) = x / (1 + e^(−x)); below −BOUND (where e^(−x) would overflow) −0, as x / ∞ is.
#[derive(Clone, Copy, Debug)]
struct SiluForward;

/// grad · silu'(x) = grad · σ·(1 + x·(1 − σ)), with 1 − σ = e^(−x)·σ; 0 below −BOUND.
#[derive(Clone, Copy, Debug)]
struct SiluBackward;

#[inline(always)]
unsafe fn silu_bound<V: Math>() -> f64 {
    if std::mem::size_of::<V::Elem>() == 4 {
        87.0
    } else {
        700.0
    }
}

/// t clamped to ±bound, where e^t and its scaling by 2^n stay normal numbers (NaN stays NaN).
#[inline(always)]
unsafe fn clamp<V: Math>(t: V, bound: f64) -> V {
    t.max_keep_nan(V::from_f64(-bound))
        .min_keep_nan(V::from_f64(bound))
}

impl Kernel<1> for SiluForward {
    const NAME: &'static str = "silu";
    #[inline(always)]
    unsafe fn apply<V: Math>(self, [x]: [V; 1]) -> V {
        let bound = silu_bound::<V>();
        let minus_x = clamp(x.mul(V::from_f64(-1.0)), bound);
        let e = minus_x.exp();
        let y = x.mul(e.add(V::from_f64(1.0)).recip());
        x.where_less(V::from_f64(-bound), V::from_f64(-0.0), y)
    }
}

impl Kernel<2> for SiluBackward {
    const NAME: &'static str = "silu";
    #[inline(always)]
    unsafe fn apply<V: Math>(self, [grad, x]: [V; 2]) -> V {
        let bound = silu_bound::<V>();
        let one = V::from_f64(1.0);
        let minus_x = clamp(x.mul(V::from_f64(-1.0)), bound);
        let e = minus_x.exp();
        let sigma = e.add(one).recip();
        let d = sigma.mul(x.mul(e).mul_add(sigma, one));
        let d = x.where_less(V::from_f64(-bound), V::from_f64(0.0), d);
        grad.mul(d)
    }
}

/// The compute type's slices through the vector code, one block at a time.
#[inline(always)]
fn activation<C: Element>(act: Activation, x: &[C], out: &mut [C]) {
    let result = match act {
        Activation::Silu => elementwise::map(SiluForward, [x], out, Parallelism::Serial),
        Activation::GeluTanh => {
            elementwise::map(crate::gelu::Forward, [x], out, Parallelism::Serial)
        }
    };
    result.expect("blocks of equal length");
}

#[inline(always)]
fn activation_backward<C: Element>(act: Activation, grad: &[C], x: &[C], out: &mut [C]) {
    let result = match act {
        Activation::Silu => elementwise::map(SiluBackward, [grad, x], out, Parallelism::Serial),
        Activation::GeluTanh => {
            elementwise::map(crate::gelu::Backward, [grad, x], out, Parallelism::Serial)
        }
    };
    result.expect("blocks of equal length");
}

/// `out[i] = round(round(act(gate[i])) · up[i])`.
pub fn forward<T: Storage>(act: Activation, gate: &[T], up: &[T], out: &mut [T])
where
    T::Compute: Element,
{
    assert!(gate.len() == out.len() && up.len() == out.len());
    let mut g = [T::Compute::default(); BLOCK];
    let mut a = [T::Compute::default(); BLOCK];
    for start in (0..out.len()).step_by(BLOCK) {
        let n = BLOCK.min(out.len() - start);
        for i in 0..n {
            g[i] = gate[start + i].load();
        }
        activation(act, &g[..n], &mut a[..n]);
        for i in 0..n {
            out[start + i] = T::store(T::round(a[i]) * up[start + i].load());
        }
    }
}

/// The gradients of `act(gate) · up` given the output's gradient: `d_gate[i]` and `d_up[i]`.
pub fn backward<T: Storage>(
    act: Activation,
    grad: &[T],
    gate: &[T],
    up: &[T],
    d_gate: &mut [T],
    d_up: &mut [T],
) where
    T::Compute: Element,
{
    let len = grad.len();
    assert!(gate.len() == len && up.len() == len && d_gate.len() == len && d_up.len() == len);
    let mut g = [T::Compute::default(); BLOCK];
    let mut a = [T::Compute::default(); BLOCK];
    let mut d_act = [T::Compute::default(); BLOCK];
    let mut d = [T::Compute::default(); BLOCK];
    for start in (0..len).step_by(BLOCK) {
        let n = BLOCK.min(len - start);
        for i in 0..n {
            g[i] = gate[start + i].load();
        }
        activation(act, &g[..n], &mut a[..n]);
        for i in 0..n {
            let gr = grad[start + i].load();
            d_up[start + i] = T::store(gr * T::round(a[i]));
            d_act[i] = T::round(gr * up[start + i].load());
        }
        activation_backward(act, &d_act[..n], &g[..n], &mut d[..n]);
        for i in 0..n {
            d_gate[start + i] = T::store(d[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::half::Bf16;

    fn silu(x: f64) -> f64 {
        x / (1.0 + (-x).exp())
    }

    #[test]
    fn silu_mul_matches_the_formula() {
        let gate: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) * 0.031).collect();
        let up: Vec<f64> = (0..1000)
            .map(|i| ((i * 7) % 13) as f64 * 0.3 - 2.0)
            .collect();
        let mut out = vec![0.0; 1000];
        forward(Activation::Silu, &gate, &up, &mut out);
        for i in 0..1000 {
            let want = silu(gate[i]) * up[i];
            assert!((out[i] - want).abs() <= 1e-14 * want.abs().max(1.0));
        }
        let gate32: Vec<f32> = gate.iter().map(|&v| v as f32).collect();
        let up32: Vec<f32> = up.iter().map(|&v| v as f32).collect();
        let mut out32 = vec![0.0f32; 1000];
        forward(Activation::Silu, &gate32, &up32, &mut out32);
        for i in 0..1000 {
            let want = silu(gate32[i] as f64) * up32[i] as f64;
            assert!((out32[i] as f64 - want).abs() <= 1e-6 * want.abs().max(1.0));
        }
    }

    #[test]
    fn extreme_gates_stay_finite() {
        let gate = [
            -1e30f32,
            -100.0,
            -87.5,
            87.5,
            100.0,
            1e30,
            f32::NEG_INFINITY,
        ];
        let up = [1.0f32; 7];
        let mut out = [0.0f32; 7];
        forward(Activation::Silu, &gate, &up, &mut out);
        assert_eq!(&out[..6], &[-0.0, -0.0, -0.0, 87.5, 100.0, 1e30]);
        let (mut dg, mut du) = ([0.0f32; 7], [0.0f32; 7]);
        backward(Activation::Silu, &up, &gate, &up, &mut dg, &mut du);
        assert!(dg[..6].iter().all(|v| v.is_finite()));
        assert_eq!(&dg[..3], &[0.0, 0.0, 0.0]);
        assert_eq!(&dg[3..6], &[1.0, 1.0, 1.0]);
    }

    #[test]
    fn half_types_round_the_activation_then_the_product() {
        let gate: Vec<Bf16> = (0..300)
            .map(|i| Bf16::from_f32((i as f32 - 150.0) * 0.05))
            .collect();
        let up: Vec<Bf16> = (0..300)
            .map(|i| Bf16::from_f32(i as f32 * 0.013 - 1.7))
            .collect();
        let mut out = vec![Bf16::default(); 300];
        forward(Activation::Silu, &gate, &up, &mut out);
        let g32: Vec<f32> = gate.iter().map(|v| v.to_f32()).collect();
        let mut a = vec![0.0f32; 300];
        activation(Activation::Silu, &g32, &mut a);
        for i in 0..300 {
            let want = Bf16::from_f32(Bf16::from_f32(a[i]).to_f32() * up[i].to_f32());
            assert_eq!(out[i], want);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        for act in [Activation::Silu, Activation::GeluTanh] {
            let gate: Vec<f64> = (0..200).map(|i| (i as f64 - 100.0) * 0.07).collect();
            let up: Vec<f64> = (0..200).map(|i| (i % 11) as f64 * 0.2 - 1.0).collect();
            let grad: Vec<f64> = (0..200).map(|i| (i % 5) as f64 * 0.5 - 1.0).collect();
            let (mut dg, mut du) = (vec![0.0; 200], vec![0.0; 200]);
            backward(act, &grad, &gate, &up, &mut dg, &mut du);
            let f = |g: f64, u: f64| {
                let mut o = [0.0];
                forward(act, &[g], &[u], &mut o);
                o[0]
            };
            for i in 0..200 {
                let h = 1e-6;
                let fd = (f(gate[i] + h, up[i]) - f(gate[i] - h, up[i])) / (2.0 * h) * grad[i];
                assert!(
                    (fd - dg[i]).abs() < 1e-7,
                    "{act:?} d_gate[{i}] {fd} {}",
                    dg[i]
                );
                let fd = (f(gate[i], up[i] + h) - f(gate[i], up[i] - h)) / (2.0 * h) * grad[i];
                assert!((fd - du[i]).abs() < 1e-7, "{act:?} d_up[{i}]");
            }
        }
    }
}
