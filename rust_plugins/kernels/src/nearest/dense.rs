//! Fused nearest-center search for dense samples: a register-blocked micro-kernel computes the
//! dot products of `MR` samples with a panel of `NR` centers and keeps, lane by lane, the
//! running minimum of `||c||^2 - 2<x, c>`; no distance matrix is ever written to memory.
//! The AVX-512 / AVX2+FMA / portable variants are chosen at run time.

use crate::alloc;
use crate::float::Float;
use crate::KernelError;

/// Centers packed in panels of `NR` (`[panel][feature][lane]`), padded with zero centers whose
/// squared norm is +inf so they never win.
pub struct PackedCenters<T> {
    nr: usize,
    panels: Vec<T>,
    norms: Vec<T>,
    n_panels: usize,
    d: usize,
}

/// Centers per panel for `k` centers: with AVX-512, 256 bytes (four registers), or 128 bytes
/// (two registers, twice as many samples per tile) when that already holds every center;
/// else 128 bytes (four AVX2 registers, or the portable kernel's lanes).
pub fn lanes<T>(k: usize) -> usize {
    let narrow = 128 / std::mem::size_of::<T>();
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() && k > narrow {
            return 2 * narrow;
        }
    }
    let _ = k;
    narrow
}

#[cfg(target_arch = "x86_64")]
use crate::cpu::{has_avx2, has_avx512};

impl<T: Float> PackedCenters<T> {
    pub fn new(centers: &[T], norms: &[T], d: usize) -> Result<Self, KernelError> {
        let k = norms.len();
        let nr = lanes::<T>(k);
        let n_panels = k.div_ceil(nr);
        let mut panels = alloc::filled(&[n_panels * nr, d], T::ZERO)?;
        let mut padded_norms = alloc::filled(&[n_panels * nr], T::INFINITY)?;
        for j in 0..k {
            let (p, l) = (j / nr, j % nr);
            for f in 0..d {
                panels[(p * d + f) * nr + l] = centers[j * d + f] * T::from_f64(-2.0);
            }
            padded_norms[j] = norms[j];
        }
        Ok(Self {
            nr,
            panels,
            norms: padded_norms,
            n_panels,
            d,
        })
    }
}

/// Closest center of each of `MR` rows (`x` holds `MR * d` values, row-major).
#[inline(always)]
fn tile<T: Float, const MR: usize, const NR: usize, const FMA: bool>(
    x: &[T],
    c: &PackedCenters<T>,
    labels: &mut [u32; MR],
) {
    let d = c.d;
    debug_assert!(x.len() >= MR * d && c.panels.len() == c.n_panels * d * NR);
    let mut best = [[T::INFINITY; NR]; MR];
    let mut best_idx = [[0u32; NR]; MR];
    for p in 0..c.n_panels {
        let panel = &c.panels[p * d * NR..(p + 1) * d * NR];
        let norms: &[T; NR] = c.norms[p * NR..(p + 1) * NR].try_into().unwrap();
        let mut acc = [*norms; MR];
        for f in 0..d {
            // SAFETY: f < d and the panel holds d * NR values; x holds MR * d values.
            let cv: &[T; NR] = unsafe { &*(panel.as_ptr().add(f * NR) as *const [T; NR]) };
            for r in 0..MR {
                let xv = unsafe { *x.get_unchecked(r * d + f) };
                for l in 0..NR {
                    acc[r][l] = if FMA {
                        xv.mul_add(cv[l], acc[r][l])
                    } else {
                        acc[r][l] + xv * cv[l]
                    };
                }
            }
        }
        for r in 0..MR {
            for l in 0..NR {
                let dist = acc[r][l];
                let better = dist < best[r][l];
                best[r][l] = if better { dist } else { best[r][l] };
                best_idx[r][l] = if better {
                    (p * NR + l) as u32
                } else {
                    best_idx[r][l]
                };
            }
        }
    }
    for r in 0..MR {
        // Smallest distance; on ties the smallest index, as a sequential strict-< scan gives.
        let mut j = 0;
        for l in 1..NR {
            let (v, bv) = (best[r][l], best[r][j]);
            if v < bv || (v == bv && best_idx[r][l] < best_idx[r][j]) {
                j = l;
            }
        }
        labels[r] = best_idx[r][j];
    }
}

#[inline(always)]
fn nearest_body<T: Float, const MR: usize, const NR: usize, const FMA: bool>(
    x: &[T],
    c: &PackedCenters<T>,
    out: &mut [u32],
) {
    let d = c.d;
    let m = out.len();
    let full = m / MR * MR;
    let mut labels = [0u32; MR];
    for start in (0..full).step_by(MR) {
        tile::<T, MR, NR, FMA>(&x[start * d..(start + MR) * d], c, &mut labels);
        out[start..start + MR].copy_from_slice(&labels);
    }
    if full < m {
        let mut padded = vec![T::ZERO; MR * d];
        padded[..(m - full) * d].copy_from_slice(&x[full * d..m * d]);
        tile::<T, MR, NR, FMA>(&padded, c, &mut labels);
        out[full..].copy_from_slice(&labels[..m - full]);
    }
}

/// One instruction set's vector operations for one float type, as used by `simd_nearest!`.
#[cfg(target_arch = "x86_64")]
macro_rules! isa_ops {
    ($module:ident, $t:ty, $v:ty, $lanes:literal, $zero:ident, $splat:ident, $load:ident,
     $store:ident, $fmadd:ident, $add:ident, $sub:ident, $min:ident, |$a:ident, $b:ident| lt_mask: $lt:expr,
     |$m:ident, $x:ident, $y:ident| select: $sel:expr, |$c:ident, $e:ident| eq_bits: $eq:expr,
     |$h:ident| hmin: $hmin:expr, |$ip:ident, $iv:ident| store_index: $si:expr) => {
        pub(super) mod $module {
            #[allow(unused_imports)]
            use std::arch::x86_64::*;
            pub type V = $v;
            pub const LANES: usize = $lanes;
            #[inline(always)] pub unsafe fn zero() -> V { $zero() }
            #[inline(always)] pub unsafe fn splat(x: $t) -> V { $splat(x) }
            #[inline(always)] pub unsafe fn load(p: *const $t) -> V { $load(p) }
            #[inline(always)] pub unsafe fn store(p: *mut $t, v: V) { $store(p, v) }
            #[inline(always)] pub unsafe fn fmadd(a: V, b: V, c: V) -> V { $fmadd(a, b, c) }
            #[inline(always)] pub unsafe fn add(a: V, b: V) -> V { $add(a, b) }
            #[inline(always)] pub unsafe fn min(a: V, b: V) -> V { $min(a, b) }
            /// Where `dist < best`, take `dist` and `idx`; elsewhere keep `best` and `best_idx`.
            #[inline(always)]
            pub unsafe fn keep_smaller(dist: V, best: V, idx: V, best_idx: V) -> (V, V) {
                let $a = dist;
                let $b = best;
                let $m = $lt;
                let new_best = { let ($x, $y) = (best, dist); $sel };
                let new_idx = { let ($x, $y) = (best_idx, idx); $sel };
                (new_best, new_idx)
            }
            /// Bit l set where lane l of `v` equals `s`.
            #[inline(always)]
            pub unsafe fn eq_bits(v: V, s: V) -> u32 { let ($c, $e) = (v, s); $eq }
            /// Smallest lane.
            #[inline(always)]
            pub unsafe fn hmin(v: V) -> $t { let $h = v; $hmin }
            /// Stores the lanes of `v` (whole numbers below 2^24) as `u32` at `p`.
            #[inline(always)]
            pub unsafe fn store_index(p: *mut u32, v: V) { let ($ip, $iv) = (p, v); $si }
        }
    };
}

#[cfg(target_arch = "x86_64")]
isa_ops!(avx512_f64, f64, __m512d, 8, _mm512_setzero_pd, _mm512_set1_pd, _mm512_loadu_pd,
    _mm512_storeu_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_sub_pd, _mm512_min_pd,
    |a, b| lt_mask: _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b),
    |m, x, y| select: _mm512_mask_blend_pd(m, x, y),
    |c, e| eq_bits: _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(c, e) as u32,
    |h| hmin: _mm512_reduce_min_pd(h),
    |p, v| store_index: _mm256_storeu_si256(p as *mut __m256i, _mm512_cvttpd_epi32(v)));
#[cfg(target_arch = "x86_64")]
isa_ops!(avx512_f32, f32, __m512, 16, _mm512_setzero_ps, _mm512_set1_ps, _mm512_loadu_ps,
    _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_min_ps,
    |a, b| lt_mask: _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b),
    |m, x, y| select: _mm512_mask_blend_ps(m, x, y),
    |c, e| eq_bits: _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(c, e) as u32,
    |h| hmin: _mm512_reduce_min_ps(h),
    |p, v| store_index: _mm512_storeu_si512(p as *mut _, _mm512_cvttps_epi32(v)));
#[cfg(target_arch = "x86_64")]
isa_ops!(avx2_f64, f64, __m256d, 4, _mm256_setzero_pd, _mm256_set1_pd, _mm256_loadu_pd,
_mm256_storeu_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_sub_pd, _mm256_min_pd,
|a, b| lt_mask: _mm256_cmp_pd::<_CMP_LT_OQ>(a, b),
|m, x, y| select: _mm256_blendv_pd(x, y, m),
|c, e| eq_bits: _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(c, e)) as u32,
|h| hmin: {
    let a = _mm256_min_pd(h, _mm256_permute2f128_pd::<1>(h, h));
    _mm256_cvtsd_f64(_mm256_min_pd(a, _mm256_shuffle_pd::<0b0101>(a, a)))
},
|p, v| store_index: _mm_storeu_si128(p as *mut __m128i, _mm256_cvttpd_epi32(v)));
#[cfg(target_arch = "x86_64")]
isa_ops!(avx2_f32, f32, __m256, 8, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps,
_mm256_storeu_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_min_ps,
|a, b| lt_mask: _mm256_cmp_ps::<_CMP_LT_OQ>(a, b),
|m, x, y| select: _mm256_blendv_ps(x, y, m),
|c, e| eq_bits: _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(c, e)) as u32,
|h| hmin: {
    let a = _mm256_min_ps(h, _mm256_permute2f128_ps::<1>(h, h));
    let b = _mm256_min_ps(a, _mm256_shuffle_ps::<0b01_00_11_10>(a, a));
    _mm256_cvtss_f32(_mm256_min_ps(b, _mm256_shuffle_ps::<0b10_11_00_01>(b, b)))
},
|p, v| store_index: _mm256_storeu_si256(p as *mut __m256i, _mm256_cvttps_epi32(v)));

/// Tiles of fewer (padded) centers than this prefetch the next tile's rows; others, whose
/// tiles take longer, the rows `PREFETCH_AHEAD` tiles ahead.
const PREFETCH_BELOW_CENTERS: usize = 32;
const PREFETCH_AHEAD: usize = 3;

/// Explicit-SIMD versions of `nearest_body`: the `MR x NR` block of dot products lives in
/// registers (`NV` vectors per row); each row keeps a lane-wise running minimum and the center
/// index (as a float, exact below 2^24) that reached it, reduced across lanes at the end.
macro_rules! simd_nearest {
    ($name:ident, $features:literal, $t:ty, $ops:ident, $nv:literal, $mr:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name(x: &[$t], c: &PackedCenters<$t>, out: &mut [u32]) {
            use $ops as o;
            const NV: usize = $nv;
            const MR: usize = $mr;
            const NR: usize = NV * o::LANES;
            assert_eq!(NR, c.nr);
            let d = c.d;
            let m = out.len();
            let mut padded = vec![0.0 as $t; MR * d];
            // Center index of every lane of every panel, as floats.
            let mut lane_index = [[o::zero(); NV]; 1];
            for v in 0..NV {
                let mut tmp = [0.0 as $t; 64];
                for l in 0..o::LANES {
                    tmp[l] = (v * o::LANES + l) as $t;
                }
                lane_index[0][v] = o::load(tmp.as_ptr());
            }
            let panel_step = o::splat(NR as $t);
            let prefetch = c.n_panels * NR < PREFETCH_BELOW_CENTERS;
            let ahead = if prefetch { 1 } else { PREFETCH_AHEAD };
            let mut start = 0;
            while start < m {
                let rows = (m - start).min(MR);
                let xs: *const $t = if rows == MR {
                    x.as_ptr().add(start * d)
                } else {
                    padded[..rows * d].copy_from_slice(&x[start * d..(start + rows) * d]);
                    padded[rows * d..].fill(0.0);
                    padded.as_ptr()
                };
                // Streams the next tile into cache while this one is computed: with few
                // centers there is too little work per tile to hide the memory latency.
                let next = (start + ahead * MR) * d;
                if next < x.len() {
                    let end = ((start + (ahead + 1) * MR) * d).min(x.len());
                    let base = x.as_ptr().add(next) as *const i8;
                    for off in (0..(end - next) * std::mem::size_of::<$t>()).step_by(64) {
                        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                            base.add(off),
                        );
                    }
                }
                // Distances ||c||^2 - 2<x, c> of the tile to panel `p`, accumulated from the
                // norms with -2c panels.
                let panel_acc = |p: usize| {
                    let panel = c.panels.as_ptr().add(p * d * NR);
                    let norms = c.norms.as_ptr().add(p * NR);
                    let mut acc = [[o::zero(); NV]; MR];
                    for v in 0..NV {
                        let nv = o::load(norms.add(v * o::LANES));
                        for r in 0..MR {
                            acc[r][v] = nv;
                        }
                    }
                    for f in 0..d {
                        let mut cv = [o::zero(); NV];
                        for v in 0..NV {
                            cv[v] = o::load(panel.add(f * NR + v * o::LANES));
                        }
                        for r in 0..MR {
                            let xb = o::splat(*xs.add(r * d + f));
                            for v in 0..NV {
                                acc[r][v] = o::fmadd(xb, cv[v], acc[r][v]);
                            }
                        }
                    }
                    acc
                };
                let infinity = o::splat(<$t>::INFINITY);
                if c.n_panels == 1 {
                    // One panel: each row's minimum straight from the registers (the running
                    // minima of several panels do not fit in registers and go through memory).
                    let acc = panel_acc(0);
                    for r in 0..rows {
                        out[start + r] = reduce_panel::<NV>(&acc[r], infinity);
                    }
                    start += MR;
                    continue;
                }
                let mut best = [[infinity; NV]; MR];
                let mut best_idx = [[o::zero(); NV]; MR];
                let mut idx = lane_index[0];
                for p in 0..c.n_panels {
                    let acc = panel_acc(p);
                    for v in 0..NV {
                        for r in 0..MR {
                            (best[r][v], best_idx[r][v]) =
                                o::keep_smaller(acc[r][v], best[r][v], idx[v], best_idx[r][v]);
                        }
                        idx[v] = o::add(idx[v], panel_step);
                    }
                }
                for r in 0..rows {
                    out[start + r] = reduce_row::<NV, { o::LANES }>(&best[r], &best_idx[r]);
                }
                start += MR;
            }

            /// Center of the smallest of one panel's distances (lane `l` of vector `v` is
            /// center `v * LANES + l`); among equal ones the smallest index; 0 when none is
            /// below infinity, as `reduce_row` after `keep_smaller` from infinity gives.
            #[inline(always)]
            unsafe fn reduce_panel<const NV: usize>(acc: &[o::V; NV], infinity: o::V) -> u32 {
                // NaN distances never win: `min` returns its second operand (infinity) then.
                let mut best = [o::zero(); NV];
                for v in 0..NV {
                    best[v] = o::min(acc[v], infinity);
                }
                let mut lo = best[0];
                for v in 1..NV {
                    lo = o::min(lo, best[v]);
                }
                let low = o::hmin(lo);
                if low == <$t>::INFINITY {
                    return 0;
                }
                let target = o::splat(low);
                let mut bits = 0u64;
                for v in 0..NV {
                    bits |= (o::eq_bits(best[v], target) as u64) << (v * o::LANES);
                }
                bits.trailing_zeros()
            }

            /// Smallest distance of a row; among equal ones the smallest center index.
            #[inline(always)]
            unsafe fn reduce_row<const NV: usize, const L: usize>(
                best: &[o::V; NV],
                best_idx: &[o::V; NV],
            ) -> u32 {
                let mut lo = best[0];
                for v in 1..NV {
                    lo = o::min(lo, best[v]);
                }
                let target = o::splat(o::hmin(lo));
                let mut vals = [0.0 as $t; L];
                let mut winner = u32::MAX;
                for v in 0..NV {
                    let mut bits = o::eq_bits(best[v], target);
                    if bits != 0 {
                        o::store(vals.as_mut_ptr(), best_idx[v]);
                        while bits != 0 {
                            let l = bits.trailing_zeros() as usize;
                            winner = winner.min(vals[l] as u32);
                            bits &= bits - 1;
                        }
                    }
                }
                if winner == u32::MAX {
                    0
                } else {
                    winner
                }
            }
        }
    };
}

simd_nearest!(
    nearest_avx512_f64,
    "avx512f,avx512vl,fma",
    f64,
    avx512_f64,
    4,
    6
);
simd_nearest!(
    nearest_avx512_f32,
    "avx512f,avx512vl,fma",
    f32,
    avx512_f32,
    4,
    6
);
// Narrow panels (few centers): two registers per row, twice the rows per tile.
simd_nearest!(
    nearest_narrow_avx512_f64,
    "avx512f,avx512vl,fma",
    f64,
    avx512_f64,
    2,
    12
);
simd_nearest!(
    nearest_narrow_avx512_f32,
    "avx512f,avx512vl,fma",
    f32,
    avx512_f32,
    2,
    12
);
simd_nearest!(nearest_avx2_f64, "avx2,fma", f64, avx2_f64, 4, 3);
simd_nearest!(nearest_avx2_f32, "avx2,fma", f32, avx2_f32, 4, 3);

/// Rows-in-lanes variant for short centers (see `prefers_small_kernel`): each vector holds one
/// feature of several samples, so every center costs `d` FMAs per vector of samples and the
/// running minimum needs no reduction across lanes. The products are summed in the same order
/// as in `simd_nearest!`, so both variants return the same labels.
macro_rules! simd_nearest_small {
    ($name:ident, $features:literal, $t:ty, $ops:ident, $transpose:path) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name(x: &[$t], centers: &[$t], norms: &[$t], d: usize, out: &mut [u32]) {
            // The loop over features unrolled for the narrowest rows, where its overhead
            // shows (0: the width is read at run time).
            match d {
                1 => groups::<1>(x, centers, norms, d, out),
                2 => groups::<2>(x, centers, norms, d, out),
                3 => groups::<3>(x, centers, norms, d, out),
                4 => groups::<4>(x, centers, norms, d, out),
                _ => groups::<0>(x, centers, norms, d, out),
            }

            #[target_feature(enable = $features)]
            unsafe fn groups<const D: usize>(
                x: &[$t],
                centers: &[$t],
                norms: &[$t],
                d: usize,
                out: &mut [u32],
            ) {
                use $ops as o;
                let d = if D == 0 { d } else { D };
                const RV: usize = 4;
                const G: usize = RV * o::LANES;
                let m = out.len();
                let k = norms.len();
                assert!(d <= SMALL_MAX_FEATURES);
                let mut xt = [0.0 as $t; SMALL_MAX_FEATURES * G];
                let group_bytes = G * d * std::mem::size_of::<$t>();
                let mut start = 0;
                while start < m {
                    let rows = (m - start).min(G);
                    // Streams the group after next into cache (past this call's rows too: the
                    // caller's next chunk; a prefetch never faults): with few centers there is too
                    // little work per group to hide the memory latency, and the hardware
                    // prefetchers stop at page boundaries.
                    let ahead = (x.as_ptr() as *const i8)
                        .wrapping_add(group_bytes * 2 + start * d * std::mem::size_of::<$t>());
                    for off in (0..group_bytes).step_by(64) {
                        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                            ahead.wrapping_add(off),
                        );
                    }
                    // Transpose the group (feature-major); rows past the end stay zero.
                    if rows < G {
                        xt.fill(0.0);
                    }
                    let (src, dst) = (x.as_ptr().add(start * d), xt.as_mut_ptr());
                    if !(rows == G && $transpose(src, dst, d, G)) {
                        for f in 0..d {
                            for r in 0..rows {
                                *dst.add(f * G + r) = *src.add(r * d + f);
                            }
                        }
                    }
                    let mut best = [o::splat(<$t>::INFINITY); RV];
                    let mut best_idx = [o::zero(); RV];
                    // CJ centers at a time: each row vector loaded serves CJ FMAs, and the
                    // CJ * RV independent chains keep both FMA pipes busy. Past the last center
                    // the last one is repeated and never recorded.
                    const CJ: usize = 4;
                    let mut j = 0;
                    while j < k {
                        let cj: [usize; CJ] = std::array::from_fn(|h| (j + h).min(k - 1));
                        let mut acc: [[o::V; RV]; CJ] =
                            std::array::from_fn(|h| [o::splat(*norms.get_unchecked(cj[h])); RV]);
                        for f in 0..d {
                            let c: [o::V; CJ] = std::array::from_fn(|h| {
                                o::splat(*centers.get_unchecked(cj[h] * d + f))
                            });
                            for v in 0..RV {
                                let xv = o::load(xt.as_ptr().add(f * G + v * o::LANES));
                                for h in 0..CJ {
                                    acc[h][v] = o::fmadd(xv, c[h], acc[h][v]);
                                }
                            }
                        }
                        for (h, acc) in acc.iter().enumerate().take(k - j) {
                            let jv = o::splat((j + h) as $t);
                            for v in 0..RV {
                                (best[v], best_idx[v]) =
                                    o::keep_smaller(acc[v], best[v], jv, best_idx[v]);
                            }
                        }
                        j += CJ;
                    }
                    if rows == G {
                        let dst = out[start..start + G].as_mut_ptr();
                        for v in 0..RV {
                            o::store_index(dst.add(v * o::LANES), best_idx[v]);
                        }
                    } else {
                        let mut idx = [0u32; G];
                        for v in 0..RV {
                            o::store_index(idx.as_mut_ptr().add(v * o::LANES), best_idx[v]);
                        }
                        out[start..start + rows].copy_from_slice(&idx[..rows]);
                    }
                    start += G;
                }
            }
        }
    };
}

simd_nearest_small!(
    nearest_small_avx512_f64,
    "avx512f,avx512vl,fma",
    f64,
    avx512_f64,
    transpose_avx512_f64
);
simd_nearest_small!(
    nearest_small_avx512_f32,
    "avx512f,avx512vl,fma",
    f32,
    avx512_f32,
    transpose_avx512_f32
);
simd_nearest_small!(
    nearest_small_avx2_f64,
    "avx2,fma",
    f64,
    avx2_f64,
    no_fast_transpose
);
simd_nearest_small!(
    nearest_small_avx2_f32,
    "avx2,fma",
    f32,
    avx2_f32,
    no_fast_transpose
);

/// The generic (element by element) transpose is used.
#[inline(always)]
unsafe fn no_fast_transpose<T>(_src: *const T, _dst: *mut T, _d: usize, _group: usize) -> bool {
    false
}

/// Feature-major copy of `group` float64 rows with in-register transposes, for the widths that
/// have one (2 and 8 features); returns false (doing nothing) for others.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_avx512_f64(src: *const f64, dst: *mut f64, d: usize, group: usize) -> bool {
    transpose_rows_of_2_avx512_f64(src, dst, d, group)
        || transpose_rows_of_8_avx512(src, dst, d, group)
}

/// Feature-major copy of `group` rows of 2 float64 features: 8 rows (two registers) split into
/// their even and odd values.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_rows_of_2_avx512_f64(
    src: *const f64,
    dst: *mut f64,
    d: usize,
    group: usize,
) -> bool {
    use std::arch::x86_64::*;
    if d != 2 || !group.is_multiple_of(8) {
        return false;
    }
    let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    let odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    for block in (0..group).step_by(8) {
        let a = _mm512_loadu_pd(src.add(block * 2));
        let b = _mm512_loadu_pd(src.add(block * 2 + 8));
        _mm512_storeu_pd(dst.add(block), _mm512_permutex2var_pd(a, even, b));
        _mm512_storeu_pd(dst.add(group + block), _mm512_permutex2var_pd(a, odd, b));
    }
    true
}

/// Feature-major copy of `group` float32 rows with in-register transposes, for the widths that
/// have one (2 and 8 features); returns false (doing nothing) for others.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_avx512_f32(src: *const f32, dst: *mut f32, d: usize, group: usize) -> bool {
    transpose_rows_of_2_avx512_f32(src, dst, d, group)
        || transpose_rows_of_8_avx512_f32(src, dst, d, group)
}

/// Lane indices of one `_mm512_permutex2var_ps` stage of the 16 x 8 float32 transpose: the
/// `low` (else high) output of a pair of registers `(a, b)` that swaps a register bit with lane
/// bit `c` (see `transpose_rows_of_8_avx512_f32`).
const fn swap_stage(c: u32, low: bool) -> [i32; 16] {
    let mut idx = [0i32; 16];
    let mut l = 0;
    while l < 16 {
        let from_b = (l >> c) & 1 == 1;
        let lane = if low { l & !(1 << c) } else { l | (1 << c) };
        idx[l] = (lane + if from_b { 16 } else { 0 }) as i32;
        l += 1;
    }
    idx
}

/// The last stage: it swaps register bit 0 with the feature's lowest bit and puts the rows,
/// whose lane bits the first two stages rotated, back in order.
const fn last_stage(low: bool) -> [i32; 16] {
    let mut idx = [0i32; 16];
    let mut r = 0;
    while r < 16 {
        let (r0, r1, r2, r3) = (r & 1, (r >> 1) & 1, (r >> 2) & 1, (r >> 3) & 1);
        let lane = r0 * 8 + r3 * 4 + r2 * 2 + if low { 0 } else { 1 };
        idx[r] = (lane + r1 * 16) as i32;
        r += 1;
    }
    idx
}

/// Feature-major copy of `group` rows of 8 float32 features (`dst[f * group + r] =
/// src[r * 8 + f]`), 16 rows (eight registers of two rows) at a time: three stages of two-source
/// permutes, each swapping one bit of the register index (rows `2i, 2i + 1` in register `i`)
/// with one bit of the lane index (the feature), leave feature `f` in register `f`.
/// Returns false (doing nothing) for other `d`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_rows_of_8_avx512_f32(
    src: *const f32,
    dst: *mut f32,
    d: usize,
    group: usize,
) -> bool {
    use std::arch::x86_64::*;
    if d != 8 || !group.is_multiple_of(16) {
        return false;
    }
    let load = |idx: [i32; 16]| _mm512_loadu_si512(idx.as_ptr() as *const _);
    let stages = [
        (4, load(swap_stage(2, true)), load(swap_stage(2, false))),
        (2, load(swap_stage(1, true)), load(swap_stage(1, false))),
        (1, load(last_stage(true)), load(last_stage(false))),
    ];
    for block in (0..group).step_by(16) {
        let mut r: [__m512; 8] =
            std::array::from_fn(|i| _mm512_loadu_ps(src.add((block + 2 * i) * 8)));
        for &(bit, low, high) in &stages {
            for a in 0..8 {
                if a & bit == 0 {
                    let (x, y) = (r[a], r[a | bit]);
                    r[a] = _mm512_permutex2var_ps(x, low, y);
                    r[a | bit] = _mm512_permutex2var_ps(x, high, y);
                }
            }
        }
        for (f, v) in r.iter().enumerate() {
            _mm512_storeu_ps(dst.add(f * group + block), *v);
        }
    }
    true
}

/// As `transpose_rows_of_2_avx512_f64` for float32: 16 rows per pair of registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_rows_of_2_avx512_f32(
    src: *const f32,
    dst: *mut f32,
    d: usize,
    group: usize,
) -> bool {
    use std::arch::x86_64::*;
    if d != 2 || !group.is_multiple_of(16) {
        return false;
    }
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for block in (0..group).step_by(16) {
        let a = _mm512_loadu_ps(src.add(block * 2));
        let b = _mm512_loadu_ps(src.add(block * 2 + 16));
        _mm512_storeu_ps(dst.add(block), _mm512_permutex2var_ps(a, even, b));
        _mm512_storeu_ps(dst.add(group + block), _mm512_permutex2var_ps(a, odd, b));
    }
    true
}

/// Feature-major copy of `group` rows of 8 float64 features (`dst[f * group + r] =
/// src[r * 8 + f]`) with in-register 8x8 transposes; returns false (doing nothing) for other `d`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_rows_of_8_avx512(
    src: *const f64,
    dst: *mut f64,
    d: usize,
    group: usize,
) -> bool {
    use std::arch::x86_64::*;
    if d != 8 || !group.is_multiple_of(8) {
        return false;
    }
    for block in (0..group).step_by(8) {
        let r: [__m512d; 8] = std::array::from_fn(|i| _mm512_loadu_pd(src.add((block + i) * 8)));
        // Pairs of rows interleaved, then 128-bit lanes gathered twice (see Intel's 8x8 recipe).
        let t: [__m512d; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_pd(a, b)
            } else {
                _mm512_unpackhi_pd(a, b)
            }
        });
        // u[0..4] from rows 0-3 (t0..t3), u[4..8] from rows 4-7 (t4..t7).
        let u = [
            _mm512_shuffle_f64x2::<0x88>(t[0], t[2]),
            _mm512_shuffle_f64x2::<0xDD>(t[0], t[2]),
            _mm512_shuffle_f64x2::<0x88>(t[1], t[3]),
            _mm512_shuffle_f64x2::<0xDD>(t[1], t[3]),
            _mm512_shuffle_f64x2::<0x88>(t[4], t[6]),
            _mm512_shuffle_f64x2::<0xDD>(t[4], t[6]),
            _mm512_shuffle_f64x2::<0x88>(t[5], t[7]),
            _mm512_shuffle_f64x2::<0xDD>(t[5], t[7]),
        ];
        // Feature f of the 8 rows: f0, f4 from u0/u4; f2, f6 from u1/u5; f1, f5 from u2/u6;
        // f3, f7 from u3/u7.
        let features = [
            (0, _mm512_shuffle_f64x2::<0x88>(u[0], u[4])),
            (4, _mm512_shuffle_f64x2::<0xDD>(u[0], u[4])),
            (2, _mm512_shuffle_f64x2::<0x88>(u[1], u[5])),
            (6, _mm512_shuffle_f64x2::<0xDD>(u[1], u[5])),
            (1, _mm512_shuffle_f64x2::<0x88>(u[2], u[6])),
            (5, _mm512_shuffle_f64x2::<0xDD>(u[2], u[6])),
            (3, _mm512_shuffle_f64x2::<0x88>(u[3], u[7])),
            (7, _mm512_shuffle_f64x2::<0xDD>(u[3], u[7])),
        ];
        for (f, v) in features {
            _mm512_storeu_pd(dst.add(f * group + block), v);
        }
    }
    true
}

/// Most features the rows-in-lanes kernel takes.
const SMALL_MAX_FEATURES: usize = 16;

/// Most centers the rows-in-lanes kernel is chosen for (the largest count measured).
const SMALL_MAX_CENTERS: usize = 1024;

/// Whether the rows-in-lanes kernel suits `k` centers of `d` features. Up to 16 features it
/// beat the register-blocked kernel at every `k` measured (2-5x at 64-512 centers, where the
/// blocked kernel's per-tile work outweighs a few FMAs per row); from about 20 features the
/// blocked kernel wins for few centers.
pub fn prefers_small_kernel(k: usize, d: usize) -> bool {
    d <= SMALL_MAX_FEATURES && k <= SMALL_MAX_CENTERS
}

/// `nearest` for short centers (see `simd_nearest_small!`); `centers` holds the centers
/// multiplied by -2, row-major `(k, d)` (see `scaled_for_search`).
/// Returns false when no SIMD variant runs on this CPU or `d` is above
/// `SMALL_MAX_FEATURES` (the caller then uses `nearest`).
pub fn nearest_small<T: Float>(
    x: &[T],
    centers: &[T],
    norms: &[T],
    d: usize,
    out: &mut [u32],
) -> bool {
    assert!(
        x.len() >= out.len() * d && centers.len() >= norms.len() * d && norms.len() < (1 << 24)
    );
    if d > SMALL_MAX_FEATURES {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (avx512, avx2) = (has_avx512(), has_avx2());
        if let (Some(x), Some(c), Some(n)) = (
            as_type::<T, f64>(x),
            as_type::<T, f64>(centers),
            as_type::<T, f64>(norms),
        ) {
            // SAFETY: the CPU features were detected above.
            unsafe {
                if avx512 {
                    nearest_small_avx512_f64(x, c, n, d, out);
                    return true;
                }
                if avx2 {
                    nearest_small_avx2_f64(x, c, n, d, out);
                    return true;
                }
            }
        }
        if let (Some(x), Some(c), Some(n)) = (
            as_type::<T, f32>(x),
            as_type::<T, f32>(centers),
            as_type::<T, f32>(norms),
        ) {
            // SAFETY: as above.
            unsafe {
                if avx512 {
                    nearest_small_avx512_f32(x, c, n, d, out);
                    return true;
                }
                if avx2 {
                    nearest_small_avx2_f32(x, c, n, d, out);
                    return true;
                }
            }
        }
    }
    false
}

/// Centers multiplied by -2, the form both kernels accumulate `||c||^2 - 2<x, c>` with.
pub fn scaled_for_search<T: Float>(centers: &[T]) -> Vec<T> {
    centers.iter().map(|&c| c * T::from_f64(-2.0)).collect()
}

/// `values` viewed as `&[U]` when `T` and `U` are the same type.
fn as_type<T: 'static, U: 'static>(values: &[T]) -> Option<&[U]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| unsafe { std::slice::from_raw_parts(values.as_ptr() as *const U, values.len()) })
}

/// Index of the closest center for each of the `out.len()` rows of `x` (row-major, `d` wide).
pub fn nearest<T: Float>(x: &[T], c: &PackedCenters<T>, out: &mut [u32]) {
    assert!(x.len() >= out.len() * c.d);
    #[cfg(target_arch = "x86_64")]
    {
        let (avx512, avx2) = (has_avx512(), has_avx2());
        // Panels are four AVX-512 vectors wide when AVX-512 exists, else four AVX2 vectors.
        let (p64, p32) = (c as &dyn std::any::Any, c as &dyn std::any::Any);
        if let (Some(x), Some(c)) = (
            as_type::<T, f64>(x),
            p64.downcast_ref::<PackedCenters<f64>>(),
        ) {
            // SAFETY: the CPU features were detected above.
            unsafe {
                if avx512 && c.nr == 16 {
                    return nearest_narrow_avx512_f64(x, c, out);
                }
                if avx512 {
                    return nearest_avx512_f64(x, c, out);
                }
                if avx2 {
                    return nearest_avx2_f64(x, c, out);
                }
            }
        }
        if let (Some(x), Some(c)) = (
            as_type::<T, f32>(x),
            p32.downcast_ref::<PackedCenters<f32>>(),
        ) {
            // SAFETY: as above.
            unsafe {
                if avx512 && c.nr == 32 {
                    return nearest_narrow_avx512_f32(x, c, out);
                }
                if avx512 {
                    return nearest_avx512_f32(x, c, out);
                }
                if avx2 {
                    return nearest_avx2_f32(x, c, out);
                }
            }
        }
    }
    match c.nr {
        16 => nearest_body::<T, 2, 16, false>(x, c, out),
        32 => nearest_body::<T, 2, 32, false>(x, c, out),
        64 => nearest_body::<T, 2, 64, false>(x, c, out),
        other => unreachable!("unsupported lane count {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f64], centers: &[f64], d: usize) -> Vec<u32> {
        let k = centers.len() / d;
        x.chunks(d)
            .map(|row| {
                let mut best = (f64::INFINITY, 0);
                for j in 0..k {
                    let c = &centers[j * d..(j + 1) * d];
                    let dist: f64 = c.iter().map(|v| v * v).sum::<f64>()
                        - 2.0 * row.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
                    if dist < best.0 {
                        best = (dist, j as u32);
                    }
                }
                best.1
            })
            .collect()
    }

    /// The rows-in-lanes kernel (with its transposes for 2 and 8 features) gives the labels
    /// of the register-blocked kernel: the same sums in the same order.
    #[test]
    fn small_kernel_gives_the_blocked_kernels_labels() {
        fn check<T: Float>(n: usize, d: usize, k: usize) {
            let x: Vec<T> = (0..n * d)
                .map(|i| T::from_f64(((i * 7919) % 1013) as f64 / 97.0 - 5.0))
                .collect();
            let centers: Vec<T> = (0..k * d)
                .map(|i| T::from_f64(((i * 104_729) % 997) as f64 / 89.0 - 5.5))
                .collect();
            let norms = crate::linalg::row_sq_norms(&centers, d);
            let mut blocked = vec![0u32; n];
            nearest(
                &x,
                &PackedCenters::new(&centers, &norms, d).unwrap(),
                &mut blocked,
            );
            let mut small = vec![0u32; n];
            if nearest_small(&x, &scaled_for_search(&centers), &norms, d, &mut small) {
                assert_eq!(small, blocked, "n={n} d={d} k={k}");
            }
        }
        for d in [1, 2, 3, 8, 16] {
            for (n, k) in [(1, 1), (70, 5), (300, 16), (257, 32), (130, 67), (65, 300)] {
                check::<f64>(n, d, k);
                check::<f32>(n, d, k);
            }
        }
    }

    /// The in-register transposes give the element-by-element transpose.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn register_transposes_are_transposes() {
        if !has_avx512() {
            return;
        }
        for (d, group) in [(8, 64), (8, 16), (2, 64)] {
            let src: Vec<f32> = (0..group * d).map(|i| i as f32).collect();
            let mut dst = vec![-1.0f32; group * d];
            // SAFETY: AVX-512 was detected; both buffers hold group * d values.
            assert!(unsafe { transpose_avx512_f32(src.as_ptr(), dst.as_mut_ptr(), d, group) });
            for r in 0..group {
                for f in 0..d {
                    assert_eq!(dst[f * group + r], src[r * d + f], "d={d} r={r} f={f}");
                }
            }
        }
    }

    /// Exact ties (repeated centers) go to the lowest index, in one panel and in several, and
    /// a center whose distances are NaN never wins.
    #[test]
    fn ties_go_to_the_lowest_center() {
        fn check<T: Float>(n: usize, d: usize, k: usize) {
            let base: Vec<T> = (0..5 * d)
                .map(|i| T::from_f64(((i * 104_729) % 997) as f64 / 89.0 - 5.5))
                .collect();
            // Center j repeats center j % 5 (from j = 5 on); center 1 is NaN (its copies not).
            let mut centers: Vec<T> = (0..k * d).map(|i| base[(i / d % 5) * d + i % d]).collect();
            centers[d..2 * d]
                .iter_mut()
                .for_each(|v| *v = T::from_f64(f64::NAN));
            let x: Vec<T> = (0..n * d)
                .map(|i| T::from_f64(((i * 7919) % 1013) as f64 / 97.0 - 5.0))
                .collect();
            let norms = crate::linalg::row_sq_norms(&centers, d);
            let mut out = vec![u32::MAX; n];
            nearest(
                &x,
                &PackedCenters::new(&centers, &norms, d).unwrap(),
                &mut out,
            );
            let xd: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
            let cd: Vec<f64> = centers.iter().map(|v| v.to_f64()).collect();
            let want = naive(&xd, &cd, d);
            for (i, (&got, &w)) in out.iter().zip(&want).enumerate() {
                // The first of equal centers: 0, 2, 3, 4, or 6 (the first copy of center 1).
                let first = [0, 2, 3, 4, 6].contains(&got) && (got as usize) < k;
                assert!(first, "n={n} d={d} k={k} row {i}: {got}");
                if std::mem::size_of::<T>() == 8 {
                    assert_eq!(got, w, "n={n} d={d} k={k} row {i}");
                }
            }
        }
        for (n, d, k) in [
            (40, 3, 12),
            (40, 20, 32),
            (40, 50, 32),
            (40, 7, 70),
            (40, 2, 16),
        ] {
            check::<f64>(n, d, k);
            check::<f32>(n, d, k);
        }
    }

    #[test]
    fn matches_naive_search_for_many_shapes() {
        for &(n, d, k) in &[
            (1, 1, 1),
            (13, 3, 5),
            (50, 7, 17),
            (37, 64, 40),
            (100, 2, 16),
            (29, 9, 33),
            (131, 8, 16),
            (200, 8, 7),
        ] {
            let x: Vec<f64> = (0..n * d)
                .map(|i| ((i * 7919) % 1013) as f64 / 97.0 - 5.0)
                .collect();
            let centers: Vec<f64> = (0..k * d)
                .map(|i| ((i * 104_729) % 997) as f64 / 89.0 - 5.5)
                .collect();
            let norms: Vec<f64> = centers
                .chunks(d)
                .map(|c| c.iter().map(|v| v * v).sum())
                .collect();
            let packed = PackedCenters::new(&centers, &norms, d).unwrap();
            let mut out = vec![0u32; n];
            nearest(&x, &packed, &mut out);
            let expected = naive(&x, &centers, d);
            assert_eq!(out, expected, "n={n} d={d} k={k}");
            let mut small = vec![0u32; n];
            if nearest_small(&x, &scaled_for_search(&centers), &norms, d, &mut small) {
                assert_eq!(small, expected, "small kernel, n={n} d={d} k={k}");
            }
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let c32: Vec<f32> = centers.iter().map(|&v| v as f32).collect();
            let n32: Vec<f32> = norms.iter().map(|&v| v as f32).collect();
            let mut out32 = vec![0u32; n];
            nearest(
                &x32,
                &PackedCenters::new(&c32, &n32, d).unwrap(),
                &mut out32,
            );
            let agree = out32.iter().zip(&out).filter(|(a, b)| a == b).count();
            assert!(agree * 10 >= n * 9, "float32 mostly agrees");
        }
    }
}
