//! The two products of an evaluation on a chunk of dense rows held in cache: raw predictions
//! `z = X_c W^T` and the gradient update `grad += G^T X_c`. Written for the shapes of logistic
//! regression (few coefficient rows, a chunk of rows already in L1/L2): dot products with eight
//! independent partial sums, and gradient rows updated four samples at a time, so the compiler
//! both vectorise; with AVX2 and FMA (detected at run time) they are written with intrinsics.
//! The summation order is fixed by the code and independent of the threads (the AVX2 path
//! fuses multiply-adds, so it rounds differently from the portable one).

use crate::cpu;

/// Eight partial sums reduced in a fixed order.
#[inline(always)]
fn reduce(acc: &[f64; 8], tail: f64) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ta.iter().zip(tb) {
        tail += x * y;
    }
    reduce(&acc, tail)
}

/// Four rows' dot products with one vector (each rounded as [`dot`] rounds it), sharing the
/// vector's loads.
#[inline(always)]
fn dot4(x: [&[f64]; 4], w: &[f64]) -> [f64; 4] {
    let d = w.len();
    let full = d - d % 8;
    let mut acc = [[0.0f64; 8]; 4];
    for j in (0..full).step_by(8) {
        let wj: &[f64; 8] = w[j..j + 8].try_into().unwrap();
        for (a, xr) in acc.iter_mut().zip(&x) {
            let xj: &[f64; 8] = xr[j..j + 8].try_into().unwrap();
            for l in 0..8 {
                a[l] += xj[l] * wj[l];
            }
        }
    }
    let mut out = [0.0; 4];
    for ((o, a), xr) in out.iter_mut().zip(&acc).zip(&x) {
        let mut tail = 0.0;
        for j in full..d {
            tail += xr[j] * w[j];
        }
        *o = reduce(a, tail);
    }
    out
}

#[inline(always)]
fn scores_body(x: &[f64], w: &[f64], k: usize, d: usize, z: &mut [f64]) {
    let len = z.len() / k;
    let full = len - len % 4;
    for r in (0..full).step_by(4) {
        let rows = [
            &x[r * d..(r + 1) * d],
            &x[(r + 1) * d..(r + 2) * d],
            &x[(r + 2) * d..(r + 3) * d],
            &x[(r + 3) * d..(r + 4) * d],
        ];
        for c in 0..k {
            let s = dot4(rows, &w[c * d..(c + 1) * d]);
            for (q, v) in s.into_iter().enumerate() {
                z[(r + q) * k + c] = v;
            }
        }
    }
    for r in full..len {
        for c in 0..k {
            z[r * k + c] = dot(&x[r * d..(r + 1) * d], &w[c * d..(c + 1) * d]);
        }
    }
}

#[inline(always)]
fn gradient_body(x: &[f64], g: &[f64], k: usize, d: usize, grad: &mut [f64]) {
    let len = g.len() / k;
    let full = len - len % 4;
    for r in (0..full).step_by(4) {
        let x0 = &x[r * d..(r + 1) * d];
        let x1 = &x[(r + 1) * d..(r + 2) * d];
        let x2 = &x[(r + 2) * d..(r + 3) * d];
        let x3 = &x[(r + 3) * d..(r + 4) * d];
        for c in 0..k {
            let (g0, g1, g2, g3) = (
                g[r * k + c],
                g[(r + 1) * k + c],
                g[(r + 2) * k + c],
                g[(r + 3) * k + c],
            );
            let out = &mut grad[c * d..(c + 1) * d];
            for j in 0..d {
                out[j] += (g0 * x0[j] + g1 * x1[j]) + (g2 * x2[j] + g3 * x3[j]);
            }
        }
    }
    for r in full..len {
        let xr = &x[r * d..(r + 1) * d];
        for c in 0..k {
            let gc = g[r * k + c];
            let out = &mut grad[c * d..(c + 1) * d];
            for j in 0..d {
                out[j] += gc * xr[j];
            }
        }
    }
}

/// `z (len, k) = x (len, d) @ w (k, d)^T`, all row-major.
pub fn scores(x: &[f64], w: &[f64], k: usize, d: usize, z: &mut [f64]) {
    assert!(x.len() == z.len() / k.max(1) * d && w.len() == k * d);
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx2() {
        // SAFETY: AVX2 and FMA were detected; lengths were checked above.
        return unsafe { avx2::scores(x, w, k, d, z) };
    }
    scores_body(x, w, k, d, z)
}

/// `grad (k, d) += g (len, k)^T @ x (len, d)`, all row-major.
pub fn gradient(x: &[f64], g: &[f64], k: usize, d: usize, grad: &mut [f64]) {
    assert!(x.len() == g.len() / k.max(1) * d && grad.len() == k * d);
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx2() {
        // SAFETY: AVX2 and FMA were detected; lengths were checked above.
        return unsafe { avx2::gradient(x, g, k, d, grad) };
    }
    gradient_body(x, g, k, d, grad)
}

/// `v = exp(v)` for `v <= 0` (arguments below -700 give about 1e-304 instead of a subnormal
/// or zero: the softmax and sigmoid terms they feed are then negligible either way).
pub fn exp_nonpositive(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx2() {
        // SAFETY: AVX2 and FMA were detected.
        return unsafe { avx2::exp_nonpositive(v) };
    }
    v.iter_mut().for_each(|x| *x = x.exp());
}

/// The same products with AVX2 and FMA: four rows against one coefficient row with two
/// accumulators each (enough independent FMAs to fill both ports), and gradient rows updated
/// from four samples per load/store.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::vector::{F64x4, Lanes, Math, Vector};

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_nonpositive(v: &mut [f64]) {
        let n = v.len();
        let full = n - n % 4;
        let p = v.as_mut_ptr();
        let floor = F64x4::from_f64(-700.0);
        let mut i = 0;
        while i < full {
            let x = <f64 as Lanes<F64x4>>::load(p.add(i)).max_keep_nan(floor);
            <f64 as Lanes<F64x4>>::store(x.exp(), p.add(i));
            i += 4;
        }
        for x in &mut v[full..] {
            *x = x.max(-700.0).exp();
        }
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256d) -> f64 {
        let lo = _mm256_castpd256_pd128(v);
        let hi = _mm256_extractf128_pd(v, 1);
        let s = _mm_add_pd(lo, hi);
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scores(x: &[f64], w: &[f64], k: usize, d: usize, z: &mut [f64]) {
        let len = z.len() / k;
        let full = d - d % 8;
        let (xp, wp, zp) = (x.as_ptr(), w.as_ptr(), z.as_mut_ptr());
        let mut r = 0;
        while r + 4 <= len {
            let rows = [
                xp.add(r * d),
                xp.add((r + 1) * d),
                xp.add((r + 2) * d),
                xp.add((r + 3) * d),
            ];
            for c in 0..k {
                let wc = wp.add(c * d);
                let mut a = [_mm256_setzero_pd(); 4];
                let mut b = [_mm256_setzero_pd(); 4];
                let mut j = 0;
                while j < full {
                    let w0 = _mm256_loadu_pd(wc.add(j));
                    let w1 = _mm256_loadu_pd(wc.add(j + 4));
                    for q in 0..4 {
                        a[q] = _mm256_fmadd_pd(_mm256_loadu_pd(rows[q].add(j)), w0, a[q]);
                        b[q] = _mm256_fmadd_pd(_mm256_loadu_pd(rows[q].add(j + 4)), w1, b[q]);
                    }
                    j += 8;
                }
                for q in 0..4 {
                    let mut s = hsum(_mm256_add_pd(a[q], b[q]));
                    for t in full..d {
                        s += *rows[q].add(t) * *wc.add(t);
                    }
                    *zp.add((r + q) * k + c) = s;
                }
            }
            r += 4;
        }
        while r < len {
            let row = xp.add(r * d);
            for c in 0..k {
                let wc = wp.add(c * d);
                let (mut a, mut b) = (_mm256_setzero_pd(), _mm256_setzero_pd());
                let mut j = 0;
                while j < full {
                    a = _mm256_fmadd_pd(_mm256_loadu_pd(row.add(j)), _mm256_loadu_pd(wc.add(j)), a);
                    b = _mm256_fmadd_pd(
                        _mm256_loadu_pd(row.add(j + 4)),
                        _mm256_loadu_pd(wc.add(j + 4)),
                        b,
                    );
                    j += 8;
                }
                let mut s = hsum(_mm256_add_pd(a, b));
                for t in full..d {
                    s += *row.add(t) * *wc.add(t);
                }
                *zp.add(r * k + c) = s;
            }
            r += 1;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gradient(x: &[f64], g: &[f64], k: usize, d: usize, grad: &mut [f64]) {
        let len = g.len() / k;
        let full = d - d % 4;
        let (xp, gp, op) = (x.as_ptr(), g.as_ptr(), grad.as_mut_ptr());
        let mut r = 0;
        while r + 4 <= len {
            let rows = [
                xp.add(r * d),
                xp.add((r + 1) * d),
                xp.add((r + 2) * d),
                xp.add((r + 3) * d),
            ];
            for c in 0..k {
                let gs = [
                    *gp.add(r * k + c),
                    *gp.add((r + 1) * k + c),
                    *gp.add((r + 2) * k + c),
                    *gp.add((r + 3) * k + c),
                ];
                let gv = [
                    _mm256_set1_pd(gs[0]),
                    _mm256_set1_pd(gs[1]),
                    _mm256_set1_pd(gs[2]),
                    _mm256_set1_pd(gs[3]),
                ];
                let out = op.add(c * d);
                let mut j = 0;
                while j < full {
                    let mut acc = _mm256_loadu_pd(out.add(j));
                    for q in 0..4 {
                        acc = _mm256_fmadd_pd(gv[q], _mm256_loadu_pd(rows[q].add(j)), acc);
                    }
                    _mm256_storeu_pd(out.add(j), acc);
                    j += 4;
                }
                for t in full..d {
                    let mut v = *out.add(t);
                    for q in 0..4 {
                        v += gs[q] * *rows[q].add(t);
                    }
                    *out.add(t) = v;
                }
            }
            r += 4;
        }
        while r < len {
            let row = xp.add(r * d);
            for c in 0..k {
                let gc = *gp.add(r * k + c);
                let gv = _mm256_set1_pd(gc);
                let out = op.add(c * d);
                let mut j = 0;
                while j < full {
                    let acc = _mm256_fmadd_pd(
                        gv,
                        _mm256_loadu_pd(row.add(j)),
                        _mm256_loadu_pd(out.add(j)),
                    );
                    _mm256_storeu_pd(out.add(j), acc);
                    j += 4;
                }
                for t in full..d {
                    *out.add(t) += gc * *row.add(t);
                }
            }
            r += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_naive_loops() {
        for (len, d, k) in [(1, 1, 1), (7, 13, 3), (256, 50, 1), (33, 8, 10)] {
            let x: Vec<f64> = (0..len * d)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
                .collect();
            let w: Vec<f64> = (0..k * d)
                .map(|i| ((i * 11 % 29) as f64 - 14.0) / 3.0)
                .collect();
            let mut z = vec![0.0; len * k];
            scores(&x, &w, k, d, &mut z);
            let mut grad = vec![1.0; k * d];
            gradient(&x, &z, k, d, &mut grad);
            for i in 0..len {
                for c in 0..k {
                    let want: f64 = (0..d).map(|j| x[i * d + j] * w[c * d + j]).sum();
                    assert!((z[i * k + c] - want).abs() <= 1e-12 * want.abs().max(1.0));
                }
            }
            for c in 0..k {
                for j in 0..d {
                    let want: f64 =
                        1.0 + (0..len).map(|i| z[i * k + c] * x[i * d + j]).sum::<f64>();
                    assert!((grad[c * d + j] - want).abs() <= 1e-10 * want.abs().max(1.0));
                }
            }
        }
    }
}
