//! Reduced distances between two rows, dense or CSR, accumulated in `f64`.

use super::Metric;
use crate::float::Float;

/// A CSR row: its column indices (sorted, no duplicates) and values.
pub type CsrRow<'a, T> = (&'a [i32], &'a [T]);

/// Calls `f(column, x - y, x, y)` for every column where `a` or `b` stores a value (the other
/// side's value being 0 where it stores none), in column order. The difference is taken in
/// the data's dtype, as scikit-learn's float32 metrics take it.
#[inline]
fn merge_walk<T: Float>(a: CsrRow<T>, b: CsrRow<T>, mut f: impl FnMut(usize, f64, f64, f64)) {
    let ((ia, va), (ib, vb)) = (a, b);
    let (mut i, mut j) = (0, 0);
    let one = |x: T| x.to_f64();
    while i < ia.len() && j < ib.len() {
        match ia[i].cmp(&ib[j]) {
            std::cmp::Ordering::Equal => {
                f(
                    ia[i] as usize,
                    (va[i] - vb[j]).to_f64(),
                    one(va[i]),
                    one(vb[j]),
                );
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                f(ia[i] as usize, one(va[i]), one(va[i]), 0.0);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                f(ib[j] as usize, -one(vb[j]), 0.0, one(vb[j]));
                j += 1;
            }
        }
    }
    for k in i..ia.len() {
        f(ia[k] as usize, one(va[k]), one(va[k]), 0.0);
    }
    for k in j..ib.len() {
        f(ib[k] as usize, -one(vb[k]), 0.0, one(vb[k]));
    }
}

/// `1 - dot / (|a| |b|)` clipped to `[0, 2]`, a zero norm counting as 1.
#[inline]
fn cosine(dot: f64, sq_a: f64, sq_b: f64) -> f64 {
    let norm = |s: f64| if s == 0.0 { 1.0 } else { s.sqrt() };
    (1.0 - dot / (norm(sq_a) * norm(sq_b))).clamp(0.0, 2.0)
}

/// From the latitude and longitude differences and the two latitudes.
#[inline]
fn haversine(d_lat: f64, d_lon: f64, lat1: f64, lat2: f64) -> f64 {
    let s0 = (0.5 * d_lat).sin();
    let s1 = (0.5 * d_lon).sin();
    s0 * s0 + lat1.cos() * lat2.cos() * s1 * s1
}

impl Metric {
    /// Reduced distance between two dense rows of equal length.
    #[inline]
    pub fn rdist<T: Float>(&self, a: &[T], b: &[T]) -> f64 {
        // Differences in the data's dtype (scikit-learn's float32 metrics subtract in float32).
        let diffs = || a.iter().zip(b).map(|(&x, &y)| (x - y).to_f64());
        let rdist = match self {
            Metric::Euclidean | Metric::SqEuclidean => diffs().map(|t| t * t).sum(),
            Metric::Manhattan => diffs().map(f64::abs).sum(),
            Metric::Chebyshev => diffs().fold(0.0, |m, t| m.max(t.abs())),
            Metric::Minkowski { p, w: None } => diffs().map(|t| t.abs().powf(*p)).sum(),
            Metric::Minkowski { p, w: Some(w) } => {
                diffs().zip(w).map(|(t, wj)| wj * t.abs().powf(*p)).sum()
            }
            Metric::Cosine => {
                let (mut dot, mut sa, mut sb) = (0.0, 0.0, 0.0);
                for (x, y) in a.iter().zip(b).map(|(&x, &y)| (x.to_f64(), y.to_f64())) {
                    dot += x * y;
                    sa += x * x;
                    sb += y * y;
                }
                cosine(dot, sa, sb)
            }
            Metric::Haversine => haversine(
                (a[0] - b[0]).to_f64(),
                (a[1] - b[1]).to_f64(),
                a[0].to_f64(),
                b[0].to_f64(),
            ),
        };
        self.in_dtype::<T>(rdist)
    }

    /// A reduced distance (or distance) as scikit-learn's `DistanceMetric` of the data's dtype
    /// returns it: computed in float64, returned in float32 for float32 data. Cosine is not one of its
    /// metrics (scikit-learn's pairwise function rounds the distances it returns instead).
    #[inline]
    pub fn in_dtype<T: Float>(&self, rdist: f64) -> f64 {
        match self {
            Metric::Cosine => rdist,
            _ => T::from_f64(rdist).to_f64(),
        }
    }

    /// Reduced distance between two CSR rows (sorted column indices).
    #[inline]
    pub fn rdist_csr<T: Float>(&self, a: CsrRow<T>, b: CsrRow<T>) -> f64 {
        let mut acc = 0.0;
        match self {
            Metric::Euclidean | Metric::SqEuclidean => merge_walk(a, b, |_, t, _, _| acc += t * t),
            // scikit-learn's sparse manhattan keeps its sum in the data's dtype.
            Metric::Manhattan => {
                merge_walk(a, b, |_, t, _, _| acc = T::from_f64(acc + t.abs()).to_f64())
            }
            Metric::Chebyshev => merge_walk(a, b, |_, t, _, _| acc = f64::max(acc, t.abs())),
            Metric::Minkowski { p, w } => merge_walk(a, b, |j, t, _, _| {
                let weight = w.as_ref().map_or(1.0, |w| w[j]);
                acc += weight * t.abs().powf(*p)
            }),
            Metric::Cosine => {
                let (mut sa, mut sb) = (0.0, 0.0);
                merge_walk(a, b, |_, _, x, y| {
                    acc += x * y;
                    sa += x * x;
                    sb += y * y;
                });
                acc = cosine(acc, sa, sb);
            }
            Metric::Haversine => {
                let (mut pa, mut pb, mut diff) = ([0.0; 2], [0.0; 2], [0.0; 2]);
                merge_walk(a, b, |j, t, x, y| {
                    if j < 2 {
                        (pa[j], pb[j], diff[j]) = (x, y, t);
                    }
                });
                acc = haversine(diff[0], diff[1], pa[0], pb[0]);
            }
        }
        self.in_dtype::<T>(acc)
    }
}
