//! Squared distances from a dense row to many centers at once, with the bits of
//! [`crate::linalg::sq_dist`] (Elkan's first assignment, `transform`).

use crate::alloc;
use crate::float::Float;
use crate::KernelError;

/// Centers feature-major in panels of `PANEL` (`[panel][feature][lane]`, zero-padded), so that
/// one pass over a dense row gives its squared distances to `PANEL` centers at once.
pub const PANEL: usize = 8;

pub fn center_panels<T: Float>(centers: &[T], k: usize, d: usize) -> Result<Vec<T>, KernelError> {
    let n_panels = k.div_ceil(PANEL);
    let mut panels = alloc::filled(&[n_panels * PANEL, d], T::ZERO)?;
    for j in 0..k {
        let (p, l) = (j / PANEL, j % PANEL);
        for f in 0..d {
            panels[(p * d + f) * PANEL + l] = centers[j * d + f];
        }
    }
    Ok(panels)
}

/// Squared distances from `row` to every center of `panels` (`out` holds a multiple of
/// `PANEL` values), each summed in the order of [`crate::linalg::sq_dist`] (eight partial sums by
/// feature modulo 8, then the leftover features, then the partial sums in turn): the same
/// bits as `sq_dist(row, center)`, with the centers in vector lanes.
#[inline(always)]
pub fn sq_dists_to_panels<T: Float>(row: &[T], panels: &[T], out: &mut [T]) {
    let d = row.len();
    if d == 0 {
        out.fill(T::ZERO);
        return;
    }
    let split = d - d % 8;
    for (panel, out) in panels
        .chunks_exact(d * PANEL)
        .zip(out.chunks_exact_mut(PANEL))
    {
        let lanes =
            |f: usize| -> &[T; PANEL] { panel[f * PANEL..(f + 1) * PANEL].try_into().unwrap() };
        // Eight partial sums of PANEL lanes: constant indices keep them in registers.
        let mut acc = [[T::ZERO; PANEL]; 8];
        macro_rules! add_features {
            ($base:expr; $($a:literal)*) => {$(
                let (v, c) = (row[$base + $a], lanes($base + $a));
                for l in 0..PANEL {
                    let t = v - c[l];
                    acc[$a][l] += t * t;
                }
            )*};
        }
        for base in (0..split).step_by(8) {
            add_features!(base; 0 1 2 3 4 5 6 7);
        }
        let mut s = [T::ZERO; PANEL];
        for (f, &v) in row.iter().enumerate().skip(split) {
            let c = lanes(f);
            for l in 0..PANEL {
                let t = v - c[l];
                s[l] += t * t;
            }
        }
        for acc in &acc {
            for l in 0..PANEL {
                s[l] += acc[l];
            }
        }
        out.copy_from_slice(&s);
    }
}

#[inline(always)]
fn distances_body<T: Float>(rows: &[T], d: usize, k: usize, panels: &[T], out: &mut [T]) {
    let mut sq = vec![T::ZERO; k.div_ceil(PANEL) * PANEL];
    for (row, out) in rows.chunks_exact(d).zip(out.chunks_exact_mut(k)) {
        sq_dists_to_panels(row, panels, &mut sq);
        for (o, &s) in out.iter_mut().zip(&sq) {
            *o = s.sqrt();
        }
    }
}

crate::simd::simd_variants!(
    /// Euclidean distances `(m, k)` from the `m` rows of `rows` (`d > 0` features) to the
    /// centers of `panels`: `sq_dist(row, center).sqrt()` bit for bit.
    pub fn distances<T: Float>(rows: &[T], d: usize, k: usize, panels: &[T], out: &mut [T]) -> () = distances_body;
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg;

    #[test]
    fn panel_distances_are_sq_dist_bits() {
        fn check<T: Float>(d: usize, k: usize) {
            let value = |i: usize, m: usize| T::from_f64(((i * m) % 1013) as f64 / 37.0 - 13.0);
            let row: Vec<T> = (0..d).map(|i| value(i, 7919)).collect();
            let centers: Vec<T> = (0..k * d).map(|i| value(i, 104_729)).collect();
            let panels = center_panels(&centers, k, d).unwrap();
            let mut sq = vec![T::ZERO; k.div_ceil(PANEL) * PANEL];
            sq_dists_to_panels(&row, &panels, &mut sq);
            for j in 0..k {
                let want = linalg::sq_dist(&row, &centers[j * d..(j + 1) * d]);
                assert!(sq[j] == want, "d={d} k={k} j={j}");
            }
        }
        for d in [1, 3, 8, 9, 17, 50] {
            for k in [1, 5, 8, 9, 32] {
                check::<f64>(d, k);
                check::<f32>(d, k);
            }
        }
    }
}
