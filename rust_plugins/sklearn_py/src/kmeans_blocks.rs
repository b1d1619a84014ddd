//! Bindings of the k-means steps for samples held in row pieces (`sklearn_rs.dask`): each
//! piece starts at a multiple of the partition's block size, so the blocks it is cut into are
//! blocks of the partition a single-machine fit uses, and their partial results, combined in
//! block order here, give that fit's bits.

use kernels::blocks;
use kernels::float::Float;
use kernels::kmeans::squared_shift;
use kernels::kmeans::steps::{self, ClusterSums, FarSample, Farthest};
use kernels::stats;
use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyNotImplementedError, PyValueError};
use pyo3::prelude::*;

use crate::arrays::{matrix, optional_slice, slice, vector};
use crate::by_dtype;
use crate::error::kernel_error;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;
use crate::with_samples;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rows_per_block, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_block_assign, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_block_farthest, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_combine_update, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_block_inertia, m)?)?;
    m.add_function(wrap_pyfunction!(combine_in_order, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_total_weights, m)?)?;
    m.add_function(wrap_pyfunction!(moment_block_sums, m)?)?;
    m.add_function(wrap_pyfunction!(combine_feature_sums, m)?)?;
    m.add_function(wrap_pyfunction!(mean_variance_of, m)?)?;
    for f in [
        wrap_pyfunction!(kmeanspp_first, m)?,
        wrap_pyfunction!(kmeanspp_lower, m)?,
        wrap_pyfunction!(kmeanspp_potential, m)?,
        wrap_pyfunction!(kmeanspp_cumsum, m)?,
        wrap_pyfunction!(kmeanspp_candidate_potentials, m)?,
        wrap_pyfunction!(kmeanspp_combine, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}

/// Samples per block of the partition of `n_samples` samples whose blocks each keep
/// `per_block_state` values.
#[pyfunction]
fn rows_per_block(n_samples: usize, per_block_state: usize) -> usize {
    blocks::rows_per_block(n_samples, per_block_state)
}

fn threads(requested: usize, n: usize, per_sample: usize) -> Threads {
    Threads::for_work(requested, n.saturating_mul(per_sample.max(1)))
}

/// `(labels, changed, sums (blocks, k * d), weights (blocks, k))`.
type BlockAssign<'py> = (
    Bound<'py, PyAny>,
    bool,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

#[allow(clippy::too_many_arguments)]
fn block_assign_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    labels: Option<PyReadonlyArray1<'py, i32>>,
    rows: usize,
    accumulate: bool,
    n_threads: usize,
) -> PyResult<BlockAssign<'py>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let (sw, c) = (slice(&sw)?, slice(&c)?);
    let n = x.n_samples();
    let d = x.n_features();
    let mut new_labels = match optional_slice(&labels)? {
        Some(l) if l.len() == n => l.to_vec(),
        Some(_) => return Err(PyValueError::new_err("labels and X differ in length")),
        None => vec![-1; n],
    };
    if sw.len() != n || d == 0 || c.is_empty() || c.len() % d != 0 {
        return Err(PyValueError::new_err(
            "inconsistent X, sample_weight and centers",
        ));
    }
    let (changed, parts, k) =
        with_samples!(x, |s| py.run_kernel(threads(n_threads, n, c.len()), |_| {
            steps::assign_blocks(&s, sw, c, &mut new_labels, accumulate, |_| {
                blocks::fixed(n, rows)
            })
        }))?;
    let m = if accumulate { parts.len() } else { 0 };
    let (mut sums, mut weights) = (Vec::with_capacity(m * k * d), Vec::with_capacity(m * k));
    for p in parts.into_iter().filter(|_| accumulate) {
        sums.extend(p.sums);
        weights.extend(p.weights);
    }
    Ok((
        vector(py, new_labels),
        changed,
        matrix(py, sums, m, k * d)?,
        matrix(py, weights, m, k)?,
    ))
}

/// Assigns a piece's samples to their closest center (from `labels`, or none: -1) over blocks
/// of `rows_per_block` samples; with `accumulate`, also each block's weighted cluster sums.
/// Returns `(labels, changed, sums (blocks, k * d), weights (blocks, k))`.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, labels, rows_per_block, accumulate, n_threads))]
#[allow(clippy::too_many_arguments)]
fn kmeans_block_assign<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    labels: Option<PyReadonlyArray1<'py, i32>>,
    rows_per_block: usize,
    accumulate: bool,
    n_threads: usize,
) -> PyResult<BlockAssign<'py>> {
    by_dtype!(
        py,
        centers,
        block_assign_t(
            py,
            x,
            sample_weight,
            centers,
            labels,
            rows_per_block,
            accumulate,
            n_threads
        )
    )
}

/// `(any_off_center, distances, indices, rows, weights, labels)` of far samples.
type FarArrays<'py> = (
    bool,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

#[allow(clippy::too_many_arguments)]
fn block_farthest_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    labels: PyReadonlyArray1<'py, i32>,
    n_far: usize,
    offset: usize,
    n_threads: usize,
) -> PyResult<FarArrays<'py>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let (sw, c, l) = (slice(&sw)?, slice(&c)?, slice(&labels)?);
    let (n, d) = (x.n_samples(), x.n_features());
    let k = c.len() / d.max(1);
    if sw.len() != n || l.len() != n || l.iter().any(|&v| v < 0 || v as usize >= k) {
        return Err(PyValueError::new_err(
            "inconsistent X, sample_weight and labels",
        ));
    }
    let far = with_samples!(x, |s| py.run_kernel(threads(n_threads, n, d), |_| {
        steps::farthest_samples(&s, sw, c, l, n_far, offset)
    }))?;
    let m = far.samples.len();
    let mut rows: Vec<T> = Vec::with_capacity(m * d);
    far.samples.iter().for_each(|f| rows.extend(&f.row));
    Ok((
        far.any_off_center,
        vector(py, far.samples.iter().map(|f| f.distance).collect()),
        vector(py, far.samples.iter().map(|f| f.index as i64).collect()),
        matrix(py, rows, m, d)?,
        vector(py, far.samples.iter().map(|f| f.weight).collect()),
        vector(py, far.samples.iter().map(|f| f.label as i64).collect()),
    ))
}

/// The `n_far` samples of a piece farthest from their center (indices counted from `offset`),
/// the candidates for empty clusters. Returns `(any_off_center, distances, indices, rows,
/// weights, labels)`.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, labels, n_far, offset, n_threads))]
#[allow(clippy::too_many_arguments)]
fn kmeans_block_farthest<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    labels: PyReadonlyArray1<'py, i32>,
    n_far: usize,
    offset: usize,
    n_threads: usize,
) -> PyResult<FarArrays<'py>> {
    by_dtype!(
        py,
        centers,
        block_farthest_t(
            py,
            x,
            sample_weight,
            centers,
            labels,
            n_far,
            offset,
            n_threads
        )
    )
}

/// The far-sample candidates of every piece, concatenated.
#[derive(FromPyObject)]
struct FarCandidates<'py> {
    #[pyo3(item)]
    any_off_center: bool,
    #[pyo3(item)]
    distances: Bound<'py, PyAny>,
    #[pyo3(item)]
    indices: PyReadonlyArray1<'py, i64>,
    #[pyo3(item)]
    rows: Bound<'py, PyAny>,
    #[pyo3(item)]
    weights: Bound<'py, PyAny>,
    #[pyo3(item)]
    labels: PyReadonlyArray1<'py, i64>,
}

fn far_samples<T: Float + Element>(c: &FarCandidates<'_>, d: usize) -> PyResult<Farthest<T>> {
    let dist: PyReadonlyArray1<T> = c.distances.extract()?;
    let rows: PyReadonlyArray2<T> = c.rows.extract()?;
    let w: PyReadonlyArray1<T> = c.weights.extract()?;
    let (dist, w, idx, lab) = (
        slice(&dist)?,
        slice(&w)?,
        slice(&c.indices)?,
        slice(&c.labels)?,
    );
    let rows = rows
        .as_slice()
        .map_err(|_| PyValueError::new_err("rows must be C-contiguous"))?;
    let m = dist.len();
    if w.len() != m || idx.len() != m || lab.len() != m || rows.len() != m * d {
        return Err(PyValueError::new_err("inconsistent far-sample candidates"));
    }
    let samples = (0..m)
        .map(|i| FarSample {
            distance: dist[i],
            index: idx[i] as usize,
            row: rows[i * d..(i + 1) * d].to_vec(),
            weight: w[i],
            label: lab[i] as usize,
        })
        .collect();
    Ok(Farthest {
        samples,
        any_off_center: c.any_off_center,
    })
}

fn combine_update_t<'py, T: Float + Element>(
    py: Python<'py>,
    sums: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
    centers_old: &Bound<'py, PyAny>,
    far: Option<FarCandidates<'py>>,
) -> PyResult<(Bound<'py, PyAny>, f64)> {
    let s: PyReadonlyArray2<T> = sums.extract()?;
    let w: PyReadonlyArray2<T> = weights.extract()?;
    let c: PyReadonlyArray1<T> = centers_old.extract()?;
    let c = slice(&c)?;
    let k = w.shape()[1];
    let d = c.len().checked_div(k).unwrap_or(0);
    let (m, s, w) = (
        s.shape()[0],
        s.as_slice()
            .map_err(|_| PyValueError::new_err("sums must be C-contiguous"))?,
        w.as_slice()
            .map_err(|_| PyValueError::new_err("weights must be C-contiguous"))?,
    );
    if k == 0 || d == 0 || s.len() != m * k * d || w.len() != m * k {
        return Err(PyValueError::new_err(
            "inconsistent partial sums and centers",
        ));
    }
    let parts = (0..m)
        .map(|b| ClusterSums {
            sums: s[b * k * d..(b + 1) * k * d].to_vec(),
            weights: w[b * k..(b + 1) * k].to_vec(),
        })
        .collect();
    let mut total = ClusterSums::combine(parts, k, d).map_err(kernel_error)?;
    let empty = steps::empty_clusters(&total);
    if !empty.is_empty() {
        let far =
            far.ok_or_else(|| PyValueError::new_err("empty clusters need far-sample candidates"))?;
        let far = steps::merge_farthest(vec![far_samples::<T>(&far, d)?], empty.len());
        if far.any_off_center {
            steps::relocate(&mut total, &empty, &far.samples, d);
        }
    }
    let unsupported = || {
        PyNotImplementedError::new_err(
            "more clusters than distinct samples: the center of a cluster left empty depends \
             on the column means of X, which a fit over pieces does not compute",
        )
    };
    let mut needs_means = false;
    let averaged = steps::average_centers(total, d, || {
        needs_means = true;
        Err(kernels::KernelError::InvalidArgument("column means".into()))
    });
    let (centers, overflowed) = match averaged {
        Ok(v) => v,
        Err(_) if needs_means => return Err(unsupported()),
        Err(e) => return Err(kernel_error(e)),
    };
    if !overflowed.is_empty() {
        return Err(PyValueError::new_err(
            "cluster centers overflowed (sample_weight too large to sum w * x in X's dtype)",
        ));
    }
    let shift = steps::center_shifts(c, &centers, d);
    Ok((matrix(py, centers, k, d)?, squared_shift(&shift)))
}

/// New centers from every block's partial sums (added in block order), with empty clusters
/// relocated to the farthest of the candidates `far` (a dict of `kmeans_block_farthest`'s
/// results of every piece, concatenated). Returns `(centers, squared center shift)`.
#[pyfunction]
#[pyo3(signature = (sums, weights, centers_old, far=None))]
fn kmeans_combine_update<'py>(
    py: Python<'py>,
    sums: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
    centers_old: &Bound<'py, PyAny>,
    far: Option<FarCandidates<'py>>,
) -> PyResult<(Bound<'py, PyAny>, f64)> {
    by_dtype!(
        py,
        centers_old,
        combine_update_t(py, sums, weights, centers_old, far)
    )
}

#[allow(clippy::too_many_arguments)]
fn block_inertia_t<T: Float + Element>(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    sample_weight: &Bound<'_, PyAny>,
    centers: &Bound<'_, PyAny>,
    labels: PyReadonlyArray1<'_, i32>,
    rows: usize,
    n_threads: usize,
) -> PyResult<Vec<f64>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let (sw, c, l) = (slice(&sw)?, slice(&c)?, slice(&labels)?);
    let (n, d) = (x.n_samples(), x.n_features());
    let k = c.len() / d.max(1);
    if sw.len() != n || l.len() != n || l.iter().any(|&v| v < 0 || v as usize >= k) {
        return Err(PyValueError::new_err(
            "inconsistent X, sample_weight and labels",
        ));
    }
    with_samples!(x, |s| py.run_kernel(threads(n_threads, n, d), |_| Ok(
        steps::inertia_blocks(&s, sw, c, l, &blocks::fixed(n, rows))
    )))
}

/// The weighted inertia of each block of `rows_per_block` samples of a piece.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, labels, rows_per_block, n_threads))]
fn kmeans_block_inertia(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    sample_weight: &Bound<'_, PyAny>,
    centers: &Bound<'_, PyAny>,
    labels: PyReadonlyArray1<'_, i32>,
    rows_per_block: usize,
    n_threads: usize,
) -> PyResult<Vec<f64>> {
    by_dtype!(
        py,
        centers,
        block_inertia_t(
            py,
            x,
            sample_weight,
            centers,
            labels,
            rows_per_block,
            n_threads
        )
    )
}

/// Per-block values added in block order, as the single-machine reductions add them.
#[pyfunction]
fn combine_in_order(parts: Vec<f64>) -> f64 {
    parts.into_iter().sum()
}

fn moment_sums_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    rows: usize,
    mean: Option<PyReadonlyArray1<'py, f64>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let mean = optional_slice(&mean)?;
    let (n, d) = (x.n_samples(), x.n_features());
    if mean.is_some_and(|m| m.len() != d) {
        return Err(PyValueError::new_err("mean and X differ in features"));
    }
    let parts = with_samples!(x, |s| py.run_kernel(threads(n_threads, n, d), |_| Ok(
        stats::moment_block_sums(&s, &blocks::fixed(n, rows), mean)
    )))?;
    let m = parts.len();
    matrix(py, parts.concat(), m, d)
}

/// Per-feature sums (or, given `mean`, squared deviations) in float64 of each block of
/// `rows_per_block` samples of a piece: `(blocks, d)`.
#[pyfunction]
#[pyo3(signature = (x, rows_per_block, mean, n_threads))]
fn moment_block_sums<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    rows_per_block: usize,
    mean: Option<PyReadonlyArray1<'py, f64>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(py, x, moment_sums_t(py, x, rows_per_block, mean, n_threads))
}

/// Per-block feature sums `(blocks, d)` added in block order: `(d,)`.
#[pyfunction]
fn combine_feature_sums<'py>(
    py: Python<'py>,
    parts: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let d = parts.shape()[1];
    let rows = parts
        .as_slice()
        .map_err(|_| PyValueError::new_err("parts must be C-contiguous"))?;
    let parts = rows.chunks_exact(d.max(1)).map(<[f64]>::to_vec).collect();
    Ok(vector(py, stats::combine_sums(parts, d)))
}

/// The mean variance (`tol`'s scale) from the combined squared deviations of `n` dense samples.
#[pyfunction]
fn mean_variance_of(squared_deviations: PyReadonlyArray1<'_, f64>, n: usize) -> PyResult<f64> {
    Ok(stats::mean_variance_of(slice(&squared_deviations)?, n))
}

fn total_weights_t<'py, T: Float + Element>(
    py: Python<'py>,
    weights: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let w: PyReadonlyArray2<T> = weights.extract()?;
    let k = w.shape()[1];
    let w = w
        .as_slice()
        .map_err(|_| PyValueError::new_err("weights must be C-contiguous"))?;
    let parts = w
        .chunks_exact(k.max(1))
        .map(|p| ClusterSums {
            sums: Vec::new(),
            weights: p.to_vec(),
        })
        .collect();
    let total = ClusterSums::combine(parts, k, 0).map_err(kernel_error)?;
    Ok(vector(py, total.weights))
}

/// Every cluster's weight from the blocks' `(blocks, k)` weights, added in block order.
#[pyfunction]
fn kmeans_total_weights<'py>(
    py: Python<'py>,
    weights: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(py, weights, total_weights_t(py, weights))
}

// k-means++ over pieces: the running sums scikit-learn takes over all samples (the potential,
// the cumulative sum the candidates are searched in) continue from piece to piece in order;
// the candidates' potentials are per-block sums added in block order.

/// The first k-means++ center: `choice(n, p=sample_weight / sum)` on the uniform `u`.
#[pyfunction]
fn kmeanspp_first(py: Python<'_>, sample_weight: &Bound<'_, PyAny>, u: f64) -> PyResult<usize> {
    by_dtype!(py, sample_weight, first_t(sample_weight, u))
}

fn first_t<T: Float + Element>(sample_weight: &Bound<'_, PyAny>, u: f64) -> PyResult<usize> {
    let w: PyReadonlyArray1<T> = sample_weight.extract()?;
    kernels::kmeans::init::first_center(slice(&w)?, u).map_err(kernel_error)
}

fn lower_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    closest: Option<PyReadonlyArray1<'py, f64>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let y: PyReadonlyArray1<T> = y.extract()?;
    let y = slice(&y)?;
    let (n, d) = (x.n_samples(), x.n_features());
    if y.len() != d {
        return Err(PyValueError::new_err("the center and X differ in features"));
    }
    let mut out = match optional_slice(&closest)? {
        Some(c) if c.len() == n => c.to_vec(),
        Some(_) => return Err(PyValueError::new_err("closest and X differ in length")),
        None => vec![f64::INFINITY; n],
    };
    with_samples!(x, |s| py.run_kernel(threads(n_threads, n, d), |_| {
        kernels::kmeans::init::lower_to_distances(&s, y, &mut out);
        Ok(())
    }))?;
    Ok(vector(py, out))
}

/// Each sample's squared distance to its closest center so far, lowered by the center `y`
/// (`closest` None: no center yet).
#[pyfunction]
#[pyo3(signature = (x, y, closest, n_threads))]
fn kmeanspp_lower<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    closest: Option<PyReadonlyArray1<'py, f64>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(py, y, lower_t(py, x, y, closest, n_threads))
}

fn weights_and_closest<'a, T: Float + Element>(
    w: &'a PyReadonlyArray1<'_, T>,
    closest: &'a PyReadonlyArray1<'_, f64>,
) -> PyResult<(&'a [T], &'a [f64])> {
    let (w, c) = (slice(w)?, slice(closest)?);
    if w.len() != c.len() {
        return Err(PyValueError::new_err(
            "sample_weight and closest differ in length",
        ));
    }
    Ok((w, c))
}

fn potential_t<T: Float + Element>(
    w: &Bound<'_, PyAny>,
    closest: PyReadonlyArray1<'_, f64>,
    start: f64,
) -> PyResult<f64> {
    let w: PyReadonlyArray1<T> = w.extract()?;
    let (w, c) = weights_and_closest(&w, &closest)?;
    Ok(kernels::kmeans::init::potential_from(w, c, start))
}

/// `start + sum_i w_i * closest_i`, summed in sample order.
#[pyfunction]
fn kmeanspp_potential(
    py: Python<'_>,
    sample_weight: &Bound<'_, PyAny>,
    closest: PyReadonlyArray1<'_, f64>,
    start: f64,
) -> PyResult<f64> {
    by_dtype!(
        py,
        sample_weight,
        potential_t(sample_weight, closest, start)
    )
}

fn cumsum_t<T: Float + Element>(
    w: &Bound<'_, PyAny>,
    closest: PyReadonlyArray1<'_, f64>,
    start: f64,
    values: Option<Vec<f64>>,
) -> PyResult<(f64, Vec<Option<usize>>)> {
    let w: PyReadonlyArray1<T> = w.extract()?;
    let (w, c) = weights_and_closest(&w, &closest)?;
    let start = T::from_f64(start);
    let end = kernels::kmeans::init::cumsum_end(w, c, start).to_f64();
    let found = values
        .map(|v| kernels::kmeans::init::cumsum_search(w, c, start, &v))
        .unwrap_or_default();
    Ok((end, found))
}

/// The cumulative sum of `w_i * closest_i` in the weights' dtype continued from `start`: its
/// last value and, for each of `values`, the first index where it reaches the value.
#[pyfunction]
#[pyo3(signature = (sample_weight, closest, start, values=None))]
fn kmeanspp_cumsum(
    py: Python<'_>,
    sample_weight: &Bound<'_, PyAny>,
    closest: PyReadonlyArray1<'_, f64>,
    start: f64,
    values: Option<Vec<f64>>,
) -> PyResult<(f64, Vec<Option<usize>>)> {
    by_dtype!(
        py,
        sample_weight,
        cumsum_t(sample_weight, closest, start, values)
    )
}

#[allow(clippy::too_many_arguments)]
fn candidates_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    closest: PyReadonlyArray1<'py, f64>,
    ys: &Bound<'py, PyAny>,
    rows: usize,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let w: PyReadonlyArray1<T> = sample_weight.extract()?;
    let ys: PyReadonlyArray1<T> = ys.extract()?;
    let (w, c) = weights_and_closest(&w, &closest)?;
    let ys = slice(&ys)?;
    let (n, d) = (x.n_samples(), x.n_features());
    if w.len() != n || d == 0 || ys.len() % d != 0 {
        return Err(PyValueError::new_err(
            "inconsistent X, candidates and closest",
        ));
    }
    let parts = with_samples!(x, |s| py.run_kernel(
        threads(n_threads, n, ys.len()),
        |_| Ok(kernels::kmeans::init::candidate_potentials_blocks(
            &s,
            w,
            c,
            ys,
            &blocks::fixed(n, rows)
        ))
    ))?;
    let m = parts.len();
    matrix(py, parts.concat(), m, ys.len() / d)
}

/// Each block's potentials `(blocks, candidates)` of the candidate centers `ys` (flattened).
#[pyfunction]
#[pyo3(signature = (x, sample_weight, closest, ys, rows_per_block, n_threads))]
fn kmeanspp_candidate_potentials<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    closest: PyReadonlyArray1<'py, f64>,
    ys: &Bound<'py, PyAny>,
    rows_per_block: usize,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(
        py,
        ys,
        candidates_t(py, x, sample_weight, closest, ys, rows_per_block, n_threads)
    )
}

/// Per-block candidate potentials `(blocks, candidates)` added in block order.
#[pyfunction]
fn kmeanspp_combine<'py>(
    py: Python<'py>,
    parts: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let t = parts.shape()[1];
    let values = parts
        .as_slice()
        .map_err(|_| PyValueError::new_err("parts must be C-contiguous"))?;
    let parts = values.chunks_exact(t.max(1)).map(<[f64]>::to_vec).collect();
    Ok(vector(
        py,
        kernels::kmeans::init::combine_potentials(parts, t),
    ))
}
