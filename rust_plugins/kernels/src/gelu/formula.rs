//! The tanh-GELU formulas on vectors, written once for every instruction set and precision.
//!
//! With z = 2·√(2/π)·(x + 0.044715·x³), the tanh form 0.5·x·(1 + tanh(z/2)) equals x·σ(z) with
//! σ(z) = 1 / (1 + e^(−z)). That form needs one exponential and no cancellation-prone
//! `1 + tanh`. Inputs are clamped to ±`saturation` before the polynomial so that x³ and e^(−z)
//! never overflow; beyond that bound GELU is x (x > 0) or −0 (x < 0) to working precision,
//! and its derivatives are 1/0 and 0.

use crate::vector::Math;

/// 2·√(2/π): z = x·(C1 + C2·x²).
const C1: f64 = 1.595_769_121_605_730_7;
/// 2·√(2/π)·0.044715.
const C2: f64 = C1 * 0.044_715;

/// Where GELU saturates, per precision.
pub(crate) trait Precision: Math {
    /// |x| beyond which e^(−|z|) is below half an ulp of 1 and yet e^(|z|) is finite:
    /// z(9) ≈ 66.4 for `f32` lanes (e^−66 ≪ 2^−24), z(20) ≈ 603 for `f64` lanes (e^−603 ≪ 2^−53).
    const SATURATION: f64;
}

impl<V: Math> Precision for V {
    const SATURATION: f64 = if std::mem::size_of::<V::Elem>() == 4 {
        9.0
    } else {
        20.0
    };
}

/// The quantities shared by the three formulas.
struct Parts<V> {
    /// x clamped to ±SATURATION (NaN stays NaN).
    x: V,
    x2: V,
    /// e^(−z)
    e: V,
}

#[inline(always)]
unsafe fn parts<V: Precision>(x: V) -> Parts<V> {
    let bound = V::from_f64(V::SATURATION);
    let x = x
        .max_keep_nan(V::from_f64(-V::SATURATION))
        .min_keep_nan(bound);
    let x2 = x.mul(x);
    // −z = x·(−C1 − C2·x²), negated through the constants.
    let minus_z = x.mul(x2.mul_add(V::from_f64(-C2), V::from_f64(-C1)));
    let e = minus_z.exp();
    Parts { x, x2, e }
}

/// x·σ(z); −0 below −SATURATION (also for −∞), x itself above +SATURATION.
#[inline(always)]
pub(crate) unsafe fn forward<V: Precision>(x: V) -> V {
    let Parts { e, .. } = parts(x);
    let y = x.mul(e.add(V::from_f64(1.0)).recip());
    x.where_less(V::from_f64(-V::SATURATION), V::from_f64(-0.0), y)
}

/// dGELU/dx = σ + x·z'·σ·(1 − σ) = σ·(1 + x·z'·e·σ), since 1 − σ = e·σ.
#[inline(always)]
pub(crate) unsafe fn derivative<V: Precision>(x: V) -> V {
    let Parts { x: xc, x2, e } = parts(x);
    let one = V::from_f64(1.0);
    let sigma = e.add(one).recip();
    let dz = x2.mul_add(V::from_f64(3.0 * C2), V::from_f64(C1));
    let g = sigma.mul(xc.mul(dz).mul(e).mul_add(sigma, one));
    x.where_less(V::from_f64(-V::SATURATION), V::from_f64(0.0), g)
}

/// grad · dGELU/dx
#[inline(always)]
pub(crate) unsafe fn backward<V: Precision>(grad: V, x: V) -> V {
    grad.mul(derivative(x))
}

/// d²GELU/dx² = σ'·(2z' + x·((1 − 2σ)·z'² + z'')), with σ' = e·σ² and z'' = 6·C2·x;
/// 0 beyond ±SATURATION, where σ' underflows.
#[inline(always)]
pub(crate) unsafe fn second_derivative<V: Precision>(x: V) -> V {
    let Parts { x: xc, x2, e } = parts(x);
    let one = V::from_f64(1.0);
    let sigma = e.add(one).recip();
    let dsigma = e.mul(sigma).mul(sigma);
    let dz = x2.mul_add(V::from_f64(3.0 * C2), V::from_f64(C1));
    let one_minus_2sigma = sigma.mul_add(V::from_f64(-2.0), one);
    let inner = one_minus_2sigma
        .mul(dz)
        .mul_add(dz, xc.mul(V::from_f64(6.0 * C2)));
    let d2 = dsigma.mul(xc.mul_add(inner, dz.add(dz)));
    let zero = V::from_f64(0.0);
    let bound = V::from_f64(V::SATURATION);
    let d2 = x.where_less(V::from_f64(-V::SATURATION), zero, d2);
    bound.where_less(x, zero, d2)
}
