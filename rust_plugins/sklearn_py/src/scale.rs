//! Bindings of `kernels::scaler`: the incremental mean and variance of dense and sparse
//! batches, the scales, and the dense and sparse `transform` / `inverse_transform`
//! (scikit-learn's `StandardScaler` numerics).
//!
//! Dense data comes as a C-contiguous 2-D array with `columns` telling its layout: `False` for
//! `(n_samples, n_features)`, `True` for the transpose of an F-ordered array (every feature
//! contiguous). Sparse data comes as its `data`, `indices` and `indptr` arrays (indices and
//! offsets of one integer type, int32 or int64) with `by_rows` telling CSR from CSC.

use kernels::float::Float;
use kernels::scaler::apply::{self, Scaling};
use kernels::scaler::sparse::{self, Compressed, Index};
use kernels::scaler::{self, Batch, Layout, Running};
use numpy::{
    Element, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1, PyReadwriteArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::arrays::{matrix, slice, vector};
use crate::by_dtype;
use crate::error::kernel_error;
use crate::runtime::{RunKernel, Threads};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scaler_dense_update, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_non_nan_counts, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_scale, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_transform, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_sparse_update, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_sparse_non_nan_weights, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_sparse_scale_columns, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_chain_first, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_chain_second, m)?)?;
    m.add_function(wrap_pyfunction!(scaler_fold, m)?)?;
    Ok(())
}

fn layout(columns: bool) -> Layout {
    if columns {
        Layout::Columns
    } else {
        Layout::Rows
    }
}

/// `(n_samples, n_features)` of a dense argument given in `layout`.
fn dense_shape<T: Element>(x: &PyReadonlyArray2<'_, T>, layout: Layout) -> (usize, usize) {
    let s = x.shape();
    match layout {
        Layout::Rows => (s[0], s[1]),
        Layout::Columns => (s[1], s[0]),
    }
}

fn contiguous<'a, T: Element>(x: &'a PyReadonlyArray2<'_, T>) -> PyResult<&'a [T]> {
    x.as_slice()
        .map_err(|_| PyValueError::new_err("X must be C-contiguous"))
}

/// `(mean, var or None, count)` after one dense batch.
type Update<'py> = (
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Bound<'py, PyAny>,
);

#[allow(clippy::too_many_arguments)]
fn dense_update_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    sample_weight: Option<&Bound<'py, PyAny>>,
    last: Running,
    n_threads: usize,
) -> PyResult<Update<'py>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let sw: Option<PyReadonlyArray1<T>> = sample_weight.map(|w| w.extract()).transpose()?;
    let sw = sw.as_ref().map(slice).transpose()?;
    let layout = layout(columns);
    let (n, d) = dense_shape(&x, layout);
    let batch = Batch::new(contiguous(&x)?, n, d, layout).map_err(kernel_error)?;
    let r = py.run_kernel(Threads::for_work(n_threads, n.saturating_mul(d)), |stop| {
        scaler::dense_update(&batch, sw, &last, stop)
    })?;
    Ok((
        vector(py, r.mean),
        r.var.map(|v| vector(py, v)),
        vector(py, r.count),
    ))
}

/// Folds a dense batch into the running float64 `(last_mean, last_var, last_count)` as
/// scikit-learn's `_incremental_mean_and_var` does; `last_var=None` skips the variance.
#[pyfunction]
#[pyo3(signature = (x, columns, sample_weight, last_mean, last_var, last_count, n_threads))]
#[allow(clippy::too_many_arguments)]
fn scaler_dense_update<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    sample_weight: Option<&Bound<'py, PyAny>>,
    last_mean: PyReadonlyArray1<'py, f64>,
    last_var: Option<PyReadonlyArray1<'py, f64>>,
    last_count: PyReadonlyArray1<'py, f64>,
    n_threads: usize,
) -> PyResult<Update<'py>> {
    let last = Running {
        mean: slice(&last_mean)?.to_vec(),
        var: last_var
            .as_ref()
            .map(|v| slice(v).map(<[f64]>::to_vec))
            .transpose()?,
        count: slice(&last_count)?.to_vec(),
    };
    by_dtype!(
        py,
        x,
        dense_update_t(py, x, columns, sample_weight, last, n_threads)
    )
}

fn non_nan_counts_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let layout = layout(columns);
    let (n, d) = dense_shape(&x, layout);
    let batch = Batch::new(contiguous(&x)?, n, d, layout).map_err(kernel_error)?;
    let counts = py.run_kernel(Threads::for_work(n_threads, n.saturating_mul(d)), |stop| {
        scaler::dense::non_nan_counts(&batch, stop)
    })?;
    Ok(vector(py, counts))
}

/// Non-NaN samples per feature of a dense batch (int64).
#[pyfunction]
fn scaler_non_nan_counts<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(py, x, non_nan_counts_t(py, x, columns, n_threads))
}

/// `scale_` from float64 `var_`, `mean_` and per-feature `n_samples_seen_`: the standard
/// deviation, 1 for near-constant features.
#[pyfunction]
fn scaler_scale<'py>(
    py: Python<'py>,
    var: PyReadonlyArray1<'py, f64>,
    mean: PyReadonlyArray1<'py, f64>,
    count: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (var, mean, count) = (slice(&var)?, slice(&mean)?, slice(&count)?);
    if mean.len() != var.len() || count.len() != var.len() {
        return Err(PyValueError::new_err("var, mean and count lengths differ"));
    }
    Ok(vector(py, scaler::scale_from_variance(var, mean, count)))
}

#[allow(clippy::too_many_arguments)]
fn transform_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    mean: Option<&Bound<'py, PyAny>>,
    scale: Option<&Bound<'py, PyAny>>,
    inverse: bool,
    in_place: bool,
    n_threads: usize,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mean: Option<PyReadonlyArray1<T>> = mean.map(|m| m.extract()).transpose()?;
    let scale: Option<PyReadonlyArray1<T>> = scale.map(|s| s.extract()).transpose()?;
    let scaling = Scaling {
        mean: mean.as_ref().map(slice).transpose()?,
        scale: scale.as_ref().map(slice).transpose()?,
        inverse,
    };
    let layout = layout(columns);
    if in_place {
        let mut xw: PyReadwriteArray2<T> = x.extract()?;
        let shape = xw.shape().to_vec();
        let (n, d) = match layout {
            Layout::Rows => (shape[0], shape[1]),
            Layout::Columns => (shape[1], shape[0]),
        };
        let data = xw
            .as_slice_mut()
            .map_err(|_| PyValueError::new_err("X must be C-contiguous"))?;
        py.run_kernel(Threads::for_work(n_threads, n.saturating_mul(d)), |_| {
            apply::scale_in_place(data, n, d, layout, &scaling)
        })?;
        return Ok(None);
    }
    let xr: PyReadonlyArray2<T> = x.extract()?;
    let shape = xr.shape().to_vec();
    let (n, d) = dense_shape(&xr, layout);
    let src = contiguous(&xr)?;
    let out = py.run_kernel(Threads::for_work(n_threads, n.saturating_mul(d)), |_| {
        apply::scaled(src, n, d, layout, &scaling)
    })?;
    Ok(Some(matrix(py, out, shape[0], shape[1])?))
}

/// `(x - mean) / scale` (or, `inverse`, `x * scale + mean`), the missing vectors skipped, in
/// `x`'s dtype: in place (returns None) or into a new array of `x`'s shape.
#[pyfunction]
#[pyo3(signature = (x, columns, mean, scale, inverse, in_place, n_threads))]
#[allow(clippy::too_many_arguments)]
fn scaler_transform<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    mean: Option<&Bound<'py, PyAny>>,
    scale: Option<&Bound<'py, PyAny>>,
    inverse: bool,
    in_place: bool,
    n_threads: usize,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    by_dtype!(
        py,
        x,
        transform_t(py, x, columns, mean, scale, inverse, in_place, n_threads)
    )
}

/// Calls `$f::<T, i32>` or `$f::<T, i64>` according to the dtype of the index array `$idx`.
macro_rules! by_index {
    ($py:expr, $idx:expr, $f:ident :: <$t:ty> ( $($args:expr),* )) => {{
        use numpy::{PyArrayDescrMethods, PyUntypedArrayMethods};
        let arr = $idx.cast::<numpy::PyUntypedArray>().map_err(|_| {
            PyTypeError::new_err("expected a NumPy index array")
        })?;
        let dtype = arr.dtype();
        if dtype.is_equiv_to(&numpy::dtype::<i32>($py)) {
            $f::<$t, i32>($($args),*)
        } else if dtype.is_equiv_to(&numpy::dtype::<i64>($py)) {
            $f::<$t, i64>($($args),*)
        } else {
            Err(PyTypeError::new_err(format!(
                "expected int32 or int64 indices, got {dtype}"
            )))
        }
    }};
}

/// The sparse storage arguments shared by the sparse entry points.
struct SparseArgs<'a, 'py> {
    data: &'a Bound<'py, PyAny>,
    indices: &'a Bound<'py, PyAny>,
    indptr: &'a Bound<'py, PyAny>,
    n_samples: usize,
    n_features: usize,
    by_rows: bool,
}

/// `(mean, var, n)` in the data's dtype.
type SparseStats<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

fn sparse_update_ti<'py, T: Float + Element, I: Index + Element>(
    py: Python<'py>,
    s: &SparseArgs<'_, 'py>,
    weights: &Bound<'py, PyAny>,
    last: Option<(&Bound<'py, PyAny>, &Bound<'py, PyAny>, &Bound<'py, PyAny>)>,
) -> PyResult<SparseStats<'py>> {
    let data: PyReadonlyArray1<T> = s.data.extract()?;
    let indices: PyReadonlyArray1<I> = s.indices.extract()?;
    let indptr: PyReadonlyArray1<I> = s.indptr.extract()?;
    let w: PyReadonlyArray1<T> = weights.extract()?;
    let x = Compressed {
        data: slice(&data)?,
        indices: slice(&indices)?,
        indptr: slice(&indptr)?,
        n_samples: s.n_samples,
        n_features: s.n_features,
        by_rows: s.by_rows,
    };
    let w = slice(&w)?;
    let (mean, var, n) = match last {
        None => py.run_kernel(Threads::Inline, |stop| sparse::mean_variance(&x, w, stop))?,
        Some((m, v, c)) => {
            let m: PyReadonlyArray1<T> = m.extract()?;
            let v: PyReadonlyArray1<T> = v.extract()?;
            let c: PyReadonlyArray1<T> = c.extract()?;
            let (m, v, c) = (slice(&m)?, slice(&v)?, slice(&c)?);
            py.run_kernel(Threads::Inline, |stop| {
                sparse::incremental(&x, w, m, v, c, stop)
            })?
        }
    };
    Ok((vector(py, mean), vector(py, var), vector(py, n)))
}

fn sparse_update_t<'py, T: Float + Element>(
    py: Python<'py>,
    s: &SparseArgs<'_, 'py>,
    weights: &Bound<'py, PyAny>,
    last: Option<(&Bound<'py, PyAny>, &Bound<'py, PyAny>, &Bound<'py, PyAny>)>,
) -> PyResult<SparseStats<'py>> {
    by_index!(py, s.indices, sparse_update_ti::<T>(py, s, weights, last))
}

/// `mean_variance_axis(X, axis=0, weights, return_sum_weights=True)` of a CSR/CSC batch, or
/// with `last=(mean, var, n)` (in the data's dtype) `incr_mean_variance_axis`: `(mean, var,
/// n)` in the data's dtype.
#[pyfunction]
#[pyo3(signature = (data, indices, indptr, n_samples, n_features, by_rows, weights, last))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn scaler_sparse_update<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    indptr: &Bound<'py, PyAny>,
    n_samples: usize,
    n_features: usize,
    by_rows: bool,
    weights: &Bound<'py, PyAny>,
    last: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)>,
) -> PyResult<SparseStats<'py>> {
    let s = SparseArgs {
        data,
        indices,
        indptr,
        n_samples,
        n_features,
        by_rows,
    };
    let last = last.as_ref().map(|(m, v, c)| (m, v, c));
    by_dtype!(py, data, sparse_update_t(py, &s, weights, last))
}

/// Weights of either float dtype.
enum Weights<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
}

fn non_nan_weights_ti<'py, T: Float + Element, I: Index + Element>(
    py: Python<'py>,
    s: &SparseArgs<'_, 'py>,
    weights: &Weights<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let data: PyReadonlyArray1<T> = s.data.extract()?;
    let indices: PyReadonlyArray1<I> = s.indices.extract()?;
    let indptr: PyReadonlyArray1<I> = s.indptr.extract()?;
    let x = Compressed {
        data: slice(&data)?,
        indices: slice(&indices)?,
        indptr: slice(&indptr)?,
        n_samples: s.n_samples,
        n_features: s.n_features,
        by_rows: s.by_rows,
    };
    Ok(match weights {
        Weights::F32(w) => {
            let w = slice(w)?;
            vector(
                py,
                py.run_kernel(Threads::Inline, |_| sparse::non_nan_weights(&x, w))?,
            )
        }
        Weights::F64(w) => {
            let w = slice(w)?;
            vector(
                py,
                py.run_kernel(Threads::Inline, |_| sparse::non_nan_weights(&x, w))?,
            )
        }
    })
}

fn non_nan_weights_t<'py, T: Float + Element>(
    py: Python<'py>,
    s: &SparseArgs<'_, 'py>,
    weights: &Weights<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    by_index!(py, s.indices, non_nan_weights_ti::<T>(py, s, weights))
}

/// Total weight of the samples that are not NaN, per feature of a CSR/CSC batch, in the
/// weights' dtype (float32 or float64).
#[pyfunction]
#[pyo3(signature = (data, indices, indptr, n_samples, n_features, by_rows, weights))]
#[allow(clippy::too_many_arguments)]
fn scaler_sparse_non_nan_weights<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    indptr: &Bound<'py, PyAny>,
    n_samples: usize,
    n_features: usize,
    by_rows: bool,
    weights: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let s = SparseArgs {
        data,
        indices,
        indptr,
        n_samples,
        n_features,
        by_rows,
    };
    let w = match weights.extract::<PyReadonlyArray1<f64>>() {
        Ok(w) => Weights::F64(w),
        Err(_) => Weights::F32(weights.extract()?),
    };
    by_dtype!(py, data, non_nan_weights_t(py, &s, &w))
}

fn scale_columns_ti<T: Float + Element, I: Index + Element>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    factors: &[f64],
    n_threads: usize,
) -> PyResult<()> {
    let mut data: PyReadwriteArray1<T> = data.extract()?;
    let indices: PyReadonlyArray1<I> = indices.extract()?;
    let indices = slice(&indices)?;
    let data = data
        .as_slice_mut()
        .map_err(|_| PyValueError::new_err("data must be contiguous"))?;
    let threads = Threads::for_work(n_threads, data.len());
    py.run_kernel(threads, |_| sparse::scale_columns(data, indices, factors))
}

fn scale_columns_t<T: Float + Element>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    factors: &[f64],
    n_threads: usize,
) -> PyResult<()> {
    by_index!(
        py,
        indices,
        scale_columns_ti::<T>(py, data, indices, factors, n_threads)
    )
}

/// Multiplies, in place, every stored value of a CSR matrix by its column's float64 `scale`
/// (`reciprocal`: by `1 / scale`), rounding to the data's dtype.
#[pyfunction]
#[pyo3(signature = (data, indices, scale, reciprocal, n_threads))]
fn scaler_sparse_scale_columns(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    scale: PyReadonlyArray1<'_, f64>,
    reciprocal: bool,
    n_threads: usize,
) -> PyResult<()> {
    let scale = slice(&scale)?;
    let factors: Vec<f64> = if reciprocal {
        scale.iter().map(|s| 1.0 / s).collect()
    } else {
        scale.to_vec()
    };
    by_dtype!(
        py,
        data,
        scale_columns_t(py, data, indices, &factors, n_threads)
    )
}

// Row pieces of one batch (`sklearn_rs.dask`): the two passes of `scaler_dense_update` run
// piece after piece, each continuing the running column sums where the previous piece left
// them, then `scaler_fold` updates the statistics, which gives the bits of one update with
// the concatenated rows (row-major `(n, d)` data only).

/// `(sum, count, any_nan)` of the first pass.
type FirstSums<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, bool);

fn batch<'a, T: Float + Element>(
    x: &'a PyReadonlyArray2<'_, T>,
    columns: bool,
) -> PyResult<Batch<'a, T>> {
    let layout = layout(columns);
    let (n, d) = dense_shape(x, layout);
    Batch::new(contiguous(x)?, n, d, layout).map_err(kernel_error)
}

fn chain_first_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    sample_weight: Option<&Bound<'py, PyAny>>,
    start: Option<scaler::dense::FirstPass>,
    n_threads: usize,
) -> PyResult<FirstSums<'py>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let sw: Option<PyReadonlyArray1<T>> = sample_weight.map(|w| w.extract()).transpose()?;
    let sw = sw.as_ref().map(slice).transpose()?;
    let batch = batch(&x, columns)?;
    let work = batch.n_samples.saturating_mul(batch.n_features);
    let r = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        scaler::dense::first_pass_from(&batch, sw, start.as_ref(), stop)
    })?;
    Ok((vector(py, r.sum), vector(py, r.count), r.any_nan))
}

/// The first pass (column sums, non-NaN counts or weights, whether any value is NaN) of `x`
/// (`columns` as in `scaler_dense_update`), continuing `start = (sum, count, any_nan)` of the
/// rows before it (row-major `x` only).
#[pyfunction]
#[pyo3(signature = (x, columns, sample_weight, start, n_threads))]
fn scaler_chain_first<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    sample_weight: Option<&Bound<'py, PyAny>>,
    start: Option<(PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>, bool)>,
    n_threads: usize,
) -> PyResult<FirstSums<'py>> {
    let start = match &start {
        None => None,
        Some((sum, count, any_nan)) => Some(scaler::dense::FirstPass {
            sum: slice(sum)?.to_vec(),
            count: slice(count)?.to_vec(),
            any_nan: *any_nan,
        }),
    };
    by_dtype!(
        py,
        x,
        chain_first_t(py, x, columns, sample_weight, start, n_threads)
    )
}

type Deviations<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

#[allow(clippy::too_many_arguments)]
fn chain_second_t<'py, T: Float + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    sample_weight: Option<&Bound<'py, PyAny>>,
    t: &[f64],
    nansum: bool,
    start: Option<scaler::dense::SecondPass>,
    n_threads: usize,
) -> PyResult<Deviations<'py>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let sw: Option<PyReadonlyArray1<T>> = sample_weight.map(|w| w.extract()).transpose()?;
    let sw = sw.as_ref().map(slice).transpose()?;
    let batch = batch(&x, columns)?;
    let work = batch.n_samples.saturating_mul(batch.n_features);
    let r = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        scaler::dense::second_pass_from(&batch, sw, t, nansum, start.as_ref(), stop)
    })?;
    Ok((vector(py, r.correction), vector(py, r.squares)))
}

/// The second pass (sums of `x - t` and of `(x - t)^2`) of `x`, continuing
/// `start = (correction, squares)` of the rows before it (row-major `x` only).
#[pyfunction]
#[pyo3(signature = (x, columns, sample_weight, t, nansum, start, n_threads))]
#[allow(clippy::too_many_arguments)]
fn scaler_chain_second<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    columns: bool,
    sample_weight: Option<&Bound<'py, PyAny>>,
    t: PyReadonlyArray1<'py, f64>,
    nansum: bool,
    start: Option<(PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>)>,
    n_threads: usize,
) -> PyResult<Deviations<'py>> {
    let start = match &start {
        None => None,
        Some((correction, squares)) => Some(scaler::dense::SecondPass {
            correction: slice(correction)?.to_vec(),
            squares: slice(squares)?.to_vec(),
        }),
    };
    let t = slice(&t)?;
    by_dtype!(
        py,
        x,
        chain_second_t(py, x, columns, sample_weight, t, nansum, start, n_threads)
    )
}

/// Updates the running `(last_mean, last_var, last_count)` with a batch's first-pass `sum`
/// and `count` and, when the variance is tracked, its second pass `(correction, squares)`:
/// the update step of `scaler_dense_update`.
#[pyfunction]
#[pyo3(signature = (last_mean, last_var, last_count, sum, count, deviations))]
#[allow(clippy::too_many_arguments)]
fn scaler_fold<'py>(
    py: Python<'py>,
    last_mean: PyReadonlyArray1<'py, f64>,
    last_var: Option<PyReadonlyArray1<'py, f64>>,
    last_count: PyReadonlyArray1<'py, f64>,
    sum: PyReadonlyArray1<'py, f64>,
    count: PyReadonlyArray1<'py, f64>,
    deviations: Option<(PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>)>,
) -> PyResult<Update<'py>> {
    let d = slice(&sum)?.len();
    let last = Running {
        mean: slice(&last_mean)?.to_vec(),
        var: last_var
            .as_ref()
            .map(|v| slice(v).map(<[f64]>::to_vec))
            .transpose()?,
        count: slice(&last_count)?.to_vec(),
    };
    let deviations = match &deviations {
        None => None,
        Some((correction, squares)) => Some(scaler::dense::SecondPass {
            correction: slice(correction)?.to_vec(),
            squares: slice(squares)?.to_vec(),
        }),
    };
    let lengths = [
        last.mean.len(),
        last.count.len(),
        last.var.as_ref().map_or(d, Vec::len),
        slice(&count)?.len(),
        deviations.as_ref().map_or(d, |v| v.correction.len()),
        deviations.as_ref().map_or(d, |v| v.squares.len()),
    ];
    if lengths.iter().any(|&l| l != d) {
        return Err(PyValueError::new_err(
            "statistics do not match the number of features",
        ));
    }
    let r = scaler::update(&last, slice(&sum)?, slice(&count)?, deviations.as_ref());
    Ok((
        vector(py, r.mean),
        r.var.map(|v| vector(py, v)),
        vector(py, r.count),
    ))
}
