//! Bindings of `kernels::linear`: `LinearRegression` and `Ridge` fits. scikit-learn's
//! `linear_model/_base.py` and `_ridge.py` call the same steps through NumPy, LAPACK and
//! `scipy.sparse.linalg`.

use kernels::dense::Real;
use kernels::linear::operator::Rows;
use kernels::linear::{self, Fit, Problem, RidgeSolver};
use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{matrix, optional_slice, vector};
use crate::by_dtype;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;
use crate::with_samples;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear_regression_fit, m)?)?;
    m.add_function(wrap_pyfunction!(ridge_fit, m)?)?;
    m.add_function(wrap_pyfunction!(linear_predict, m)?)?;
    Ok(())
}

/// What the Python layer passes for every linear model: samples, `(n, t)` targets, weights.
struct Inputs<'py, T: Element> {
    x: SamplesArg<'py, T>,
    y: PyReadonlyArray2<'py, T>,
    weights: Option<PyReadonlyArray1<'py, T>>,
}

impl<'py, T: Real + Element> Inputs<'py, T> {
    fn extract(
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        weights: &Option<Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Inputs {
            x: SamplesArg::extract(x)?,
            y: y.extract()?,
            weights: weights.as_ref().map(|w| w.extract()).transpose()?,
        })
    }

    /// Multiply-adds of one pass over X for each of the `t` targets (sizes the thread count).
    fn work(&self) -> usize {
        let t = self.y.shape()[1];
        match &self.x {
            SamplesArg::Dense(a) => a.shape()[0]
                .saturating_mul(a.shape()[1])
                .saturating_mul(t.max(a.shape()[1])),
            SamplesArg::Csr { data, .. } => data.len().saturating_mul(t),
        }
    }

    /// Runs `solve` on the problem with the GIL released.
    fn run(
        &self,
        py: Python<'py>,
        fit_intercept: bool,
        n_threads: usize,
        solve: impl Fn(&Problem<'_, T>, kernels::StopCheck) -> Result<Fit<T>, kernels::KernelError>
            + Sync,
    ) -> PyResult<(Fit<T>, usize)> {
        let targets = self
            .y
            .as_slice()
            .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
        let n_targets = self.y.shape()[1];
        let weights = optional_slice(&self.weights)?;
        let threads = Threads::for_work(n_threads, self.work());
        with_samples!(self.x, |s| {
            let d = kernels::samples::Samples::n_features(&s);
            let rows = rows_of(&s);
            let problem = Problem {
                rows,
                targets,
                n_targets,
                weights,
                fit_intercept,
            };
            let fit = py.run_kernel(threads, |stop| solve(&problem, stop))?;
            Ok((fit, d))
        })
    }
}

/// The kernels' row view of a dense or CSR samples view.
trait AsRows<T> {
    fn rows(&self) -> Rows<'_, T>;
}
impl<T> AsRows<T> for kernels::samples::Dense<'_, T> {
    fn rows(&self) -> Rows<'_, T> {
        Rows::Dense(self)
    }
}
impl<T> AsRows<T> for kernels::samples::Csr<'_, T> {
    fn rows(&self) -> Rows<'_, T> {
        Rows::Csr(self)
    }
}
fn rows_of<T, S: AsRows<T>>(s: &S) -> Rows<'_, T> {
    s.rows()
}

fn fit_dict<'py, T: Real + Element>(
    py: Python<'py>,
    fit: Fit<T>,
    d: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let t = fit.intercept.len();
    let out = PyDict::new(py);
    out.set_item("coef", matrix(py, fit.coef, t, d)?)?;
    out.set_item("intercept", vector(py, fit.intercept))?;
    out.set_item("rank", fit.rank)?;
    out.set_item("singular", fit.singular.map(|s| vector(py, s)))?;
    out.set_item("n_iter", fit.n_iter)?;
    out.set_item("solver", fit.solver)?;
    out.set_item("ill_conditioned", fit.ill_conditioned)?;
    out.set_item("singular_dual", fit.singular_dual)?;
    out.set_item("overflow_epoch", fit.overflow_epoch)?;
    Ok(out)
}

/// The float dtype of the samples (a CSR tuple dispatches on its data array).
fn data_of<'py>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match x.getattr("dtype") {
        Ok(_) => Ok(x.clone()),
        Err(_) => x.get_item(0),
    }
}

#[allow(clippy::too_many_arguments)]
fn linear_regression_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: &Option<Bound<'py, PyAny>>,
    fit_intercept: bool,
    tol: f64,
    positive: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let inputs = Inputs::<T>::extract(x, y, sample_weight)?;
    let (fit, d) = inputs.run(py, fit_intercept, n_threads, |p, stop| {
        linear::linear_regression(p, tol, positive, stop)
    })?;
    fit_dict(py, fit, d)
}

/// Fits `LinearRegression`: `x` C-contiguous 2-D or a CSR tuple, `y` C-contiguous `(n, t)`
/// of X's dtype, `sample_weight` of X's dtype or None. Returns `coef` `(t, d)`, `intercept`
/// `(t,)`, `rank` and `singular` (dense, not positive) and the solver used.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, fit_intercept, tol, positive, n_threads))]
#[allow(clippy::too_many_arguments)]
fn linear_regression_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<Bound<'py, PyAny>>,
    fit_intercept: bool,
    tol: f64,
    positive: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let data = data_of(x)?;
    by_dtype!(
        py,
        data,
        linear_regression_t(
            py,
            x,
            y,
            &sample_weight,
            fit_intercept,
            tol,
            positive,
            n_threads
        )
    )
}

fn parse_solver(name: &str, seeds: Option<Vec<u32>>) -> PyResult<RidgeSolver> {
    let sag = |saga: bool| -> PyResult<RidgeSolver> {
        let seeds = seeds
            .clone()
            .ok_or_else(|| PyValueError::new_err("the sag and saga solvers need seeds"))?;
        Ok(RidgeSolver::Sag { saga, seeds })
    };
    Ok(match name {
        "sag" => sag(false)?,
        "saga" => sag(true)?,
        "cholesky" => RidgeSolver::Cholesky,
        "svd" => RidgeSolver::Svd,
        "lsqr" => RidgeSolver::Lsqr,
        "sparse_cg" => RidgeSolver::SparseCg,
        "lbfgs" => RidgeSolver::Positive,
        other => return Err(PyValueError::new_err(format!("unknown solver {other:?}"))),
    })
}

#[allow(clippy::too_many_arguments)]
fn ridge_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: &Option<Bound<'py, PyAny>>,
    fit_intercept: bool,
    alpha: &[f64],
    solver: &RidgeSolver,
    tol: f64,
    max_iter: Option<usize>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let inputs = Inputs::<T>::extract(x, y, sample_weight)?;
    let (fit, d) = inputs.run(py, fit_intercept, n_threads, |p, stop| {
        linear::ridge(p, alpha, solver.clone(), tol, max_iter, stop)
    })?;
    fit_dict(py, fit, d)
}

/// Fits `Ridge` with a resolved solver name (`cholesky`, `svd`, `lsqr`, `sparse_cg`, `sag`,
/// `saga` with `seeds`, one per target, or `lbfgs` for positive coefficients) and one penalty
/// per target. Returns the `coef`, `intercept`, `n_iter` (lsqr, sag, saga) and the solver
/// used (`svd` after a singular Cholesky), with the reciprocal condition numbers scipy would
/// warn about, whether the dual system was singular and SAG's overflow epoch.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, fit_intercept, alpha, solver, tol, max_iter, n_threads, seeds=None))]
#[allow(clippy::too_many_arguments)]
fn ridge_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<Bound<'py, PyAny>>,
    fit_intercept: bool,
    alpha: Vec<f64>,
    solver: &str,
    tol: f64,
    max_iter: Option<usize>,
    n_threads: usize,
    seeds: Option<Vec<u32>>,
) -> PyResult<Bound<'py, PyDict>> {
    let solver = parse_solver(solver, seeds)?;
    let data = data_of(x)?;
    by_dtype!(
        py,
        data,
        ridge_t(
            py,
            x,
            y,
            &sample_weight,
            fit_intercept,
            &alpha,
            &solver,
            tol,
            max_iter,
            n_threads
        )
    )
}

fn predict_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &Bound<'py, PyAny>,
    intercept: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let coef: PyReadonlyArray2<'py, T> = coef.extract()?;
    let intercept: PyReadonlyArray1<'py, T> = intercept.extract()?;
    let coef_slice = coef
        .as_slice()
        .map_err(|_| PyValueError::new_err("coef must be C-contiguous"))?;
    let intercept_slice = crate::arrays::slice(&intercept)?;
    let t = intercept_slice.len();
    let work = match &x {
        SamplesArg::Dense(a) => a.shape()[0].saturating_mul(a.shape()[1]).saturating_mul(t),
        SamplesArg::Csr { data, .. } => data.len().saturating_mul(t),
    };
    let threads = Threads::for_work(n_threads, work);
    with_samples!(x, |s| {
        let n = kernels::samples::Samples::n_samples(&s);
        let rows = rows_of(&s);
        let out = py.run_kernel(threads, |stop| {
            linear::predict::predict(&rows, coef_slice, intercept_slice, stop)
        })?;
        matrix(py, out, n, t)
    })
}

/// `X coef^T + intercept` as `(n, t)`: `x` C-contiguous or a CSR tuple, `coef` `(t, d)` and
/// `intercept` `(t,)` of X's dtype.
#[pyfunction]
#[pyo3(signature = (x, coef, intercept, n_threads))]
fn linear_predict<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &Bound<'py, PyAny>,
    intercept: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let data = data_of(x)?;
    by_dtype!(py, data, predict_t(py, x, coef, intercept, n_threads))
}
