//! Lloyd's algorithm, with scikit-learn's convergence rules: stop when the labels did not change
//! (strict convergence) or when the squared center shift is within `tol`.

use super::steps::{self, assign};
use super::{check_problem, convergence, Event, RunConfig, RunResult};
use crate::alloc;
use crate::float::Float;
use crate::nearest::NearestSearch;
use crate::KernelError;
use crate::StopCheck;

pub fn run<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers_init: &[T],
    config: &RunConfig,
    stop: StopCheck,
) -> Result<RunResult<T>, KernelError> {
    check_problem(x, sample_weight, centers_init)?;
    let d = x.n_features();
    let n = x.n_samples();
    let mut centers = alloc::copied(centers_init, &[centers_init.len() / d, d])?;
    let mut labels = alloc::filled(&[n], -1i32)?;
    let mut events = Vec::new();
    let mut strict_convergence = false;
    let mut n_iter = 0;
    for iteration in 0..config.max_iter {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        n_iter = iteration + 1;
        let (changed, sums) = assign(x, sample_weight, &centers, &mut labels, true)?;
        if config.verbose {
            let inertia = steps::inertia(x, sample_weight, &centers, &labels);
            events.push(Event::Iteration { iteration, inertia });
        }
        let new_centers = steps::update_centers(x, sample_weight, &centers, &labels, sums)?;
        let shift = steps::center_shifts(&centers, &new_centers, d);
        centers = new_centers;
        // Labels start at -1, so the first iteration always counts as a change.
        if let Some(event) = convergence(iteration, changed, &shift, config.tol) {
            strict_convergence = matches!(event, Event::StrictConvergence { .. });
            events.push(event);
            break;
        }
    }
    if !strict_convergence {
        // Re-run the E-step so that the labels match the final centers.
        assign(x, sample_weight, &centers, &mut labels, false)?;
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
