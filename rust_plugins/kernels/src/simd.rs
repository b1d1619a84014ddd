//! Run-time selection of instruction sets for generic code.
//!
//! `simd_variants!` wraps an `#[inline(always)]` generic function into a dispatcher that calls
//! a copy compiled for AVX-512 or AVX2+FMA when the CPU has them, and the portable build
//! otherwise (as detected by [`crate::cpu`]), so shipped binaries need no `-C target-cpu` flag.

/// `simd_variants!(pub fn dispatcher<T: Bound, ...>(arg: Ty, ...) -> Ret = body_fn);`
macro_rules! simd_variants {
    ($(#[$doc:meta])* $vis:vis fn $name:ident<$($g:ident: $b:path),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $body:ident;) => {
        $(#[$doc])*
        $vis fn $name<$($g: $b),*>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,fma")]
                unsafe fn avx512<$($g: $b),*>($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $b),*>($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                // SAFETY: each variant runs only where its CPU features were detected.
                if $crate::cpu::has_avx512() {
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::cpu::has_avx2() {
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_variants;
