//! Errors of the operators, each mapped by the C++ shim to the Python exception PyTorch itself
//! would raise (RuntimeError, TypeError, NotImplementedError).

use crate::ffi::ErrorKind;
use kernels::KernelError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    Runtime(String),
    Type(String),
    NotImplemented(String),
}

impl OpError {
    /// The exception the C++ shim raises for it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpError::Runtime(_) => ErrorKind::Runtime,
            OpError::Type(_) => ErrorKind::Type,
            OpError::NotImplemented(_) => ErrorKind::NotImplemented,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            OpError::Runtime(m) | OpError::Type(m) | OpError::NotImplemented(m) => m,
        }
    }
}

impl From<KernelError> for OpError {
    fn from(error: KernelError) -> Self {
        OpError::Runtime(error.to_string())
    }
}

impl From<tch::TchError> for OpError {
    /// libtorch's own message (tch prefixes "Internal torch error: "), so that an output that
    /// cannot be allocated raises exactly what torch's own op raises.
    fn from(error: tch::TchError) -> Self {
        match error {
            tch::TchError::Torch(message) => OpError::Runtime(message),
            other => OpError::Runtime(other.to_string()),
        }
    }
}
