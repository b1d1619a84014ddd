use thiserror::Error;

/// Errors a kernel reports instead of panicking; bindings map them to Python exceptions.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// Inputs whose lengths or shapes disagree (the binding validated less than it should have).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An argument outside the kernel's domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The caller asked the computation to stop (for example Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}
