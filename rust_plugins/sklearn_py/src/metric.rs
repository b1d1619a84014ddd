//! The metric description `sklearn_rs._metrics.MetricSpec` (a `(name, p, w)` tuple) as a
//! `kernels::metric::Metric`, and pairwise distances under it. Every binding that measures
//! distances between samples takes its metric through [`metric_arg`].

use kernels::float::Float;
use kernels::metric::{self, Metric};
use numpy::{Element, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::matrix;
use crate::by_dtype;
use crate::error::kernel_error;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pairwise_distances, m)?)?;
    Ok(())
}

/// The metric a `(name, p, w)` description names (`p` a float or None, `w` a float64 1-D
/// array or None).
pub fn metric_arg(spec: &Bound<'_, PyAny>) -> PyResult<Metric> {
    let (name, p, w): (String, Option<f64>, Option<PyReadonlyArray1<f64>>) = spec.extract()?;
    let w = w.map(|w| w.as_array().to_vec());
    Metric::from_name(&name, p, w).map_err(kernel_error)
}

fn pairwise_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    metric: Metric,
    reduced: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let y = SamplesArg::<T>::extract(y)?;
    let (nx, ny) = (x.n_samples(), y.n_samples());
    let work = nx.saturating_mul(ny).saturating_mul(x.n_features().max(1));
    let threads = Threads::for_work(n_threads, work);
    let out = match (x.dense()?, y.dense()?, x.csr()?, y.csr()?) {
        (Some(sx), Some(sy), ..) => py.run_kernel(threads, |stop| {
            metric::pairwise(&metric, &sx, &sy, reduced, stop)
        })?,
        (.., Some(sx), Some(sy)) => py.run_kernel(threads, |stop| {
            metric::pairwise(&metric, &sx, &sy, reduced, stop)
        })?,
        _ => {
            return Err(PyValueError::new_err(
                "X and Y must both be dense or both be CSR",
            ))
        }
    };
    matrix(py, out, nx, ny)
}

/// `(n_x, n_y)` float64 distances (reduced ones when `reduced`) between the rows of `x` and
/// `y` (both dense or both CSR views of one dtype) under the described metric.
#[pyfunction]
#[pyo3(signature = (x, y, metric, reduced, n_threads))]
fn pairwise_distances<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    metric: &Bound<'py, PyAny>,
    reduced: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let metric = metric_arg(metric)?;
    let probe = match x.cast::<pyo3::types::PyTuple>() {
        Ok(t) => t.get_item(0)?,
        Err(_) => x.clone(),
    };
    by_dtype!(py, probe, pairwise_t(py, x, y, metric, reduced, n_threads))
}
