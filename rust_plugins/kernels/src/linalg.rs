//! Small dense vector helpers shared by the kernels (norms, distances, argmin, transpose).

use crate::float::Float;

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

/// Squared norm summed as NumPy's `einsum("ij,ij->i", X, X)` sums it (scikit-learn's
/// `row_norms(X, squared=True)`): 16-byte vectors of lanes (no FMA, NumPy's x86-64-v2
/// baseline), four vectors per step while at least four are left, each step adding its last
/// vector's squares first, then the rest one zero-padded vector at a time, and the lanes added
/// pairwise at the end.
pub fn numpy_sq_norm<T: Float>(x: &[T]) -> T {
    const MAX_LANES: usize = 4;
    let lanes = 16 / std::mem::size_of::<T>();
    debug_assert!(lanes <= MAX_LANES);
    let mut acc = [T::ZERO; MAX_LANES];
    let mut rest = x;
    while rest.len() >= 4 * lanes {
        for (l, a) in acc.iter_mut().enumerate().take(lanes) {
            let mut sum = *a;
            for q in (0..4).rev() {
                let v = rest[q * lanes + l];
                sum = v * v + sum;
            }
            *a = sum;
        }
        rest = &rest[4 * lanes..];
    }
    while !rest.is_empty() {
        let m = rest.len().min(lanes);
        for (a, &v) in acc.iter_mut().zip(&rest[..m]) {
            *a = v * v + *a;
        }
        rest = &rest[m..];
    }
    match lanes {
        2 => acc[0] + acc[1],
        _ => (acc[0] + acc[1]) + (acc[2] + acc[3]),
    }
}

#[inline(always)]
fn all_finite_body<T: Float>(values: &[T]) -> bool {
    // `v * 0` is 0 for every finite v and NaN otherwise; independent lanes so it vectorises.
    const LANES: usize = 32;
    let mut probe = [T::ZERO; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            probe[l] += c[l] * T::ZERO;
        }
    }
    let rest = tail.iter().fold(T::ZERO, |p, &v| p + v * T::ZERO);
    probe.iter().fold(rest, |p, &v| p + v) == T::ZERO
}

crate::simd::simd_variants!(
    /// Whether every value is finite (no NaN, no infinity).
    pub fn all_finite<T: Float>(values: &[T]) -> bool = all_finite_body;
);

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

/// Squared norms of the rows of a row-major `(k, d)` matrix.
pub fn row_sq_norms<T: Float>(rows: &[T], d: usize) -> Vec<T> {
    if d == 0 {
        return vec![T::ZERO; rows.len()];
    }
    rows.chunks_exact(d).map(sq_norm).collect()
}

/// Index of the smallest value, the first one on ties (as scikit-learn's kernels), and that
/// value: what a strict-`<` scan from `values[0]` finds (NaN never chosen but in first place),
/// in two passes that vectorise where the scan is one long dependency chain: the smallest
/// value ignoring NaN, then its first position.
#[inline(always)]
pub fn argmin<T: Float>(values: &[T]) -> (usize, T) {
    const LANES: usize = 8;
    let first = values[0];
    #[allow(clippy::eq_op)]
    if first != first {
        // NaN first: nothing compares below it.
        return (0, first);
    }
    let mut lows = [first; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for l in 0..LANES {
            lows[l] = lows[l].min(chunk[l]);
        }
    }
    let low = chunks
        .remainder()
        .iter()
        .chain(&lows)
        .fold(first, |low, &v| low.min(v));
    let best = values.iter().position(|&v| v == low).unwrap_or(0);
    (best, values[best])
}

/// Row-major `(k, d)` → `(d, k)` into `dst` (`k * d` values).
pub fn transpose<T: Float>(src: &[T], k: usize, d: usize, dst: &mut [T]) {
    for j in 0..k {
        for f in 0..d {
            dst[f * k + j] = src[j * d + f];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_and_distances() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| 2.0 * i as f32).collect();
        let naive: f32 = a.iter().map(|v| v * v).sum();
        assert_eq!(sq_norm(&a), naive);
        assert_eq!(sq_dist(&a, &b), naive);
        let mut t = [0.0; 6];
        transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3, &mut t);
        assert_eq!(t, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    /// `argmin` finds what the strict-`<` scan finds, with ties, signed zeros, infinity and
    /// NaN.
    #[test]
    fn argmin_is_the_strict_scan() {
        fn scan(values: &[f64]) -> usize {
            let mut best = 0;
            for (j, &v) in values.iter().enumerate().skip(1) {
                if v < values[best] {
                    best = j;
                }
            }
            best
        }
        let cases: Vec<Vec<f64>> = vec![
            vec![3.0],
            vec![f64::NAN, -1.0, -2.0],
            vec![1.0, f64::NAN, 0.5, 0.5, 2.0, 0.5, 9.0, 7.0, 0.25, 0.25],
            vec![0.0, -0.0, 0.0, -0.0, 1.0, 1.0, 1.0, 1.0, -0.0],
            vec![f64::INFINITY; 11],
            vec![f64::INFINITY, f64::NAN, f64::INFINITY],
            (0..37).map(|i| ((i * 13) % 7) as f64).collect(),
        ];
        for values in cases {
            let (best, low) = argmin(&values);
            assert_eq!(best, scan(&values), "{values:?}");
            assert_eq!(low.to_bits(), values[best].to_bits(), "{values:?}");
        }
    }
}
