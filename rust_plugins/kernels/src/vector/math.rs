//! Functions kernels compute on vectors beyond lane arithmetic, written once per precision.

use super::Vector;

/// What an elementwise kernel may compute with: [`Vector`] arithmetic plus these functions.
pub trait Math: Vector {
    /// e^t for |t| ≤ 80 (`f32` lanes) or |t| ≤ 700 (`f64` lanes), where 2^round(t·log2 e) is a
    /// normal number; callers clamp their arguments into that range.
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

macro_rules! f32_math {
    ($v:ty) => {
        impl Math for $v {
            #[inline(always)]
            unsafe fn exp(self) -> Self {
                let (n, r) = reduce(self, 0.693_359_375, -2.121_944_4e-4);
                // e^r ≈ 1 + r + r²·p(r), p a cubic fitted for minimal relative error on
                // |r| ≤ ln2/2: 1.6e-7 (about 2 ulps).
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

macro_rules! f64_math {
    ($v:ty) => {
        impl Math for $v {
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

f32_math!(f32);
f64_math!(f64);
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::{F32x16, F32x8, F64x4, F64x8};
    use super::{reduce, Math, Vector};
    f32_math!(F32x8);
    f32_math!(F32x16);
    f64_math!(F64x4);
    f64_math!(F64x8);
}
