//! The tanh-GELU formulas on vectors, written once for every instruction set and precision.
//!
//! With z = 2·√(2/π)·(x + 0.044715·x³), the tanh form 0.5·x·(1 + tanh(z/2)) equals x·σ(z) with
//! σ(z) = 1 / (1 + e^(−z)). That form needs one exponential and no cancellation-prone
//! `1 + tanh`. Inputs are clamped to ±`saturation` before the polynomial so that x³ and e^(−z)
//! never overflow; beyond that bound GELU is x (x > 0) or −0 (x < 0) to working precision,
//! and its derivatives are 1/0 and 0.

use super::simd::Vector;

/// 2·√(2/π): z = x·(C1 + C2·x²).
const C1: f64 = 1.595_769_121_605_730_7;
/// 2·√(2/π)·0.044715.
const C2: f64 = C1 * 0.044_715;

/// What a precision needs: its exp polynomial and where GELU saturates.
pub(crate) trait Precision: Vector {
    /// |x| beyond which e^(−|z|) is below half an ulp of 1 and yet e^(|z|) is finite.
    const SATURATION: f64;
    /// e^t for |t| ≤ z(SATURATION).
    unsafe fn exp(self) -> Self;
}

/// Cody-Waite reduction t = n·ln2 + r with |r| ≤ ln2/2, then e^t = 2^n·e^r.
#[inline(always)]
unsafe fn reduce<V: Vector>(t: V, ln2_hi: f64, ln2_lo: f64) -> (V, V) {
    let n = t.mul(V::from_f64(std::f64::consts::LOG2_E)).round();
    let r = n.mul_add(V::from_f64(-ln2_hi), t);
    let r = n.mul_add(V::from_f64(-ln2_lo), r);
    (n, r)
}

macro_rules! f32_precision {
    ($v:ty) => {
        impl Precision for $v {
            // z(9) ≈ 66.4: e^−66 ≪ 2^−24 and e^66 ≪ f32::MAX.
            const SATURATION: f64 = 9.0;
            #[inline(always)]
            unsafe fn exp(self) -> Self {
                let (n, r) = reduce(self, 0.693_359_375, -2.121_944_4e-4);
                // e^r ≈ 1 + r + r²·p(r), p a cubic fitted for minimal relative error on
                // |r| ≤ ln2/2: 1.6e-7 (about 2 ulps), ample for the 1e-6 target.
                let mut p = <$v>::from_f64(8.312_525_227_665_901e-3);
                for c in [
                    4.189_011_454_582_214e-2,
                    1.666_711_419_820_785_5e-1,
                    4.999_923_110_008_24e-1,
                ] {
                    p = p.mul_add(r, <$v>::from_f64(c));
                }
                let e_r = p.mul_add(r.mul(r), r).add(<$v>::from_f64(1.0));
                e_r.scale_by_pow2(n)
            }
        }
    };
}

macro_rules! f64_precision {
    ($v:ty) => {
        impl Precision for $v {
            // z(20) ≈ 603: e^−603 ≪ 2^−53 and e^603 ≪ f64::MAX.
            const SATURATION: f64 = 20.0;
            #[inline(always)]
            unsafe fn exp(self) -> Self {
                let (n, r) = reduce(self, 6.931_471_803_691_238e-1, 1.908_214_929_270_587_7e-10);
                // Taylor series to r^12: truncation error below 2e-16 for |r| ≤ ln2/2.
                const INV_FACTORIALS: [f64; 13] = [
                    1.0 / 479_001_600.0,
                    1.0 / 39_916_800.0,
                    1.0 / 3_628_800.0,
                    1.0 / 362_880.0,
                    1.0 / 40_320.0,
                    1.0 / 5_040.0,
                    1.0 / 720.0,
                    1.0 / 120.0,
                    1.0 / 24.0,
                    1.0 / 6.0,
                    0.5,
                    1.0,
                    1.0,
                ];
                let mut p = <$v>::from_f64(INV_FACTORIALS[0]);
                for c in &INV_FACTORIALS[1..] {
                    p = p.mul_add(r, <$v>::from_f64(*c));
                }
                p.scale_by_pow2(n)
            }
        }
    };
}

f32_precision!(f32);
f64_precision!(f64);
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::simd::{F32x16, F32x8, F64x4, F64x8};
    use super::{reduce, Precision, Vector};
    f32_precision!(F32x8);
    f32_precision!(F32x16);
    f64_precision!(F64x4);
    f64_precision!(F64x8);
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
