//! Nearest centers of CSR rows: each non-zero adds its value times one row of the transposed
//! centers to `k` running sums. The sums of a panel of centers stay in registers across the
//! row's non-zeros (the plain loop loads and stores all `k` of them per non-zero), and each
//! product is rounded before its add, in the row's order, so every sum has the bits of the
//! sequential loop.

use crate::float::Float;
use crate::linalg::argmin;
use crate::samples::Csr;

/// Centers per register panel: 8 vectors of the widest instruction set (64 float64 or 128
/// float32 sums), leaving registers for the loads.
const PANEL_BYTES: usize = 512;

crate::simd::simd_variants!(
    /// `out[r]`: the center nearest row `start + r` of `rows`, the smallest
    /// `norms[c] - 2 <row, c>` (`linalg::argmin`'s tie and NaN rules). `centers_t` holds the
    /// centers transposed to `(d, k)` row-major; `scratch` at least `k` values.
    pub fn nearest_rows<T: Float>(
        rows: &Csr<T>,
        start: usize,
        centers_t: &[T],
        norms: &[T],
        out: &mut [u32],
        scratch: &mut [T],
    ) -> () = nearest_rows_body;
);

#[inline(always)]
fn nearest_rows_body<T: Float>(
    rows: &Csr<T>,
    start: usize,
    centers_t: &[T],
    norms: &[T],
    out: &mut [u32],
    scratch: &mut [T],
) {
    let k = norms.len();
    let distances = &mut scratch[..k];
    for (r, label) in out.iter_mut().enumerate() {
        let (indices, values) = rows.row(start + r);
        row_dots_panels(indices, values, centers_t, k, distances);
        for (v, &norm) in distances.iter_mut().zip(norms) {
            *v = norm - (*v + *v);
        }
        *label = argmin(distances).0 as u32;
    }
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

    /// The detected instruction set's search picks the strict scan's center of the
    /// sequential distances, ties and NaN included.
    #[test]
    fn nearest_rows_scan_the_sequential_distances() {
        fn check<T: Float>(k: usize, norms: &[T]) {
            let d = 9;
            let centers_t = centers_t::<T>(d, k);
            let indices: Vec<i32> = vec![1, 2, 7, 0, 8];
            let data: Vec<T> = [0.5, -1.25, 2.0, 3.0, -0.75].map(T::from_f64).to_vec();
            let indptr: Vec<i64> = vec![0, 3, 3, 5];
            let rows = Csr::new(&data, &indices, &indptr, 3, d).unwrap();
            let mut labels = vec![u32::MAX; 2];
            let mut scratch = vec![T::ZERO; k];
            nearest_rows(&rows, 1, &centers_t, norms, &mut labels, &mut scratch);
            for (r, &label) in labels.iter().enumerate() {
                let (idx, vals) = rows.row(1 + r);
                let distance = |c: usize| {
                    let mut dot = T::ZERO;
                    for (&j, &v) in idx.iter().zip(vals) {
                        dot += v * centers_t[j as usize * k + c];
                    }
                    norms[c] - (dot + dot)
                };
                let mut want = 0;
                for c in 1..k {
                    if distance(c) < distance(want) {
                        want = c;
                    }
                }
                assert_eq!(label as usize, want, "k={k} row {}", 1 + r);
            }
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
}
