//! What every C entry point shares: the error hand-over and the panic guard.
//!
//! The C++ shim (csrc/) calls one `extern "C"` function per kernel (src/ops/<family>.rs);
//! build.rs generates the shim's declarations of them from these sources. Tensors cross as
//! tch's `C_tensor` (an `at::Tensor*`): inputs are borrowed, outputs are handed over. Errors
//! cross as a heap-allocated [`TorchRsError`] that the shim reads, raises as the matching C++
//! exception and frees. No panic crosses: every entry point runs its body in [`guarded`].

use crate::error::OpError;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The exception an error becomes (the C++ side sees these codes as `TorchRsErrorKind`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Runtime = 0,
    Type = 1,
    NotImplemented = 2,
}

/// An error handed to C++; opaque there.
pub struct TorchRsError {
    kind: ErrorKind,
    message: CString,
}

/// Runs an entry point's body: null on success, else the error (a panic becomes a
/// RuntimeError naming `op`).
pub fn guarded(op: &str, body: impl FnOnce() -> Result<(), OpError>) -> *mut TorchRsError {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return std::ptr::null_mut(),
        Ok(Err(error)) => error,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            OpError::Runtime(format!("{op}: internal error: {detail}"))
        }
    };
    let message = CString::new(error.message().replace('\0', " ")).unwrap_or_default();
    Box::into_raw(Box::new(TorchRsError {
        kind: error.kind(),
        message,
    }))
}

/// torch's intra-op thread count as the shim passes it (at least 1).
pub fn thread_count(threads: i64) -> usize {
    threads.max(1) as usize
}

/// # Safety
/// `error` was returned by an entry point and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_error_kind(error: *const TorchRsError) -> ErrorKind {
    (*error).kind
}

/// The message, valid until the error is freed.
///
/// # Safety
/// `error` was returned by an entry point and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_error_message(error: *const TorchRsError) -> *const c_char {
    (*error).message.as_ptr()
}

/// # Safety
/// `error` was returned by an entry point and is freed once.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_error_free(error: *mut TorchRsError) {
    if !error.is_null() {
        drop(Box::from_raw(error));
    }
}
