//! rs::cross_entropy: the loss of (N, V) logits against N class indices, in float32 (float64
//! for float64 logits) whatever the logits' dtype, and its gradient written straight into the
//! logits-shaped result (no softmax buffer besides it).

use crate::error::OpError;
use crate::ffi::{guarded, thread_count, TorchRsError};
use crate::rows::{for_each_rows, new_output, rows_per_task, Rows};
use crate::tensors::{borrow, into_raw, Dtype, Operand};
use kernels::elementwise::Element;
use kernels::float::Float;
use kernels::half::{Bf16, F16};
use kernels::rms_norm::Storage;
use tch::{Kind, Tensor};
use torch_sys::C_tensor;

const FORWARD: &str = "rs::cross_entropy";
const BACKWARD: &str = "rs::cross_entropy_backward";

/// `reduction` codes, in the order of csrc/ops/cross_entropy.cpp.
const NONE: i32 = 0;
const MEAN: i32 = 1;

struct Inputs {
    logits: Operand,
    targets: Tensor,
    n: usize,
    v: usize,
}

fn read(op: &str, logits: &Tensor, target: &Tensor) -> Result<Inputs, OpError> {
    let operand = Operand::read(op, "input", logits)?;
    if operand.sizes.len() != 2 {
        return Err(OpError::Runtime(format!(
            "{op}: expected input of shape (N, C), but got {:?}",
            operand.sizes
        )));
    }
    let kind = target.f_kind()?;
    if kind != Kind::Int64 {
        return Err(OpError::Runtime(format!(
            "{op}: expected target to be a tensor of class indices of dtype torch.int64, but \
             got {kind:?}"
        )));
    }
    let (n, v) = (operand.sizes[0] as usize, operand.sizes[1] as usize);
    if target.size() != [n as i64] {
        return Err(OpError::Runtime(format!(
            "{op}: expected target of shape [{n}], but got {:?}",
            target.size()
        )));
    }
    Ok(Inputs {
        logits: operand,
        targets: target.f_contiguous()?,
        n,
        v,
    })
}

/// Each row's class, None for ignored rows; an out-of-range class is torch's error.
fn classes(op: &str, inputs: &Inputs, ignore_index: i64) -> Result<Vec<Option<usize>>, OpError> {
    let data = inputs.targets.data_ptr() as *const i64;
    let mut out = Vec::new();
    out.try_reserve_exact(inputs.n)
        .map_err(|_| OpError::Runtime(format!("{op}: out of memory")))?;
    for i in 0..inputs.n {
        // SAFETY: a contiguous int64 tensor of n elements.
        let t = unsafe { *data.add(i) };
        if t == ignore_index {
            out.push(None);
        } else if t < 0 || t as usize >= inputs.v {
            return Err(OpError::Runtime(format!(
                "{op}: Target {t} is out of bounds."
            )));
        } else {
            out.push(Some(t as usize));
        }
    }
    Ok(out)
}

fn compute_dtype(dtype: Dtype) -> Dtype {
    if dtype == Dtype::F64 {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}
impl<T> Shared<T> {
    /// Element `i` (a method, so that closures capture the whole `Sync` wrapper).
    fn at(&self, i: usize) -> *mut T {
        self.0.wrapping_add(i)
    }
}

fn forward_typed<T: Storage>(
    rows: &Rows,
    classes: &[Option<usize>],
    smoothing: f64,
    losses: Shared<T::Compute>,
    lse: Shared<T::Compute>,
    threads: usize,
) -> Result<(), OpError>
where
    T::Compute: Element,
{
    let rows_ref = SyncRows(rows);
    for_each_rows(
        rows.rows,
        rows.d,
        rows_per_task(rows.d),
        threads,
        &|first, end| {
            let mut scratch = vec![T::default(); rows_ref.0.d];
            for (r, class) in classes.iter().enumerate().take(end).skip(first) {
                // SAFETY: rows of a live tensor of T; each row's results are written by one task.
                unsafe {
                    match *class {
                        Some(t) => {
                            let x = rows_ref.0.row::<T>(r, &mut scratch);
                            let (l, loss) = kernels::cross_entropy::forward_row(x, t, smoothing);
                            *lse.at(r) = l;
                            *losses.at(r) = loss;
                        }
                        None => {
                            *lse.at(r) = T::Compute::ZERO;
                            *losses.at(r) = T::Compute::ZERO;
                        }
                    }
                }
            }
            Ok::<(), OpError>(())
        },
    )
}

struct SyncRows<'a>(&'a Rows);
// SAFETY: the rows are read only.
unsafe impl Sync for SyncRows<'_> {}

/// The loss of `logits` against `target` into `*loss` (per row for reduction 0, else a scalar:
/// 1 the mean over rows not ignored, 2 the sum) and, unless null, each row's log-sum-exp into
/// `*lse`.
///
/// # Safety
/// `logits` and `target` point to live tensors; `loss` is writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn torch_rs_cross_entropy(
    logits: *const C_tensor,
    target: *const C_tensor,
    ignore_index: i64,
    reduction: i32,
    smoothing: f64,
    loss: *mut *mut C_tensor,
    lse: *mut *mut C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded(FORWARD, || {
        let (logits, target) = (borrow(logits), borrow(target));
        let inputs = read(FORWARD, &logits, &target)?;
        let classes = classes(FORWARD, &inputs, ignore_index)?;
        let rows = Rows::new(&inputs.logits);
        let cdtype = compute_dtype(inputs.logits.dtype);
        let n = inputs.n as i64;
        let (per_row, _) = new_output(&[n], cdtype, 1)?;
        let (lse_t, _) = new_output(&[n], cdtype, 1)?;
        let threads = thread_count(threads);
        let (pl, pe) = (per_row.data_ptr(), lse_t.data_ptr());
        match inputs.logits.dtype {
            Dtype::F32 => forward_typed::<f32>(
                &rows,
                &classes,
                smoothing,
                Shared(pl as _),
                Shared(pe as _),
                threads,
            ),
            Dtype::F64 => forward_typed::<f64>(
                &rows,
                &classes,
                smoothing,
                Shared(pl as _),
                Shared(pe as _),
                threads,
            ),
            Dtype::Bf16 => forward_typed::<Bf16>(
                &rows,
                &classes,
                smoothing,
                Shared(pl as _),
                Shared(pe as _),
                threads,
            ),
            Dtype::F16 => forward_typed::<F16>(
                &rows,
                &classes,
                smoothing,
                Shared(pl as _),
                Shared(pe as _),
                threads,
            ),
        }?;
        let result = if reduction == NONE {
            per_row
        } else {
            // Rows added in order in float64: the same bits for any thread count.
            let count = classes.iter().filter(|c| c.is_some()).count();
            let mut total = 0.0f64;
            for i in 0..inputs.n {
                total += match cdtype {
                    Dtype::F64 => *(pl as *const f64).add(i),
                    _ => *(pl as *const f32).add(i) as f64,
                };
            }
            let value = if reduction == MEAN {
                total / count as f64
            } else {
                total
            };
            let (scalar, _) = new_output(&[], cdtype, 1)?;
            match cdtype {
                Dtype::F64 => *(scalar.data_ptr() as *mut f64) = value,
                _ => *(scalar.data_ptr() as *mut f32) = value as f32,
            }
            scalar
        };
        *loss = into_raw(result);
        if !lse.is_null() {
            *lse = into_raw(lse_t);
        }
        Ok(())
    })
}

fn backward_typed<T: Storage>(
    rows: &Rows,
    classes: &[Option<usize>],
    lse: Shared<T::Compute>,
    scales: &dyn Fn(usize) -> f64,
    smoothing: f64,
    dx: &Rows,
    threads: usize,
) -> Result<(), OpError>
where
    T::Compute: Element,
{
    let (rows_ref, dx_ref) = (SyncRows(rows), SyncRows(dx));
    let scales = SyncScale(scales);
    for_each_rows(
        rows.rows,
        rows.d,
        rows_per_task(rows.d),
        threads,
        &|first, end| {
            let mut scratch = vec![T::default(); rows_ref.0.d];
            for (r, class) in classes.iter().enumerate().take(end).skip(first) {
                // SAFETY: as in forward_typed; dx rows are contiguous and written by one task.
                unsafe {
                    let out = dx_ref.0.row_mut::<T>(r);
                    match *class {
                        Some(t) => {
                            let x = rows_ref.0.row::<T>(r, &mut scratch);
                            let scale = T::Compute::from_f64(scales.call(r));
                            kernels::cross_entropy::backward_row(
                                x,
                                t,
                                *lse.at(r),
                                scale,
                                smoothing,
                                out,
                            );
                        }
                        None => out.fill(T::store(T::Compute::ZERO)),
                    }
                }
            }
            Ok::<(), OpError>(())
        },
    )
}

struct SyncScale<'a>(&'a dyn Fn(usize) -> f64);
// SAFETY: reads the gradient tensor only.
unsafe impl Sync for SyncScale<'_> {}
impl SyncScale<'_> {
    fn call(&self, i: usize) -> f64 {
        (self.0)(i)
    }
}

/// The gradient of the loss with respect to the logits, given the loss's gradient `grad`
/// (per row for reduction 0, else a scalar) and the forward's `lse`, into `out` (a tensor
/// shaped and typed like the logits, rows contiguous).
///
/// # Safety
/// The pointers point to live tensors; `out` does not overlap the inputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn torch_rs_cross_entropy_backward(
    grad: *const C_tensor,
    logits: *const C_tensor,
    target: *const C_tensor,
    lse: *const C_tensor,
    ignore_index: i64,
    reduction: i32,
    smoothing: f64,
    out: *const C_tensor,
    threads: i64,
) -> *mut TorchRsError {
    guarded(BACKWARD, || {
        let (grad, logits, target) = (borrow(grad), borrow(logits), borrow(target));
        let (lse, out) = (borrow(lse), borrow(out));
        let inputs = read(BACKWARD, &logits, &target)?;
        let classes = classes(BACKWARD, &inputs, ignore_index)?;
        let cdtype = compute_dtype(inputs.logits.dtype);
        let grad_op = Operand::read(BACKWARD, "grad", &grad)?;
        let lse_op = Operand::read(BACKWARD, "lse", &lse)?;
        let expected: &[i64] = if reduction == NONE {
            &[inputs.n as i64]
        } else {
            &[]
        };
        if grad_op.sizes != expected || grad_op.dtype != cdtype {
            return Err(OpError::Runtime(format!(
                "{BACKWARD}: expected grad of shape {expected:?} and dtype {cdtype:?}, but got \
                 {:?} and {:?}",
                grad_op.sizes, grad_op.dtype
            )));
        }
        let lse_contiguous = lse_op
            .strides
            .first()
            .is_none_or(|&s| s == 1 || inputs.n <= 1);
        if lse_op.sizes != [inputs.n as i64] || lse_op.dtype != cdtype || !lse_contiguous {
            return Err(OpError::Runtime(format!(
                "{BACKWARD}: expected lse to be a contiguous tensor of shape [{}]",
                inputs.n
            )));
        }
        let count = classes.iter().filter(|c| c.is_some()).count() as f64;
        let read_grad = |i: usize| -> f64 {
            let at = if reduction == NONE {
                i as isize * grad_op.strides[0] as isize
            } else {
                0
            };
            match cdtype {
                Dtype::F64 => *(grad_op.data as *const f64).offset(at),
                _ => *(grad_op.data as *const f32).offset(at) as f64,
            }
        };
        let scales = |i: usize| -> f64 {
            match reduction {
                NONE => read_grad(i),
                MEAN => read_grad(0) / count,
                _ => read_grad(0),
            }
        };
        let rows = Rows::new(&inputs.logits);
        let out_op = Operand::read(BACKWARD, "out", &out)?;
        let dx = Rows::new(&out_op);
        let threads = thread_count(threads);
        let pe = lse_op.data;
        match inputs.logits.dtype {
            Dtype::F32 => backward_typed::<f32>(
                &rows,
                &classes,
                Shared(pe as _),
                &scales,
                smoothing,
                &dx,
                threads,
            ),
            Dtype::F64 => backward_typed::<f64>(
                &rows,
                &classes,
                Shared(pe as _),
                &scales,
                smoothing,
                &dx,
                threads,
            ),
            Dtype::Bf16 => backward_typed::<Bf16>(
                &rows,
                &classes,
                Shared(pe as _),
                &scales,
                smoothing,
                &dx,
                threads,
            ),
            Dtype::F16 => backward_typed::<F16>(
                &rows,
                &classes,
                Shared(pe as _),
                &scales,
                smoothing,
                &dx,
                threads,
            ),
        }
    })
}
