//! Brute-force nearest-neighbour searches: the `k` nearest fitted samples of each query, and
//! the fitted samples within a radius, as scikit-learn's `ArgKmin` and `RadiusNeighbors`
//! reductions compute them, without a distance matrix.
//!
//! Queries are split into fixed blocks searched in parallel; each query sees the fitted
//! samples in index order and keeps its candidates in scikit-learn's heap, so the result of a
//! query depends only on that query (any thread count gives the same bits) and candidates at
//! exactly equal distances are kept and ordered as scikit-learn keeps and orders them.
//! Euclidean and squared euclidean distances between dense rows go through the fused,
//! register-blocked kernel of [`fused`] (scikit-learn's `||x||^2 - 2<x, y> + ||y||^2`
//! expansion, clamped at 0, in the data's precision); every other metric and CSR input compare
//! [`Metric`] reduced distances pair by pair.

pub mod ball_tree;
pub mod binary_tree;
mod fused;
pub mod heap;
pub mod kd_tree;
mod nth_element;
pub mod precomputed;
pub mod predict;
pub mod sparse;
#[cfg(test)]
mod test_data;
#[cfg(test)]
mod tests;

use crate::alloc;
use crate::float::Float;
use crate::metric::{Metric, MetricRows};
use crate::samples::{Csr, Dense, Samples};
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// Queries searched together by one task: bounds the heaps and packed queries one task holds.
pub const QUERY_BLOCK: usize = 256;
/// Fitted samples streamed against a block of queries at a time (stays in cache).
pub const FIT_CHUNK: usize = 1024;

/// scikit-learn's `ArgKmin` chunk size (`pairwise_dist_chunk_size`).
const SKLEARN_CHUNK: usize = 256;

/// Whether scikit-learn's `ArgKmin` (`strategy="auto"`, one thread) runs `parallel_on_Y` for
/// these sizes: its heaps are then merged once more before sorting, which reorders neighbours
/// at exactly equal distances. With more threads its order depends on its thread count; ours
/// is always the one-thread order.
pub fn sklearn_merges_heaps(n_fit: usize, n_queries: usize) -> bool {
    n_fit >= n_queries && 4 * SKLEARN_CHUNK >= n_queries
}

/// Storages the brute-force searches run on; dense rows expose the fused euclidean kernel,
/// CSR rows scikit-learn's sparse pairwise path.
pub trait BruteSamples<T: Float>: MetricRows<T> {
    fn as_dense(&self) -> Option<&Dense<'_, T>> {
        None
    }
    fn as_csr(&self) -> Option<&Csr<'_, T>> {
        None
    }
}

impl<T: Float> BruteSamples<T> for Dense<'_, T> {
    fn as_dense(&self) -> Option<&Dense<'_, T>> {
        Some(self)
    }
}

impl<T: Float> BruteSamples<T> for Csr<'_, T> {
    fn as_csr(&self) -> Option<&Csr<'_, T>> {
        Some(self)
    }
}

/// The `k` nearest fitted samples of every query, nearest first: `(n_queries, k)` row-major
/// distances (float64, as scikit-learn returns them) and indices.
pub struct KNeighbors {
    pub distances: Vec<f64>,
    pub indices: Vec<i64>,
}

fn check<T: Float, S: Samples<T>>(
    metric: &Metric,
    fit: &S,
    queries: &S,
) -> Result<(), KernelError> {
    metric.check_features(fit.n_features())?;
    if fit.n_features() != queries.n_features() {
        return Err(KernelError::Shape(format!(
            "queries have {} features, the fitted samples {}",
            queries.n_features(),
            fit.n_features()
        )));
    }
    Ok(())
}

/// scikit-learn's `ArgKmin`: the `k` (`1 <= k <= n_fit`) nearest fitted samples of each query;
/// for CSR samples and the metrics scikit-learn computes by its pairwise path instead, that
/// path (see [`sparse`]), where `queries_are_fit` zeroes each query's distance to itself.
pub fn kneighbors<T: Float, S: BruteSamples<T>>(
    fit: &S,
    queries: &S,
    metric: &Metric,
    k: usize,
    queries_are_fit: bool,
    stop: StopCheck,
) -> Result<KNeighbors, KernelError> {
    check(metric, fit, queries)?;
    let (n_fit, n_q) = (fit.n_samples(), queries.n_samples());
    if k == 0 || k > n_fit {
        return Err(KernelError::InvalidArgument(format!(
            "k={k} must be in [1, n_samples_fit={n_fit}]"
        )));
    }
    if let (Some(kind), Some(f), Some(q)) = (
        sparse::SparsePairwise::for_metric(metric),
        fit.as_csr(),
        queries.as_csr(),
    ) {
        return sparse::kneighbors(f, q, kind, k, queries_are_fit, stop);
    }
    // Indices first, as scikit-learn's ArgKmin allocates them: the same MemoryError message.
    let mut indices = alloc::filled(&[n_q, k], 0i64)?;
    let mut distances = alloc::filled(&[n_q, k], 0.0f64)?;
    let fused = matches!(metric, Metric::Euclidean | Metric::SqEuclidean);
    let fit_norms = match (fused, fit.as_dense()) {
        (true, Some(f)) => Some(fused::row_norms(f)?),
        _ => None,
    };
    let merge = sklearn_merges_heaps(n_fit, n_q);
    let failed = std::sync::Mutex::new(None);
    distances
        .par_chunks_mut(QUERY_BLOCK * k)
        .zip(indices.par_chunks_mut(QUERY_BLOCK * k))
        .enumerate()
        .for_each(|(b, (dist, ind))| {
            if stop() {
                return;
            }
            let start = b * QUERY_BLOCK;
            let result = match (&fit_norms, fit.as_dense(), queries.as_dense()) {
                (Some(norms), Some(f), Some(q)) => {
                    fused::kneighbors_block(f, norms, q, start, metric, k, merge, dist, ind, stop)
                }
                _ => {
                    generic_kneighbors_block(fit, queries, start, metric, k, merge, dist, ind);
                    Ok(())
                }
            };
            if let Err(e) = result {
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            }
        });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(KNeighbors { distances, indices })
}

/// One block of queries against every fitted sample, pair by pair in reduced distances.
#[allow(clippy::too_many_arguments)]
fn generic_kneighbors_block<T: Float, S: MetricRows<T>>(
    fit: &S,
    queries: &S,
    start: usize,
    metric: &Metric,
    k: usize,
    merge: bool,
    dist: &mut [f64],
    ind: &mut [i64],
) {
    dist.fill(f64::MAX);
    ind.fill(0);
    let n_rows = dist.len() / k;
    for chunk in (0..fit.n_samples()).step_by(FIT_CHUNK) {
        let end = (chunk + FIT_CHUNK).min(fit.n_samples());
        for r in 0..n_rows {
            let (hv, hi) = (&mut dist[r * k..(r + 1) * k], &mut ind[r * k..(r + 1) * k]);
            for j in chunk..end {
                let v = queries.rdist_to(metric, start + r, fit, j);
                heap::heap_push(hv, hi, v, j as i64);
            }
        }
    }
    for (hv, hi) in dist.chunks_exact_mut(k).zip(ind.chunks_exact_mut(k)) {
        if merge {
            heap::repush(hv, hi, f64::MAX);
        }
        heap::simultaneous_sort(hv, hi);
        for v in hv.iter_mut() {
            *v = metric.in_dtype::<T>(metric.rdist_to_dist(v.max(0.0)));
        }
    }
}

/// One query's neighbours within the radius: indices and (reduced) distances.
type Found = (Vec<i64>, Vec<f64>);

/// Appends a neighbour to a query's list, growing it fallibly: a result too large for memory
/// is a MemoryError (the list that could not grow, as NumPy words it), never an abort.
fn push_found(found: &mut Found, j: i64, value: f64) -> Result<(), KernelError> {
    let (ind, dist) = found;
    if ind.len() == ind.capacity() {
        let more = ind.len().max(4);
        let grown = [ind.len() + more];
        ind.try_reserve(more)
            .map_err(|_| alloc::out_of_memory::<i64>(&grown))?;
        dist.try_reserve(more)
            .map_err(|_| alloc::out_of_memory::<f64>(&grown))?;
    }
    ind.push(j);
    dist.push(value);
    Ok(())
}

/// Fitted samples within a radius of each query: CSR-like offsets (`n_queries + 1`), indices
/// and float64 distances, per query in index order, or nearest first when `sort`.
pub struct RadiusNeighbors {
    pub offsets: Vec<i64>,
    pub indices: Vec<i64>,
    pub distances: Vec<f64>,
}

/// scikit-learn's `RadiusNeighbors`: the fitted samples whose reduced distance is at most
/// `metric.dist_to_rdist(radius)`. With `exclude_self` the queries are the fitted samples and
/// each query's own index is left out of its list (scikit-learn's `X=None`). Without
/// `with_distances` the result's `distances` stay empty (connectivity, uniform weights).
#[allow(clippy::too_many_arguments)]
pub fn radius_neighbors<T: Float, S: BruteSamples<T>>(
    fit: &S,
    queries: &S,
    metric: &Metric,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<RadiusNeighbors, KernelError> {
    check(metric, fit, queries)?;
    if let (Some(kind), Some(f), Some(q)) = (
        sparse::SparsePairwise::for_metric(metric),
        fit.as_csr(),
        queries.as_csr(),
    ) {
        return sparse::radius_neighbors(
            f,
            q,
            kind,
            radius,
            sort,
            exclude_self,
            with_distances,
            stop,
        );
    }
    let n_q = queries.n_samples();
    let r_radius = metric.dist_to_rdist(radius);
    // scikit-learn's float32 metrics take the radius, and return reduced distances and
    // distances, in float32 (its fused euclidean search does not).
    let generic_r_radius = metric.in_dtype::<T>(metric.dist_to_rdist(T::from_f64(radius).to_f64()));
    let fused = matches!(metric, Metric::Euclidean | Metric::SqEuclidean);
    let fit_norms = match (fused, fit.as_dense()) {
        (true, Some(f)) => Some(fused::row_norms(f)?),
        _ => None,
    };
    let n_blocks = n_q.div_ceil(QUERY_BLOCK);
    let blocks: Vec<Result<Vec<Found>, KernelError>> = (0..n_blocks)
        .into_par_iter()
        .map(|b| {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let rows = b * QUERY_BLOCK..((b + 1) * QUERY_BLOCK).min(n_q);
            let mut found = match (&fit_norms, fit.as_dense(), queries.as_dense()) {
                (Some(norms), Some(f), Some(q)) => {
                    fused::radius_block(f, norms, q, rows, r_radius)?
                }
                _ => rows
                    .map(|i| {
                        let mut found: Found = (Vec::new(), Vec::new());
                        for j in 0..fit.n_samples() {
                            let v = queries.rdist_to(metric, i, fit, j);
                            if v <= generic_r_radius {
                                push_found(&mut found, j as i64, v)?;
                            }
                        }
                        Ok(found)
                    })
                    .collect::<Result<_, KernelError>>()?,
            };
            for (r, (ind, dist)) in found.iter_mut().enumerate() {
                // Sorted before the query itself is removed, as scikit-learn does: its
                // presence changes the order the sort leaves exactly equal distances in.
                if sort {
                    heap::simultaneous_sort(dist, ind);
                }
                if exclude_self {
                    let own = (b * QUERY_BLOCK + r) as i64;
                    if let Some(at) = ind.iter().position(|&j| j == own) {
                        ind.remove(at);
                        dist.remove(at);
                    }
                }
                for v in dist.iter_mut() {
                    let dist = metric.rdist_to_dist(v.max(0.0));
                    *v = if fit_norms.is_some() {
                        dist
                    } else {
                        metric.in_dtype::<T>(dist)
                    };
                }
            }
            Ok(found)
        })
        .collect();
    let blocks = blocks
        .into_iter()
        .collect::<Result<Vec<_>, KernelError>>()?;
    concatenate_found(n_q, blocks, with_distances)
}

/// The per-query lists of consecutive query blocks as one CSR-like result.
fn concatenate_found(
    n_q: usize,
    blocks: Vec<Vec<Found>>,
    with_distances: bool,
) -> Result<RadiusNeighbors, KernelError> {
    let mut offsets = alloc::with_capacity::<i64>(&[n_q + 1])?;
    offsets.push(0);
    let mut total = 0usize;
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        for (ind, _) in &block {
            total += ind.len();
            offsets.push(total as i64);
        }
        parts.push(block);
    }
    // Distances first: scikit-learn's distance graph concatenates them first (the same
    // MemoryError when the graph does not fit).
    let mut distances = alloc::with_capacity::<f64>(&[if with_distances { total } else { 0 }])?;
    let mut indices = alloc::with_capacity::<i64>(&[total])?;
    for (ind, dist) in parts.into_iter().flatten() {
        indices.extend_from_slice(&ind);
        if with_distances {
            distances.extend_from_slice(&dist);
        }
    }
    Ok(RadiusNeighbors {
        offsets,
        indices,
        distances,
    })
}
