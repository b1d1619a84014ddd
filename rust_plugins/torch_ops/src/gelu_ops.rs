//! The rs::fast_gelu family: validate operands, allocate outputs with libtorch, and run the
//! kernels over flat slices (dense operands sharing one layout) or strided runs.

use crate::error::OpError;
use crate::memory;
use crate::strided::Walk;
use crate::tensors::{Dtype, Operand};
use crate::threads;
use kernels::gelu::{self, Bf16, Element, Mode, Parallelism, Stores, F16};
use tch::Tensor;

const FORWARD: &str = "rs::fast_gelu";
const FORWARD_OUT: &str = "rs::fast_gelu.out";
const BACKWARD: &str = "rs::fast_gelu_backward";
const SECOND: &str = "rs::fast_gelu_second_derivative";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Forward,
    Backward,
    SecondDerivative,
}

/// gelu(x) into a new tensor laid out like torch's elementwise ops lay out theirs.
pub fn fast_gelu(x: &Tensor, threads: usize) -> Result<Tensor, OpError> {
    let input = Operand::read(FORWARD, "input", x)?;
    let (out, output) = new_output(FORWARD, x)?;
    compute(Kernel::Forward, &output, &[&input], threads)?;
    Ok(out)
}

/// gelu(x) into `out`, which the caller already resized to x's shape.
pub fn fast_gelu_into(x: &Tensor, out: &Tensor, threads: usize) -> Result<(), OpError> {
    let input = Operand::read(FORWARD_OUT, "input", x)?;
    let output = Operand::read(FORWARD_OUT, "out", out)?;
    check_same(FORWARD_OUT, "out", &output, &input)?;
    compute(Kernel::Forward, &output, &[&input], threads)
}

/// grad · gelu'(x)
pub fn fast_gelu_backward(grad: &Tensor, x: &Tensor, threads: usize) -> Result<Tensor, OpError> {
    let grad_operand = Operand::read(BACKWARD, "grad", grad)?;
    let input = Operand::read(BACKWARD, "input", x)?;
    check_same(BACKWARD, "grad", &grad_operand, &input)?;
    // The gradient's layout wins, as in TensorIterator, whose first input is the gradient.
    let template = if grad_operand.is_dense() || !input.is_dense() {
        grad
    } else {
        x
    };
    let (out, output) = new_output(BACKWARD, template)?;
    compute(Kernel::Backward, &output, &[&grad_operand, &input], threads)?;
    Ok(out)
}

/// gelu''(x), used by double backward.
pub fn fast_gelu_second_derivative(x: &Tensor, threads: usize) -> Result<Tensor, OpError> {
    let input = Operand::read(SECOND, "input", x)?;
    let (out, output) = new_output(SECOND, x)?;
    compute(Kernel::SecondDerivative, &output, &[&input], threads)?;
    Ok(out)
}

/// A fresh output shaped like `template`. `empty_like` keeps dense layouts (channels-last
/// included) and orders the others as TensorIterator does, so outputs match torch's.
fn new_output(op: &str, template: &Tensor) -> Result<(Tensor, Operand), OpError> {
    let out = template.f_empty_like()?;
    let operand = Operand::read(op, "output", &out)?;
    memory::advise_huge_pages(operand.data, operand.numel() * operand.dtype.size());
    Ok((out, operand))
}

fn check_same(op: &str, what: &str, operand: &Operand, input: &Operand) -> Result<(), OpError> {
    if operand.dtype != input.dtype {
        return Err(OpError::Type(format!(
            "{op}: expected {what} to have the input's dtype {:?}, but got {:?}",
            input.dtype, operand.dtype
        )));
    }
    if operand.sizes != input.sizes {
        return Err(OpError::Runtime(format!(
            "{op}: expected {what} to have the input's shape {:?}, but got {:?}",
            input.sizes, operand.sizes
        )));
    }
    Ok(())
}

fn compute(
    kernel: Kernel,
    out: &Operand,
    inputs: &[&Operand],
    threads: usize,
) -> Result<(), OpError> {
    if out.numel() == 0 {
        return Ok(());
    }
    match out.dtype {
        Dtype::F32 => compute_typed::<f32>(kernel, out, inputs, threads),
        Dtype::F64 => compute_typed::<f64>(kernel, out, inputs, threads),
        Dtype::Bf16 => compute_typed::<Bf16>(kernel, out, inputs, threads),
        Dtype::F16 => compute_typed::<F16>(kernel, out, inputs, threads),
    }
}

/// Outputs at least this large are written with non-temporal stores: they exceed the
/// last-level cache, so caching them only costs a read of every line before it is overwritten.
const STREAMING_MIN_BYTES: usize = 32 << 20;

/// Strides equal in every dimension that has more than one element.
fn same_layout(sizes: &[i64], a: &[i64], b: &[i64]) -> bool {
    (0..sizes.len()).all(|d| sizes[d] < 2 || a[d] == b[d])
}

fn compute_typed<T: Element>(
    kernel: Kernel,
    out: &Operand,
    inputs: &[&Operand],
    threads: usize,
) -> Result<(), OpError> {
    let numel = out.numel();
    let flat = out.is_dense()
        && inputs
            .iter()
            .all(|input| same_layout(&out.sizes, &out.strides, &input.strides));
    if flat {
        // Same dense layout: element k of every operand sits at offset k from its data pointer.
        let stores = if numel * std::mem::size_of::<T>() >= STREAMING_MIN_BYTES {
            Stores::Streaming
        } else {
            Stores::Cached
        };
        let second = inputs.get(1).unwrap_or(&inputs[0]);
        let bases = Bases([
            out.data as *mut T,
            inputs[0].data as *mut T,
            second.data as *mut T,
        ]);
        return threads::for_each_range(numel, threads, &|begin, end| {
            let [out, first, second] = bases.get();
            let operands = unsafe { Bases([out.add(begin), first.add(begin), second.add(begin)]) };
            unsafe { run_flat::<T>(kernel, operands, end - begin, stores) }
        });
    }
    let op_count = inputs.len() + 1;
    let (sizes, strides) = (&out.sizes, &out.strides);
    match op_count {
        2 => {
            let walk = Walk::new(sizes, [strides, &inputs[0].strides]);
            let bases = [out.data as *mut T, inputs[0].data as *mut T];
            run_strided(kernel, &walk, bases, threads)
        }
        _ => {
            let walk = Walk::new(sizes, [strides, &inputs[0].strides, &inputs[1].strides]);
            let bases = [
                out.data as *mut T,
                inputs[0].data as *mut T,
                inputs[1].data as *mut T,
            ];
            run_strided(kernel, &walk, bases, threads)
        }
    }
}

/// # Safety
/// Every operand holds `len` elements from its pointer (output first, then the inputs); an
/// input either is the output itself or does not overlap it.
unsafe fn run_flat<T: Element>(
    kernel: Kernel,
    operands: Bases<T, 3>,
    len: usize,
    stores: Stores,
) -> Result<(), OpError> {
    let par = Mode {
        parallelism: Parallelism::Serial,
        stores,
    };
    let [out, first, second] = operands.0;
    let out_slice = std::slice::from_raw_parts_mut(out, len);
    let slice = |p: *mut T| std::slice::from_raw_parts(p as *const T, len);
    match kernel {
        Kernel::Forward if first == out => gelu::forward_in_place(out_slice, par),
        Kernel::Forward => gelu::forward(slice(first), out_slice, par)?,
        Kernel::Backward => gelu::backward(slice(first), slice(second), out_slice, par)?,
        Kernel::SecondDerivative => gelu::second_derivative(slice(first), out_slice, par)?,
    }
    Ok(())
}

/// Pointers shared by the tasks of one strided call; each task writes a disjoint range.
#[derive(Clone, Copy)]
struct Bases<T, const N: usize>([*mut T; N]);
unsafe impl<T, const N: usize> Send for Bases<T, N> {}
unsafe impl<T, const N: usize> Sync for Bases<T, N> {}

impl<T, const N: usize> Bases<T, N> {
    /// The pointers (a method, so that closures capture the whole `Send` wrapper).
    fn get(&self) -> [*mut T; N] {
        self.0
    }
}

/// Elements gathered into contiguous scratch buffers at a time.
const BLOCK: usize = 512;

fn run_strided<T: Element, const N: usize>(
    kernel: Kernel,
    walk: &Walk<N>,
    bases: [*mut T; N],
    threads: usize,
) -> Result<(), OpError> {
    let numel = walk.numel();
    let bases = Bases(bases);
    threads::for_each_range(numel, threads, &|begin, end| unsafe {
        strided_task(kernel, walk, bases, begin, end)
    })
}

/// # Safety
/// `bases` and the walk's strides describe valid operands; operand 0 (the output) does not
/// overlap the inputs except by being exactly one of them.
unsafe fn strided_task<T: Element, const N: usize>(
    kernel: Kernel,
    walk: &Walk<N>,
    bases: Bases<T, N>,
    start: usize,
    end: usize,
) -> Result<(), OpError> {
    let inner = walk.inner_strides();
    // Scratch for the output and up to two inputs; every block is copied in before it is written.
    let mut scratch: [Vec<T>; N] = std::array::from_fn(|_| vec![T::default(); BLOCK]);
    let mut result = Ok(());
    walk.for_each_run(start, end, |offsets, len| {
        let mut done = 0;
        while done < len && result.is_ok() {
            let n = BLOCK.min(len - done);
            let at = |k: usize| bases.get()[k].offset(offsets[k] + done as isize * inner[k]);
            for k in 1..N {
                gather(at(k), inner[k], &mut scratch[k][..n]);
            }
            let (out_scratch, input_scratch) = scratch.split_at_mut(1);
            let out_block = &mut out_scratch[0][..n];
            let first = &input_scratch[0][..n];
            result = match kernel {
                Kernel::Forward => gelu::forward(first, out_block, Parallelism::Serial),
                Kernel::Backward => gelu::backward(
                    first,
                    &input_scratch[1][..n],
                    out_block,
                    Parallelism::Serial,
                ),
                Kernel::SecondDerivative => {
                    gelu::second_derivative(first, out_block, Parallelism::Serial)
                }
            };
            scatter(out_block, at(0), inner[0]);
            done += n;
        }
    });
    result.map_err(OpError::from)
}

unsafe fn gather<T: Copy>(src: *const T, stride: isize, dst: &mut [T]) {
    for (i, value) in dst.iter_mut().enumerate() {
        *value = *src.offset(i as isize * stride);
    }
}

unsafe fn scatter<T: Copy>(src: &[T], dst: *mut T, stride: isize) {
    for (i, value) in src.iter().enumerate() {
        *dst.offset(i as isize * stride) = *value;
    }
}
