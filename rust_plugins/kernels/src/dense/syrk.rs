//! `S += Z^T Z` for a chunk of rows `Z` held in cache, on the blocks of `S` that touch its lower
//! triangle: the inner product of every Gram pass (`gram::design_moments`).
//!
//! The rows are row-major with a padded stride, so a vector load reads `lanes` consecutive
//! features of one row. A register tile of `S` (up to 3 vectors of rows x 8 columns) stays in
//! registers while the chunk's rows stream through it: per row, `MV` loads, 8 broadcasts and
//! `8 MV` fused multiply-adds, and only the finished tile is added to `S`. faer's triangular
//! product runs this shape (k = 256 rows, d ~ 100) at about a quarter of the FMA units' peak;
//! this tile reaches several times that. Other CPUs than AVX-512 ones use faer's product.
//!
//! Each element of `S` is one sum over the chunk's rows in row order, so the result does not
//! depend on the thread count (chunks and blocks are fixed by the shape).

use std::any::TypeId;

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, MatRef, Par};

use super::Real;

/// Columns of `S` per register tile.
const TILE_COLS: usize = 8;
/// At most this many vectors of rows per register tile (3 x 8 accumulators, 3 loads and a
/// broadcast use 28 of AVX-512's 32 registers).
const MAX_TILE_VECTORS: usize = 3;

fn use_tiles<T: 'static>() -> bool {
    crate::cpu::has_avx512()
        && (TypeId::of::<T>() == TypeId::of::<f64>() || TypeId::of::<T>() == TypeId::of::<f32>())
}

/// Row stride of the chunks [`syrk_lower`] takes for rows of `width` values: a multiple of the
/// vector width and of the tile's columns (the padding holds zeros).
pub fn padded_width<T: 'static>(width: usize) -> usize {
    if use_tiles::<T>() {
        let lanes = 64 / std::mem::size_of::<T>();
        width.next_multiple_of(lanes.max(TILE_COLS))
    } else {
        width
    }
}

/// `s += z^T z` on (at least) the lower triangle, `z` being `rows` rows of stride
/// `padded_width(width)` and `s` a `(stride, stride)` column-major accumulator. `next` (the
/// data the caller reads next, from memory) is prefetched into cache while the tiles compute,
/// so that reading memory and computing overlap.
pub fn syrk_lower<T: Real>(z: &[T], rows: usize, stride: usize, s: &mut [T], next: &[T]) {
    assert!(z.len() >= rows * stride && s.len() == stride * stride);
    if use_tiles::<T>() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512F was detected; T is f64 or f32 as checked by use_tiles, and the
        // slices hold rows * stride and stride * stride values.
        unsafe {
            if TypeId::of::<T>() == TypeId::of::<f64>() {
                let z = std::slice::from_raw_parts(z.as_ptr().cast::<f64>(), z.len());
                let s = std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f64>(), s.len());
                return avx512_f64::syrk(z, rows, stride, s, next.as_ptr().cast(), next.len());
            }
            let z = std::slice::from_raw_parts(z.as_ptr().cast::<f32>(), z.len());
            let s = std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len());
            return avx512_f32::syrk(z, rows, stride, s, next.as_ptr().cast(), next.len());
        }
    }
    // The chunk's rows, row-major (rows, stride), are the columns of a (stride, rows)
    // column-major matrix.
    let zm = MatRef::from_column_major_slice(&z[..rows * stride], stride, rows);
    let sm = faer::MatMut::from_column_major_slice_mut(s, stride, stride);
    triangular::matmul(
        sm,
        BlockStructure::TriangularLower,
        Accum::Add,
        zm,
        BlockStructure::Rectangular,
        zm.transpose(),
        BlockStructure::Rectangular,
        T::ONE,
        Par::Seq,
    );
}

macro_rules! avx512_syrk {
    ($module:ident, $t:ty, $vec:ty, $lanes:expr, $zero:ident, $load:ident, $set1:ident,
     $fmadd:ident, $add:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use super::{MAX_TILE_VECTORS, TILE_COLS};
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;

            /// One register tile: rows `i0..i0 + MV * LANES`, columns `j0..j0 + 8`.
            #[inline(always)]
            unsafe fn tile<const MV: usize>(
                z: *const $t,
                rows: usize,
                stride: usize,
                i0: usize,
                j0: usize,
                s: *mut $t,
            ) {
                let mut acc = [[$zero(); TILE_COLS]; MV];
                let mut row = z;
                for _ in 0..rows {
                    let mut a = [$zero(); MV];
                    for (m, v) in a.iter_mut().enumerate() {
                        *v = $load(row.add(i0 + m * LANES));
                    }
                    for n in 0..TILE_COLS {
                        let b: $vec = $set1(*row.add(j0 + n));
                        for m in 0..MV {
                            acc[m][n] = $fmadd(a[m], b, acc[m][n]);
                        }
                    }
                    row = row.add(stride);
                }
                for n in 0..TILE_COLS {
                    for m in 0..MV {
                        let p = s.add((j0 + n) * stride + i0 + m * LANES);
                        $store(p, $add($load(p), acc[m][n]));
                    }
                }
            }

            #[target_feature(enable = "avx512f")]
            pub unsafe fn syrk(
                z: &[$t],
                rows: usize,
                stride: usize,
                s: &mut [$t],
                next: *const $t,
                next_len: usize,
            ) {
                let (z, s) = (z.as_ptr(), s.as_mut_ptr());
                let column_blocks = stride.div_ceil(TILE_COLS);
                // Cache lines of `next` to prefetch per column block.
                let line = 64 / std::mem::size_of::<$t>();
                let lines_per_block = next_len.div_ceil(line).div_ceil(column_blocks);
                let mut prefetched = 0;
                for j0 in (0..stride).step_by(TILE_COLS) {
                    for _ in 0..lines_per_block {
                        if prefetched < next_len {
                            _mm_prefetch::<_MM_HINT_T1>(next.add(prefetched).cast());
                            prefetched += line;
                        }
                    }
                    // Row tiles from the vector holding the diagonal element (j0, j0) down.
                    let mut i0 = j0 / LANES * LANES;
                    while i0 < stride {
                        match ((stride - i0) / LANES).min(MAX_TILE_VECTORS) {
                            3 => tile::<3>(z, rows, stride, i0, j0, s),
                            2 => tile::<2>(z, rows, stride, i0, j0, s),
                            _ => tile::<1>(z, rows, stride, i0, j0, s),
                        }
                        i0 += MAX_TILE_VECTORS * LANES;
                    }
                }
            }
        }
    };
}

avx512_syrk!(
    avx512_f64,
    f64,
    __m512d,
    8,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd,
    _mm512_storeu_pd
);
avx512_syrk!(
    avx512_f32,
    f32,
    __m512,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_storeu_ps
);

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Real>(rows: usize, width: usize) {
        let stride = padded_width::<T>(width);
        let mut z = vec![T::ZERO; rows * stride];
        for i in 0..rows {
            for j in 0..width {
                z[i * stride + j] = T::from_f64(((i * 31 + j * 17) % 23) as f64 - 11.0);
            }
        }
        let mut s = vec![T::ONE; stride * stride];
        syrk_lower(&z, rows, stride, &mut s, &[]);
        for j in 0..width {
            for i in j..width {
                let expected: f64 = 1.0
                    + (0..rows)
                        .map(|k| z[k * stride + i].to_f64() * z[k * stride + j].to_f64())
                        .sum::<f64>();
                // Integer products: exact in both types at these sizes.
                assert_eq!(s[j * stride + i].to_f64(), expected, "({i}, {j})");
            }
        }
    }

    #[test]
    fn lower_triangle_matches_the_naive_sum() {
        for (rows, width) in [
            (1, 1),
            (7, 3),
            (256, 8),
            (100, 24),
            (64, 25),
            (33, 101),
            (5, 130),
        ] {
            check::<f64>(rows, width);
            check::<f32>(rows, width);
        }
    }
}
