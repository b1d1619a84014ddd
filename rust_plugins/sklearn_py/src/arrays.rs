//! NumPy buffers in and out: borrowed slices without copies, results handed over without
//! copies, and the float32/float64 dispatch every binding needs.

use numpy::{Element, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The contiguous data of a 1-D array.
pub fn slice<'a, T: Element>(a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err("expected a contiguous 1-D array"))
}

/// The contiguous data of an optional 1-D array.
pub fn optional_slice<'a, T: Element>(
    a: &'a Option<PyReadonlyArray1<'_, T>>,
) -> PyResult<Option<&'a [T]>> {
    a.as_ref().map(slice).transpose()
}

/// A row-major `(rows, cols)` array that takes ownership of `v`.
pub fn matrix<'py, T: Element>(
    py: Python<'py>,
    v: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, v).reshape([rows, cols])?.into_any())
}

/// A 1-D array that takes ownership of `v`.
pub fn vector<'py, T: Element>(py: Python<'py>, v: Vec<T>) -> Bound<'py, PyAny> {
    PyArray1::from_vec(py, v).into_any()
}

/// Calls `$f::<f32>` or `$f::<f64>` according to the dtype of the NumPy array `$arr`.
#[macro_export]
macro_rules! by_dtype {
    ($py:expr, $arr:expr, $f:ident ( $($args:expr),* )) => {{
        use numpy::{PyArrayDescrMethods, PyUntypedArrayMethods};
        let arr = $arr.cast::<numpy::PyUntypedArray>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err("expected a NumPy array")
        })?;
        let dtype = arr.dtype();
        if dtype.is_equiv_to(&numpy::dtype::<f64>($py)) {
            $f::<f64>($($args),*)
        } else if dtype.is_equiv_to(&numpy::dtype::<f32>($py)) {
            $f::<f32>($($args),*)
        } else {
            Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "expected float32 or float64 data, got {dtype}"
            )))
        }
    }};
}
