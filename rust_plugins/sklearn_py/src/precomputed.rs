//! Bindings of `kernels::neighbors::precomputed`: neighbour searches on a precomputed dense
//! distance matrix or a sparse CSR graph (`metric="precomputed"`). A graph is passed as its
//! NumPy arrays: int64 `indptr`, float32/float64 `data` and int32/int64 `indices` (the dtype
//! scipy gave them, which scikit-learn's results keep).

use kernels::float::Float;
use kernels::neighbors::precomputed::{self as pre, GraphIndex, Lists};
use numpy::{
    Element, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::arrays::{matrix, slice, vector};
use crate::by_dtype;
use crate::runtime::{RunKernel, Threads};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(precomputed_kneighbors, m)?)?;
    m.add_function(wrap_pyfunction!(precomputed_radius_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(graph_rows_sorted, m)?)?;
    m.add_function(wrap_pyfunction!(graph_sort_rows, m)?)?;
    m.add_function(wrap_pyfunction!(graph_kneighbors, m)?)?;
    m.add_function(wrap_pyfunction!(graph_radius_neighbors, m)?)?;
    Ok(())
}

/// Calls `$f::<T, i32>` or `$f::<T, i64>` according to the dtype of the indices `$arr`.
macro_rules! by_index {
    ($py:expr, $arr:expr, $f:ident :: <$t:ty> ( $($args:expr),* )) => {{
        use numpy::{PyArrayDescrMethods, PyUntypedArrayMethods};
        let arr = $arr
            .cast::<numpy::PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err("expected a NumPy array"))?;
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

fn lists<'py, T: Float + Element>(
    py: Python<'py>,
    found: Lists<T>,
) -> (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>) {
    (
        vector(py, found.offsets),
        vector(py, found.indices),
        vector(py, found.distances),
    )
}

fn dense<'a, T: Float + Element>(
    m: &'a PyReadonlyArray2<'_, T>,
) -> PyResult<kernels::samples::Dense<'a, T>> {
    let data = m
        .as_slice()
        .map_err(|_| PyValueError::new_err("the distance matrix must be C-contiguous"))?;
    kernels::samples::Dense::new(data, m.shape()[0], m.shape()[1])
        .map_err(crate::error::kernel_error)
}

fn dense_k_t<'py, T: Float + Element>(
    py: Python<'py>,
    m: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let m: PyReadonlyArray2<'py, T> = m.extract()?;
    let view = dense(&m)?;
    let n = m.shape()[0];
    let threads = Threads::for_work(n_threads, m.len().saturating_mul(4));
    let (d, i) = py.run_kernel(threads, |stop| pre::dense_kneighbors(&view, k, stop))?;
    Ok((matrix(py, d, n, k)?, matrix(py, i, n, k)?))
}

/// `(distances, indices)`, `(n_rows, k)` in the matrix's dtype and int64: the `k` smallest
/// entries of each row of the C-contiguous float32/float64 `matrix`, nearest first, equal
/// distances by lowest column.
#[pyfunction]
#[pyo3(signature = (matrix, k, n_threads))]
fn precomputed_kneighbors<'py>(
    py: Python<'py>,
    matrix: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    by_dtype!(py, matrix, dense_k_t(py, matrix, k, n_threads))
}

type ListsOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

#[allow(clippy::too_many_arguments)]
fn dense_radius_t<'py, T: Float + Element>(
    py: Python<'py>,
    m: &Bound<'py, PyAny>,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<ListsOut<'py>> {
    let m: PyReadonlyArray2<'py, T> = m.extract()?;
    let view = dense(&m)?;
    let threads = Threads::for_work(n_threads, m.len().saturating_mul(2));
    // NumPy compares the matrix with the Python float in the matrix's dtype.
    let radius = T::from_f64(radius);
    let found = py.run_kernel(threads, |stop| {
        pre::dense_within_radius(&view, radius, sort, exclude_self, with_distances, stop)
    })?;
    Ok(lists(py, found))
}

/// `(offsets, indices, distances)`: the entries `<= radius` of each row of `matrix`, in
/// column order or stably sorted by distance (`sort`); with `exclude_self` row `i` leaves
/// out column `i`; `distances` is empty without `with_distances`.
#[pyfunction]
#[pyo3(signature = (matrix, radius, sort, exclude_self, n_threads, with_distances=true))]
fn precomputed_radius_neighbors<'py>(
    py: Python<'py>,
    matrix: &Bound<'py, PyAny>,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<ListsOut<'py>> {
    by_dtype!(
        py,
        matrix,
        dense_radius_t(
            py,
            matrix,
            radius,
            sort,
            exclude_self,
            n_threads,
            with_distances
        )
    )
}

fn rows_sorted_t<T: Float + Element>(
    indptr: &PyReadonlyArray1<'_, i64>,
    data: &Bound<'_, PyAny>,
) -> PyResult<Option<bool>> {
    let data: PyReadonlyArray1<'_, T> = data.extract()?;
    pre::csr_rows_sorted(slice(indptr)?, slice(&data)?).map_err(crate::error::kernel_error)
}

/// scikit-learn's `_is_sorted_by_data` on a CSR graph's `indptr` and `data`; `None` for
/// fewer than two stored entries.
#[pyfunction]
#[pyo3(signature = (indptr, data))]
fn graph_rows_sorted<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Option<bool>> {
    by_dtype!(py, data, rows_sorted_t(&indptr, data))
}

fn sort_rows_t<T: Float + Element, I: GraphIndex + Element>(
    py: Python<'_>,
    indptr: &PyReadonlyArray1<'_, i64>,
    data: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<()> {
    let mut data: PyReadwriteArray1<'_, T> = data.extract()?;
    let mut indices: PyReadwriteArray1<'_, I> = indices.extract()?;
    let indptr = slice(indptr)?;
    let data = data
        .as_slice_mut()
        .map_err(|_| PyValueError::new_err("data must be contiguous"))?;
    let indices = indices
        .as_slice_mut()
        .map_err(|_| PyValueError::new_err("indices must be contiguous"))?;
    let work = data.len().saturating_mul(16);
    py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        pre::csr_sort_rows(indptr, data, indices, stop)
    })
}

fn sort_rows_f<T: Float + Element>(
    py: Python<'_>,
    indptr: &PyReadonlyArray1<'_, i64>,
    data: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<()> {
    by_index!(
        py,
        indices,
        sort_rows_t::<T>(py, indptr, data, indices, n_threads)
    )
}

/// Sorts each row of a CSR graph by value with a stable sort, in place on `data` and
/// `indices` (scikit-learn's `sort_graph_by_row_values`).
#[pyfunction]
#[pyo3(signature = (indptr, data, indices, n_threads))]
fn graph_sort_rows<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<()> {
    by_dtype!(py, data, sort_rows_f(py, &indptr, data, indices, n_threads))
}

fn first_k_t<'py, T: Float + Element, I: GraphIndex + Element>(
    py: Python<'py>,
    indptr: &PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let data: PyReadonlyArray1<'py, T> = data.extract()?;
    let indices: PyReadonlyArray1<'py, I> = indices.extract()?;
    let (indptr, data, indices) = (slice(indptr)?, slice(&data)?, slice(&indices)?);
    let n = indptr.len().saturating_sub(1);
    let threads = Threads::for_work(n_threads, n.saturating_mul(k).saturating_mul(4));
    let (d, i) = py.run_kernel(threads, |stop| {
        pre::csr_first_k(indptr, data, indices, k, stop)
    })?;
    Ok((matrix(py, d, n, k)?, matrix(py, i, n, k)?))
}

fn first_k_f<'py, T: Float + Element>(
    py: Python<'py>,
    indptr: &PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    by_index!(
        py,
        indices,
        first_k_t::<T>(py, indptr, data, indices, k, n_threads)
    )
}

/// `(distances, indices)`, `(n_rows, k)` in the graph's dtypes: the first `k` stored entries
/// of each row of a row-sorted CSR graph (every row holds at least `k`).
#[pyfunction]
#[pyo3(signature = (indptr, data, indices, k, n_threads))]
fn graph_kneighbors<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    by_dtype!(
        py,
        data,
        first_k_f(py, &indptr, data, indices, k, n_threads)
    )
}

#[allow(clippy::too_many_arguments)]
fn radius_t<'py, T: Float + Element, I: GraphIndex + Element>(
    py: Python<'py>,
    indptr: &PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    radius: f64,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<ListsOut<'py>> {
    let data: PyReadonlyArray1<'py, T> = data.extract()?;
    let indices: PyReadonlyArray1<'py, I> = indices.extract()?;
    let (indptr, data, indices) = (slice(indptr)?, slice(&data)?, slice(&indices)?);
    let threads = Threads::for_work(n_threads, data.len().saturating_mul(2));
    let radius = T::from_f64(radius);
    let found = py.run_kernel(threads, |stop| {
        pre::csr_within_radius(
            indptr,
            data,
            indices,
            radius,
            exclude_self,
            with_distances,
            stop,
        )
    })?;
    Ok(lists(py, found))
}

#[allow(clippy::too_many_arguments)]
fn radius_f<'py, T: Float + Element>(
    py: Python<'py>,
    indptr: &PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    radius: f64,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<ListsOut<'py>> {
    by_index!(
        py,
        indices,
        radius_t::<T>(
            py,
            indptr,
            data,
            indices,
            radius,
            exclude_self,
            n_threads,
            with_distances
        )
    )
}

/// `(offsets, indices, distances)`: the stored entries `<= radius` of each row of a CSR graph
/// in stored order (indices int64, distances in the graph's dtype, empty without
/// `with_distances`); with `exclude_self` row `i` leaves out column `i`.
#[pyfunction]
#[pyo3(signature = (indptr, data, indices, radius, exclude_self, n_threads, with_distances=true))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn graph_radius_neighbors<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    radius: f64,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<ListsOut<'py>> {
    by_dtype!(
        py,
        data,
        radius_f(
            py,
            &indptr,
            data,
            indices,
            radius,
            exclude_self,
            n_threads,
            with_distances
        )
    )
}
