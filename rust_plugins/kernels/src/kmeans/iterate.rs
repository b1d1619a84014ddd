//! scikit-learn's k-means iteration loop, shared by Lloyd and Elkan (`_kmeans_single_lloyd` and
//! `_kmeans_single_elkan` run the same loop around different assignment passes): assign, record
//! the inertia when verbose, update the centers, stop on strict convergence (no label changed)
//! or when the squared center shift is within `tol`, and re-assign once more unless strictly
//! converged so that the labels match the final centers.

use super::steps::{self, ClusterSums};
use super::{check_problem, convergence, Event, RunConfig, RunResult};
use crate::alloc;
use crate::float::Float;
use crate::samples::Samples;
use crate::KernelError;
use crate::StopCheck;

/// What an assignment pass returns: whether any label changed, and the cluster sums.
pub type Pass<T> = Result<(bool, ClusterSums<T>), KernelError>;

/// An algorithm's assignment pass, as the loop calls it.
pub trait Assignment<T: Float> {
    /// Before the first iteration (Elkan sets its bounds and first labels here).
    fn start(&mut self, _centers: &[T], _labels: &mut [i32]) -> Result<(), KernelError> {
        Ok(())
    }

    /// Assigns every sample to its closest center. With `accumulate`, also returns the
    /// weighted cluster sums and whether any label changed since the previous iteration.
    fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> Pass<T>;

    /// After the centers moved by `shift` (Elkan loosens its bounds).
    fn centers_moved(&mut self, _labels: &[i32], _shift: &[T]) {}
}

/// One run from `centers_init` (row-major `(k, d)`).
pub fn run<T: Float, S: Samples<T>>(
    x: &S,
    sample_weight: &[T],
    centers_init: &[T],
    config: &RunConfig,
    stop: StopCheck,
    algorithm: &mut impl Assignment<T>,
) -> Result<RunResult<T>, KernelError> {
    let k = check_problem(x, sample_weight, centers_init)?;
    let d = x.n_features();
    let mut centers = alloc::copied(centers_init, &[k, d])?;
    let mut labels = alloc::filled(&[x.n_samples()], -1i32)?;
    algorithm.start(&centers, &mut labels)?;
    let mut events = Vec::new();
    let mut strict_convergence = false;
    let mut n_iter = 0;
    for iteration in 0..config.max_iter {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        n_iter = iteration + 1;
        let (changed, sums) = algorithm.assign(&centers, &mut labels, true)?;
        if config.verbose {
            let inertia = steps::inertia(x, sample_weight, &centers, &labels);
            events.push(Event::Iteration { iteration, inertia });
        }
        let new_centers = steps::update_centers(x, sample_weight, &centers, &labels, sums)?;
        let shift = steps::center_shifts(&centers, &new_centers, d);
        algorithm.centers_moved(&labels, &shift);
        centers = new_centers;
        if let Some(event) = convergence(iteration, changed, &shift, config.tol) {
            strict_convergence = matches!(event, Event::StrictConvergence { .. });
            events.push(event);
            break;
        }
    }
    if !strict_convergence {
        algorithm.assign(&centers, &mut labels, false)?;
    }
    let inertia = steps::inertia(x, sample_weight, &centers, &labels);
    Ok(RunResult {
        labels,
        inertia,
        centers,
        n_iter,
        events,
    })
}
