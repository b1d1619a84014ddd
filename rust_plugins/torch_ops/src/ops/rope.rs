//! rs::rope: rotary position embeddings of one tensor (the C++ shim calls it for q and for k)
//! and their backward, row by row with `kernels::rope`.
//!
//! `cos` and `sin` arrive broadcast to the tensor's leading dimensions (zero strides where one
//! position's values serve several heads or batch entries), so any layout of q, k, cos and sin
//! is read in place.

use crate::error::OpError;
use crate::ffi::{guarded, thread_count, TorchRsError};
use crate::rows::{for_each_rows, rows_per_task, Rows};
use crate::tensors::{borrow, Dtype, Operand};
use kernels::half::{Bf16, F16};
use kernels::rms_norm::Storage;
use torch_sys::C_tensor;

struct Call<'a> {
    x: &'a Rows,
    cos: &'a Rows,
    sin: &'a Rows,
    out: &'a Rows,
    backward: bool,
    threads: usize,
}

fn run<T: Storage>(c: &Call) -> Result<(), OpError> {
    let d = c.x.d;
    for_each_rows(c.x.rows, d, rows_per_task(d), c.threads, &|first, end| {
        let (mut sx, mut sc, mut ss) = (
            vec![T::default(); d],
            vec![T::default(); c.cos.d],
            vec![T::default(); c.sin.d],
        );
        for r in first..end {
            // SAFETY: rows of live tensors of T; each output row is written by one task.
            unsafe {
                let x = c.x.row::<T>(r, &mut sx);
                let cos = c.cos.row::<T>(r, &mut sc);
                let sin = c.sin.row::<T>(r, &mut ss);
                let out = c.out.row_mut::<T>(r);
                if c.backward {
                    kernels::rope::backward_row(x, cos, sin, out);
                } else {
                    kernels::rope::forward_row(x, cos, sin, out);
                }
            }
        }
        Ok::<(), OpError>(())
    })
}

// SAFETY: the rows' raw pointers are tensor data read, or written row by row, by the tasks.
unsafe impl Sync for Call<'_> {}

/// The rotary embedding of `x` (with `backward`, the gradient of x given the output's, passed
/// as `x`) into `out`, a tensor of x's shape whose last dimension is contiguous. `cos` and
/// `sin` have x's leading sizes and an even last size no larger than x's.
///
/// # Safety
/// The pointers point to live tensors; `out` does not overlap the inputs.
#[no_mangle]
pub unsafe extern "C" fn torch_rs_rope(
    x: *const C_tensor,
    cos: *const C_tensor,
    sin: *const C_tensor,
    backward: bool,
    out: *const C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    let op = if backward {
        "rs::rope_backward"
    } else {
        "rs::rope"
    };
    guarded(op, || {
        let (x, cos, sin, out) = (borrow(x), borrow(cos), borrow(sin), borrow(out));
        let x = Operand::read(op, "input", &x)?;
        let cos = Operand::read(op, "cos", &cos)?;
        let sin = Operand::read(op, "sin", &sin)?;
        let out = Operand::read(op, "out", &out)?;
        if x.sizes.is_empty() {
            return Err(OpError::Runtime(format!(
                "{op}: expected q and k to have at least one dimension"
            )));
        }
        for (what, t) in [("cos", &cos), ("sin", &sin)] {
            if t.dtype != x.dtype {
                return Err(OpError::Runtime(format!(
                    "{op}: expected {what} to have the dtype of q and k ({:?}), but got {:?}",
                    x.dtype, t.dtype
                )));
            }
        }
        let (x, cos, sin, out) = (
            Rows::new(&x),
            Rows::new(&cos),
            Rows::new(&sin),
            Rows::new(&out),
        );
        let rot = cos.d;
        if sin.d != rot || rot % 2 != 0 || rot > x.d {
            return Err(OpError::Runtime(format!(
                "{op}: cos and sin must have one even last size no larger than the head \
                 dimension {}, but got {} and {}",
                x.d, cos.d, sin.d
            )));
        }
        if cos.lead_sizes() != x.lead_sizes() || sin.lead_sizes() != x.lead_sizes() {
            return Err(OpError::Runtime(format!(
                "{op}: cos and sin do not broadcast to the input's leading sizes {:?}",
                x.lead_sizes()
            )));
        }
        if out.lead_sizes() != x.lead_sizes()
            || out.d != x.d
            || !out.rows_contiguous()
            || out.dtype != x.dtype
        {
            return Err(OpError::Runtime(format!(
                "{op}: internal error: bad output"
            )));
        }
        let call = Call {
            x: &x,
            cos: &cos,
            sin: &sin,
            out: &out,
            backward,
            threads: thread_count(threads),
        };
        if x.rows * x.d == 0 {
            return Ok(());
        }
        match x.dtype {
            Dtype::F32 => run::<f32>(&call),
            Dtype::F64 => run::<f64>(&call),
            Dtype::Bf16 => run::<Bf16>(&call),
            Dtype::F16 => run::<F16>(&call),
        }
    })
}
