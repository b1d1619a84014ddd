//! The rs::silu_mul / rs::gelu_tanh_mul family: `act(gate) * up` and its backward (both
//! gradients in one pass, the activation recomputed), each run by `kernels::glu` over flat
//! slices split on torch's threads.
//!
//! gate and up have one shape and dtype. Results are laid out as torch lays out `act(gate)`
//! (`empty_like(gate)`); operands in that layout are walked as they lie, others are copied into
//! it first by libtorch.

use crate::error::OpError;
use crate::ffi::{guarded, thread_count, TorchRsError};
use crate::tensors::{borrow, into_raw, Dtype, Operand};
use crate::threads;
use kernels::elementwise::Element;
use kernels::glu::{backward, forward, Activation};
use kernels::half::{Bf16, F16};
use kernels::rms_norm::Storage;
use tch::Tensor;
use torch_sys::C_tensor;

fn activation(code: i32) -> (Activation, &'static str, &'static str) {
    match code {
        0 => (Activation::Silu, "rs::silu_mul", "rs::silu_mul_backward"),
        _ => (
            Activation::GeluTanh,
            "rs::gelu_tanh_mul",
            "rs::gelu_tanh_mul_backward",
        ),
    }
}

/// Reads the operands and checks them against the first; returns each operand's data in the
/// layout of `like` (a fresh dense tensor), copied there by libtorch when its own layout
/// differs, and the copies that keep that data alive.
fn operands(
    op: &str,
    names: &[&str],
    tensors: &[&Tensor],
    like: &Tensor,
) -> Result<(Vec<*mut u8>, Vec<Tensor>), OpError> {
    let mut read = Vec::with_capacity(tensors.len());
    for (name, t) in names.iter().zip(tensors) {
        read.push(Operand::read(op, name, t)?);
    }
    for (k, operand) in read.iter().enumerate().skip(1) {
        if operand.sizes != read[0].sizes {
            return Err(OpError::Runtime(format!(
                "{op}: expected {} to have {}'s shape {:?}, but got {:?}",
                names[k], names[0], read[0].sizes, operand.sizes
            )));
        }
        if operand.dtype != read[0].dtype {
            return Err(OpError::Runtime(format!(
                "{op}: expected {} to have {}'s dtype {:?}, but got {:?}",
                names[k], names[0], read[0].dtype, operand.dtype
            )));
        }
    }
    let sizes = &read[0].sizes;
    let target = like.stride();
    let mut data = Vec::with_capacity(read.len());
    let mut copies = Vec::new();
    for (operand, t) in read.iter().zip(tensors) {
        let same = (0..sizes.len()).all(|d| sizes[d] < 2 || operand.strides[d] == target[d]);
        if same {
            data.push(operand.data);
        } else {
            let mut copy = like.f_empty_like()?;
            copy.f_copy_(t)?;
            data.push(copy.data_ptr() as *mut u8);
            copies.push(copy);
        }
    }
    Ok((data, copies))
}

/// A fresh output laid out as torch lays out `act(gate)` (gate's dense layout, or its
/// dimension order), and its data pointer.
fn output_like(gate: &Tensor) -> Result<(Tensor, *mut u8), OpError> {
    let out = gate.f_empty_like()?;
    let bytes = out.numel() * out.kind().elt_size_in_bytes();
    let data = out.data_ptr() as *mut u8;
    crate::memory::advise_huge_pages(data, bytes);
    Ok((out, data))
}

#[derive(Clone, Copy)]
struct Ptr(*mut u8);
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

unsafe fn slice<'a, T>(p: Ptr, begin: usize, end: usize) -> &'a [T] {
    std::slice::from_raw_parts((p.0 as *const T).add(begin), end - begin)
}

#[allow(clippy::mut_from_ref)]
unsafe fn slice_mut<'a, T>(p: Ptr, begin: usize, end: usize) -> &'a mut [T] {
    std::slice::from_raw_parts_mut((p.0 as *mut T).add(begin), end - begin)
}

fn forward_typed<T: Storage>(
    act: Activation,
    gate: Ptr,
    up: Ptr,
    out: Ptr,
    n: usize,
    threads: usize,
) -> Result<(), OpError>
where
    T::Compute: Element,
{
    threads::for_each_range(n, threads, &|begin, end| {
        // SAFETY: the operands hold n elements of T in one layout; ranges are disjoint.
        unsafe {
            forward::<T>(
                act,
                slice(gate, begin, end),
                slice(up, begin, end),
                slice_mut(out, begin, end),
            )
        };
        Ok::<(), OpError>(())
    })
}

#[allow(clippy::too_many_arguments)]
fn backward_typed<T: Storage>(
    act: Activation,
    grad: Ptr,
    gate: Ptr,
    up: Ptr,
    d_gate: Ptr,
    d_up: Ptr,
    n: usize,
    threads: usize,
) -> Result<(), OpError>
where
    T::Compute: Element,
{
    threads::for_each_range(n, threads, &|begin, end| {
        // SAFETY: as in forward_typed.
        unsafe {
            backward::<T>(
                act,
                slice(grad, begin, end),
                slice(gate, begin, end),
                slice(up, begin, end),
                slice_mut(d_gate, begin, end),
                slice_mut(d_up, begin, end),
            )
        };
        Ok::<(), OpError>(())
    })
}

/// `act(gate) * up` into a new `*out`; `activation` 0 is SiLU, 1 tanh-GELU.
///
/// # Safety
/// `gate` and `up` point to live tensors; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_glu(
    gate: *const C_tensor,
    up: *const C_tensor,
    activation_code: i32,
    out: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    let (act, op, _) = activation(activation_code);
    guarded(op, || {
        let (gate, up) = (borrow(gate), borrow(up));
        let dtype = Operand::read(op, "gate", &gate)?.dtype;
        let (result, data) = output_like(&gate)?;
        let (inputs, _copies) = operands(op, &["gate", "up"], &[&gate, &up], &result)?;
        let n = result.numel();
        let (g, u, o) = (Ptr(inputs[0]), Ptr(inputs[1]), Ptr(data));
        let threads = thread_count(threads);
        if n > 0 {
            match dtype {
                Dtype::F32 => forward_typed::<f32>(act, g, u, o, n, threads),
                Dtype::F64 => forward_typed::<f64>(act, g, u, o, n, threads),
                Dtype::Bf16 => forward_typed::<Bf16>(act, g, u, o, n, threads),
                Dtype::F16 => forward_typed::<F16>(act, g, u, o, n, threads),
            }?;
        }
        *out = into_raw(result);
        Ok(())
    })
}

/// The gradients of `act(gate) * up` given the output's `grad`: new `*d_gate` and `*d_up`.
///
/// # Safety
/// `grad`, `gate` and `up` point to live tensors; `d_gate` and `d_up` are writable.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_glu_backward(
    grad: *const C_tensor,
    gate: *const C_tensor,
    up: *const C_tensor,
    activation_code: i32,
    d_gate: *mut *mut C_tensor,
    d_up: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    let (act, _, op) = activation(activation_code);
    guarded(op, || {
        let (grad, gate, up) = (borrow(grad), borrow(gate), borrow(up));
        let dtype = Operand::read(op, "grad", &grad)?.dtype;
        Operand::read(op, "gate", &gate)?;
        let (dg, dg_data) = output_like(&gate)?;
        let (du, du_data) = output_like(&gate)?;
        let (inputs, _copies) = operands(op, &["grad", "gate", "up"], &[&grad, &gate, &up], &dg)?;
        let n = dg.numel();
        let p = (
            Ptr(inputs[0]),
            Ptr(inputs[1]),
            Ptr(inputs[2]),
            Ptr(dg_data),
            Ptr(du_data),
        );
        let threads = thread_count(threads);
        if n > 0 {
            match dtype {
                Dtype::F32 => backward_typed::<f32>(act, p.0, p.1, p.2, p.3, p.4, n, threads),
                Dtype::F64 => backward_typed::<f64>(act, p.0, p.1, p.2, p.3, p.4, n, threads),
                Dtype::Bf16 => backward_typed::<Bf16>(act, p.0, p.1, p.2, p.3, p.4, n, threads),
                Dtype::F16 => backward_typed::<F16>(act, p.0, p.1, p.2, p.3, p.4, n, threads),
            }?;
        }
        *d_gate = into_raw(dg);
        *d_up = into_raw(du);
        Ok(())
    })
}
