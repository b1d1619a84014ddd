//! k-means: initialisation (k-means++, random), Lloyd and Elkan iterations, inertia, and the
//! assignment/transform used by `predict`/`transform`. Semantics follow scikit-learn's
//! `sklearn/cluster/_kmeans.py` and its Cython kernels.

pub mod elkan;
pub mod init;
pub mod iterate;
pub mod lloyd;
pub mod minibatch;
pub mod panels;
pub mod steps;
pub mod yinyang;

use crate::alloc;
use crate::float::Float;
use crate::nearest::NearestSearch;
use crate::samples::Samples;
use crate::KernelError;
use crate::StopCheck;

/// The algorithm of a run (scikit-learn's `algorithm` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Lloyd,
    Elkan,
}

/// One k-means run from the row-major `(k, d)` initial centers.
pub fn run<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers_init: &[T],
    algorithm: Algorithm,
    config: &RunConfig,
    stop: StopCheck,
) -> Result<RunResult<T>, KernelError> {
    let k = check_problem(x, sample_weight, centers_init)?;
    match algorithm {
        Algorithm::Lloyd => {
            if yinyang::suits(k, x.n_features(), x.dense_rows(0, 0).is_some()) {
                if let Some(mut pruned) = yinyang::Yinyang::new(x, sample_weight) {
                    return iterate::run(x, sample_weight, centers_init, config, stop, &mut pruned);
                }
            }
            let mut lloyd = lloyd::Lloyd::new(x, sample_weight);
            iterate::run(x, sample_weight, centers_init, config, stop, &mut lloyd)
        }
        Algorithm::Elkan => {
            let mut elkan = elkan::Elkan::new(x, sample_weight, k)?;
            iterate::run(x, sample_weight, centers_init, config, stop, &mut elkan)
        }
    }
}

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

/// scikit-learn's stopping rules after an iteration: strict convergence when no label changed,
/// else tolerance convergence when the squared center shift is within `tol`. Returns the event
/// that ends the run, if any.
pub fn convergence<T: Float>(
    iteration: usize,
    labels_changed: bool,
    shift: &[T],
    tol: f64,
) -> Option<Event> {
    if !labels_changed {
        return Some(Event::StrictConvergence { iteration });
    }
    let center_shift = squared_shift(shift);
    (center_shift <= tol).then_some(Event::ToleranceConvergence {
        iteration,
        center_shift,
        tol,
    })
}

/// The total squared distance the centers moved, given each one's distance.
pub fn squared_shift<T: Float>(shift: &[T]) -> f64 {
    shift.iter().map(|s| (*s * *s).to_f64()).sum()
}

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
    if centers.is_empty() || !centers.len().is_multiple_of(d) {
        return Err(KernelError::Shape(format!(
            "centers buffer of length {} is not (k, {d})",
            centers.len()
        )));
    }
    Ok(centers.len() / d)
}

/// Labels of every sample (closest center) and, when asked, the weighted inertia (else 0):
/// `predict` and `score`. With `check_finite`, fails with [`crate::error::NON_FINITE`] when X
/// holds NaN or infinity (the assignment pass checks it).
pub fn labels_inertia<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers: &[T],
    with_inertia: bool,
    check_finite: bool,
) -> Result<(Vec<i32>, f64), KernelError> {
    check_problem(x, sample_weight, centers)?;
    let mut labels = alloc::filled(&[x.n_samples()], -1)?;
    let inertia = steps::assign_as_labels_inertia(
        x,
        sample_weight,
        centers,
        &mut labels,
        with_inertia,
        check_finite,
    )?;
    Ok((labels, inertia.unwrap_or(0.0)))
}

/// Euclidean distances from every sample to every center, row-major `(n, k)`. With
/// `check_finite`, fails with [`crate::error::NON_FINITE`] when X holds NaN or infinity.
pub fn transform<T: Float, S: Samples<T>>(
    x: &S,
    centers: &[T],
    check_finite: bool,
) -> Result<Vec<T>, KernelError> {
    let d = x.n_features();
    if d == 0 || centers.is_empty() || !centers.len().is_multiple_of(d) {
        return Err(KernelError::Shape(format!(
            "centers buffer of length {} is not (k, {d})",
            centers.len()
        )));
    }
    let k = centers.len() / d;
    let mut out = alloc::filled(&[x.n_samples(), k], T::ZERO)?;
    steps::distances(x, centers, &mut out, check_finite)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg;
    use crate::samples::Dense;

    #[test]
    fn same_clustering_up_to_renaming() {
        assert!(same_clustering(&[0, 0, 1, 2], &[2, 2, 0, 1], 3).unwrap());
        assert!(!same_clustering(&[0, 0, 1, 2], &[2, 1, 0, 1], 3).unwrap());
        assert!(same_clustering(&[0, 1], &[0], 2).is_err());
    }

    #[test]
    fn lloyd_and_elkan_agree_with_a_naive_lloyd() {
        let (n, d, k) = (300, 4, 5);
        let x: Vec<f64> = (0..n * d)
            .map(|i| (((i * 7919) % 1009) as f64 / 50.0) + ((i / d) % k) as f64 * 30.0)
            .collect();
        let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
        let init: Vec<f64> = x[..k * d].to_vec();
        let samples = Dense::new(&x, n, d).unwrap();
        let config = RunConfig {
            max_iter: 50,
            tol: 0.0,
            verbose: false,
        };
        let never = || false;
        let lloyd_run = run(&samples, &w, &init, Algorithm::Lloyd, &config, &never).unwrap();
        let elkan_run = run(&samples, &w, &init, Algorithm::Elkan, &config, &never).unwrap();
        // Naive reference: exact distances, weighted means.
        let mut centers = init.clone();
        let mut labels = vec![0usize; n];
        for _ in 0..lloyd_run.n_iter {
            for i in 0..n {
                labels[i] = (0..k)
                    .min_by(|&a, &b| {
                        let da =
                            linalg::sq_dist(&x[i * d..(i + 1) * d], &centers[a * d..(a + 1) * d]);
                        let db =
                            linalg::sq_dist(&x[i * d..(i + 1) * d], &centers[b * d..(b + 1) * d]);
                        da.partial_cmp(&db).unwrap()
                    })
                    .unwrap();
            }
            let mut sums = vec![0.0; k * d];
            let mut weights = vec![0.0; k];
            for i in 0..n {
                for f in 0..d {
                    sums[labels[i] * d + f] += w[i] * x[i * d + f];
                }
                weights[labels[i]] += w[i];
            }
            for j in 0..k {
                if weights[j] > 0.0 {
                    for f in 0..d {
                        centers[j * d + f] = sums[j * d + f] / weights[j];
                    }
                }
            }
        }
        for (a, b) in lloyd_run.centers.iter().zip(&centers) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert_eq!(lloyd_run.labels, elkan_run.labels);
        assert_eq!(lloyd_run.n_iter, elkan_run.n_iter);
        assert!((lloyd_run.inertia - elkan_run.inertia).abs() < 1e-9 * lloyd_run.inertia);
    }

    #[test]
    fn pieces_aligned_to_blocks_reduce_to_the_whole() {
        // Samples held in pieces that start on block boundaries: their blocks' sums, combined
        // in order, and their farthest samples, merged, are those of the whole.
        let (n, d, k) = (70_000, 3, 4);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919) % 1009) as f32 / 7.0 + ((i / d) % k) as f32)
            .collect();
        let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 5) as f32 / 3.0).collect();
        let centers: Vec<f32> = x[..k * d].to_vec();
        let whole = Dense::new(&x, n, d).unwrap();
        let mut labels = vec![-1; n];
        let (_, sums) = steps::assign(&whole, &w, &centers, &mut labels, true).unwrap();
        let far = steps::farthest_samples(&whole, &w, &centers, &labels, 3, 0).unwrap();
        let rows = crate::blocks::rows_per_block(n, k * d + k);
        assert!(rows > crate::blocks::CHUNK);
        let mut parts = Vec::new();
        let mut pieces_far = Vec::new();
        for piece in [0..2 * rows, 2 * rows..7 * rows, 7 * rows..n] {
            let m = piece.len();
            let xs = Dense::new(&x[piece.start * d..piece.end * d], m, d).unwrap();
            let ws = &w[piece.clone()];
            let mut piece_labels = vec![-1; m];
            let (_, p, _) =
                steps::assign_blocks(&xs, ws, &centers, &mut piece_labels, true, |_| {
                    crate::blocks::fixed(m, rows)
                })
                .unwrap();
            assert_eq!(piece_labels, labels[piece.clone()]);
            parts.extend(p);
            pieces_far.push(
                steps::farthest_samples(&xs, ws, &centers, &piece_labels, 3, piece.start).unwrap(),
            );
        }
        let combined = steps::ClusterSums::combine(parts, k, d).unwrap();
        assert_eq!(combined.sums, sums.sums);
        assert_eq!(combined.weights, sums.weights);
        let merged = steps::merge_farthest(pieces_far, 3);
        let indices =
            |f: &steps::Farthest<f32>| f.samples.iter().map(|s| s.index).collect::<Vec<_>>();
        assert_eq!(indices(&merged), indices(&far));
    }
}
