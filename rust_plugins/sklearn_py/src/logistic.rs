//! Bindings of `kernels::logistic`: fitting (scipy's L-BFGS-B on scikit-learn's objective),
//! the decision function and the class probabilities of a fitted model.

use kernels::logistic::{self, lbfgs, Design, FitOptions, Model, Problem, Sample};
use kernels::StopCheck;
use numpy::{Element, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{matrix, optional_slice, slice, vector};
use crate::by_dtype;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;
use crate::with_samples;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(logistic_fit, m)?)?;
    m.add_function(wrap_pyfunction!(logistic_decision_function, m)?)?;
    m.add_function(wrap_pyfunction!(logistic_predict_proba, m)?)?;
    Ok(())
}

/// The array whose dtype decides the kernel: X itself, or a CSR tuple's data.
fn data_of<'py>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match x.getattr("dtype") {
        Ok(_) => Ok(x.clone()),
        Err(_) => x.get_item(0),
    }
}

/// Multiply-adds of one pass over `X` with `k` coefficient rows.
fn work<T: Element>(x: &SamplesArg<'_, T>, k: usize) -> usize {
    let stored = match x {
        SamplesArg::Dense(a) => {
            use numpy::PyUntypedArrayMethods;
            a.shape()[0].saturating_mul(a.shape()[1])
        }
        SamplesArg::Csr { data, .. } => {
            use numpy::PyUntypedArrayMethods;
            data.len()
        }
    };
    stored.saturating_mul(k.max(1))
}

struct FitArgs<'a> {
    labels: &'a [i32],
    sample_weight: Option<&'a [f64]>,
    model: Model,
    l2: f64,
    params0: &'a [f64],
    options: FitOptions,
}

fn run_fit<T: Sample, S: Design<T>>(
    x: &S,
    args: &FitArgs<'_>,
    stop: StopCheck,
) -> Result<logistic::Fit, kernels::KernelError> {
    let problem = Problem::new::<T>(x, args.labels, args.sample_weight, args.model, args.l2)?;
    let params0 = kernels::alloc::copied(args.params0, &[args.params0.len()])?;
    logistic::fit::<T, S>(&problem, params0, &args.options, stop)
}

fn fit_t<'py, T: Sample + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mut args: FitArgs<'_>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let x = SamplesArg::<T>::extract(x)?;
    args.model.n_features = x.n_features();
    let rows = args.model.rows();
    let threads = Threads::for_work(n_threads, work(&x, rows));
    let fit = with_samples!(x, |s| py
        .run_kernel(threads, |stop| run_fit(&s, &args, stop))?);
    let d = args.model.n_features;
    let out = PyDict::new(py);
    out.set_item("coef", matrix(py, fit.coef, rows, d)?)?;
    out.set_item("intercept", vector(py, fit.intercept))?;
    out.set_item("n_iter", fit.n_iter)?;
    out.set_item("status", fit.status)?;
    out.set_item("message", fit.message)?;
    out.set_item("loss", fit.loss)?;
    Ok(out)
}

/// Fits one penalised logistic model. `labels` are class indices (`0..n_classes`; class 1 is
/// the positive one of two), `params0` the initial `[coef (rows, d) row-major, intercepts]`,
/// `l2 = 1 / (C * sum(sample_weight))`, `tol` the gradient tolerance and `ftol` the relative
/// reduction tolerance of L-BFGS-B. Returns a dict with `coef` `(rows, d)`, `intercept`,
/// `n_iter`, `status` and `message` (scipy's), `loss`.
#[pyfunction]
#[pyo3(signature = (x, labels, sample_weight, n_classes, fit_intercept, intercept_scaling, penalize_intercept, l2, params0, max_iter, tol, ftol, n_threads))]
#[allow(clippy::too_many_arguments)]
fn logistic_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    labels: PyReadonlyArray1<'py, i32>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    n_classes: usize,
    fit_intercept: bool,
    intercept_scaling: f64,
    penalize_intercept: bool,
    l2: f64,
    params0: PyReadonlyArray1<'py, f64>,
    max_iter: usize,
    tol: f64,
    ftol: f64,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let data = data_of(x)?;
    let args = FitArgs {
        labels: slice(&labels)?,
        sample_weight: optional_slice(&sample_weight)?,
        model: Model {
            n_classes,
            n_features: 0, // set from X once its dtype is known
            fit_intercept,
            intercept_scaling,
            penalize_intercept,
        },
        l2,
        params0: slice(&params0)?,
        options: FitOptions {
            lbfgs: lbfgs::Options {
                max_iter,
                max_ls: 50,
                pgtol: tol,
                ftol,
                memory: 10,
                max_fun: 15000,
            },
        },
    };
    by_dtype!(py, data, fit_t(py, x, args, n_threads))
}

fn decision_t<'py, T: Sample + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &[f64],
    intercept: &[f64],
    proba: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let k = intercept.len();
    let threads = Threads::for_work(n_threads, work(&x, k));
    let n = match &x {
        SamplesArg::Dense(a) => {
            use numpy::PyUntypedArrayMethods;
            a.shape()[0]
        }
        SamplesArg::Csr { n_samples, .. } => *n_samples,
    };
    let out = with_samples!(x, |s| py.run_kernel(threads, |stop| {
        let scores = logistic::decision_function::<T, _>(&s, coef, intercept, stop)?;
        if proba {
            logistic::probabilities(scores, k)
        } else {
            Ok(scores)
        }
    })?);
    let cols = if proba && k == 1 { 2 } else { k };
    matrix(py, out, n, cols)
}

/// `X @ coef.T + intercept` as float64 `(n, k)`; `coef` comes flattened `(k * d,)`.
#[pyfunction]
fn logistic_decision_function<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: PyReadonlyArray1<'py, f64>,
    intercept: PyReadonlyArray1<'py, f64>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (coef, intercept) = (slice(&coef)?, slice(&intercept)?);
    let data = data_of(x)?;
    by_dtype!(
        py,
        data,
        decision_t(py, x, coef, intercept, false, n_threads)
    )
}

/// Class probabilities as float64: `[1 - p, p]` with the sigmoid `p` for one coefficient row,
/// the softmax of the decision values otherwise.
#[pyfunction]
fn logistic_predict_proba<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: PyReadonlyArray1<'py, f64>,
    intercept: PyReadonlyArray1<'py, f64>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (coef, intercept) = (slice(&coef)?, slice(&intercept)?);
    let data = data_of(x)?;
    by_dtype!(
        py,
        data,
        decision_t(py, x, coef, intercept, true, n_threads)
    )
}
