//! Lloyd's algorithm: every iteration searches every sample's nearest center with the fused
//! kernels of [`crate::nearest`], accumulating the cluster sums in the same pass.

use super::iterate::{Assignment, Pass};
use super::steps;
use crate::float::Float;
use crate::nearest::NearestSearch;

pub struct Lloyd<'a, T, S> {
    x: &'a S,
    sample_weight: &'a [T],
}

impl<T: Float, S: NearestSearch<T>> Assignment<T> for Lloyd<'_, T, S> {
    fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> Pass<T> {
        // Labels start at -1, so the first iteration always counts as a change.
        steps::assign(self.x, self.sample_weight, centers, labels, accumulate)
    }
}

impl<'a, T, S> Lloyd<'a, T, S> {
    pub fn new(x: &'a S, sample_weight: &'a [T]) -> Self {
        Lloyd { x, sample_weight }
    }
}
