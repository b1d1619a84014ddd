//! `sklearn_rs._core`: thin PyO3 bindings of the `kernels` crate.
//!
//! Each function converts NumPy buffers to slices without copying, releases the GIL, runs the
//! kernel on a rayon pool of the requested size and converts the result back. Validation with
//! scikit-learn's messages happens in Python; here only what could make Rust unsafe is checked.
//! Kernel errors become ValueError, a panic becomes RuntimeError, Ctrl-C becomes
//! KeyboardInterrupt.

mod samples;
mod threads;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use kernels::float::Float;
use kernels::kmeans::{self, Event, RunConfig};
use kernels::KernelError;
use numpy::{
    Element, PyArray1, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use samples::{slice, SamplesArg};

pub(crate) fn to_py_err(e: KernelError) -> PyErr {
    match e {
        KernelError::Interrupted => pyo3::exceptions::PyKeyboardInterrupt::new_err(()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// Lets a running kernel learn that Python received a signal (Ctrl-C). Only the thread that
/// called into Rust can run Python's signal handlers, so that thread polls them while the
/// kernel runs elsewhere, and raises this flag, which kernels read between iterations.
struct SignalWatch {
    interrupted: AtomicBool,
    pending: Mutex<Option<PyErr>>,
}

impl SignalWatch {
    fn should_stop(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Runs Python's signal handlers; records their exception and raises the flag.
    fn poll(&self) {
        if let Err(err) = Python::attach(|py| py.check_signals()) {
            *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
            self.interrupted.store(true, Ordering::Relaxed);
        }
    }

    /// The Python error to raise for a kernel error (the signal handler's, if any).
    fn error(self, e: KernelError) -> PyErr {
        match (e, self.pending.into_inner().ok().flatten()) {
            (KernelError::Interrupted, Some(err)) => err,
            (e, _) => to_py_err(e),
        }
    }
}

/// How often the calling thread looks at Python's signal handlers during a computation.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Runs `work` without the GIL on a pool of `n_threads`, turning panics into RuntimeError and
/// Ctrl-C into KeyboardInterrupt (polled by this thread while a helper thread waits on the pool).
fn run_detached<R: Send>(
    py: Python<'_>,
    n_threads: usize,
    work: impl FnOnce(&SignalWatch) -> Result<R, KernelError> + Send,
) -> PyResult<R> {
    let watch = SignalWatch {
        interrupted: AtomicBool::new(false),
        pending: Mutex::new(None),
    };
    if n_threads == INLINE {
        // Small problems: no pool hand-over, no signal watcher (they finish in well under a poll).
        let outcome =
            py.detach(|| catch_unwind(AssertUnwindSafe(|| threads::run_inline(|| work(&watch)))));
        return match outcome {
            Ok(Some(r)) => r.map_err(|e| watch.error(e)),
            Ok(None) => Err(PyRuntimeError::new_err("could not start a thread pool")),
            Err(panic) => Err(panic_error(panic)),
        };
    }
    let pool = threads::pool(n_threads).map_err(PyRuntimeError::new_err)?;
    let outcome = py.detach(|| {
        std::thread::scope(|scope| {
            let (done, finished) = mpsc::channel();
            let watch = &watch;
            scope.spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(|| pool.install(|| work(watch))));
                let _ = done.send(result);
            });
            loop {
                match finished.recv_timeout(SIGNAL_POLL) {
                    Ok(result) => break result,
                    Err(mpsc::RecvTimeoutError::Timeout) => watch.poll(),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        break Err(Box::new("computation thread ended without a result"))
                    }
                }
            }
        })
    });
    match outcome {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(watch.error(e)),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// `n_threads` value asking to run on the calling thread (see `effective_threads`).
const INLINE: usize = 0;

/// Below this many multiply-adds a call runs inline on the calling thread.
const INLINE_WORK: usize = 1 << 18;

/// Threads for a problem of `work` multiply-adds: inline when small, else `requested`.
fn effective_threads(requested: usize, work: usize) -> usize {
    if work < INLINE_WORK {
        INLINE
    } else {
        requested.max(1)
    }
}

/// Multiply-adds of one pass over the samples against `center_values` values of centers.
fn work<T: Float, S: kmeans::Samples<T>>(s: &S, center_values: usize) -> usize {
    s.n_samples().saturating_mul(center_values.max(1))
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    PyRuntimeError::new_err(format!("internal error in sklearn_rs: {msg}"))
}

fn matrix<'py, T: Element>(
    py: Python<'py>,
    v: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, v).reshape([rows, cols])?.into_any())
}

/// Calls `$f::<f32>` or `$f::<f64>` according to the dtype of `$arr`.
macro_rules! by_dtype {
    ($py:expr, $arr:expr, $f:ident ( $($args:expr),* )) => {{
        let arr = $arr.cast::<PyUntypedArray>().map_err(|_| PyTypeError::new_err("expected a NumPy array"))?;
        let dtype = arr.dtype();
        if dtype.is_equiv_to(&numpy::dtype::<f64>($py)) {
            $f::<f64>($($args),*)
        } else if dtype.is_equiv_to(&numpy::dtype::<f32>($py)) {
            $f::<f32>($($args),*)
        } else {
            Err(PyTypeError::new_err(format!("expected float32 or float64 data, got {dtype}")))
        }
    }};
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

type SingleRun<'py> = (
    Bound<'py, PyAny>,
    f64,
    Bound<'py, PyAny>,
    usize,
    Bound<'py, PyList>,
);

fn kmeans_single_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers_init: &Bound<'py, PyAny>,
    elkan: bool,
    config: RunConfig,
    n_threads: usize,
) -> PyResult<SingleRun<'py>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let init: PyReadonlyArray1<T> = centers_init.extract()?;
    let (sw, init) = (slice(&sw)?, slice(&init)?);
    let result = with_samples!(x, |s| run_detached(
        py,
        effective_threads(n_threads, work(&s, init.len())),
        |watch| {
            let stop = || watch.should_stop();
            if elkan {
                kmeans::elkan::run(&s, sw, init, &config, &stop)
            } else {
                kmeans::lloyd::run(&s, sw, init, &config, &stop)
            }
        }
    ))?;
    let n_features = match &x {
        SamplesArg::Dense(a) => a.shape()[1],
        SamplesArg::Csr { n_features, .. } => *n_features,
    };
    let n_clusters = result.centers.len() / n_features;
    Ok((
        PyArray1::from_vec(py, result.labels).into_any(),
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
    let elkan = match algorithm {
        "lloyd" => false,
        "elkan" => true,
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
        kmeans_single_t(py, x, sample_weight, centers_init, elkan, config, n_threads)
    )
}

fn init_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    n_clusters: usize,
    n_local_trials: Option<usize>,
    random: bool,
    seed: u64,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let sw = slice(&sw)?;
    let (init, d) = with_samples!(x, |s| {
        let d = kmeans::Samples::<T>::n_features(&s);
        let init = run_detached(
            py,
            effective_threads(n_threads, work(&s, n_clusters * d)),
            |watch| {
                let stop = || watch.should_stop();
                if random {
                    kmeans::init::random_init(&s, sw, n_clusters, seed)
                } else {
                    kmeans::init::kmeans_plusplus(&s, sw, n_clusters, n_local_trials, seed, &stop)
                }
            },
        )?;
        (init, d)
    });
    Ok((
        matrix(py, init.centers, n_clusters, d)?,
        PyArray1::from_vec(py, init.indices).into_any(),
    ))
}

/// Initial centers by greedy k-means++ (`random=False`) or weighted sampling without
/// replacement (`random=True`). Returns `(centers, indices)`.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, n_clusters, n_local_trials, random, seed, n_threads))]
#[allow(clippy::too_many_arguments)]
fn init_centers<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    n_clusters: usize,
    n_local_trials: Option<usize>,
    random: bool,
    seed: u64,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    by_dtype!(
        py,
        sample_weight,
        init_t(
            py,
            x,
            sample_weight,
            n_clusters,
            n_local_trials,
            random,
            seed,
            n_threads
        )
    )
}

fn labels_inertia_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    with_inertia: bool,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, f64)> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let (sw, c) = (slice(&sw)?, slice(&c)?);
    let (labels, inertia) = with_samples!(x, |s| run_detached(
        py,
        effective_threads(n_threads, work(&s, c.len())),
        |_| { kmeans::labels_inertia(&s, sw, c, with_inertia) }
    ))?;
    Ok((PyArray1::from_vec(py, labels).into_any(), inertia))
}

/// Closest center of every sample and, if `with_inertia`, the weighted inertia (`predict`,
/// `score`).
#[pyfunction]
fn labels_inertia<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    with_inertia: bool,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, f64)> {
    by_dtype!(
        py,
        sample_weight,
        labels_inertia_t(py, x, sample_weight, centers, with_inertia, n_threads)
    )
}

fn transform_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let c = slice(&c)?;
    let (out, n) = with_samples!(x, |s| {
        let n = kmeans::Samples::<T>::n_samples(&s);
        (
            run_detached(py, effective_threads(n_threads, work(&s, c.len())), |_| {
                kmeans::transform(&s, c)
            })?,
            n,
        )
    });
    let k = if n == 0 { 0 } else { out.len() / n };
    matrix(py, out, n, k)
}

/// Euclidean distances `(n, k)` from each sample to each center (`transform`).
#[pyfunction]
fn transform<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(py, centers, transform_t(py, x, centers, n_threads))
}

/// Whether two labelings are the same partition up to a renaming of the clusters.
#[pyfunction]
fn is_same_clustering(
    labels1: PyReadonlyArray1<i32>,
    labels2: PyReadonlyArray1<i32>,
    n_clusters: usize,
) -> PyResult<bool> {
    kmeans::same_clustering(slice(&labels1)?, slice(&labels2)?, n_clusters).map_err(to_py_err)
}

fn mean_variance_t<T: Float + Element>(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<f64> {
    let x = SamplesArg::<T>::extract(x)?;
    with_samples!(x, |s| run_detached(
        py,
        effective_threads(n_threads, work(&s, 1)),
        |_| Ok(kmeans::mean_feature_variance(&s))
    ))
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kmeans_single, m)?)?;
    m.add_function(wrap_pyfunction!(init_centers, m)?)?;
    m.add_function(wrap_pyfunction!(labels_inertia, m)?)?;
    m.add_function(wrap_pyfunction!(transform, m)?)?;
    m.add_function(wrap_pyfunction!(is_same_clustering, m)?)?;
    m.add_function(wrap_pyfunction!(mean_variance, m)?)?;
    Ok(())
}
