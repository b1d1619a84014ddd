//! Distance metrics, as scikit-learn's `DistanceMetric` defines them.
//!
//! A [`Metric`] gives, for a pair of rows (dense slices or CSR rows), its distance and its
//! *reduced* distance: a cheaper quantity that orders pairs the same way (squared euclidean for
//! euclidean, `sum w |x - y|^p` for minkowski, the haversine formula's inner term). Searches
//! compare reduced distances and convert a radius into its reduced form once
//! ([`Metric::dist_to_rdist`]), then convert the distances they report back
//! ([`Metric::rdist_to_dist`]), exactly as scikit-learn's neighbour searches do.
//!
//! Row-pair values are accumulated and returned in `f64` whatever the storage type, as
//! scikit-learn's `DistanceMetric` accumulates them (`float64_t d`).
//!
//! Shared by every estimator that measures distances between samples (nearest neighbours,
//! DBSCAN); the Python side builds the description through `sklearn_rs._metrics`.

mod rows;
#[cfg(test)]
mod tests;

pub use rows::CsrRow;

use crate::float::Float;
use crate::samples::{Csr, Dense, Samples};
use crate::{alloc, KernelError, StopCheck};
use rayon::prelude::*;

/// A distance between samples.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// `sqrt(sum (x - y)^2)`; reduced: the squared distance.
    Euclidean,
    /// `sum (x - y)^2`; its own reduced form.
    SqEuclidean,
    /// `sum |x - y|` (scikit-learn's manhattan, cityblock, l1); its own reduced form.
    Manhattan,
    /// `max |x - y|` (chebyshev, infinity); its own reduced form.
    Chebyshev,
    /// `(sum w |x - y|^p)^(1/p)`, `w` all ones when absent; reduced: the sum. Any `p > 0`
    /// (below 1 it is a semi-metric, usable by brute force only).
    Minkowski { p: f64, w: Option<Vec<f64>> },
    /// `1 - <x, y> / (|x| |y|)` clipped to `[0, 2]` (a zero row counts as norm 1, as
    /// scikit-learn's `normalize`); its own reduced form.
    Cosine,
    /// Great-circle angle between `(latitude, longitude)` rows in radians:
    /// `2 asin(sqrt(r))` with reduced form
    /// `r = sin^2(dlat / 2) + cos(lat1) cos(lat2) sin^2(dlon / 2)`.
    Haversine,
}

impl Metric {
    /// The metric scikit-learn's name and parameters select, simplified as
    /// `DistanceMetric.get_metric` does (minkowski with `p` 1, 2 or infinity and no weights is
    /// manhattan, euclidean or chebyshev). `p` and `w` are read for minkowski only.
    ///
    /// Names: euclidean, l2, sqeuclidean, manhattan, cityblock, l1, chebyshev, infinity,
    /// minkowski, p, cosine, haversine.
    pub fn from_name(name: &str, p: Option<f64>, w: Option<Vec<f64>>) -> Result<Self, KernelError> {
        Ok(match name {
            "euclidean" | "l2" => Metric::Euclidean,
            "sqeuclidean" => Metric::SqEuclidean,
            "manhattan" | "cityblock" | "l1" => Metric::Manhattan,
            "chebyshev" | "infinity" => Metric::Chebyshev,
            "cosine" => Metric::Cosine,
            "haversine" => Metric::Haversine,
            "minkowski" | "p" => Metric::minkowski(p.unwrap_or(2.0), w)?,
            other => {
                return Err(KernelError::InvalidArgument(format!(
                    "Unrecognized metric '{other}'"
                )))
            }
        })
    }

    /// Minkowski of order `p` with optional weights, with scikit-learn's checks and
    /// simplifications.
    pub fn minkowski(p: f64, w: Option<Vec<f64>>) -> Result<Self, KernelError> {
        if p.is_nan() || p <= 0.0 {
            return Err(KernelError::InvalidArgument(
                "p must be greater than 0".into(),
            ));
        }
        if let Some(w) = &w {
            if w.iter().any(|&v| v < 0.0) {
                return Err(KernelError::InvalidArgument(
                    "w cannot contain negative weights".into(),
                ));
            }
        }
        if w.is_none() && (p == 1.0 || p == 2.0 || p.is_infinite()) {
            return Ok(if p == 1.0 {
                Metric::Manhattan
            } else if p == 2.0 {
                Metric::Euclidean
            } else {
                Metric::Chebyshev
            });
        }
        if p.is_infinite() {
            return Err(KernelError::InvalidArgument(
                "MinkowskiDistance requires finite p. For p=inf, use ChebyshevDistance.".into(),
            ));
        }
        Ok(Metric::Minkowski { p, w })
    }

    /// Checks that rows of `n_features` values suit the metric (scikit-learn's
    /// `DistanceMetric._validate_data` messages).
    pub fn check_features(&self, n_features: usize) -> Result<(), KernelError> {
        match self {
            Metric::Minkowski { w: Some(w), .. } if w.len() != n_features => {
                Err(KernelError::InvalidArgument(format!(
                    "MinkowskiDistance: the size of w must match the number of features \
                     ({n_features}). Currently len(w)={}.",
                    w.len()
                )))
            }
            Metric::Haversine if n_features != 2 => Err(KernelError::InvalidArgument(
                "Haversine distance only valid in 2 dimensions".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the reduced distance is the distance itself (no conversion needed).
    pub fn reduced_is_distance(&self) -> bool {
        !matches!(
            self,
            Metric::Euclidean | Metric::Minkowski { .. } | Metric::Haversine
        )
    }

    /// Distance from a reduced distance (scikit-learn's `rdist_to_dist`).
    #[inline]
    pub fn rdist_to_dist(&self, rdist: f64) -> f64 {
        match self {
            Metric::Euclidean => rdist.sqrt(),
            Metric::Minkowski { p, .. } => rdist.powf(1.0 / p),
            Metric::Haversine => 2.0 * rdist.sqrt().asin(),
            _ => rdist,
        }
    }

    /// Reduced distance from a distance (scikit-learn's `dist_to_rdist`): how a radius is
    /// compared with reduced distances.
    #[inline]
    pub fn dist_to_rdist(&self, dist: f64) -> f64 {
        match self {
            Metric::Euclidean => dist * dist,
            Metric::Minkowski { p, .. } => dist.powf(*p),
            Metric::Haversine => {
                let s = (0.5 * dist).sin();
                s * s
            }
            _ => dist,
        }
    }

    /// Distance between two dense rows of equal length.
    #[inline]
    pub fn dist<T: Float>(&self, a: &[T], b: &[T]) -> f64 {
        self.rdist_to_dist(self.rdist(a, b))
    }

    /// Distance between two CSR rows (sorted column indices, as canonical CSR keeps them).
    #[inline]
    pub fn dist_csr<T: Float>(&self, a: CsrRow<T>, b: CsrRow<T>) -> f64 {
        self.rdist_to_dist(self.rdist_csr(a, b))
    }
}

/// Samples storages whose rows a [`Metric`] can measure against another matrix of the same
/// storage (dense against dense, CSR against CSR).
pub trait MetricRows<T: Float>: Samples<T> {
    /// Reduced distance between row `i` of `self` and row `j` of `other`.
    fn rdist_to(&self, metric: &Metric, i: usize, other: &Self, j: usize) -> f64;
}

impl<T: Float> MetricRows<T> for Dense<'_, T> {
    #[inline]
    fn rdist_to(&self, metric: &Metric, i: usize, other: &Self, j: usize) -> f64 {
        metric.rdist(self.row(i), other.row(j))
    }
}

impl<T: Float> MetricRows<T> for Csr<'_, T> {
    #[inline]
    fn rdist_to(&self, metric: &Metric, i: usize, other: &Self, j: usize) -> f64 {
        metric.rdist_csr(self.row(i), other.row(j))
    }
}

/// The `(x.n_samples(), y.n_samples())` row-major matrix of distances (reduced ones when
/// `reduced`) between the rows of `x` and `y`, rows computed in parallel on the caller's pool.
/// Each value depends only on its pair of rows, so any thread count gives the same bits.
pub fn pairwise<T: Float, S: MetricRows<T>>(
    metric: &Metric,
    x: &S,
    y: &S,
    reduced: bool,
    stop: StopCheck,
) -> Result<Vec<f64>, KernelError> {
    metric.check_features(x.n_features())?;
    if x.n_features() != y.n_features() {
        return Err(KernelError::Shape(
            "X and Y must have the same second dimension".into(),
        ));
    }
    let (nx, ny) = (x.n_samples(), y.n_samples());
    let mut out = alloc::filled(&[nx, ny], 0.0f64)?;
    if ny == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(ny).enumerate().for_each(|(i, row)| {
        if stop() {
            return;
        }
        for (j, v) in row.iter_mut().enumerate() {
            let r = x.rdist_to(metric, i, y, j);
            *v = if reduced { r } else { metric.rdist_to_dist(r) };
        }
    });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(out)
}
