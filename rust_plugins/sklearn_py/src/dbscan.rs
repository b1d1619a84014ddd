//! Bindings of `kernels::dbscan`: DBSCAN on samples under a metric, or on a precomputed
//! distance matrix. scikit-learn's `cluster/_dbscan.py` calls `NearestNeighbors.radius_neighbors`
//! and `_dbscan_inner.pyx` for the same steps.

use kernels::dbscan::{self, Clustering, CoreRule, MetricTest};
use kernels::float::Float;
use kernels::metric::Metric;
use numpy::{Element, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::arrays::{optional_slice, vector};
use crate::by_dtype;
use crate::error::kernel_error;
use crate::metric::metric_arg;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dbscan_fit, m)?)?;
    Ok(())
}

/// What the kernel is asked to cluster.
enum Input {
    /// Samples under a metric.
    Samples(Metric),
    /// A precomputed distance matrix (dense, or a CSR radius graph).
    Precomputed,
}

fn dbscan_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    eps: f64,
    rule: CoreRule<'_>,
    input: Input,
    n_threads: usize,
) -> PyResult<Clustering> {
    let x = SamplesArg::<T>::extract(x)?;
    let n = x.n_samples();
    // Candidate pairs are pruned by the grid; size the pool by the brute-force bound, which
    // is reached only on small or high-dimensional problems.
    let work = n
        .saturating_mul(n.min(1 << 12))
        .saturating_mul(x.n_features().max(1));
    let threads = Threads::for_work(n_threads, work);
    match input {
        Input::Precomputed => {
            let eps = T::from_f64(eps);
            if let Some(matrix) = x.dense()? {
                py.run_kernel(threads, |stop| {
                    dbscan::cluster_precomputed_dense(&matrix, eps, rule, stop)
                })
            } else {
                let graph = x.csr()?.expect("samples are dense or CSR");
                py.run_kernel(threads, |stop| {
                    dbscan::cluster_precomputed_csr(&graph, eps, rule, stop)
                })
            }
        }
        Input::Samples(metric) => {
            metric
                .check_features(x.n_features())
                .map_err(kernel_error)?;
            let test = MetricTest::new(metric, eps);
            if let Some(points) = x.dense()? {
                py.run_kernel(threads, |stop| {
                    dbscan::cluster_points(&points, &test, rule, stop)
                })
            } else {
                let rows = x.csr()?.expect("samples are dense or CSR");
                py.run_kernel(threads, |stop| {
                    dbscan::cluster_csr_rows(&rows, &test, rule, stop)
                })
            }
        }
    }
}

/// DBSCAN of `x` (C-contiguous 2-D float32/float64, or a CSR tuple): under the metric
/// `(name, p, w)`, or on a precomputed distance matrix when `metric` is None. `sample_weight`
/// float64 or None. Returns `(labels, is_core)`: int64 labels (-1 noise) and bool flags.
#[pyfunction]
#[pyo3(signature = (x, eps, min_samples, sample_weight, metric, n_threads))]
fn dbscan_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    eps: f64,
    min_samples: f64,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    metric: Option<Bound<'py, PyAny>>,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let input = match &metric {
        Some(spec) => Input::Samples(metric_arg(spec)?),
        None => Input::Precomputed,
    };
    let weights = optional_slice(&sample_weight)?;
    let rule = CoreRule {
        min_samples,
        weights,
    };
    let probe = match x.cast::<pyo3::types::PyTuple>() {
        Ok(t) => t.get_item(0)?,
        Err(_) => x.clone(),
    };
    let clustering = by_dtype!(py, probe, dbscan_t(py, x, eps, rule, input, n_threads))?;
    Ok((vector(py, clustering.labels), vector(py, clustering.core)))
}
