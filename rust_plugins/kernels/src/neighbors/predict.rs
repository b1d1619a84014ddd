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
    let n_queries = offsets.len().saturating_sub(1);
    let mut proba = alloc::filled(&[n_queries, n_classes], 0.0f64)?;
    class_probabilities_into(offsets, indices, labels, n_classes, &mut proba, stop)?;
    Ok(proba)
}

/// [`class_probabilities`] written into `proba` (`(n_queries, n_classes)` row-major, zeros),
/// for callers that allocate the output before searching, as scikit-learn's class-mode
/// reductions do.
pub fn class_probabilities_into(
    offsets: &[i64],
    indices: &[i64],
    labels: &[i64],
    n_classes: usize,
    proba: &mut [f64],
    stop: StopCheck,
) -> Result<(), KernelError> {
    check_probabilities(offsets, indices, labels, n_classes, proba)?;
    per_query(
        offsets,
        indices,
        None,
        proba,
        n_classes,
        stop,
        |ind, _, row, _| {
            for &j in ind {
                row[labels[j as usize] as usize] += 1.0;
            }
            if !ind.is_empty() {
                // Counts are integers: their sum is exactly the number of neighbours.
                let total = ind.len() as f64;
                row.iter_mut().for_each(|p| *p /= total);
            }
        },
    )
}

/// Checks the neighbour lists, the labels and the `(n_queries, n_classes)` output.
fn check_probabilities(
    offsets: &[i64],
    indices: &[i64],
    labels: &[i64],
    n_classes: usize,
    proba: &[f64],
) -> Result<(), KernelError> {
    let n_queries = check_lists(offsets, indices, labels.len())?;
    check_labels(labels, n_classes)?;
    if proba.len() != n_queries * n_classes {
        return Err(KernelError::Shape(format!(
            "probabilities have {} values, not {n_queries} x {n_classes}",
            proba.len()
        )));
    }
    Ok(())
}

fn check_labels(labels: &[i64], n_classes: usize) -> Result<(), KernelError> {
    if labels.iter().any(|&c| c < 0 || c as usize >= n_classes) {
        return Err(KernelError::InvalidArgument(format!(
            "class labels must be in [0, {n_classes})"
        )));
    }
    Ok(())
}

/// Mean target of each query's neighbours: `(n_queries, n_outputs)` row-major from the
/// `(n_fit, n_outputs)` row-major `y`, summed as `np.mean(y[ind], axis=0)` sums (pairwise for
/// one output, in list order for several); NaN for a query without neighbours.
pub fn neighbor_means(
    offsets: &[i64],
    indices: &[i64],
    y: &[f64],
    n_outputs: usize,
    stop: StopCheck,
) -> Result<Vec<f64>, KernelError> {
    let n_queries = check_lists(offsets, indices, fitted_targets(y, n_outputs)?)?;
    let mut means = alloc::filled(&[n_queries, n_outputs], 0.0f64)?;
    per_query(
        offsets,
        indices,
        None,
        &mut means,
        n_outputs,
        stop,
        |ind, _, row, _| {
            if ind.is_empty() {
                row.fill(f64::NAN);
                return;
            }
            if n_outputs == 1 {
                // np.mean of an (n, 1) column reduces a contiguous run: pairwise.
                row[0] = numpy_sum(ind.len(), &|i| y[ind[i] as usize]);
            } else {
                for &j in ind {
                    let target = &y[j as usize * n_outputs..(j as usize + 1) * n_outputs];
                    row.iter_mut().zip(target).for_each(|(s, t)| *s += t);
                }
            }
            let count = ind.len() as f64;
            row.iter_mut().for_each(|s| *s /= count);
        },
    )?;
    Ok(means)
}

/// The number of fitted samples of the `(n_fit, n_outputs)` row-major targets `y`.
fn fitted_targets(y: &[f64], n_outputs: usize) -> Result<usize, KernelError> {
    if n_outputs == 0 || !y.len().is_multiple_of(n_outputs) {
        return Err(KernelError::Shape(format!(
            "y has {} values, not a multiple of {n_outputs} outputs",
            y.len()
        )));
    }
    Ok(y.len() / n_outputs)
}

/// Which scikit-learn path `weights="distance"` follows: its rule for zero distances and the
/// order its NumPy calls sum in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// `kneighbors` results (a 2-D array): weights `1 / d`; a row where that overflows to
    /// infinity (a zero or subnormal distance) weighs those neighbours 1 and the others 0.
    /// Sums over a row's neighbours are NumPy's pairwise row sums.
    KNeighbors,
    /// `radius_neighbors` results (one array per query): a row containing a zero distance weighs
    /// its zeros 1 and the others 0, otherwise `1 / d`. Means are `np.average`'s: pairwise
    /// weight sums, weighted targets summed pairwise for one output and in order for several.
    Radius,
}

/// scikit-learn's `_get_weights(dist, "distance")` for one query's neighbours, into `w`.
pub fn distance_weights(dist: &[f64], weighting: Weighting, w: &mut Vec<f64>) {
    w.clear();
    match weighting {
        Weighting::KNeighbors => {
            w.extend(dist.iter().map(|d| 1.0 / d));
            if w.iter().any(|v| v.is_infinite()) {
                w.iter_mut()
                    .for_each(|v| *v = if v.is_infinite() { 1.0 } else { 0.0 });
            }
        }
        Weighting::Radius => {
            if dist.contains(&0.0) {
                w.extend(dist.iter().map(|&d| if d == 0.0 { 1.0 } else { 0.0 }));
            } else {
                w.extend(dist.iter().map(|d| 1.0 / d));
            }
        }
    }
}

/// NumPy's sum of the `n` values `a(0..n)` of a contiguous row (`np.sum(a, axis=-1)`): its
/// pairwise summation, eight accumulators over blocks of up to 128 values.
pub fn numpy_sum(n: usize, a: &impl Fn(usize) -> f64) -> f64 {
    fn block(start: usize, n: usize, a: &impl Fn(usize) -> f64) -> f64 {
        if n < 8 {
            let mut res = -0.0;
            for i in start..start + n {
                res += a(i);
            }
            res
        } else if n <= 128 {
            let mut r = [0.0f64; 8];
            for (j, r) in r.iter_mut().enumerate() {
                *r = a(start + j);
            }
            let mut i = 8;
            while i < n - n % 8 {
                for (j, r) in r.iter_mut().enumerate() {
                    *r += a(start + i + j);
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            while i < n {
                res += a(start + i);
                i += 1;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            block(start, n2, a) + block(start + n2, n - n2, a)
        }
    }
    // The reduction starts from the identity 0 (which turns a sum of -0.0 into 0.0).
    0.0 + block(0, n, a)
}

/// Runs `row(neighbours, distances, out_row, weights)` for every query in parallel blocks,
/// each query writing its `width` outputs (`distances` empty when there are none).
fn per_query(
    offsets: &[i64],
    indices: &[i64],
    distances: Option<&[f64]>,
    out: &mut [f64],
    width: usize,
    stop: StopCheck,
    row: impl Fn(&[i64], &[f64], &mut [f64], &mut Vec<f64>) + Sync,
) -> Result<(), KernelError> {
    if let Some(distances) = distances.filter(|d| d.len() != indices.len()) {
        return Err(KernelError::Shape(format!(
            "{} distances for {} neighbours",
            distances.len(),
            indices.len()
        )));
    }
    if width == 0 {
        return Ok(());
    }
    out.par_chunks_mut(QUERY_BLOCK * width)
        .enumerate()
        .for_each(|(b, block)| {
            if stop() {
                return;
            }
            let mut weights = Vec::new();
            for (r, out_row) in block.chunks_exact_mut(width).enumerate() {
                let at = list(offsets, b * QUERY_BLOCK + r);
                let dist = distances.map_or(&[][..], |d| &d[at.clone()]);
                row(&indices[at], dist, out_row, &mut weights);
            }
        });
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(())
}

/// Class probabilities of distance-weighted votes, into `proba` (`(n_queries, n_classes)`
/// row-major, zeros): each neighbour's weight added to its class in list order (scikit-learn's
/// `proba[rows, labels] += w` / `np.bincount`), each row divided by its NumPy sum (rows
/// summing to 0 stay 0).
#[allow(clippy::too_many_arguments)]
pub fn weighted_class_probabilities_into(
    offsets: &[i64],
    indices: &[i64],
    distances: &[f64],
    labels: &[i64],
    n_classes: usize,
    weighting: Weighting,
    proba: &mut [f64],
    stop: StopCheck,
) -> Result<(), KernelError> {
    check_probabilities(offsets, indices, labels, n_classes, proba)?;
    per_query(
        offsets,
        indices,
        Some(distances),
        proba,
        n_classes,
        stop,
        |ind, dist, row, w| {
            distance_weights(dist, weighting, w);
            for (&j, &wj) in ind.iter().zip(w.iter()) {
                row[labels[j as usize] as usize] += wj;
            }
            let normalizer = numpy_sum(row.len(), &|c| row[c]);
            if normalizer != 0.0 {
                row.iter_mut().for_each(|p| *p /= normalizer);
            }
        },
    )
}

/// The class index of each query's distance-weighted vote (scikit-learn's `weighted_mode`):
/// a class's weight is the NumPy row sum of its neighbours' weights (zeros elsewhere), and the
/// first class with the largest weight wins.
pub fn weighted_votes(
    offsets: &[i64],
    indices: &[i64],
    distances: &[f64],
    labels: &[i64],
    n_classes: usize,
    stop: StopCheck,
) -> Result<Vec<i64>, KernelError> {
    let n_queries = check_lists(offsets, indices, labels.len())?;
    check_labels(labels, n_classes)?;
    // Written as float64 class indices (exact), then converted.
    let mut votes = alloc::filled(&[n_queries], 0.0f64)?;
    per_query(
        offsets,
        indices,
        Some(distances),
        &mut votes,
        1,
        stop,
        |ind, dist, out, w| {
            distance_weights(dist, Weighting::KNeighbors, w);
            let (mut best, mut best_weight) = (0i64, 0.0f64);
            let mut present: Vec<i64> = ind.iter().map(|&j| labels[j as usize]).collect();
            present.sort_unstable();
            present.dedup();
            for &c in &present {
                let weight = numpy_sum(ind.len(), &|i| {
                    if labels[ind[i] as usize] == c {
                        w[i]
                    } else {
                        0.0
                    }
                });
                if weight > best_weight {
                    (best, best_weight) = (c, weight);
                }
            }
            out[0] = best as f64;
        },
    )?;
    let mut out = alloc::with_capacity::<i64>(&[n_queries])?;
    out.extend(votes.iter().map(|&c| c as i64));
    Ok(out)
}

/// Distance-weighted mean targets: `(n_queries, n_outputs)` row-major from the
/// `(n_fit, n_outputs)` row-major `y`, summed as `weighting`'s scikit-learn path sums; NaN
/// for a query without neighbours.
pub fn weighted_means(
    offsets: &[i64],
    indices: &[i64],
    distances: &[f64],
    y: &[f64],
    n_outputs: usize,
    weighting: Weighting,
    stop: StopCheck,
) -> Result<Vec<f64>, KernelError> {
    let n_queries = check_lists(offsets, indices, fitted_targets(y, n_outputs)?)?;
    let mut means = alloc::filled(&[n_queries, n_outputs], 0.0f64)?;
    let target = |j: i64, o: usize| y[j as usize * n_outputs + o];
    // np.average sums the (n, n_outputs) weighted targets down columns: pairwise when there
    // is one column, in order otherwise. KNeighborsRegressor sums each output's row pairwise.
    let pairwise = weighting == Weighting::KNeighbors || n_outputs == 1;
    per_query(
        offsets,
        indices,
        Some(distances),
        &mut means,
        n_outputs,
        stop,
        |ind, dist, row, w| {
            if ind.is_empty() {
                row.fill(f64::NAN);
                return;
            }
            distance_weights(dist, weighting, w);
            let denominator = numpy_sum(w.len(), &|i| w[i]);
            for (o, out) in row.iter_mut().enumerate() {
                let numerator = if pairwise {
                    numpy_sum(ind.len(), &|i| target(ind[i], o) * w[i])
                } else {
                    ind.iter()
                        .zip(w.iter())
                        .fold(0.0, |s, (&j, &wj)| s + target(j, o) * wj)
                };
                *out = numerator / denominator;
            }
        },
    )?;
    Ok(means)
}
