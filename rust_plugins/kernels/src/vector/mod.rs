//! Vectors of floats for elementwise kernels, one implementation per instruction set.
//!
//! A kernel writes its formula once against [`Math`] (lane arithmetic and `exp`); [`Lanes`] loads
//! and stores each storage type (`f32`, `f64`, [`Bf16`], [`F16`]) as vectors of its compute
//! type, half types widened to `f32`. The portable path uses scalars (one lane); x86-64 has
//! AVX2 + FMA + F16C (8 x f32, 4 x f64) and AVX-512F (16 x f32, 8 x f64) vectors.
//!
//! Every method is `#[inline(always)]` so that it is compiled inside the `#[target_feature]`
//! function that calls it; the intrinsics are only ever reached from such functions, which
//! [`crate::elementwise`] calls after checking the CPU.

#![allow(clippy::missing_safety_doc)]

mod math;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use math::Math;
#[cfg(target_arch = "x86_64")]
pub use x86::{Bf16Native, F32x16, F32x8, F64x4, F64x8};

use crate::half::{Bf16, F16};

/// A vector of `LANES` floats (an `f32`/`f64` scalar for the portable path).
pub trait Vector: Copy {
    type Elem: Copy;
    const LANES: usize;

    unsafe fn from_f64(value: f64) -> Self;
    unsafe fn add(self, other: Self) -> Self;
    unsafe fn mul(self, other: Self) -> Self;
    /// 1 / self to within about an ulp (division, or an estimate refined by Newton steps where
    /// division is slow).
    unsafe fn recip(self) -> Self;
    /// `self * b + c`, fused where the instruction set has FMA.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `max(bound, self)`, but NaN when `self` is NaN.
    unsafe fn max_keep_nan(self, bound: Self) -> Self;
    /// `min(bound, self)`, but NaN when `self` is NaN.
    unsafe fn min_keep_nan(self, bound: Self) -> Self;
    /// `value` in the lanes where `self < limit` (false for NaN), `otherwise` elsewhere.
    unsafe fn where_less(self, limit: Self, value: Self, otherwise: Self) -> Self;
    /// Round to the nearest integer (ties to even).
    unsafe fn round(self) -> Self;
    /// `self * 2^n` for an integral `n` whose result stays a normal number.
    unsafe fn scale_by_pow2(self, n: Self) -> Self;
}

/// Loading and storing a storage type as vectors of its compute type.
pub trait Lanes<V: Vector>: Copy + Default {
    unsafe fn load(ptr: *const Self) -> V;
    unsafe fn store(value: V, ptr: *mut Self);
    /// A non-temporal store; `ptr` is aligned to the vector's size in memory.
    #[inline(always)]
    unsafe fn store_streaming(value: V, ptr: *mut Self) {
        Self::store(value, ptr)
    }
}

// ----------------------------------------------------------------------------------------------
// Portable scalar path (no FMA assumed: a software fma would be far slower than mul + add).

macro_rules! scalar_vector {
    ($t:ty, $magic:expr, $bits:ty, $mantissa_bits:expr, $bias:expr) => {
        impl Vector for $t {
            type Elem = $t;
            const LANES: usize = 1;
            #[inline(always)]
            unsafe fn from_f64(value: f64) -> Self {
                value as $t
            }
            #[inline(always)]
            unsafe fn add(self, other: Self) -> Self {
                self + other
            }
            #[inline(always)]
            unsafe fn mul(self, other: Self) -> Self {
                self * other
            }
            #[inline(always)]
            unsafe fn recip(self) -> Self {
                1.0 / self
            }
            #[inline(always)]
            unsafe fn mul_add(self, b: Self, c: Self) -> Self {
                self * b + c
            }
            #[inline(always)]
            unsafe fn max_keep_nan(self, bound: Self) -> Self {
                if bound > self {
                    bound
                } else {
                    self
                }
            }
            #[inline(always)]
            unsafe fn min_keep_nan(self, bound: Self) -> Self {
                if bound < self {
                    bound
                } else {
                    self
                }
            }
            #[inline(always)]
            unsafe fn where_less(self, limit: Self, value: Self, otherwise: Self) -> Self {
                if self < limit {
                    value
                } else {
                    otherwise
                }
            }
            #[inline(always)]
            unsafe fn round(self) -> Self {
                // Adding and removing 1.5 * 2^mantissa_bits rounds small values to integers.
                (self + $magic) - $magic
            }
            #[inline(always)]
            unsafe fn scale_by_pow2(self, n: Self) -> Self {
                let exponent = ((n as i64 + $bias) as $bits) << $mantissa_bits;
                self * <$t>::from_bits(exponent)
            }
        }
    };
}

scalar_vector!(f32, 12_582_912.0f32, u32, 23, 127);
scalar_vector!(f64, 6_755_399_441_055_744.0f64, u64, 52, 1023);

impl Lanes<f32> for f32 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> f32 {
        *ptr
    }
    #[inline(always)]
    unsafe fn store(value: f32, ptr: *mut Self) {
        *ptr = value
    }
}

impl Lanes<f64> for f64 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> f64 {
        *ptr
    }
    #[inline(always)]
    unsafe fn store(value: f64, ptr: *mut Self) {
        *ptr = value
    }
}

impl Lanes<f32> for Bf16 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> f32 {
        (*ptr).to_f32()
    }
    #[inline(always)]
    unsafe fn store(value: f32, ptr: *mut Self) {
        *ptr = Bf16::from_f32(value)
    }
}

impl Lanes<f32> for F16 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> f32 {
        (*ptr).to_f32()
    }
    #[inline(always)]
    unsafe fn store(value: f32, ptr: *mut Self) {
        *ptr = F16::from_f32(value)
    }
}
