//! k-means: initialisation (k-means++, random), Lloyd and Elkan iterations, inertia, and the
//! assignment/transform used by `predict`/`transform`. Semantics follow scikit-learn's
//! `sklearn/cluster/_kmeans.py` and its Cython kernels.

pub mod blocks;
pub mod dense_assign;
pub mod elkan;
pub mod init;
pub mod linalg;
pub mod lloyd;
pub mod rng;
pub mod samples;
pub mod steps;

pub use samples::{Csr, Dense, Samples};

use crate::float::Float;
use crate::KernelError;

/// Settings of one k-means run.
#[derive(Clone, Copy, Debug)]
pub struct RunConfig {
    pub max_iter: usize,
    /// Absolute tolerance on the squared center shift (already scaled by the data variance).
    pub tol: f64,
    /// Record the inertia of every iteration (costs one extra pass per iteration).
    pub verbose: bool,
}

/// What happened during a run, for the `verbose` output of the Python layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Iteration {
        iteration: usize,
        inertia: f64,
    },
    StrictConvergence {
        iteration: usize,
    },
    ToleranceConvergence {
        iteration: usize,
        center_shift: f64,
        tol: f64,
    },
}

/// Outcome of one k-means run from given initial centers.
#[derive(Clone, Debug)]
pub struct RunResult<T> {
    pub labels: Vec<i32>,
    pub inertia: f64,
    pub centers: Vec<T>,
    pub n_iter: usize,
    pub events: Vec<Event>,
}

/// Callback polled between iterations; returning true aborts with `KernelError::Interrupted`.
pub type StopCheck<'a> = &'a (dyn Fn() -> bool + Sync);

/// Checks shared by every entry point so that the hot loops can index freely.
pub fn check_problem<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
) -> Result<usize, KernelError> {
    let d = x.n_features();
    if d == 0 {
        return Err(KernelError::Shape("X has no features".into()));
    }
    if sample_weight.len() != x.n_samples() {
        return Err(KernelError::Shape(format!(
            "sample_weight has {} entries for {} samples",
            sample_weight.len(),
            x.n_samples()
        )));
    }
    if centers.is_empty() || centers.len() % d != 0 {
        return Err(KernelError::Shape(format!(
            "centers buffer of length {} is not (k, {d})",
            centers.len()
        )));
    }
    Ok(centers.len() / d)
}

/// Labels of every sample (closest center) and the weighted inertia: `predict` and `score`.
pub fn labels_inertia<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
) -> Result<(Vec<i32>, f64), KernelError> {
    check_problem(x, sample_weight, centers)?;
    let mut labels = vec![-1; x.n_samples()];
    steps::assign(x, sample_weight, centers, &mut labels, false);
    let inertia = steps::inertia(x, sample_weight, centers, &labels);
    Ok((labels, inertia))
}

/// Euclidean distances from every sample to every center, row-major `(n, k)`.
pub fn transform<T: Float, S: Samples<T>>(x: &S, centers: &[T]) -> Result<Vec<T>, KernelError> {
    let ones = vec![T::ONE; x.n_samples()];
    let k = check_problem(x, &ones, centers)?;
    let mut out = vec![T::ZERO; x.n_samples() * k];
    steps::distances(x, centers, &mut out);
    Ok(out)
}

/// Whether two labelings are the same partition up to a renaming of the clusters
/// (scikit-learn's `_is_same_clustering`, used to compare runs of `n_init`).
pub fn same_clustering(
    labels1: &[i32],
    labels2: &[i32],
    n_clusters: usize,
) -> Result<bool, KernelError> {
    if labels1.len() != labels2.len() {
        return Err(KernelError::Shape(
            "labelings have different lengths".into(),
        ));
    }
    let mut mapping = vec![-1i32; n_clusters];
    for (&a, &b) in labels1.iter().zip(labels2) {
        if a < 0 || a as usize >= n_clusters {
            return Err(KernelError::InvalidArgument(format!(
                "label {a} out of range"
            )));
        }
        let slot = &mut mapping[a as usize];
        if *slot == -1 {
            *slot = b;
        } else if *slot != b {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Mean over features of the (population) variance of each feature, the scale scikit-learn
/// applies to `tol`. Two passes (mean, then squared deviations) for accuracy.
pub fn mean_feature_variance<T: Float, S: Samples<T>>(x: &S) -> f64 {
    use rayon::prelude::*;
    let (n, d) = (x.n_samples(), x.n_features());
    if n == 0 || d == 0 {
        return 0.0;
    }
    let blocks = blocks::partition(n, d);
    let sum_rows = |f: &(dyn Fn(usize, &mut [T], &mut [f64]) + Sync)| -> Vec<f64> {
        let parts: Vec<Vec<f64>> = blocks
            .par_iter()
            .map(|b| {
                let mut row = vec![T::ZERO; d];
                let mut acc = vec![0.0f64; d];
                for i in b.clone() {
                    f(i, &mut row, &mut acc);
                }
                acc
            })
            .collect();
        parts.into_iter().fold(vec![0.0; d], |mut a, p| {
            a.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            a
        })
    };
    let mean: Vec<f64> = sum_rows(&|i, row, acc| {
        x.copy_row(i, row);
        acc.iter_mut()
            .zip(row.iter())
            .for_each(|(a, v)| *a += v.to_f64());
    })
    .into_iter()
    .map(|s| s / n as f64)
    .collect();
    let var = sum_rows(&|i, row, acc| {
        x.copy_row(i, row);
        for ((a, v), m) in acc.iter_mut().zip(row.iter()).zip(&mean) {
            let t = v.to_f64() - m;
            *a += t * t;
        }
    });
    var.iter().sum::<f64>() / (n as f64 * d as f64)
}
