//! Bindings of `kernels::kmeans::minibatch`: `MiniBatchKMeans.fit`'s loop and one
//! `partial_fit` step. Both take the estimator's `RandomState` as its MT19937 state `(key, pos)`
//! and hand back the advanced state.

use kernels::float::Float;
use kernels::kmeans::minibatch::{self, Event, FitConfig, Reassignment};
use kernels::rng::Mt19937;
use kernels::samples::Samples;
use kernels::KernelError;
use numpy::{Element, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{matrix, slice, vector};
use crate::by_dtype;
use crate::error::kernel_error;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;
use crate::with_samples;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(minibatch_fit, m)?)?;
    m.add_function(wrap_pyfunction!(minibatch_step, m)?)?;
    m.add_function(wrap_pyfunction!(minibatch_partial_fit_step, m)?)?;
    Ok(())
}

fn generator(key: &PyReadonlyArray1<'_, u32>, pos: usize) -> PyResult<Mt19937> {
    Mt19937::from_state(slice(key)?, pos)
        .ok_or_else(|| PyValueError::new_err("expected an MT19937 state of 624 words"))
}

/// `np.argsort(counts)` computed by NumPy: its tie order is the one scikit-learn's
/// reassignment sees (see `kernels::kmeans::minibatch::CountOrder`). Called only when more
/// clusters are small than half the batch, from the thread running the kernel.
fn numpy_argsort<T: Float + Element>(counts: &[T]) -> Result<Vec<usize>, KernelError> {
    Python::attach(|py| -> PyResult<Vec<usize>> {
        PyArray1::from_slice(py, counts)
            .call_method0("argsort")?
            .extract()
    })
    .map_err(|e| KernelError::InvalidArgument(format!("numpy.argsort of the counts: {e}")))
}

fn events_to_py<'py>(py: Python<'py>, events: &[Event]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    let none: Option<f64> = None;
    for e in events {
        let item = match *e {
            Event::Reassigned { n } => ("reassigned", n, none, none).into_pyobject(py)?,
            Event::Step {
                step,
                batch_inertia,
                ewa_inertia,
            } => ("step", step, Some(batch_inertia), ewa_inertia).into_pyobject(py)?,
            Event::CentersConverged { step } => ("centers", step, none, none).into_pyobject(py)?,
            Event::InertiaConverged { step } => ("inertia", step, none, none).into_pyobject(py)?,
        };
        list.append(item)?;
    }
    Ok(list)
}

#[allow(clippy::too_many_arguments)]
fn fit_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers_init: &Bound<'py, PyAny>,
    config: FitConfig,
    rng: &mut Mt19937,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let init: PyReadonlyArray1<T> = centers_init.extract()?;
    let (sw, init) = (slice(&sw)?, slice(&init)?);
    let work = config
        .batch_size
        .saturating_mul(init.len())
        .saturating_mul(config.n_steps);
    let result = with_samples!(x, |s| py.run_kernel(
        Threads::for_work(n_threads, work),
        |stop| minibatch::fit(&s, sw, init, &config, &mut *rng, &numpy_argsort::<T>, stop)
    ))?;
    let d = x.n_features();
    let k = result.counts.len();
    let out = PyDict::new(py);
    out.set_item("centers", matrix(py, result.centers, k, d)?)?;
    out.set_item("counts", vector(py, result.counts))?;
    out.set_item("n_steps", result.n_steps)?;
    out.set_item("ewa_inertia", result.monitor.ewa_inertia)?;
    out.set_item("ewa_inertia_min", result.monitor.ewa_inertia_min)?;
    out.set_item("no_improvement", result.monitor.no_improvement)?;
    out.set_item(
        "n_since_last_reassign",
        result.monitor.n_since_last_reassign,
    )?;
    out.set_item("events", events_to_py(py, &result.events)?)?;
    out.set_item("all_reassigned", result.all_reassigned)?;
    Ok(out)
}

/// `MiniBatchKMeans.fit`'s loop from the flattened `(k, d)` initial centers, on the MT19937
/// state `(key, pos)`. Returns a dict of the centers, counts, steps run, the convergence
/// monitor's state, the verbose events, and the generator's new `key` and `pos`.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers_init, batch_size, n_steps, tol,
                    max_no_improvement, reassignment_ratio, verbose, key, pos, n_threads))]
#[allow(clippy::too_many_arguments)]
fn minibatch_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers_init: &Bound<'py, PyAny>,
    batch_size: usize,
    n_steps: usize,
    tol: f64,
    max_no_improvement: Option<usize>,
    reassignment_ratio: f64,
    verbose: bool,
    key: PyReadonlyArray1<'py, u32>,
    pos: usize,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let mut rng = generator(&key, pos)?;
    let config = FitConfig {
        batch_size,
        n_steps,
        tol,
        max_no_improvement,
        reassignment_ratio,
        verbose,
    };
    let out = by_dtype!(
        py,
        sample_weight,
        fit_t(
            py,
            x,
            sample_weight,
            centers_init,
            config,
            &mut rng,
            n_threads
        )
    )?;
    out.set_item("key", vector(py, rng.key().to_vec()))?;
    out.set_item("pos", rng.pos())?;
    Ok(out)
}

/// `(centers_new, counts, inertia, n_reassigned, all_reassigned)` of one step.
type StepResult<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, f64, usize, bool);

#[allow(clippy::too_many_arguments)]
fn step_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    counts: &Bound<'py, PyAny>,
    reassignment_ratio: Option<f64>,
    rng: &mut Mt19937,
    n_threads: usize,
) -> PyResult<StepResult<'py>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: PyReadonlyArray1<T> = sample_weight.extract()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let counts: PyReadonlyArray1<T> = counts.extract()?;
    let (sw, c) = (slice(&sw)?, slice(&c)?);
    let mut counts = slice(&counts)?.to_vec();
    let mut centers_new = vec![T::ZERO; c.len()];
    let outcome = with_samples!(x, |s| py.run_kernel(
        Threads::for_exact_work(n_threads, s.n_samples().saturating_mul(c.len())),
        |_| {
            let reassignment = reassignment_ratio.map(|ratio| Reassignment {
                ratio,
                rng: &mut *rng,
                order: &numpy_argsort::<T>,
            });
            let mut labels = Vec::new();
            minibatch::step(
                &s,
                sw,
                c,
                &mut centers_new,
                &mut counts,
                reassignment,
                &mut labels,
            )
        }
    ))?;
    let (k, d) = (counts.len(), x.n_features());
    Ok((
        matrix(py, centers_new, k, d)?,
        vector(py, counts),
        outcome.inertia,
        outcome.n_reassigned,
        outcome.all_reassigned,
    ))
}

/// One `_mini_batch_step` on the batch `x` with its weights: the centers and counts after it,
/// the batch inertia, the number of reassigned centers and whether every cluster was to be
/// reassigned, then the generator's new `key` and `pos`. `reassignment_ratio` is `None` when
/// the step does not reassign.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, counts, reassignment_ratio, key, pos, n_threads))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn minibatch_step<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    centers: &Bound<'py, PyAny>,
    counts: &Bound<'py, PyAny>,
    reassignment_ratio: Option<f64>,
    key: PyReadonlyArray1<'py, u32>,
    pos: usize,
    n_threads: usize,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    f64,
    usize,
    bool,
    Bound<'py, PyAny>,
    usize,
)> {
    let mut rng = generator(&key, pos)?;
    let (centers_new, counts, inertia, n_reassigned, all_reassigned) = by_dtype!(
        py,
        sample_weight,
        step_t(
            py,
            x,
            sample_weight,
            centers,
            counts,
            reassignment_ratio,
            &mut rng,
            n_threads
        )
    )?;
    let pos = rng.pos();
    Ok((
        centers_new,
        counts,
        inertia,
        n_reassigned,
        all_reassigned,
        vector(py, rng.key().to_vec()),
        pos,
    ))
}

/// What `minibatch_partial_fit_step` returns: the step's centers, counts, batch inertia,
/// number of reassigned centers and whether every cluster was to be reassigned, then the
/// labels and inertia against the new centers (when asked).
type PartialStepResult<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    f64,
    usize,
    bool,
    Option<(Bound<'py, PyAny>, f64)>,
);

#[allow(clippy::too_many_arguments)]
fn partial_step_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    centers: &Bound<'py, PyAny>,
    counts: &Bound<'py, PyAny>,
    reassignment_ratio: Option<f64>,
    rng: Option<&mut Mt19937>,
    compute_labels: bool,
    check_finite: bool,
    n_threads: usize,
) -> PyResult<Option<PartialStepResult<'py>>> {
    let x = SamplesArg::<T>::extract(x)?;
    let sw: Option<PyReadonlyArray1<T>> = sample_weight.map(|w| w.extract()).transpose()?;
    let c: PyReadonlyArray1<T> = centers.extract()?;
    let counts: PyReadonlyArray1<T> = counts.extract()?;
    let c = slice(&c)?;
    // scikit-learn's unit weights when none are given.
    let ones;
    let sw = match &sw {
        Some(sw) => slice(sw)?,
        None => {
            ones = kernels::alloc::filled(&[x.n_samples()], T::ONE).map_err(kernel_error)?;
            &ones[..]
        }
    };
    let mut counts = slice(&counts)?.to_vec();
    let ratio = reassignment_ratio.filter(|&r| minibatch::may_reassign(&counts, sw, r));
    let rng = match (ratio, rng) {
        (Some(_), None) => return Ok(None),
        (Some(_), Some(rng)) => Some(rng),
        (None, _) => None,
    };
    let mut centers_new = vec![T::ZERO; c.len()];
    let (outcome, labelled) = with_samples!(x, |s| py.run_kernel(
        Threads::for_exact_work(n_threads, s.n_samples().saturating_mul(c.len())),
        |_| {
            let reassignment = ratio.zip(rng).map(|(ratio, rng)| Reassignment {
                ratio,
                rng,
                order: &numpy_argsort::<T>,
            });
            minibatch::partial_fit_step(
                &s,
                sw,
                c,
                &mut centers_new,
                &mut counts,
                reassignment,
                compute_labels,
                check_finite,
            )
        }
    ))?;
    let (k, d) = (counts.len(), x.n_features());
    Ok(Some((
        matrix(py, centers_new, k, d)?,
        vector(py, counts),
        outcome.inertia,
        outcome.n_reassigned,
        outcome.all_reassigned,
        labelled.map(|(labels, inertia)| (vector(py, labels), inertia)),
    )))
}

/// One `MiniBatchKMeans.partial_fit` step on the batch `x` (weights `sample_weight`, unit
/// weights when `None`): `minibatch_step`, then with `compute_labels` the batch's labels and
/// inertia against the new centers, in one call. The MT19937 state `(key, pos)` is only
/// needed when the step may reassign clusters (`reassignment_ratio` given): without it such a
/// step returns `None` (nothing done) and the caller calls again with the state. Otherwise
/// `(centers, counts, batch_inertia, n_reassigned, all_reassigned, labels_inertia, key, pos)`
/// with `labels_inertia` `None` or `(labels, inertia)` and `key` `None` when no state was
/// given. With `check_finite`, a ValueError when `x` holds NaN or infinity.
type PartialFitResult<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    f64,
    usize,
    bool,
    Option<(Bound<'py, PyAny>, f64)>,
    Option<Bound<'py, PyAny>>,
    usize,
);

#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, counts, reassignment_ratio, key, pos,
                    compute_labels, check_finite, n_threads))]
#[allow(clippy::too_many_arguments)]
fn minibatch_partial_fit_step<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    centers: &Bound<'py, PyAny>,
    counts: &Bound<'py, PyAny>,
    reassignment_ratio: Option<f64>,
    key: Option<PyReadonlyArray1<'py, u32>>,
    pos: usize,
    compute_labels: bool,
    check_finite: bool,
    n_threads: usize,
) -> PyResult<Option<PartialFitResult<'py>>> {
    let mut rng = key.as_ref().map(|k| generator(k, pos)).transpose()?;
    let done = by_dtype!(
        py,
        centers,
        partial_step_t(
            py,
            x,
            sample_weight,
            centers,
            counts,
            reassignment_ratio,
            rng.as_mut(),
            compute_labels,
            check_finite,
            n_threads
        )
    )?;
    Ok(done.map(
        |(centers_new, counts, inertia, n_reassigned, all_reassigned, labelled)| {
            (
                centers_new,
                counts,
                inertia,
                n_reassigned,
                all_reassigned,
                labelled,
                rng.as_ref().map(|r| vector(py, r.key().to_vec())),
                rng.as_ref().map_or(pos, |r| r.pos()),
            )
        },
    ))
}
