//! Small dense linear-algebra helpers for the k-means kernels.

use crate::float::Float;

/// `out (m, k) = a (m, d) · b (k, d)^T`, all row-major. Single-threaded: callers parallelise
/// over chunks of samples, which keeps results independent of the thread count.
pub fn gemm_abt<T: Float>(m: usize, k: usize, d: usize, a: &[T], b: &[T], out: &mut [T]) {
    assert!(a.len() >= m * d && b.len() >= k * d && out.len() >= m * k);
    if m == 0 || k == 0 {
        return;
    }
    if d == 0 {
        out[..m * k].iter_mut().for_each(|v| *v = T::ZERO);
        return;
    }
    // SAFETY: the asserts above bound every access gemm makes with these strides.
    unsafe {
        gemm::gemm(
            m,
            k,
            d,
            out.as_mut_ptr(),
            1,
            k as isize,
            false,
            a.as_ptr(),
            1,
            d as isize,
            b.as_ptr(),
            d as isize,
            1,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Sum of squares with independent partial sums so the loop vectorises.
#[inline(always)]
pub fn sq_norm<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l] * c[l];
        }
    }
    let mut s = tail.iter().fold(T::ZERO, |s, &v| s + v * v);
    for a in acc {
        s += a;
    }
    s
}

/// `||a - b||^2` by differences (exact, no cancellation).
#[inline(always)]
pub fn sq_dist<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let split = n - n % 8;
    for (ca, cb) in a[..split].chunks_exact(8).zip(b[..split].chunks_exact(8)) {
        for l in 0..8 {
            let t = ca[l] - cb[l];
            acc[l] += t * t;
        }
    }
    let mut s = T::ZERO;
    for (&x, &y) in a[split..].iter().zip(&b[split..]) {
        let t = x - y;
        s += t * t;
    }
    for v in acc {
        s += v;
    }
    s
}

/// Row-major `(k, d)` → `(d, k)`.
pub fn transpose<T: Float>(src: &[T], k: usize, d: usize) -> Vec<T> {
    let mut dst = vec![T::ZERO; k * d];
    for j in 0..k {
        for f in 0..d {
            dst[f * k + j] = src[j * d + f];
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_abt_matches_naive() {
        let (m, k, d) = (7, 5, 11);
        let a: Vec<f64> = (0..m * d).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut out = vec![0.0; m * k];
        gemm_abt(m, k, d, &a, &b, &mut out);
        for i in 0..m {
            for j in 0..k {
                let naive: f64 = (0..d).map(|f| a[i * d + f] * b[j * d + f]).sum();
                assert!((out[i * k + j] - naive).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn norms_and_distances() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| 2.0 * i as f32).collect();
        let naive: f32 = a.iter().map(|v| v * v).sum();
        assert_eq!(sq_norm(&a), naive);
        assert_eq!(sq_dist(&a, &b), naive);
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
