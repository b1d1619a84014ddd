use thiserror::Error;

/// The `InvalidArgument` message of a kernel that met NaN or infinite values in X: estimators
/// skip scikit-learn's separate finiteness pass over X and validate it, with scikit-learn's
/// message, only when a kernel reports this.
pub const NON_FINITE: &str = "X contains NaN or infinity";

/// Errors a kernel reports instead of panicking; bindings map them to Python exceptions.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// Inputs whose lengths or shapes disagree (the binding validated less than it should have).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An argument outside the kernel's domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An iterative factorisation (SVD, eigendecomposition) did not converge; NumPy's
    /// `LinAlgError` in Python.
    #[error("{0}")]
    NoConvergence(String),
    /// The caller asked the computation to stop (for example Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
    /// An input-sized buffer could not be allocated (see [`crate::alloc`]); NumPy's wording.
    #[error(
        "Unable to allocate {} for an array with shape {} and data type {dtype}",
        crate::alloc::size_string(*bytes),
        python_shape(shape)
    )]
    OutOfMemory {
        shape: Vec<usize>,
        dtype: &'static str,
        bytes: u128,
    },
}

/// A shape as Python prints a tuple: `(3,)`, `(2, 5)`.
fn python_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
