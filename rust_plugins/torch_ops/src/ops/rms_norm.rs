//! The rs::rms_norm family: RMSNorm over the last dimension (optionally after a fused residual
//! add) and its backward, each row computed by `kernels::rms_norm`.
//!
//! Dtypes: the weight has the input's dtype, or is float32 (any input), or is a half type with
//! a float32 input (not in T5 mode, whose output would then be half). The output's dtype is the
//! reference module's: the input's, except Llama's and T5's float32 result for a half input
//! with a float32 weight. The inverse RMS is kept in the compute precision (float32, or float64
//! for float64 input).

use crate::error::OpError;
use crate::ffi::{guarded, thread_count, TorchRsError};
use crate::rows::{for_each_rows, new_output, rows_per_task, Rows, RowsOut};
use crate::tensors::{borrow, into_raw, Dtype, Operand};
use kernels::float::Float;
use kernels::half::{Bf16, F16};
use kernels::rms_norm::{
    add_forward_row, backward_row, effective_weight, forward_row, Mode, Plan, Storage,
};
use std::mem::ManuallyDrop;
use tch::Tensor;
use torch_sys::C_tensor;

const FORWARD: &str = "rs::rms_norm";
const ADD_FORWARD: &str = "rs::add_rms_norm";
const BACKWARD: &str = "rs::rms_norm_backward";

fn mode_of(op: &str, code: i32) -> Result<Mode, OpError> {
    Mode::from_code(code).ok_or_else(|| OpError::Runtime(format!("{op}: unknown mode {code}")))
}

fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "torch.float32",
        Dtype::F64 => "torch.float64",
        Dtype::Bf16 => "torch.bfloat16",
        Dtype::F16 => "torch.float16",
    }
}

/// The reference module's output dtype, or an error for the weight dtypes not supported.
pub fn output_dtype(
    op: &str,
    mode: Mode,
    x: Dtype,
    weight: Option<Dtype>,
) -> Result<Dtype, OpError> {
    let Some(w) = weight else { return Ok(x) };
    let half = |d: Dtype| matches!(d, Dtype::Bf16 | Dtype::F16);
    let supported = w == x
        || (w == Dtype::F32 && x != Dtype::F32)
        || (x == Dtype::F32 && half(w) && mode != Mode::T5);
    if !supported {
        return Err(OpError::Runtime(format!(
            "{op}: a weight of dtype {} with an input of dtype {} is not supported; use a \
             weight of the input's dtype or float32",
            dtype_name(w),
            dtype_name(x)
        )));
    }
    Ok(match mode {
        Mode::Llama | Mode::T5 if half(x) && w == Dtype::F32 => Dtype::F32,
        _ => x,
    })
}

/// The compute precision of an input dtype, which is also the inverse RMS's dtype.
fn compute_dtype(x: Dtype) -> Dtype {
    if x == Dtype::F64 {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

unsafe fn optional(ptr: *const C_tensor) -> Option<ManuallyDrop<Tensor>> {
    (!ptr.is_null()).then(|| borrow(ptr))
}

fn read_input(op: &str, what: &str, t: &Tensor) -> Result<Operand, OpError> {
    let operand = Operand::read(op, what, t)?;
    if operand.sizes.is_empty() {
        return Err(OpError::Runtime(format!(
            "{op}: expected {what} to have at least one dimension (normalised over the last), \
             but got a 0-dimensional tensor"
        )));
    }
    Ok(operand)
}

fn check_like(
    op: &str,
    what: &str,
    operand: &Operand,
    x: &Operand,
    dtype: Dtype,
) -> Result<(), OpError> {
    if operand.sizes != x.sizes {
        return Err(OpError::Runtime(format!(
            "{op}: expected {what} to have the input's shape {:?}, but got {:?}",
            x.sizes, operand.sizes
        )));
    }
    if operand.dtype != dtype {
        return Err(OpError::Runtime(format!(
            "{op}: expected {what} to have dtype {}, but got {}",
            dtype_name(dtype),
            dtype_name(operand.dtype)
        )));
    }
    Ok(())
}

fn read_weight(op: &str, t: &Tensor, d: usize) -> Result<Operand, OpError> {
    let w = Operand::read(op, "weight", t)?;
    if w.sizes != [d as i64] {
        return Err(OpError::Runtime(format!(
            "{op}: expected weight of shape [{d}] (the input's last dimension), but got {:?}",
            w.sizes
        )));
    }
    Ok(w)
}

/// The weight's values in the compute precision (exact: it is never wider than that).
unsafe fn weight_values<C: Float>(w: &Operand, plan: Plan) -> Vec<C> {
    let stride = w.strides[0] as isize;
    let d = w.sizes[0] as usize;
    let value = |i: usize| -> f64 {
        let at = i as isize * stride;
        match w.dtype {
            Dtype::F32 => *(w.data as *const f32).offset(at) as f64,
            Dtype::F64 => *(w.data as *const f64).offset(at),
            Dtype::Bf16 => (*(w.data as *const Bf16).offset(at)).to_f32() as f64,
            Dtype::F16 => (*(w.data as *const F16).offset(at)).to_f32() as f64,
        }
    };
    effective_weight((0..d).map(|i| C::from_f64(value(i))), plan)
}

/// Raw pointer shared by the tasks of one call; each task writes its own rows or block.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}
impl<T> Shared<T> {
    fn at(&self, k: usize) -> *mut T {
        self.0.wrapping_add(k)
    }
}

fn scratch<T: Storage>(rows: &Rows) -> Vec<T> {
    vec![T::default(); rows.d]
}

struct Forward<'a> {
    x: &'a Rows,
    residual: Option<&'a Rows>,
    weight: Option<&'a Operand>,
    eps: f64,
    mode: Mode,
    out: RowsOut,
    sum: Option<RowsOut>,
    inv_rms: Option<*mut u8>,
    threads: usize,
}

// SAFETY: the raw pointers are tensor data read, or written row by row, by the call's tasks.
unsafe impl Sync for Forward<'_> {}

fn forward_typed<T: Storage, O: Storage<Compute = T::Compute>>(f: &Forward) -> Result<(), OpError> {
    let plan = Plan::new(
        f.mode,
        f.weight.is_some(),
        f.weight.is_some_and(|w| w.dtype == f.x.dtype),
    );
    let weight: Option<Vec<T::Compute>> = f.weight.map(|w| unsafe { weight_values(w, plan) });
    let weight = weight.as_deref();
    let eps = T::Compute::from_f64(f.eps);
    let inv = f.inv_rms.map(|p| Shared(p as *mut T::Compute));
    let (out, sum) = (f.out, f.sum);
    for_each_rows(
        f.x.rows,
        f.x.d,
        rows_per_task(f.x.d),
        f.threads,
        &|first, end| {
            let mut sx = scratch::<T>(f.x);
            let mut sr = scratch::<T>(f.x);
            for r in first..end {
                // SAFETY: rows of live tensors of these dtypes; each row is written by this task only.
                unsafe {
                    let x = f.x.row::<T>(r, &mut sx);
                    let o = out.row::<O>(r);
                    let rr = match (f.residual, sum) {
                        (Some(residual), Some(sum)) => {
                            let res = residual.row::<T>(r, &mut sr);
                            add_forward_row(x, res, weight, eps, plan, sum.row::<T>(r), o)
                        }
                        _ => forward_row(x, weight, eps, plan, o),
                    };
                    if let Some(inv) = inv {
                        *inv.at(r) = rr;
                    }
                }
            }
            Ok::<(), OpError>(())
        },
    )
}

fn forward(f: &Forward, out_dtype: Dtype) -> Result<(), OpError> {
    match (f.x.dtype, out_dtype) {
        (Dtype::F32, Dtype::F32) => forward_typed::<f32, f32>(f),
        (Dtype::F64, Dtype::F64) => forward_typed::<f64, f64>(f),
        (Dtype::Bf16, Dtype::Bf16) => forward_typed::<Bf16, Bf16>(f),
        (Dtype::F16, Dtype::F16) => forward_typed::<F16, F16>(f),
        (Dtype::Bf16, Dtype::F32) => forward_typed::<Bf16, f32>(f),
        (Dtype::F16, Dtype::F32) => forward_typed::<F16, f32>(f),
        (x, o) => Err(OpError::Runtime(format!(
            "internal error: no kernel from {x:?} to {o:?}"
        ))),
    }
}

/// RMSNorm of `x` (or of `x + residual`, written to `*sum`, when `residual` is not null) into a
/// new `*out`; the inverse RMS into a new `*inv_rms` unless that is null. `weight` may be null.
///
/// # Safety
/// Non-null tensor pointers point to live tensors; `out` and `sum` (with a residual) are writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn torch_rs_rms_norm(
    x: *const C_tensor,
    residual: *const C_tensor,
    weight: *const C_tensor,
    eps: f64,
    mode: i32,
    out: *mut *mut C_tensor,
    sum: *mut *mut C_tensor,
    inv_rms: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    let op = if residual.is_null() {
        FORWARD
    } else {
        ADD_FORWARD
    };
    guarded(op, || {
        let mode = mode_of(op, mode)?;
        let x_t = borrow(x);
        let x_op = read_input(op, "input", &x_t)?;
        let residual_t = optional(residual);
        let residual_op = match &residual_t {
            Some(t) => {
                let operand = Operand::read(op, "residual", t)?;
                check_like(op, "residual", &operand, &x_op, x_op.dtype)?;
                Some(operand)
            }
            None => None,
        };
        let x_rows = Rows::new(&x_op);
        let weight_t = optional(weight);
        let weight_op = match &weight_t {
            Some(t) => Some(read_weight(op, t, x_rows.d)?),
            None => None,
        };
        let out_dtype = output_dtype(op, mode, x_op.dtype, weight_op.as_ref().map(|w| w.dtype))?;
        let (out_t, out_rows) = new_output(&x_op.sizes, out_dtype, x_rows.d)?;
        let sum_out = match residual_op {
            Some(_) => Some(new_output(&x_op.sizes, x_op.dtype, x_rows.d)?),
            None => None,
        };
        let lead = &x_op.sizes[..x_op.sizes.len() - 1];
        let inv_out = match inv_rms.is_null() {
            true => None,
            false => Some(new_output(lead, compute_dtype(x_op.dtype), 1)?),
        };
        let residual_rows = residual_op.as_ref().map(Rows::new);
        let call = Forward {
            x: &x_rows,
            residual: residual_rows.as_ref(),
            weight: weight_op.as_ref(),
            eps,
            mode,
            out: out_rows,
            sum: sum_out.as_ref().map(|(_, rows)| *rows),
            inv_rms: inv_out.as_ref().map(|(t, _)| t.data_ptr() as *mut u8),
            threads: thread_count(threads),
        };
        forward(&call, out_dtype)?;
        *out = into_raw(out_t);
        if let Some((t, _)) = sum_out {
            *sum = into_raw(t);
        }
        if let Some((t, _)) = inv_out {
            *inv_rms = into_raw(t);
        }
        Ok(())
    })
}

struct Backward<'a> {
    grad: &'a Rows,
    x: &'a Rows,
    weight: Option<&'a Operand>,
    inv_rms: *const u8,
    grad_sum: Option<&'a Rows>,
    mode: Mode,
    dx: RowsOut,
    /// The weight's gradient: (data, dtype), contiguous, when wanted.
    dweight: Option<(*mut u8, Dtype)>,
    threads: usize,
}

// SAFETY: as for `Forward`.
unsafe impl Sync for Backward<'_> {}

/// Blocks of rows whose weight-gradient partial sums are added in block order: their number
/// depends on the shape only, so every thread count gives the same bits.
const MAX_BLOCKS: usize = 64;

fn backward_typed<T: Storage, G: Storage<Compute = T::Compute>>(
    b: &Backward,
) -> Result<(), OpError> {
    type C<T> = <T as Storage>::Compute;
    let plan = Plan::new(
        b.mode,
        b.weight.is_some(),
        b.weight.is_some_and(|w| w.dtype == b.x.dtype),
    );
    let weight: Option<Vec<C<T>>> = b.weight.map(|w| unsafe { weight_values(w, plan) });
    let weight = weight.as_deref();
    let inv = Shared(b.inv_rms as *mut C<T>);
    let (rows, d) = (b.x.rows, b.x.d);
    let dx = b.dx;
    let per_block = rows.div_ceil(rows.clamp(1, MAX_BLOCKS)).max(1);
    let blocks = rows.div_ceil(per_block).max(1);
    let mut partials = match b.dweight {
        Some(_) => kernels::alloc::filled(&[blocks, d], C::<T>::ZERO)?,
        None => Vec::new(),
    };
    let partial = Shared(partials.as_mut_ptr());
    let want_dw = b.dweight.is_some();
    let per_task = if want_dw { per_block } else { rows_per_task(d) };
    for_each_rows(rows, d, per_task, b.threads, &|first, end| {
        let (mut sg, mut sx, mut ss) = (scratch::<G>(b.x), scratch::<T>(b.x), scratch::<T>(b.x));
        // SAFETY: the tasks' row ranges are whole blocks, so each block's partial sums and each
        // row of dx are written by one task only.
        let mut dw = want_dw.then(|| unsafe {
            std::slice::from_raw_parts_mut(partial.at(first / per_block * d), d)
        });
        for r in first..end {
            unsafe {
                let g = b.grad.row::<G>(r, &mut sg);
                let x = b.x.row::<T>(r, &mut sx);
                let extra = b.grad_sum.map(|rows| rows.row::<T>(r, &mut ss));
                let extra: Option<&[T]> = extra;
                backward_row(
                    g,
                    x,
                    weight,
                    *inv.at(r),
                    plan,
                    extra,
                    dx.row::<T>(r),
                    dw.as_deref_mut(),
                );
            }
        }
        Ok::<(), OpError>(())
    })?;
    if let Some((data, dtype)) = b.dweight {
        for i in 0..d {
            let mut total = C::<T>::ZERO;
            for block in 0..blocks {
                total += partials[block * d + i];
            }
            // SAFETY: a fresh contiguous tensor of d elements of `dtype`.
            unsafe { store(data, dtype, i, total.to_f64()) };
        }
    }
    Ok(())
}

/// Writes `value` (exact in the compute precision) as element `i` of `dtype`, rounded once.
unsafe fn store(data: *mut u8, dtype: Dtype, i: usize, value: f64) {
    match dtype {
        Dtype::F32 => *(data as *mut f32).add(i) = value as f32,
        Dtype::F64 => *(data as *mut f64).add(i) = value,
        Dtype::Bf16 => *(data as *mut Bf16).add(i) = Bf16::from_f32(value as f32),
        Dtype::F16 => *(data as *mut F16).add(i) = F16::from_f32(value as f32),
    }
}

/// Gradients of rs::rms_norm / rs::add_rms_norm: `*dx` (plus `grad_sum`, the gradient reaching
/// the sum directly, when not null) and, with `weight_grad` and a weight, `*dweight`.
///
/// # Safety
/// Non-null tensor pointers point to live tensors; `dx` and `dweight` are writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn torch_rs_rms_norm_backward(
    grad: *const C_tensor,
    x: *const C_tensor,
    weight: *const C_tensor,
    inv_rms: *const C_tensor,
    grad_sum: *const C_tensor,
    mode: i32,
    weight_grad: bool,
    dx: *mut *mut C_tensor,
    dweight: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    let op = BACKWARD;
    guarded(op, || {
        let mode = mode_of(op, mode)?;
        let x_t = borrow(x);
        let x_op = read_input(op, "input", &x_t)?;
        let x_rows = Rows::new(&x_op);
        let weight_t = optional(weight);
        let weight_op = match &weight_t {
            Some(t) => Some(read_weight(op, t, x_rows.d)?),
            None => None,
        };
        let out_dtype = output_dtype(op, mode, x_op.dtype, weight_op.as_ref().map(|w| w.dtype))?;
        let grad_t = borrow(grad);
        let grad_op = Operand::read(op, "grad", &grad_t)?;
        check_like(op, "grad", &grad_op, &x_op, out_dtype)?;
        let grad_sum_t = optional(grad_sum);
        let grad_sum_op = match &grad_sum_t {
            Some(t) => {
                let operand = Operand::read(op, "grad_sum", t)?;
                check_like(op, "grad_sum", &operand, &x_op, x_op.dtype)?;
                Some(operand)
            }
            None => None,
        };
        let inv_t = borrow(inv_rms);
        let inv_op = Operand::read(op, "inv_rms", &inv_t)?;
        let lead = &x_op.sizes[..x_op.sizes.len() - 1];
        let contiguous =
            crate::tensors::is_non_overlapping_and_dense(&inv_op.sizes, &inv_op.strides)
                && inv_op.strides.windows(2).all(|s| s[0] >= s[1]);
        if inv_op.sizes != lead || inv_op.dtype != compute_dtype(x_op.dtype) || !contiguous {
            return Err(OpError::Runtime(format!(
                "{op}: expected inv_rms to be a contiguous {} tensor of shape {lead:?}, but got \
                 {} of shape {:?}",
                dtype_name(compute_dtype(x_op.dtype)),
                dtype_name(inv_op.dtype),
                inv_op.sizes
            )));
        }
        let (dx_t, dx_rows) = new_output(&x_op.sizes, x_op.dtype, x_rows.d)?;
        let dw_out = match (&weight_op, weight_grad) {
            (Some(w), true) => Some(new_output(&[x_rows.d as i64], w.dtype, x_rows.d)?),
            _ => None,
        };
        let grad_rows = Rows::new(&grad_op);
        let grad_sum_rows = grad_sum_op.as_ref().map(Rows::new);
        let call = Backward {
            grad: &grad_rows,
            x: &x_rows,
            weight: weight_op.as_ref(),
            inv_rms: inv_op.data,
            grad_sum: grad_sum_rows.as_ref(),
            mode,
            dx: dx_rows,
            dweight: dw_out
                .as_ref()
                .map(|(t, _)| (t.data_ptr() as *mut u8, weight_op.as_ref().unwrap().dtype)),
            threads: thread_count(threads),
        };
        match (x_op.dtype, out_dtype) {
            (Dtype::F32, Dtype::F32) => backward_typed::<f32, f32>(&call),
            (Dtype::F64, Dtype::F64) => backward_typed::<f64, f64>(&call),
            (Dtype::Bf16, Dtype::Bf16) => backward_typed::<Bf16, Bf16>(&call),
            (Dtype::F16, Dtype::F16) => backward_typed::<F16, F16>(&call),
            (Dtype::Bf16, Dtype::F32) => backward_typed::<Bf16, f32>(&call),
            (Dtype::F16, Dtype::F32) => backward_typed::<F16, f32>(&call),
            (x, o) => Err(OpError::Runtime(format!(
                "internal error: no kernel from {x:?} to {o:?}"
            ))),
        }?;
        *dx = into_raw(dx_t);
        if let Some((t, _)) = dw_out {
            *dweight = into_raw(t);
        }
        Ok(())
    })
}
