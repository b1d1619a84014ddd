//! Errors of the operators, each mapped by the C++ shim to the Python exception PyTorch itself
//! would raise (RuntimeError, TypeError, NotImplementedError).

use kernels::KernelError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    Runtime(String),
    Type(String),
    NotImplemented(String),
}

impl OpError {
    /// The code the C++ shim switches on (see `csrc/ops.cpp`).
    pub fn code(&self) -> i32 {
        match self {
            OpError::Runtime(_) => 0,
            OpError::Type(_) => 1,
            OpError::NotImplemented(_) => 2,
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
    fn from(error: tch::TchError) -> Self {
        OpError::Runtime(error.to_string())
    }
}
