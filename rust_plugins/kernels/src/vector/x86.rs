//! x86-64 vectors: AVX2 + FMA + F16C (8 x f32, 4 x f64) and AVX-512F (16 x f32, 8 x f64), and the
//! loads and stores of every storage type as those vectors.

use super::{Lanes, Vector};
use crate::half::{Bf16, BF16_NAN, F16};
use std::arch::x86_64::*;

/// Defines a vector newtype over an x86 register type from the intrinsics of its operations.
macro_rules! x86_vector {
    (
        $name:ident, $reg:ty, $elem:ty, $lanes:expr,
        set1: $set1:ident, add: $add:ident, mul: $mul:ident,
        fma: $fma:ident, max: $max:ident, min: $min:ident,
        recip: |$q:ident| $recip:expr,
        select: |$a:ident, $limit:ident, $value:ident, $otherwise:ident| $select:expr,
        round: |$r:ident| $round:expr,
        scale: |$s:ident, $n:ident| $scale:expr $(,)?
    ) => {
        #[derive(Clone, Copy)]
        #[repr(transparent)]
        pub struct $name(pub $reg);

        impl Vector for $name {
            type Elem = $elem;
            const LANES: usize = $lanes;
            #[inline(always)]
            unsafe fn from_f64(value: f64) -> Self {
                Self($set1(value as $elem))
            }
            #[inline(always)]
            unsafe fn add(self, other: Self) -> Self {
                Self($add(self.0, other.0))
            }
            #[inline(always)]
            unsafe fn mul(self, other: Self) -> Self {
                Self($mul(self.0, other.0))
            }
            #[inline(always)]
            unsafe fn mul_add(self, b: Self, c: Self) -> Self {
                Self($fma(self.0, b.0, c.0))
            }
            #[inline(always)]
            unsafe fn recip(self) -> Self {
                let $q = self.0;
                Self($recip)
            }
            // x86 max/min return their second operand when either is NaN.
            #[inline(always)]
            unsafe fn max_keep_nan(self, bound: Self) -> Self {
                Self($max(bound.0, self.0))
            }
            #[inline(always)]
            unsafe fn min_keep_nan(self, bound: Self) -> Self {
                Self($min(bound.0, self.0))
            }
            #[inline(always)]
            unsafe fn where_less(self, limit: Self, value: Self, otherwise: Self) -> Self {
                let ($a, $limit, $value, $otherwise) = (self.0, limit.0, value.0, otherwise.0);
                Self($select)
            }
            #[inline(always)]
            unsafe fn round(self) -> Self {
                let $r = self.0;
                Self($round)
            }
            #[inline(always)]
            unsafe fn scale_by_pow2(self, n: Self) -> Self {
                let ($s, $n) = (self.0, n.0);
                Self($scale)
            }
        }
    };
}

const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// One Newton-Raphson step for 1/d from the estimate r: r + r·(1 − d·r); doubles the bits.
#[inline(always)]
unsafe fn newton_step_ps(d: __m512, r: __m512) -> __m512 {
    _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0)), r)
}

#[inline(always)]
unsafe fn newton_step_pd(d: __m512d, r: __m512d) -> __m512d {
    _mm512_fmadd_pd(r, _mm512_fnmadd_pd(d, r, _mm512_set1_pd(1.0)), r)
}

x86_vector!(
    F32x8, __m256, f32, 8,
    set1: _mm256_set1_ps, add: _mm256_add_ps, mul: _mm256_mul_ps,
    fma: _mm256_fmadd_ps, max: _mm256_max_ps, min: _mm256_min_ps,
    recip: |d| _mm256_div_ps(_mm256_set1_ps(1.0), d),
    select: |a, limit, value, otherwise|
        _mm256_blendv_ps(otherwise, value, _mm256_cmp_ps::<_CMP_LT_OQ>(a, limit)),
    round: |r| _mm256_round_ps::<NEAREST>(r),
    // 2^n from its bit pattern: adding 2^23 + 127 puts n + 127 in the low mantissa bits.
    scale: |s, n| {
        let biased = _mm256_add_ps(n, _mm256_set1_ps(8_388_735.0));
        let pow2 = _mm256_slli_epi32::<23>(_mm256_castps_si256(biased));
        _mm256_mul_ps(s, _mm256_castsi256_ps(pow2))
    },
);

x86_vector!(
    F64x4, __m256d, f64, 4,
    set1: _mm256_set1_pd, add: _mm256_add_pd, mul: _mm256_mul_pd,
    fma: _mm256_fmadd_pd, max: _mm256_max_pd, min: _mm256_min_pd,
    recip: |d| _mm256_div_pd(_mm256_set1_pd(1.0), d),
    select: |a, limit, value, otherwise|
        _mm256_blendv_pd(otherwise, value, _mm256_cmp_pd::<_CMP_LT_OQ>(a, limit)),
    round: |r| _mm256_round_pd::<NEAREST>(r),
    scale: |s, n| {
        let biased = _mm256_add_pd(n, _mm256_set1_pd(4_503_599_627_371_519.0));
        let pow2 = _mm256_slli_epi64::<52>(_mm256_castpd_si256(biased));
        _mm256_mul_pd(s, _mm256_castsi256_pd(pow2))
    },
);

x86_vector!(
    F32x16, __m512, f32, 16,
    set1: _mm512_set1_ps, add: _mm512_add_ps, mul: _mm512_mul_ps,
    fma: _mm512_fmadd_ps, max: _mm512_max_ps, min: _mm512_min_ps,
    // 512-bit division is slow: a 14-bit estimate and one Newton step reach ~1 ulp.
    recip: |d| newton_step_ps(d, _mm512_rcp14_ps(d)),
    select: |a, limit, value, otherwise|
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, limit), otherwise, value),
    round: |r| _mm512_roundscale_ps::<NEAREST>(r),
    scale: |s, n| _mm512_scalef_ps(s, n),
);

x86_vector!(
    F64x8, __m512d, f64, 8,
    set1: _mm512_set1_pd, add: _mm512_add_pd, mul: _mm512_mul_pd,
    fma: _mm512_fmadd_pd, max: _mm512_max_pd, min: _mm512_min_pd,
    recip: |d| newton_step_pd(d, newton_step_pd(d, _mm512_rcp14_pd(d))),
    select: |a, limit, value, otherwise|
        _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, limit), otherwise, value),
    round: |r| _mm512_roundscale_pd::<NEAREST>(r),
    scale: |s, n| _mm512_scalef_pd(s, n),
);

macro_rules! native_lanes {
    ($elem:ty, $vector:ident, $load:ident, $store:ident, $stream:ident) => {
        impl Lanes<$vector> for $elem {
            #[inline(always)]
            unsafe fn load(ptr: *const Self) -> $vector {
                $vector($load(ptr))
            }
            #[inline(always)]
            unsafe fn store(value: $vector, ptr: *mut Self) {
                $store(ptr, value.0)
            }
            #[inline(always)]
            unsafe fn store_streaming(value: $vector, ptr: *mut Self) {
                $stream(ptr, value.0)
            }
        }
    };
}

native_lanes!(
    f32,
    F32x8,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_stream_ps
);
native_lanes!(
    f64,
    F64x4,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_stream_pd
);
native_lanes!(
    f32,
    F32x16,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_stream_ps
);
native_lanes!(
    f64,
    F64x8,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_stream_pd
);

// bfloat16 -> f32 is a 16-bit shift; f32 -> bfloat16 rounds to nearest even on the bits.

impl Lanes<F32x8> for Bf16 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> F32x8 {
        let halves = _mm_loadu_si128(ptr as *const __m128i);
        let bits = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(halves));
        F32x8(_mm256_castsi256_ps(bits))
    }
    #[inline(always)]
    unsafe fn store(value: F32x8, ptr: *mut Self) {
        let bits = _mm256_castps_si256(value.0);
        let odd = _mm256_and_si256(_mm256_srli_epi32::<16>(bits), _mm256_set1_epi32(1));
        let bias = _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF));
        let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(bits, bias));
        let is_nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(value.0, value.0));
        let nan = _mm256_set1_epi32(BF16_NAN as i32);
        let result = _mm256_blendv_epi8(rounded, nan, is_nan);
        let packed = _mm_packus_epi32(
            _mm256_castsi256_si128(result),
            _mm256_extracti128_si256::<1>(result),
        );
        _mm_storeu_si128(ptr as *mut __m128i, packed)
    }
}

impl Lanes<F32x16> for Bf16 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> F32x16 {
        let halves = _mm256_loadu_si256(ptr as *const __m256i);
        let bits = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(halves));
        F32x16(_mm512_castsi512_ps(bits))
    }
    #[inline(always)]
    unsafe fn store(value: F32x16, ptr: *mut Self) {
        let bits = _mm512_castps_si512(value.0);
        let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
        let bias = _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF));
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, bias));
        let is_nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(value.0, value.0);
        let nan = _mm512_set1_epi32(BF16_NAN as i32);
        let result = _mm512_mask_blend_epi32(is_nan, rounded, nan);
        _mm256_storeu_si256(ptr as *mut __m256i, _mm512_cvtepi32_epi16(result))
    }
}

/// bfloat16 stored with the AVX512-BF16 instructions (`vcvtneps2bf16` rounds to nearest
/// even in one step). Same bits as [`Bf16`]; only reached from functions that enable
/// `avx512bf16` and `avx512dq`.
#[derive(Clone, Copy, Default)]
#[repr(transparent)]
pub struct Bf16Native(Bf16);

impl Lanes<F32x16> for Bf16Native {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> F32x16 {
        <Bf16 as Lanes<F32x16>>::load(ptr as *const Bf16)
    }
    #[inline(always)]
    unsafe fn store(value: F32x16, ptr: *mut Self) {
        // The instruction flushes subnormals to zero; those (rare) vectors take the
        // integer rounding path so that every result stays within half an ulp.
        const SUBNORMAL: i32 = 0x20;
        if _mm512_fpclass_ps_mask::<SUBNORMAL>(value.0) != 0 {
            return <Bf16 as Lanes<F32x16>>::store(value, ptr as *mut Bf16);
        }
        let halves: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(value.0));
        _mm256_storeu_si256(ptr as *mut __m256i, halves)
    }
}

impl Lanes<F32x8> for F16 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> F32x8 {
        F32x8(_mm256_cvtph_ps(_mm_loadu_si128(ptr as *const __m128i)))
    }
    #[inline(always)]
    unsafe fn store(value: F32x8, ptr: *mut Self) {
        let halves = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(value.0);
        _mm_storeu_si128(ptr as *mut __m128i, halves)
    }
}

impl Lanes<F32x16> for F16 {
    #[inline(always)]
    unsafe fn load(ptr: *const Self) -> F32x16 {
        F32x16(_mm512_cvtph_ps(_mm256_loadu_si256(ptr as *const __m256i)))
    }
    #[inline(always)]
    unsafe fn store(value: F32x16, ptr: *mut Self) {
        let halves = _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(value.0);
        _mm256_storeu_si256(ptr as *mut __m256i, halves)
    }
}
