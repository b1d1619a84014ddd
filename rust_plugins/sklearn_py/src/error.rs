//! The one place where Rust errors become Python exceptions.

use kernels::KernelError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// A kernel's error as the Python exception the caller sees. Input validation with
/// scikit-learn's messages happens in Python, so shape and argument errors only surface for
/// inconsistent calls; an allocation failure is NumPy's own MemoryError, as scikit-learn's
/// would be.
pub fn kernel_error(e: KernelError) -> PyErr {
    match e {
        KernelError::Interrupted => PyKeyboardInterrupt::new_err(()),
        KernelError::OutOfMemory {
            ref shape, dtype, ..
        } => numpy_memory_error(shape, dtype)
            .unwrap_or_else(|_| PyMemoryError::new_err(e.to_string())),
        KernelError::NoConvergence(ref msg) => {
            linalg_error(msg).unwrap_or_else(|_| PyRuntimeError::new_err(msg.clone()))
        }
        other => PyValueError::new_err(other.to_string()),
    }
}

/// `numpy.linalg.LinAlgError(msg)`, what NumPy and SciPy raise when a factorisation fails.
fn linalg_error(msg: &str) -> PyResult<PyErr> {
    Python::attach(|py| {
        let class = py.import("numpy.linalg")?.getattr("LinAlgError")?;
        Ok(PyErr::from_value(class.call1((msg,))?))
    })
}

/// `numpy._core._exceptions._ArrayMemoryError(shape, dtype)`: a MemoryError subclass whose
/// message ("Unable to allocate 149. GiB for an array with shape ...") NumPy formats.
fn numpy_memory_error(shape: &[usize], dtype: &str) -> PyResult<PyErr> {
    Python::attach(|py| {
        let numpy = py.import("numpy")?;
        let class = py
            .import("numpy._core._exceptions")?
            .getattr("_ArrayMemoryError")?;
        let error = class.call1((
            PyTuple::new(py, shape)?,
            numpy.getattr("dtype")?.call1((dtype,))?,
        ))?;
        Ok(PyErr::from_value(error))
    })
}

/// A panic caught at the boundary, as RuntimeError (a panic never unwinds into Python).
pub fn panic_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    PyRuntimeError::new_err(format!("internal error in sklearn_rs: {msg}"))
}
