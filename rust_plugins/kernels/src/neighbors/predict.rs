//! Predictions from neighbour lists: the class probabilities of uniform votes and the mean
//! targets of the neighbours, as scikit-learn's classifiers and regressors compute them from
//! `kneighbors` / `radius_neighbors`.
//!
//! Neighbour lists come as CSR: query `i`'s neighbours are `indices[offsets[i]..offsets[i+1]]`
//! (a `kneighbors` result is the same with `offsets[i] = i * k`). Each query's output depends
//! only on its own list, summed in list order, so any thread count gives the same bits.

use crate::alloc;
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// Queries per parallel task.
const QUERY_BLOCK: usize = 1024;

/// Checks that `offsets` is a non-decreasing list starting at 0 whose last entry is
/// `indices.len()`, and that every index is below `n_fit`: the kernels below then index
/// without bounds failures.
fn check_lists(offsets: &[i64], indices: &[i64], n_fit: usize) -> Result<usize, KernelError> {
    let bad = |what: &str| {
        Err(KernelError::InvalidArgument(format!(
            "neighbour lists: {what}"
        )))
    };
    let Some((&first, rest)) = offsets.split_first() else {
        return bad("offsets is empty");
    };
    if first != 0 || offsets.last().copied() != Some(indices.len() as i64) {
        return bad("offsets must run from 0 to the number of indices");
    }
    if offsets.windows(2).any(|w| w[1] < w[0]) {
        return bad("offsets must not decrease");
    }
    if indices.iter().any(|&j| j < 0 || j as usize >= n_fit) {
        return bad("an index is outside the fitted samples");
    }
    Ok(rest.len())
}

fn list(offsets: &[i64], i: usize) -> std::ops::Range<usize> {
    offsets[i] as usize..offsets[i + 1] as usize
}

/// Class probabilities of uniform votes: `(n_queries, n_classes)` row-major, each row the
/// count of its neighbours per class (`labels[j]`, in `0..n_classes`) divided by the row's
/// total; rows without neighbours stay 0 (scikit-learn's normaliser of 1 there).
pub fn class_probabilities(
    offsets: &[i64],
    indices: &[i64],
    labels: &[i64],
    n_classes: usize,
    stop: StopCheck,
) -> Result<Vec<f64>, KernelError> {
    let n_queries = check_lists(offsets, indices, labels.len())?;
    if labels.iter().any(|&c| c < 0 || c as usize >= n_classes) {
        return Err(KernelError::InvalidArgument(format!(
            "class labels must be in [0, {n_classes})"
        )));
    }
    let mut proba = alloc::filled(&[n_queries, n_classes], 0.0f64)?;
    if n_classes == 0 {
        return Ok(proba);
    }
    proba
        .par_chunks_mut(QUERY_BLOCK * n_classes)
        .enumerate()
        .for_each(|(b, block)| {
            if stop() {
                return;
            }
            for (r, row) in block.chunks_exact_mut(n_classes).enumerate() {
                let ind = &indices[list(offsets, b * QUERY_BLOCK + r)];
                for &j in ind {
                    row[labels[j as usize] as usize] += 1.0;
                }
                if !ind.is_empty() {
                    // Counts are integers: their sum is exactly the number of neighbours.
                    let total = ind.len() as f64;
                    row.iter_mut().for_each(|p| *p /= total);
                }
            }
        });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(proba)
}

/// Mean target of each query's neighbours: `(n_queries, n_outputs)` row-major from the
/// `(n_fit, n_outputs)` row-major `y`, summed in list order; NaN for a query without
/// neighbours.
pub fn neighbor_means(
    offsets: &[i64],
    indices: &[i64],
    y: &[f64],
    n_outputs: usize,
    stop: StopCheck,
) -> Result<Vec<f64>, KernelError> {
    if n_outputs == 0 || !y.len().is_multiple_of(n_outputs) {
        return Err(KernelError::Shape(format!(
            "y has {} values, not a multiple of {n_outputs} outputs",
            y.len()
        )));
    }
    let n_queries = check_lists(offsets, indices, y.len() / n_outputs)?;
    let mut means = alloc::filled(&[n_queries, n_outputs], 0.0f64)?;
    means
        .par_chunks_mut(QUERY_BLOCK * n_outputs)
        .enumerate()
        .for_each(|(b, block)| {
            if stop() {
                return;
            }
            for (r, row) in block.chunks_exact_mut(n_outputs).enumerate() {
                let ind = &indices[list(offsets, b * QUERY_BLOCK + r)];
                if ind.is_empty() {
                    row.fill(f64::NAN);
                    continue;
                }
                for &j in ind {
                    let target = &y[j as usize * n_outputs..(j as usize + 1) * n_outputs];
                    row.iter_mut().zip(target).for_each(|(s, t)| *s += t);
                }
                let count = ind.len() as f64;
                row.iter_mut().for_each(|s| *s /= count);
            }
        });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(means)
}
