//! Bindings of `kernels::kmeans`: one k-means run, initialisation, labels/inertia, transform,
//! the clustering comparison and the `tol` scale (scikit-learn's `_kmeans.py` calls the same
//! steps in its Cython kernels).

use kernels::float::Float;
use kernels::kmeans::{self, Algorithm, Event, RunConfig};
use kernels::rng::Mt19937;
use kernels::samples::Samples;
use numpy::{Element, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::arrays::{matrix, slice, vector};
use crate::by_dtype;
use crate::error::kernel_error;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;
use crate::with_samples;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kmeans_single, m)?)?;
    m.add_function(wrap_pyfunction!(init_kmeans_plusplus, m)?)?;
    m.add_function(wrap_pyfunction!(init_random, m)?)?;
    m.add_function(wrap_pyfunction!(labels_inertia, m)?)?;
    m.add_function(wrap_pyfunction!(transform, m)?)?;
    m.add_function(wrap_pyfunction!(is_same_clustering, m)?)?;
    m.add_function(wrap_pyfunction!(mean_variance, m)?)?;
    Ok(())
}

/// Where a pass over the samples against `center_values` center values runs (a lower bound
/// of the work of a call that makes several).
fn threads_for<T: Float, S: Samples<T>>(requested: usize, s: &S, center_values: usize) -> Threads {
    Threads::for_work(
        requested,
        s.n_samples().saturating_mul(center_values.max(1)),
    )
}

/// Where a call that makes one pass over the samples against `center_values` center values
/// runs.
fn threads_for_pass<T: Float, S: Samples<T>>(
    requested: usize,
    s: &S,
    center_values: usize,
) -> Threads {
    Threads::for_exact_work(
        requested,
        s.n_samples().saturating_mul(center_values.max(1)),
    )
}

fn events_to_py<'py>(py: Python<'py>, events: &[Event]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for e in events {
        let item = match *e {
            Event::Iteration { iteration, inertia } => {
                ("iteration", iteration, inertia, 0.0).into_pyobject(py)?
            }
            Event::StrictConvergence { iteration } => {
                ("strict", iteration, 0.0, 0.0).into_pyobject(py)?
            }
            Event::ToleranceConvergence {
                iteration,
                center_shift,
                tol,
            } => ("tol", iteration, center_shift, tol).into_pyobject(py)?,
        };
        list.append(item)?;
    }
    Ok(list)
}

/// `(labels, inertia, centers, n_iter, events)` of one run.
type SingleRun<'py> = (
    Bound<'py, PyAny>,
    f64,
    Bound<'py, PyAny>,
    usize,
    Bound<'py, PyList>,
);

#[allow(clippy::too_many_arguments)]
fn kmeans_single_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers_init: &Bound<'py, PyAny>,
    algorithm: Algorithm,
    config: RunConfig,
    n_threads: usize,
) -> PyResult<SingleRun<'py>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let init: PyReadonlyArray1<T> = centers_init.extract()?;
    let (sw, init) = (slice(&sw)?, slice(&init)?);
    let result = with_samples!(x, |s| py
        .run_kernel(threads_for(n_threads, &s, init.len()), |stop| kmeans::run(
            &s, sw, init, algorithm, &config, stop
        )))?;
    let n_features = x.n_features();
    let n_clusters = result.centers.len() / n_features;
    Ok((
        vector(py, result.labels),
        result.inertia,
        matrix(py, result.centers, n_clusters, n_features)?,
        result.n_iter,
        events_to_py(py, &result.events)?,
    ))
}

/// One k-means run (Lloyd or Elkan) from the flattened `(k, d)` initial centers.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers_init, algorithm, max_iter, tol, verbose, n_threads))]
#[allow(clippy::too_many_arguments)]
fn kmeans_single<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers_init: &Bound<'py, PyAny>,
    algorithm: &str,
    max_iter: usize,
    tol: f64,
    verbose: bool,
    n_threads: usize,
) -> PyResult<SingleRun<'py>> {
    let algorithm = match algorithm {
        "lloyd" => Algorithm::Lloyd,
        "elkan" => Algorithm::Elkan,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown algorithm {other:?}"
            )))
        }
    };
    let config = RunConfig {
        max_iter,
        tol,
        verbose,
    };
    by_dtype!(
        py,
        sample_weight,
        kmeans_single_t(
            py,
            x,
            sample_weight,
            centers_init,
            algorithm,
            config,
            n_threads
        )
    )
}

/// Where an initialisation takes its random draws from.
enum Draws<'a> {
    /// k-means++: the uniforms scikit-learn's `RandomState` gives, drawn by the caller.
    PlusPlus {
        n_local_trials: usize,
        uniforms: &'a [f64],
    },
    /// Random sampling: the `RandomState`'s own generator, advanced here.
    Random(&'a mut Mt19937),
}

fn init_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    n_clusters: usize,
    draws: Draws<'_>,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let sw = slice(&sw)?;
    let (k, d) = (n_clusters, x.n_features());
    let init = match draws {
        Draws::PlusPlus {
            n_local_trials,
            uniforms,
        } => with_samples!(x, |s| py
            .run_kernel(threads_for(n_threads, &s, k * d), |stop| {
                kmeans::init::kmeans_plusplus(&s, sw, k, n_local_trials, uniforms, stop)
            }))?,
        Draws::Random(rng) => with_samples!(x, |s| py.run_kernel(Threads::Inline, |_| {
            kmeans::init::random_init(&s, sw, k, &mut *rng)
        }))?,
    };
    Ok((matrix(py, init.centers, k, d)?, vector(py, init.indices)))
}

/// Initial centers by greedy k-means++, from the `1 + (n_clusters - 1) * n_local_trials`
/// uniforms of scikit-learn's draws (`random_state.random_sample`). Returns
/// `(centers, indices)`.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, n_clusters, n_local_trials, uniforms, n_threads))]
fn init_kmeans_plusplus<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    n_clusters: usize,
    n_local_trials: usize,
    uniforms: PyReadonlyArray1<'py, f64>,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let draws = Draws::PlusPlus {
        n_local_trials,
        uniforms: slice(&uniforms)?,
    };
    by_dtype!(
        py,
        sample_weight,
        init_t(py, x, sample_weight, n_clusters, draws, n_threads)
    )
}

/// Initial centers sampled without replacement as numpy's legacy `choice(n, size=n_clusters,
/// replace=False, p=sample_weight / sum)` samples them, on the MT19937 state `(key, pos)` of a
/// `RandomState`. Returns `(centers, indices, key, pos)`: the state after the draws.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, n_clusters, key, pos))]
#[allow(clippy::type_complexity)]
fn init_random<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    n_clusters: usize,
    key: PyReadonlyArray1<'py, u32>,
    pos: usize,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    usize,
)> {
    let mut rng = Mt19937::from_state(slice(&key)?, pos)
        .ok_or_else(|| PyValueError::new_err("expected an MT19937 state of 624 words"))?;
    let draws = Draws::Random(&mut rng);
    let (centers, indices) = by_dtype!(
        py,
        sample_weight,
        init_t(py, x, sample_weight, n_clusters, draws, 1)
    )?;
    let pos = rng.pos();
    Ok((centers, indices, vector(py, rng.key().to_vec()), pos))
}

fn labels_inertia_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    with_inertia: bool,
    n_threads: usize,
    check_finite: bool,
) -> PyResult<(Bound<'py, PyAny>, f64)> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let (sw, c) = (slice(&sw)?, slice(&c)?);
    let (labels, inertia) = with_samples!(x, |s| py
        .run_kernel(threads_for_pass(n_threads, &s, c.len()), |_| {
            kmeans::labels_inertia(&s, sw, c, with_inertia, check_finite)
        }))?;
    Ok((vector(py, labels), inertia))
}

/// Closest center of every sample and, if `with_inertia`, the weighted inertia (`predict`,
/// `score`). With `check_finite`, a ValueError when X holds NaN or infinity.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, with_inertia, n_threads, check_finite=false))]
fn labels_inertia<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    with_inertia: bool,
    n_threads: usize,
    check_finite: bool,
) -> PyResult<(Bound<'py, PyAny>, f64)> {
    by_dtype!(
        py,
        sample_weight,
        labels_inertia_t(
            py,
            x,
            sample_weight,
            centers,
            with_inertia,
            n_threads,
            check_finite
        )
    )
}

fn transform_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    n_threads: usize,
    check_finite: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let c = slice(&c)?;
    let (out, n) = with_samples!(x, |s| (
        py.run_kernel(threads_for_pass(n_threads, &s, c.len()), |_| {
            kmeans::transform(&s, c, check_finite)
        })?,
        s.n_samples()
    ));
    let k = out.len().checked_div(n).unwrap_or(0);
    matrix(py, out, n, k)
}

/// Euclidean distances `(n, k)` from each sample to each center (`transform`). With
/// `check_finite`, a ValueError when X holds NaN or infinity.
#[pyfunction]
#[pyo3(signature = (x, centers, n_threads, check_finite=false))]
fn transform<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    n_threads: usize,
    check_finite: bool,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(
        py,
        centers,
        transform_t(py, x, centers, n_threads, check_finite)
    )
}

/// Whether two labelings are the same partition up to a renaming of the clusters.
#[pyfunction]
fn is_same_clustering(
    labels1: PyReadonlyArray1<i32>,
    labels2: PyReadonlyArray1<i32>,
    n_clusters: usize,
) -> PyResult<bool> {
    kmeans::same_clustering(slice(&labels1)?, slice(&labels2)?, n_clusters).map_err(kernel_error)
}

fn mean_variance_t<T: Float + Element>(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<f64> {
    let x = SamplesArg::<T>::extract(x)?;
    with_samples!(x, |s| py.run_kernel(threads_for(n_threads, &s, 1), |_| Ok(
        kernels::stats::mean_feature_variance(&s)
    )))
}

/// Mean over features of the per-feature variance (scales `tol`).
#[pyfunction]
fn mean_variance(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    dtype_of: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<f64> {
    by_dtype!(py, dtype_of, mean_variance_t(py, x, n_threads))
}
