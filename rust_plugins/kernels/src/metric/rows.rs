//! Reduced distances between two rows, dense or CSR, accumulated in `f64`.

use super::Metric;
use crate::float::Float;

/// A CSR row: its column indices (sorted, no duplicates) and values.
pub type CsrRow<'a, T> = (&'a [i32], &'a [T]);

/// Calls `f(column, x, y)` for every column where `a` or `b` stores a value (the other side's
/// value being 0 where it stores none), in column order.
#[inline]
fn merge_walk<T: Float>(a: CsrRow<T>, b: CsrRow<T>, mut f: impl FnMut(usize, f64, f64)) {
    let ((ia, va), (ib, vb)) = (a, b);
    let (mut i, mut j) = (0, 0);
    while i < ia.len() && j < ib.len() {
        match ia[i].cmp(&ib[j]) {
            std::cmp::Ordering::Equal => {
                f(ia[i] as usize, va[i].to_f64(), vb[j].to_f64());
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                f(ia[i] as usize, va[i].to_f64(), 0.0);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                f(ib[j] as usize, 0.0, vb[j].to_f64());
                j += 1;
            }
        }
    }
    for k in i..ia.len() {
        f(ia[k] as usize, va[k].to_f64(), 0.0);
    }
    for k in j..ib.len() {
        f(ib[k] as usize, 0.0, vb[k].to_f64());
    }
}

/// `1 - dot / (|a| |b|)` clipped to `[0, 2]`, a zero norm counting as 1.
#[inline]
fn cosine(dot: f64, sq_a: f64, sq_b: f64) -> f64 {
    let norm = |s: f64| if s == 0.0 { 1.0 } else { s.sqrt() };
    (1.0 - dot / (norm(sq_a) * norm(sq_b))).clamp(0.0, 2.0)
}

#[inline]
fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let s0 = (0.5 * (lat1 - lat2)).sin();
    let s1 = (0.5 * (lon1 - lon2)).sin();
    s0 * s0 + lat1.cos() * lat2.cos() * s1 * s1
}

impl Metric {
    /// Reduced distance between two dense rows of equal length.
    #[inline]
    pub fn rdist<T: Float>(&self, a: &[T], b: &[T]) -> f64 {
        let pairs = || a.iter().zip(b).map(|(&x, &y)| (x.to_f64(), y.to_f64()));
        match self {
            Metric::Euclidean | Metric::SqEuclidean => {
                pairs().map(|(x, y)| (x - y) * (x - y)).sum()
            }
            Metric::Manhattan => pairs().map(|(x, y)| (x - y).abs()).sum(),
            Metric::Chebyshev => pairs().fold(0.0, |m, (x, y)| m.max((x - y).abs())),
            Metric::Minkowski { p, w: None } => pairs().map(|(x, y)| (x - y).abs().powf(*p)).sum(),
            Metric::Minkowski { p, w: Some(w) } => pairs()
                .zip(w)
                .map(|((x, y), wj)| wj * (x - y).abs().powf(*p))
                .sum(),
            Metric::Cosine => {
                let (mut dot, mut sa, mut sb) = (0.0, 0.0, 0.0);
                for (x, y) in pairs() {
                    dot += x * y;
                    sa += x * x;
                    sb += y * y;
                }
                cosine(dot, sa, sb)
            }
            Metric::Haversine => {
                haversine(a[0].to_f64(), a[1].to_f64(), b[0].to_f64(), b[1].to_f64())
            }
        }
    }

    /// Reduced distance between two CSR rows (sorted column indices).
    #[inline]
    pub fn rdist_csr<T: Float>(&self, a: CsrRow<T>, b: CsrRow<T>) -> f64 {
        let mut acc = 0.0;
        match self {
            Metric::Euclidean | Metric::SqEuclidean => {
                merge_walk(a, b, |_, x, y| acc += (x - y) * (x - y))
            }
            Metric::Manhattan => merge_walk(a, b, |_, x, y| acc += (x - y).abs()),
            Metric::Chebyshev => merge_walk(a, b, |_, x, y| acc = f64::max(acc, (x - y).abs())),
            Metric::Minkowski { p, w } => merge_walk(a, b, |j, x, y| {
                let weight = w.as_ref().map_or(1.0, |w| w[j]);
                acc += weight * (x - y).abs().powf(*p)
            }),
            Metric::Cosine => {
                let (mut sa, mut sb) = (0.0, 0.0);
                merge_walk(a, b, |_, x, y| {
                    acc += x * y;
                    sa += x * x;
                    sb += y * y;
                });
                acc = cosine(acc, sa, sb);
            }
            Metric::Haversine => {
                let (mut pa, mut pb) = ([0.0; 2], [0.0; 2]);
                merge_walk(a, b, |j, x, y| {
                    if j < 2 {
                        pa[j] = x;
                        pb[j] = y;
                    }
                });
                acc = haversine(pa[0], pa[1], pb[0], pb[1]);
            }
        }
        acc
    }
}
