//! The rs::fast_gelu family: forward (fresh or out=), backward and second derivative, each the
//! matching `kernels::gelu` kernel run by the elementwise engine.

use crate::elementwise::{compute_into, compute_new, Args};
use crate::ffi::{guarded, thread_count, TorchRsError};
use crate::tensors::{borrow, into_raw};
use kernels::gelu::{Backward, Forward, SecondDerivative};
use torch_sys::C_tensor;

const FORWARD: &str = "rs::fast_gelu";
const FORWARD_OUT: &str = "rs::fast_gelu.out";
const BACKWARD: &str = "rs::fast_gelu_backward";
const SECOND: &str = "rs::fast_gelu_second_derivative";

/// gelu(x) into a new tensor.
///
/// # Safety
/// `x` points to a live tensor; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu(
    x: *const C_tensor,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded(FORWARD, || {
        let x = borrow(x);
        let result = compute_new(FORWARD, Forward, Args::input(&x), thread_count(threads))?;
        *out = into_raw(result);
        Ok(())
    })
}

/// gelu(x) into `out`.
///
/// # Safety
/// `x` and `out` point to live tensors; `out` has x's shape and does not partially overlap x.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu_into(
    x: *const C_tensor,
    out: *const C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded(FORWARD_OUT, || {
        let (x, out) = (borrow(x), borrow(out));
        compute_into(
            FORWARD_OUT,
            Forward,
            Args::input(&x),
            &out,
            thread_count(threads),
        )
    })
}

/// grad · gelu'(x), with the gradient's layout as torch's gelu_backward has.
///
/// # Safety
/// `grad` and `x` point to live tensors; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu_backward(
    grad: *const C_tensor,
    x: *const C_tensor,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded(BACKWARD, || {
        let (grad, x) = (borrow(grad), borrow(x));
        let args = Args {
            tensors: [&*grad, &*x],
            names: ["grad", "input"],
            like: 1,
        };
        let result = compute_new(BACKWARD, Backward, args, thread_count(threads))?;
        *out = into_raw(result);
        Ok(())
    })
}

/// gelu''(x), used by double backward.
///
/// # Safety
/// `x` points to a live tensor; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_fast_gelu_second_derivative(
    x: *const C_tensor,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded(SECOND, || {
        let x = borrow(x);
        let result = compute_new(
            SECOND,
            SecondDerivative,
            Args::input(&x),
            thread_count(threads),
        )?;
        *out = into_raw(result);
        Ok(())
    })
}
