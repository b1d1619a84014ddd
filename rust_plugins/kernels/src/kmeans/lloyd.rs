//! Lloyd's algorithm: every iteration searches every sample's nearest center with the fused
//! kernels of [`crate::nearest`], accumulating the cluster sums in the same pass.

use super::iterate::{self, Assignment, Pass};
use super::steps;
use super::{RunConfig, RunResult};
use crate::float::Float;
use crate::nearest::NearestSearch;
use crate::KernelError;
use crate::StopCheck;

struct Lloyd<'a, T, S> {
    x: &'a S,
    sample_weight: &'a [T],
}

impl<T: Float, S: NearestSearch<T>> Assignment<T> for Lloyd<'_, T, S> {
    fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> Pass<T> {
        // Labels start at -1, so the first iteration always counts as a change.
        steps::assign(self.x, self.sample_weight, centers, labels, accumulate)
    }
}

pub fn run<T: Float, S: NearestSearch<T>>(
    x: &S,
    sample_weight: &[T],
    centers_init: &[T],
    config: &RunConfig,
    stop: StopCheck,
) -> Result<RunResult<T>, KernelError> {
    let mut lloyd = Lloyd { x, sample_weight };
    iterate::run(x, sample_weight, centers_init, config, stop, &mut lloyd)
}
