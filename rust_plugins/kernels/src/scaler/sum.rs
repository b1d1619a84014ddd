//! NumPy's summation orders, reproduced so that per-feature sums equal `np.sum`'s bit for bit.
//!
//! `np.sum(X, axis=0)` adds a C-ordered `(n, d)` array (`d > 1`) row by row: every column is a
//! plain running sum that starts from its first element. A contiguous run of values (a column
//! of an F-ordered array, the only column of an `(n, 1)` array) is added by NumPy's pairwise
//! summation instead (`pairwise_sum` in `loops_utils.h.src`). When a float32 run is summed with
//! `dtype=float64` NumPy casts it through buffers of 8192 values and adds the buffers' pairwise
//! sums one after the other.

use crate::float::Float;

/// NumPy's unrolling width and pairwise block size.
const UNROLL: usize = 8;
const PW_BLOCKSIZE: usize = 128;
/// Elements of NumPy's casting buffer (`NPY_BUFSIZE`).
pub const NPY_BUFSIZE: usize = 8192;

/// NumPy's pairwise sum of `value(0) .. value(n - 1)`, `n >= 1`, in `F`'s arithmetic.
pub fn pairwise<F: Float>(n: usize, value: &impl Fn(usize) -> F) -> F {
    pairwise_from(0, n, value)
}

fn pairwise_from<F: Float>(start: usize, n: usize, value: &impl Fn(usize) -> F) -> F {
    if n < UNROLL {
        let mut res = value(start);
        for i in 1..n {
            res += value(start + i);
        }
        res
    } else if n <= PW_BLOCKSIZE {
        let mut r = [F::ZERO; UNROLL];
        for (k, r) in r.iter_mut().enumerate() {
            *r = value(start + k);
        }
        let whole = n - n % UNROLL;
        let mut i = UNROLL;
        while i < whole {
            for (k, r) in r.iter_mut().enumerate() {
                *r += value(start + i + k);
            }
            i += UNROLL;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for i in whole..n {
            res += value(start + i);
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % UNROLL;
        pairwise_from(start, n2, value) + pairwise_from(start + n2, n - n2, value)
    }
}

/// `np.sum` of a contiguous run of `n >= 1` values: pairwise over the whole run, or, when the
/// values are cast on the way (`buffered`), pairwise per casting buffer with the buffers' sums
/// added in order.
pub fn contiguous(n: usize, buffered: bool, value: &impl Fn(usize) -> f64) -> f64 {
    if !buffered || n <= NPY_BUFSIZE {
        return pairwise(n, value);
    }
    let mut acc = pairwise(NPY_BUFSIZE, value);
    let mut start = NPY_BUFSIZE;
    while start < n {
        let len = NPY_BUFSIZE.min(n - start);
        acc += pairwise_from(start, len, value);
        start += len;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_runs_are_sequential() {
        let v = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(pairwise(4, &|i| v[i]), ((1e16 + 1.0) - 1e16) + 1.0);
    }

    #[test]
    fn blocks_of_eight_accumulators() {
        // 9 values: 8 accumulators then one sequential remainder.
        let v: Vec<f64> = (0..9)
            .map(|i| if i == 8 { 1.0 } else { 1e16 * (i % 2) as f64 })
            .collect();
        let r: Vec<f64> = v[..8].to_vec();
        let want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + v[8];
        assert_eq!(pairwise(9, &|i| v[i]), want);
    }

    #[test]
    fn exact_on_integers_any_split() {
        for n in [1, 7, 8, 9, 127, 128, 129, 1000, 8192, 8193, 30_000] {
            let want = (n * (n - 1) / 2) as f64;
            assert_eq!(pairwise(n, &|i| i as f64), want);
            assert_eq!(contiguous(n, true, &|i| i as f64), want);
        }
    }
}
