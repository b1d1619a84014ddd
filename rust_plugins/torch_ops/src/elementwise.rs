//! Running an elementwise kernel (`kernels::elementwise::Kernel`, N inputs → 1 output) over
//! tensors: operand checks, outputs allocated as torch allocates them, and the two ways through
//! memory — one flat slice when every operand has the same dense layout, else strided runs
//! gathered into blocks — split over torch's threads.

use crate::error::OpError;
use crate::memory;
use crate::strided::{Offsets, Walk};
use crate::tensors::{Dtype, Operand};
use crate::threads;
use kernels::elementwise::{map_unchecked, Element, Kernel, Mode, Parallelism, Stores};
use kernels::half::{Bf16, F16};
use tch::Tensor;

/// The tensors of one call and their names in error messages (`"input"`, `"grad"`, ...).
pub struct Args<'t, const N: usize> {
    pub tensors: [&'t Tensor; N],
    pub names: [&'static str; N],
    /// The operand whose dtype and shape the others must have ("the input" in messages).
    pub like: usize,
}

impl<'t> Args<'t, 1> {
    /// One tensor, named "input".
    pub fn input(x: &'t Tensor) -> Self {
        Args {
            tensors: [x],
            names: ["input"],
            like: 0,
        }
    }
}

/// `kernel` over the operands into a new tensor, laid out as torch lays out elementwise
/// results: like the first dense input (TensorIterator's first operand wins), else like the
/// first input.
pub fn compute_new<K: Kernel<N>, const N: usize>(
    op: &str,
    kernel: K,
    args: Args<'_, N>,
    threads: usize,
) -> Result<Tensor, OpError> {
    let inputs = read_inputs(op, &args)?;
    let template = match N {
        1 => 0,
        _ => (0..N).find(|&k| inputs[k].is_dense()).unwrap_or(0),
    };
    let (out, output) = new_output(op, args.tensors[template])?;
    compute(kernel, &output, &inputs, threads)?;
    Ok(out)
}

/// `kernel` over the operands into `out`, which the caller already resized to their shape.
pub fn compute_into<K: Kernel<N>, const N: usize>(
    op: &str,
    kernel: K,
    args: Args<'_, N>,
    out: &Tensor,
    threads: usize,
) -> Result<(), OpError> {
    let inputs = read_inputs(op, &args)?;
    let output = Operand::read(op, "out", out)?;
    check_same(
        op,
        "out",
        &output,
        args.names[args.like],
        &inputs[args.like],
    )?;
    compute(kernel, &output, &inputs, threads)
}

/// Reads every operand in order (the first failure is the error), then checks each against
/// `args.like`.
fn read_inputs<const N: usize>(op: &str, args: &Args<'_, N>) -> Result<[Operand; N], OpError> {
    let mut failure = None;
    let read = std::array::from_fn(|k| match failure {
        Some(_) => None,
        None => Operand::read(op, args.names[k], args.tensors[k])
            .map_err(|error| failure = Some(error))
            .ok(),
    });
    if let Some(error) = failure {
        return Err(error);
    }
    let inputs = read.map(|operand: Option<Operand>| operand.expect("read above"));
    let like = &inputs[args.like];
    for k in (0..N).filter(|&k| k != args.like) {
        check_same(op, args.names[k], &inputs[k], args.names[args.like], like)?;
    }
    Ok(inputs)
}

/// A fresh output shaped like `template`. `empty_like` keeps dense layouts (channels-last
/// included) and orders the others as TensorIterator does, so outputs match torch's.
fn new_output(op: &str, template: &Tensor) -> Result<(Tensor, Operand), OpError> {
    let out = template.f_empty_like()?;
    let operand = Operand::read(op, "output", &out)?;
    memory::advise_huge_pages(operand.data, operand.numel() * operand.dtype.size());
    Ok((out, operand))
}

fn check_same(
    op: &str,
    what: &str,
    operand: &Operand,
    like_name: &str,
    like: &Operand,
) -> Result<(), OpError> {
    if operand.dtype != like.dtype {
        return Err(OpError::Type(format!(
            "{op}: expected {what} to have the {like_name}'s dtype {:?}, but got {:?}",
            like.dtype, operand.dtype
        )));
    }
    if operand.sizes != like.sizes {
        return Err(OpError::Runtime(format!(
            "{op}: expected {what} to have the {like_name}'s shape {:?}, but got {:?}",
            like.sizes, operand.sizes
        )));
    }
    Ok(())
}

fn compute<K: Kernel<N>, const N: usize>(
    kernel: K,
    out: &Operand,
    inputs: &[Operand; N],
    threads: usize,
) -> Result<(), OpError> {
    if out.numel() == 0 {
        return Ok(());
    }
    match out.dtype {
        Dtype::F32 => compute_typed::<K, f32, N>(kernel, out, inputs, threads),
        Dtype::F64 => compute_typed::<K, f64, N>(kernel, out, inputs, threads),
        Dtype::Bf16 => compute_typed::<K, Bf16, N>(kernel, out, inputs, threads),
        Dtype::F16 => compute_typed::<K, F16, N>(kernel, out, inputs, threads),
    }
}

/// Outputs at least this large are written with non-temporal stores: they exceed the
/// last-level cache, so caching them only costs a read of every line before it is overwritten.
const STREAMING_MIN_BYTES: usize = 32 << 20;

/// Strides equal in every dimension that has more than one element.
fn same_layout(sizes: &[i64], a: &[i64], b: &[i64]) -> bool {
    (0..sizes.len()).all(|d| sizes[d] < 2 || a[d] == b[d])
}

fn compute_typed<K: Kernel<N>, T: Element, const N: usize>(
    kernel: K,
    out: &Operand,
    inputs: &[Operand; N],
    threads: usize,
) -> Result<(), OpError> {
    let bases = Bases {
        out: out.data as *mut T,
        inputs: std::array::from_fn(|k| inputs[k].data as *const T),
    };
    let flat = out.is_dense()
        && inputs
            .iter()
            .all(|input| same_layout(&out.sizes, &out.strides, &input.strides));
    if flat {
        // Same dense layout: element k of every operand sits at offset k from its data pointer.
        let numel = out.numel();
        let stores = if numel * std::mem::size_of::<T>() >= STREAMING_MIN_BYTES {
            Stores::Streaming
        } else {
            Stores::Cached
        };
        let mode = Mode {
            parallelism: Parallelism::Serial,
            stores,
        };
        return threads::for_each_range(numel, threads, &|begin, end| {
            let (inputs, out) = bases.at(begin);
            // SAFETY: the operands hold `numel` elements; an input is the output or apart.
            unsafe { map_unchecked(kernel, inputs, out, end - begin, mode) };
            Ok(())
        });
    }
    let walk = Walk::new(
        &out.sizes,
        &out.strides,
        std::array::from_fn(|k| &inputs[k].strides[..]),
    );
    threads::for_each_range(walk.numel(), threads, &|begin, end| {
        // SAFETY: the walk follows the operands' own sizes and strides.
        unsafe { strided_task(kernel, &walk, bases, begin, end) };
        Ok(())
    })
}

/// Data pointers shared by the tasks of one call; each task writes a disjoint range.
struct Bases<T, const N: usize> {
    out: *mut T,
    inputs: [*const T; N],
}
impl<T, const N: usize> Clone for Bases<T, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, const N: usize> Copy for Bases<T, N> {}
unsafe impl<T, const N: usize> Send for Bases<T, N> {}
unsafe impl<T, const N: usize> Sync for Bases<T, N> {}

impl<T, const N: usize> Bases<T, N> {
    /// The pointers `k` elements further, for a flat layout (a method, so that closures capture
    /// the whole `Send` wrapper).
    fn at(&self, k: usize) -> ([*const T; N], *mut T) {
        let inputs = self.inputs.map(|p| p.wrapping_add(k));
        (inputs, self.out.wrapping_add(k))
    }

    /// The pointers at element offsets `offsets`.
    fn offset(&self, offsets: Offsets<N>) -> ([*const T; N], *mut T) {
        let inputs = std::array::from_fn(|k| self.inputs[k].wrapping_offset(offsets.inputs[k]));
        (inputs, self.out.wrapping_offset(offsets.out))
    }
}

/// Elements gathered into contiguous scratch buffers at a time.
const BLOCK: usize = 512;

/// # Safety
/// `bases` and the walk's strides describe valid operands; the output does not overlap the
/// inputs except by being exactly one of them.
unsafe fn strided_task<K: Kernel<N>, T: Element, const N: usize>(
    kernel: K,
    walk: &Walk<N>,
    bases: Bases<T, N>,
    start: usize,
    end: usize,
) {
    let inner = walk.inner_strides();
    // Every block of the inputs is copied in before the output block is written back.
    let mut input_blocks: [Vec<T>; N] = std::array::from_fn(|_| vec![T::default(); BLOCK]);
    let mut out_block = vec![T::default(); BLOCK];
    let serial = Mode::from(Parallelism::Serial);
    walk.for_each_run(start, end, |offsets, len| {
        let (inputs, out) = bases.offset(offsets);
        let mut done = 0;
        while done < len {
            let n = BLOCK.min(len - done);
            for k in 0..N {
                let src = inputs[k].offset(done as isize * inner.inputs[k]);
                gather(src, inner.inputs[k], &mut input_blocks[k][..n]);
            }
            let block_inputs = std::array::from_fn(|k| input_blocks[k].as_ptr());
            map_unchecked(kernel, block_inputs, out_block.as_mut_ptr(), n, serial);
            scatter(
                &out_block[..n],
                out.offset(done as isize * inner.out),
                inner.out,
            );
            done += n;
        }
    });
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
