//! Bindings of `kernels::pca`: fitting with each solver, and what a fitted model computes
//! (projections, reconstructions, covariance, precision, log-likelihoods). scikit-learn's
//! `_pca.py` and `decomposition/_base.py` call the same steps through NumPy and LAPACK.

use kernels::blocks;
use kernels::dense::{gram, ColMajor, Real};
use kernels::pca::{self, NComponents, Normalizer, Randomized, Solver};
use kernels::samples::{Csr, Dense};
use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{matrix, optional_slice, slice, vector};
use crate::by_dtype;
use crate::error::kernel_error;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pca_fit, m)?)?;
    m.add_function(wrap_pyfunction!(pca_transform, m)?)?;
    m.add_function(wrap_pyfunction!(pca_inverse_transform, m)?)?;
    m.add_function(wrap_pyfunction!(pca_covariance, m)?)?;
    m.add_function(wrap_pyfunction!(pca_precision, m)?)?;
    m.add_function(wrap_pyfunction!(pca_score_samples, m)?)?;
    m.add_function(wrap_pyfunction!(pca_rows_per_block, m)?)?;
    m.add_function(wrap_pyfunction!(pca_block_moments, m)?)?;
    m.add_function(wrap_pyfunction!(pca_fit_moments, m)?)?;
    Ok(())
}

fn dense_view<'a, T: Real + Element>(a: &'a PyReadonlyArray2<'_, T>) -> PyResult<Dense<'a, T>> {
    let shape = a.shape();
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("X must be C-contiguous"))?;
    Dense::new(data, shape[0], shape[1]).map_err(kernel_error)
}

fn csr_view<'a, T: Real + Element>(
    data: &'a PyReadonlyArray1<'_, T>,
    indices: &'a PyReadonlyArray1<'_, i32>,
    indptr: &'a PyReadonlyArray1<'_, i64>,
    n_samples: usize,
    n_features: usize,
) -> PyResult<Csr<'a, T>> {
    Csr::new(
        slice(data)?,
        slice(indices)?,
        slice(indptr)?,
        n_samples,
        n_features,
    )
    .map_err(kernel_error)
}

/// A row-major `(d, d)` array from a symmetric or general column-major matrix.
fn square<'py, T: Real + Element>(py: Python<'py>, m: ColMajor<T>) -> PyResult<Bound<'py, PyAny>> {
    let d = m.rows;
    let rows = m.to_row_major().map_err(kernel_error)?;
    matrix(py, rows, d, d)
}

fn parse_n_components(kind: &str, value: f64) -> PyResult<NComponents> {
    match kind {
        "count" => Ok(NComponents::Count(value as usize)),
        "fraction" => Ok(NComponents::Fraction(value)),
        "mle" => Ok(NComponents::Mle),
        other => Err(PyValueError::new_err(format!(
            "unknown n_components kind {other:?}"
        ))),
    }
}

fn parse_normalizer(name: &str) -> PyResult<Normalizer> {
    match name {
        "none" => Ok(Normalizer::None),
        "LU" => Ok(Normalizer::Lu),
        "QR" => Ok(Normalizer::Qr),
        other => Err(PyValueError::new_err(format!(
            "unknown normalizer {other:?}"
        ))),
    }
}

/// The randomized solver's resolved settings, as passed from Python.
struct RandomizedArgs<'a> {
    n_iter: usize,
    normalizer: Normalizer,
    transpose: bool,
    test_matrix: &'a [f64],
    n_random: usize,
}

#[allow(clippy::too_many_arguments)]
fn fit_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    solver: &str,
    n_components: NComponents,
    want_projected: bool,
    whiten: bool,
    randomized: Option<RandomizedArgs<'_>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let x = SamplesArg::<T>::extract(x)?;
    let solver = match (solver, randomized) {
        ("full", _) => Solver::Full,
        ("covariance_eigh", _) => Solver::CovarianceEigh,
        ("arpack", _) => Solver::Arpack,
        ("randomized", Some(r)) => Solver::Randomized(Randomized {
            n_iter: r.n_iter,
            normalizer: r.normalizer,
            transpose: r.transpose,
            test_matrix: r.test_matrix,
            n_random: r.n_random,
        }),
        (other, _) => return Err(PyValueError::new_err(format!("unknown solver {other:?}"))),
    };
    let (fit, n) = match &x {
        SamplesArg::Dense(a) => {
            let s = dense_view(a)?;
            let (n, d) = (a.shape()[0], a.shape()[1]);
            let threads =
                Threads::for_work(n_threads, n.saturating_mul(d).saturating_mul(d.min(n)));
            let fit = py.run_kernel(threads, |stop| {
                pca::fit_dense(&s, solver, n_components, want_projected, whiten, stop)
            })?;
            (fit, n)
        }
        SamplesArg::Csr {
            data,
            indices,
            indptr,
            n_samples,
            n_features,
        } => {
            let s = csr_view(data, indices, indptr, *n_samples, *n_features)?;
            let threads = Threads::for_work(n_threads, data.len().saturating_mul(*n_features));
            let mut fit = py.run_kernel(threads, |stop| {
                pca::fit_sparse(&s, solver, n_components, stop)
            })?;
            if want_projected {
                let whiten_by = whiten.then_some(fit.explained_variance.as_slice());
                let projected = py.run_kernel(threads, |stop| {
                    pca::project::transform_sparse(&s, &fit.mean, &fit.components, whiten_by, stop)
                })?;
                fit.projected = Some(projected);
            }
            (fit, *n_samples)
        }
    };
    fit_dict(py, fit, n)
}

/// The fitted attributes as a dict (see [`pca_fit`]).
fn fit_dict<'py, T: Real + Element>(
    py: Python<'py>,
    fit: pca::Fit<T>,
    n: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let d = fit.mean.len();
    let k = fit.n_components;
    let out = PyDict::new(py);
    out.set_item("mean", vector(py, fit.mean))?;
    out.set_item("components", matrix(py, fit.components, k, d)?)?;
    out.set_item("explained_variance", vector(py, fit.explained_variance))?;
    out.set_item(
        "explained_variance_ratio",
        vector(py, fit.explained_variance_ratio),
    )?;
    out.set_item("singular_values", vector(py, fit.singular_values))?;
    out.set_item(
        "noise_variance",
        fit.noise_variance.map(|v| vector(py, vec![v])),
    )?;
    out.set_item("n_components", k)?;
    match fit.projected {
        Some(p) => out.set_item("projected", matrix(py, p, n, k)?)?,
        None => out.set_item("projected", py.None())?,
    }
    Ok(out)
}

/// Fits PCA. `n_components` is `(kind, value)` with kind `"count"`, `"fraction"` or `"mle"`;
/// the randomized solver's settings come resolved (`n_iter`, normalizer `"none"`/`"LU"`/`"QR"`,
/// `transpose`) with the Gaussian test matrix drawn from the estimator's `RandomState`.
/// Returns a dict of the fitted attributes (`noise_variance` a 1-element array or None) and
/// `projected` (`fit_transform`'s result) when asked for.
#[pyfunction]
#[pyo3(signature = (x, solver, n_components, want_projected, whiten, n_threads, n_iter=0, normalizer="none", transpose=false, test_matrix=None, n_random=0))]
#[allow(clippy::too_many_arguments)]
fn pca_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    solver: &str,
    n_components: (String, f64),
    want_projected: bool,
    whiten: bool,
    n_threads: usize,
    n_iter: usize,
    normalizer: &str,
    transpose: bool,
    test_matrix: Option<PyReadonlyArray1<'py, f64>>,
    n_random: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let n_components = parse_n_components(&n_components.0, n_components.1)?;
    let normalizer = parse_normalizer(normalizer)?;
    let test_matrix = optional_slice(&test_matrix)?;
    let randomized = test_matrix.map(|t| RandomizedArgs {
        n_iter,
        normalizer,
        transpose,
        test_matrix: t,
        n_random,
    });
    let data = match x.getattr("dtype") {
        Ok(_) => x.clone(),
        Err(_) => x.get_item(0)?, // CSR tuple: dispatch on its data array
    };
    by_dtype!(
        py,
        data,
        fit_t(
            py,
            x,
            solver,
            n_components,
            want_projected,
            whiten,
            randomized,
            n_threads
        )
    )
}

fn transform_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    components: &Bound<'py, PyAny>,
    whiten_by: Option<&Bound<'py, PyAny>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = SamplesArg::<T>::extract(x)?;
    let mean: PyReadonlyArray1<T> = mean.extract()?;
    let components: PyReadonlyArray1<T> = components.extract()?;
    let whiten_by: Option<PyReadonlyArray1<T>> = whiten_by.map(|w| w.extract()).transpose()?;
    let (mean, components) = (slice(&mean)?, slice(&components)?);
    let whiten_by = optional_slice(&whiten_by)?;
    let d = mean.len();
    let k = components.len() / d.max(1);
    let (out, n) = match &x {
        SamplesArg::Dense(a) => {
            let s = dense_view(a)?;
            let n = a.shape()[0];
            let threads = Threads::for_work(n_threads, n.saturating_mul(d).saturating_mul(k));
            let out = py.run_kernel(threads, |stop| {
                pca::project::transform_dense(&s, mean, components, whiten_by, stop)
            })?;
            (out, n)
        }
        SamplesArg::Csr {
            data,
            indices,
            indptr,
            n_samples,
            n_features,
        } => {
            let s = csr_view(data, indices, indptr, *n_samples, *n_features)?;
            let threads = Threads::for_work(n_threads, data.len().saturating_mul(k));
            let out = py.run_kernel(threads, |stop| {
                pca::project::transform_sparse(&s, mean, components, whiten_by, stop)
            })?;
            (out, *n_samples)
        }
    };
    matrix(py, out, n, k)
}

/// `(X - mean) @ components^T`, divided by the whitening scale when `whiten_by` (the
/// explained variances) is given. `components` and `mean` come flattened.
#[pyfunction]
#[pyo3(signature = (x, mean, components, whiten_by, n_threads))]
fn pca_transform<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    components: &Bound<'py, PyAny>,
    whiten_by: Option<&Bound<'py, PyAny>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(
        py,
        mean,
        transform_t(py, x, mean, components, whiten_by, n_threads)
    )
}

fn inverse_t<'py, T: Real + Element>(
    py: Python<'py>,
    z: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    components: &Bound<'py, PyAny>,
    whiten_by: Option<&Bound<'py, PyAny>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let z: PyReadonlyArray2<T> = z.extract()?;
    let n = z.shape()[0];
    let mean: PyReadonlyArray1<T> = mean.extract()?;
    let components: PyReadonlyArray1<T> = components.extract()?;
    let whiten_by: Option<PyReadonlyArray1<T>> = whiten_by.map(|w| w.extract()).transpose()?;
    let (zs, mean, components) = (
        z.as_slice()
            .map_err(|_| PyValueError::new_err("X must be C-contiguous"))?,
        slice(&mean)?,
        slice(&components)?,
    );
    let whiten_by = optional_slice(&whiten_by)?;
    let d = mean.len();
    let threads = Threads::for_work(n_threads, n.saturating_mul(components.len()));
    let out = py.run_kernel(threads, |_| {
        pca::project::inverse_transform(zs, n, mean, components, whiten_by)
    })?;
    matrix(py, out, n, d)
}

/// `Z @ components + mean` (components scaled by `sqrt(whiten_by)` when given).
#[pyfunction]
#[pyo3(signature = (z, mean, components, whiten_by, n_threads))]
fn pca_inverse_transform<'py>(
    py: Python<'py>,
    z: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    components: &Bound<'py, PyAny>,
    whiten_by: Option<&Bound<'py, PyAny>>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(
        py,
        mean,
        inverse_t(py, z, mean, components, whiten_by, n_threads)
    )
}

fn covariance_t<'py, T: Real + Element>(
    py: Python<'py>,
    components: &Bound<'py, PyAny>,
    explained_variance: &Bound<'py, PyAny>,
    noise_variance: f64,
    whiten: bool,
    n_features: usize,
    inverse: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let c: PyReadonlyArray1<T> = components.extract()?;
    let ev: PyReadonlyArray1<T> = explained_variance.extract()?;
    let (c, ev) = (slice(&c)?, slice(&ev)?);
    let noise = T::from_f64(noise_variance);
    let result = py.run_kernel(Threads::Inline, |_| {
        if inverse {
            pca::project::precision(c, ev, noise, whiten, n_features)
        } else {
            pca::project::covariance(c, ev, noise, whiten, n_features).map(Some)
        }
    })?;
    match result {
        Some(m) => square(py, m),
        None => {
            let class = py.import("numpy.linalg")?.getattr("LinAlgError")?;
            Err(PyErr::from_value(class.call1(("singular matrix",))?))
        }
    }
}

/// The model's covariance (`get_covariance`), `(d, d)`.
#[pyfunction]
fn pca_covariance<'py>(
    py: Python<'py>,
    components: &Bound<'py, PyAny>,
    explained_variance: &Bound<'py, PyAny>,
    noise_variance: f64,
    whiten: bool,
    n_features: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(
        py,
        explained_variance,
        covariance_t(
            py,
            components,
            explained_variance,
            noise_variance,
            whiten,
            n_features,
            false
        )
    )
}

/// The model's precision (`get_precision`) by the matrix inversion lemma, `(d, d)`; raises
/// `LinAlgError` when the matrix to invert is singular, as `scipy.linalg.inv`.
#[pyfunction]
fn pca_precision<'py>(
    py: Python<'py>,
    components: &Bound<'py, PyAny>,
    explained_variance: &Bound<'py, PyAny>,
    noise_variance: f64,
    whiten: bool,
    n_features: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(
        py,
        explained_variance,
        covariance_t(
            py,
            components,
            explained_variance,
            noise_variance,
            whiten,
            n_features,
            true
        )
    )
}

fn score_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    precision: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let s = dense_view(&x)?;
    let mean: PyReadonlyArray1<T> = mean.extract()?;
    let mean = slice(&mean)?;
    let p: PyReadonlyArray2<T> = precision.extract()?;
    let d = p.shape()[0];
    let p = p
        .as_slice()
        .map_err(|_| PyValueError::new_err("precision must be C-contiguous"))?;
    let p = ColMajor::copy_of(kernels::dense::row_major(p, d, d)).map_err(kernel_error)?;
    let n = x.shape()[0];
    let threads = Threads::for_work(n_threads, n.saturating_mul(d).saturating_mul(d));
    let out = py.run_kernel(threads, |stop| {
        pca::project::score_samples(&s, mean, &p, stop)
    })?;
    Ok(vector(py, out))
}

/// Per-sample log-likelihood under the model with this mean and (symmetric) precision.
#[pyfunction]
fn pca_score_samples<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    precision: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(py, mean, score_t(py, x, mean, precision, n_threads))
}

// Rows held in pieces (`sklearn_rs.dask`): each piece starts at a multiple of the partition's
// block size, so the blocks it is cut into are blocks of the partition `covariance_eigh` uses
// on the whole, and their moments, merged in block order, give that fit's bits.

/// Rows per block of the partition `covariance_eigh` cuts `n_samples` rows of `n_features`
/// values into.
#[pyfunction]
fn pca_rows_per_block(n_samples: usize, n_features: usize) -> usize {
    blocks::rows_per_block(n_samples, gram::block_state(n_features))
}

/// `(counts, weights (m,), means (m, d) float64, scatters (m, d * d) lower triangles)`.
type BlockMoments<'py> = (
    Vec<usize>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

fn block_moments_t<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    rows: usize,
    n_threads: usize,
) -> PyResult<BlockMoments<'py>> {
    let a: PyReadonlyArray2<T> = x.extract()?;
    let s = dense_view(&a)?;
    let (n, d) = (a.shape()[0], a.shape()[1]);
    let threads = Threads::for_work(n_threads, n.saturating_mul(d).saturating_mul(d));
    let parts = py.run_kernel(threads, |stop| {
        gram::blocks_moments(gram::Design::unweighted(&s), blocks::fixed(n, rows), stop)
    })?;
    let m = parts.len();
    let mut counts = Vec::with_capacity(m);
    let mut weights = Vec::with_capacity(m);
    let mut means = Vec::with_capacity(m * d);
    let mut scatters = Vec::with_capacity(m * d * d);
    for p in parts {
        counts.push(p.count);
        weights.push(p.weight);
        means.extend(p.mean);
        scatters.extend(p.scatter.data);
    }
    Ok((
        counts,
        vector(py, weights),
        matrix(py, means, m, d)?,
        matrix(py, scatters, m, d * d)?,
    ))
}

/// The moments (count, weight, float64 mean, centred scatter's lower triangle, column-major)
/// of each block of `rows_per_block` rows of dense `x`.
#[pyfunction]
fn pca_block_moments<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    rows_per_block: usize,
    n_threads: usize,
) -> PyResult<BlockMoments<'py>> {
    by_dtype!(py, x, block_moments_t(py, x, rows_per_block, n_threads))
}

#[allow(clippy::too_many_arguments)]
fn fit_moments_t<'py, T: Real + Element>(
    py: Python<'py>,
    counts: &[usize],
    weights: &[f64],
    means: &[f64],
    scatters: &Bound<'py, PyAny>,
    n_components: NComponents,
    whiten: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let scatters: PyReadonlyArray2<T> = scatters.extract()?;
    let m = counts.len();
    let shape = scatters.shape();
    let d = means.len() / m.max(1);
    if m == 0 || weights.len() != m || means.len() != m * d || shape != [m, d * d] {
        return Err(PyValueError::new_err("inconsistent block moments"));
    }
    let scatters = scatters
        .as_slice()
        .map_err(|_| PyValueError::new_err("scatters must be C-contiguous"))?;
    let parts: Vec<gram::Moments<T>> = (0..m)
        .map(|b| gram::Moments {
            count: counts[b],
            weight: weights[b],
            mean: means[b * d..(b + 1) * d].to_vec(),
            scatter: ColMajor {
                data: scatters[b * d * d..(b + 1) * d * d].to_vec(),
                rows: d,
                cols: d,
            },
        })
        .collect();
    let fit = py.run_kernel(Threads::for_work(1, d.saturating_mul(d)), |_| {
        let total = gram::merge_in_order(parts, d)?;
        pca::fit_from_moments(total, d, n_components, whiten)
    })?;
    fit_dict(py, fit, 0)
}

/// Fits PCA with `covariance_eigh` from the blocks' moments of [`pca_block_moments`], in
/// block order (all blocks of the whole data); `n_components` as in [`pca_fit`].
#[pyfunction]
#[pyo3(signature = (counts, weights, means, scatters, n_components, whiten))]
fn pca_fit_moments<'py>(
    py: Python<'py>,
    counts: Vec<usize>,
    weights: PyReadonlyArray1<'py, f64>,
    means: PyReadonlyArray2<'py, f64>,
    scatters: &Bound<'py, PyAny>,
    n_components: (String, f64),
    whiten: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let n_components = parse_n_components(&n_components.0, n_components.1)?;
    let means = means
        .as_slice()
        .map_err(|_| PyValueError::new_err("means must be C-contiguous"))?;
    let weights = slice(&weights)?;
    by_dtype!(
        py,
        scatters,
        fit_moments_t(py, &counts, weights, means, scatters, n_components, whiten)
    )
}
