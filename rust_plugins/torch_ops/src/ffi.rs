//! The C entry points the C++ shim (csrc/ops.cpp) calls from its CPU kernels.
//!
//! Tensors cross as tch's `C_tensor` (an `at::Tensor*`): inputs are borrowed, outputs are
//! handed over. Errors cross as a heap-allocated [`TorchRsError`] that the shim turns into the
//! matching C++ exception and frees with [`torch_rs_error_free`]. No panic crosses: every
//! entry point catches unwinding and reports it as an error.

use crate::error::OpError;
use crate::gelu_ops;
use crate::tensors::{borrow, into_raw};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use torch_sys::C_tensor;

#[repr(C)]
pub struct TorchRsError {
    /// See [`OpError::code`].
    code: i32,
    message: *mut c_char,
}

fn guarded(op: &str, body: impl FnOnce() -> Result<(), OpError>) -> *mut TorchRsError {
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
        code: error.code(),
        message: message.into_raw(),
    }))
}

fn thread_count(threads: i64) -> usize {
    threads.max(1) as usize
}

/// # Safety
/// `x` points to a live tensor; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu(
    x: *const C_tensor,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded("rs::fast_gelu", || {
        let result = gelu_ops::fast_gelu(&borrow(x), thread_count(threads))?;
        *out = into_raw(result);
        Ok(())
    })
}

/// # Safety
/// `x` and `out` point to live tensors; `out` has x's shape and does not partially overlap x.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu_into(
    x: *const C_tensor,
    out: *const C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded("rs::fast_gelu.out", || {
        gelu_ops::fast_gelu_into(&borrow(x), &borrow(out), thread_count(threads))
    })
}

/// # Safety
/// `grad` and `x` point to live tensors; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu_backward(
    grad: *const C_tensor,
    x: *const C_tensor,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded("rs::fast_gelu_backward", || {
        let result =
            gelu_ops::fast_gelu_backward(&borrow(grad), &borrow(x), thread_count(threads))?;
        *out = into_raw(result);
        Ok(())
    })
}

/// # Safety
/// `x` points to a live tensor; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu_second_derivative(
    x: *const C_tensor,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded("rs::fast_gelu_second_derivative", || {
        let result = gelu_ops::fast_gelu_second_derivative(&borrow(x), thread_count(threads))?;
        *out = into_raw(result);
        Ok(())
    })
}

/// # Safety
/// `error` was returned by one of the entry points above and is freed once.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_error_free(error: *mut TorchRsError) {
    if error.is_null() {
        return;
    }
    let error = Box::from_raw(error);
    if !error.message.is_null() {
        drop(CString::from_raw(error.message));
    }
}
