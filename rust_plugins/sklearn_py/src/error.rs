//! The one place where Rust errors become Python exceptions.

use kernels::KernelError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// A kernel's error as the Python exception the caller sees. Input validation with
/// scikit-learn's messages happens in Python, so these only surface for inconsistent calls.
pub fn kernel_error(e: KernelError) -> PyErr {
    match e {
        KernelError::Interrupted => PyKeyboardInterrupt::new_err(()),
        other => PyValueError::new_err(other.to_string()),
    }
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
