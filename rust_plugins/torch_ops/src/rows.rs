//! Row-wise ops (a reduction over the last dimension): reading the rows of a tensor of any
//! strides, allocating contiguous outputs (as torch's layer_norm returns them) and splitting
//! rows over torch's threads.

use crate::error::OpError;
use crate::tensors::{Dtype, Operand};
use crate::threads;
use tch::{Device, Kind, Tensor};

/// The rows of one operand: `rows` rows of `d` elements; row `r` starts at the offset its
/// leading indices give and steps by `stride` (1 for any contiguous last dimension).
pub struct Rows {
    pub dtype: Dtype,
    data: *mut u8,
    lead_sizes: Vec<i64>,
    lead_strides: Vec<i64>,
    stride: isize,
    pub rows: usize,
    pub d: usize,
}

// Rows are read (and outputs written, each row by one task) from torch's threads.
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

impl Rows {
    /// The rows of an operand with at least one dimension.
    pub fn new(operand: &Operand) -> Rows {
        let nd = operand.sizes.len();
        debug_assert!(nd >= 1);
        let lead_sizes = operand.sizes[..nd - 1].to_vec();
        Rows {
            dtype: operand.dtype,
            data: operand.data,
            rows: lead_sizes.iter().product::<i64>() as usize,
            lead_sizes,
            lead_strides: operand.strides[..nd - 1].to_vec(),
            stride: operand.strides[nd - 1] as isize,
            d: operand.sizes[nd - 1] as usize,
        }
    }

    /// Element offset of the start of row `r`.
    fn offset(&self, mut r: usize) -> isize {
        let mut offset = 0isize;
        for (&size, &stride) in self.lead_sizes.iter().zip(&self.lead_strides).rev() {
            let size = size as usize;
            offset += (r % size) as isize * stride as isize;
            r /= size;
        }
        offset
    }

    /// Row `r` as a slice: in place when its elements are consecutive, else gathered into
    /// `scratch` (of length `d`).
    ///
    /// # Safety
    /// `T` is the operand's element type and the tensor outlives the slice.
    pub unsafe fn row<'a, T: Copy>(&'a self, r: usize, scratch: &'a mut [T]) -> &'a [T] {
        let start = (self.data as *const T).offset(self.offset(r));
        if self.stride == 1 || self.d <= 1 {
            return std::slice::from_raw_parts(start, self.d);
        }
        for (i, value) in scratch.iter_mut().enumerate() {
            *value = *start.offset(i as isize * self.stride);
        }
        scratch
    }
}

impl Rows {
    /// Row `r` for writing; the operand's last dimension is contiguous.
    ///
    /// # Safety
    /// As [`Rows::row`]; no other thread touches row `r` meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row_mut<T>(&self, r: usize) -> &mut [T] {
        debug_assert!(self.stride == 1 || self.d <= 1);
        let start = (self.data as *mut T).offset(self.offset(r));
        std::slice::from_raw_parts_mut(start, self.d)
    }

    /// Whether each row's elements are consecutive.
    pub fn rows_contiguous(&self) -> bool {
        self.stride == 1 || self.d <= 1
    }

    pub fn lead_sizes(&self) -> &[i64] {
        &self.lead_sizes
    }
}

/// A contiguous output being written row by row from several threads (each row by one).
#[derive(Clone, Copy)]
pub struct RowsOut {
    data: *mut u8,
    d: usize,
}
unsafe impl Send for RowsOut {}
unsafe impl Sync for RowsOut {}

impl RowsOut {
    /// # Safety
    /// `T` is the tensor's element type; no other thread writes row `r` meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row<T>(&self, r: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut((self.data as *mut T).add(r * self.d), self.d)
    }
}

pub fn kind(dtype: Dtype) -> Kind {
    match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::Bf16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
    }
}

/// A new contiguous tensor of `sizes` and `dtype`, and where to write its rows of `d`.
pub fn new_output(sizes: &[i64], dtype: Dtype, d: usize) -> Result<(Tensor, RowsOut), OpError> {
    let tensor = Tensor::f_empty(sizes, (kind(dtype), Device::Cpu))?;
    let numel: i64 = sizes.iter().product();
    crate::memory::advise_huge_pages(tensor.data_ptr() as *mut u8, numel as usize * dtype.size());
    let data = tensor.data_ptr() as *mut u8;
    Ok((tensor, RowsOut { data, d }))
}

/// Rows per task: about 16K elements, so threads can even out.
pub fn rows_per_task(d: usize) -> usize {
    (16 * 1024 / d.max(1)).max(1)
}

/// Calls `body(first_row, end_row)` over tasks of `per_task` rows, on torch's threads when the
/// call is large enough.
pub fn for_each_rows<E: Send>(
    rows: usize,
    d: usize,
    per_task: usize,
    threads: usize,
    body: &(dyn Fn(usize, usize) -> Result<(), E> + Sync),
) -> Result<(), E> {
    let threads = if rows * d < threads::PARALLEL_MIN_ELEMENTS {
        1
    } else {
        threads
    };
    let tasks = rows.div_ceil(per_task.max(1));
    threads::for_each_chunk(tasks, 1, threads, &|begin, end| {
        for task in begin..end {
            let first = task * per_task;
            body(first, (first + per_task).min(rows))?;
        }
        Ok(())
    })
}
