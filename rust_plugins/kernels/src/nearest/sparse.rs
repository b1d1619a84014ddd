//! Dot products of one CSR row with every center: each non-zero adds its value times one row
//! of the transposed centers to `k` running sums. The sums of a panel of centers stay in
//! registers across the row's non-zeros (the plain loop loads and stores all `k` of them per
//! non-zero), and each product is rounded before its add, in the row's order, so every sum
//! has the bits of the sequential loop.

use crate::float::Float;

/// Centers per register panel: 8 vectors of the widest instruction set (64 float64 or 128
/// float32 sums), leaving registers for the loads.
const PANEL_BYTES: usize = 512;

crate::simd::simd_variants!(
    /// Index of the center nearest the CSR row (`indices`, `values`): the smallest
    /// `norms[c] - 2 <row, c>`, the first one on ties, a NaN distance never chosen but in first
    /// place (as `linalg::argmin`). `centers_t` holds the centers transposed to `(d, k)`
    /// row-major; `scratch` at least `k` values. Panics on an index past `d`.
    pub fn nearest_center<T: Float>(
        indices: &[i32],
        values: &[T],
        centers_t: &[T],
        norms: &[T],
        scratch: &mut [T],
    ) -> u32 = nearest_center_body;
);

#[inline(always)]
fn nearest_center_body<T: Float>(
    indices: &[i32],
    values: &[T],
    centers_t: &[T],
    norms: &[T],
    scratch: &mut [T],
) -> u32 {
    let k = norms.len();
    let distances = &mut scratch[..k];
    row_dots_panels(indices, values, centers_t, k, distances);
    for (v, &norm) in distances.iter_mut().zip(norms) {
        *v = norm - (*v + *v);
    }
    first_minimum(distances) as u32
}

/// `linalg::argmin`'s index in two passes that vectorise (its strict-`<` scan is one long
/// dependency chain): the smallest value ignoring NaN, then its first position.
#[inline(always)]
fn first_minimum<T: Float>(values: &[T]) -> usize {
    const LANES: usize = 8;
    let first = values[0];
    #[allow(clippy::eq_op)]
    if first != first {
        // NaN first: nothing compares below it.
        return 0;
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
    values.iter().position(|&v| v == low).unwrap_or(0)
}

/// Full panels of `PANEL_BYTES`, then one panel each of half, a quarter and an eighth of
/// that (so that the sums of the last centers still form several independent chains), then
/// the last few centers one by one.
#[inline(always)]
fn row_dots_panels<T: Float>(
    indices: &[i32],
    values: &[T],
    centers_t: &[T],
    k: usize,
    out: &mut [T],
) {
    let mut start = 0;
    macro_rules! panels_of {
        ($bytes:expr, $repeat:expr) => {{
            const P64: usize = $bytes / 8;
            const P32: usize = $bytes / 4;
            let width = $bytes / std::mem::size_of::<T>();
            while start + width <= k {
                if std::mem::size_of::<T>() == 8 {
                    panel_dots::<T, P64>(indices, values, centers_t, k, start, out);
                } else {
                    panel_dots::<T, P32>(indices, values, centers_t, k, start, out);
                }
                start += width;
                if !$repeat {
                    break;
                }
            }
        }};
    }
    panels_of!(PANEL_BYTES, true);
    panels_of!(PANEL_BYTES / 2, false);
    panels_of!(PANEL_BYTES / 4, false);
    panels_of!(PANEL_BYTES / 8, false);
    while start < k {
        panel_dots::<T, 1>(indices, values, centers_t, k, start, out);
        start += 1;
    }
}

/// `out[start..start + P]`: the sums of centers `start..start + P`, kept in a local array the
/// compiler holds in registers (its indices are all constants once the loop is unrolled).
#[inline(always)]
fn panel_dots<T: Float, const P: usize>(
    indices: &[i32],
    values: &[T],
    centers_t: &[T],
    k: usize,
    start: usize,
    out: &mut [T],
) {
    let mut sums = [T::ZERO; P];
    for (&j, &v) in indices.iter().zip(values) {
        let at = j as usize * k + start;
        let centers: &[T; P] = centers_t[at..at + P].try_into().unwrap();
        for p in 0..P {
            sums[p] += v * centers[p];
        }
    }
    out[start..start + P].copy_from_slice(&sums);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::argmin;

    fn centers_t<T: Float>(d: usize, k: usize) -> Vec<T> {
        (0..d * k)
            .map(|i| T::from_f64(((i * 7919) % 1013) as f64 / 97.0 - 5.0))
            .collect()
    }

    /// Every panel width gives the sequential loop's bits.
    #[test]
    fn panel_dots_are_the_sequential_loops_bits() {
        fn check<T: Float>(k: usize) {
            let centers_t = centers_t::<T>(37, k);
            let indices: Vec<i32> = vec![0, 3, 4, 11, 20, 36];
            let values: Vec<T> = (0..indices.len())
                .map(|i| T::from_f64(0.1 + i as f64 / 3.0))
                .collect();
            let mut got = vec![T::ZERO; k];
            row_dots_panels(&indices, &values, &centers_t, k, &mut got);
            for (c, &g) in got.iter().enumerate() {
                let mut want = T::ZERO;
                for (&j, &v) in indices.iter().zip(&values) {
                    want += v * centers_t[j as usize * k + c];
                }
                assert_eq!(
                    g.to_f64().to_bits(),
                    want.to_f64().to_bits(),
                    "k={k} center {c}"
                );
            }
        }
        for k in [1, 5, 8, 13, 32, 64, 67, 128, 200, 300] {
            check::<f64>(k);
            check::<f32>(k);
        }
    }

    /// The detected instruction set's search picks `argmin`'s center of the sequential
    /// distances, ties and NaN included.
    #[test]
    fn nearest_center_is_argmin_of_the_distances() {
        fn check<T: Float>(k: usize, norms: &[T]) {
            let d = 9;
            let centers_t = centers_t::<T>(d, k);
            let indices: Vec<i32> = vec![1, 2, 7];
            let values: Vec<T> = vec![T::from_f64(0.5), T::from_f64(-1.25), T::from_f64(2.0)];
            let mut distances: Vec<T> = (0..k)
                .map(|c| {
                    let mut dot = T::ZERO;
                    for (&j, &v) in indices.iter().zip(&values) {
                        dot += v * centers_t[j as usize * k + c];
                    }
                    norms[c] - (dot + dot)
                })
                .collect();
            let want = argmin(&distances).0 as u32;
            let got = nearest_center(&indices, &values, &centers_t, norms, &mut distances);
            assert_eq!(got, want, "k={k}");
        }
        for k in [1, 3, 8, 9, 17, 32, 70] {
            let plain: Vec<f64> = (0..k).map(|c| (c % 5) as f64).collect();
            check::<f64>(k, &plain);
            let mut nan_first = plain.clone();
            nan_first[0] = f64::NAN;
            check::<f64>(k, &nan_first);
            let mut nan_later = plain.clone();
            nan_later[k / 2] = f64::NAN;
            check::<f64>(k, &nan_later);
            let tied: Vec<f32> = vec![1.0; k];
            check::<f32>(k, &tied);
            let zero_centers = vec![0.0f32; k];
            check::<f32>(k, &zero_centers);
        }
    }

    /// The two-pass minimum is `argmin`'s, with ties, signed zeros, infinity and NaN.
    #[test]
    fn first_minimum_is_argmin() {
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
            assert_eq!(first_minimum(&values), argmin(&values).0, "{values:?}");
        }
    }
}
