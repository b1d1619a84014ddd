//! Reading tensors through `tch`: the element type, device, sizes and strides of a tensor the
//! dispatcher handed us, and the layout PyTorch's elementwise ops give their outputs.

use crate::error::OpError;
use std::mem::ManuallyDrop;
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

/// Borrows a tensor owned by the C++ caller without taking ownership (no refcount change).
///
/// # Safety
/// `ptr` must point to a live `at::Tensor` that outlives the returned value.
pub unsafe fn borrow(ptr: *const C_tensor) -> ManuallyDrop<Tensor> {
    ManuallyDrop::new(Tensor::from_ptr(ptr as *mut C_tensor))
}

/// Element types the kernels support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    Bf16,
    F16,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }
}

/// PyTorch's spelling of a dtype, for messages.
fn torch_name(kind: Kind) -> String {
    let name = match kind {
        Kind::Uint8 => "uint8",
        Kind::Int8 => "int8",
        Kind::Int16 => "int16",
        Kind::Int => "int32",
        Kind::Int64 => "int64",
        Kind::Half => "float16",
        Kind::Float => "float32",
        Kind::Double => "float64",
        Kind::BFloat16 => "bfloat16",
        Kind::Bool => "bool",
        Kind::ComplexHalf => "complex32",
        Kind::ComplexFloat => "complex64",
        Kind::ComplexDouble => "complex128",
        other => return format!("torch.{}", format!("{other:?}").to_lowercase()),
    };
    format!("torch.{name}")
}

/// The checked metadata of one operand.
pub struct Operand {
    pub dtype: Dtype,
    pub sizes: Vec<i64>,
    pub strides: Vec<i64>,
    pub data: *mut u8,
}

impl Operand {
    /// Reads and validates `tensor` as argument `what` of operator `op`.
    pub fn read(op: &str, what: &str, tensor: &Tensor) -> Result<Operand, OpError> {
        if !tensor.defined() {
            return Err(OpError::Runtime(format!(
                "{op}: {what} is an undefined tensor"
            )));
        }
        match tensor.device() {
            Device::Cpu => {}
            device => return Err(not_on_cpu(op, &device_name(device))),
        }
        let kind = tensor.f_kind().map_err(|_| {
            OpError::Type(format!("{op}: {what} has a dtype this build does not know"))
        })?;
        let dtype = match kind {
            Kind::Float => Dtype::F32,
            Kind::Double => Dtype::F64,
            Kind::BFloat16 => Dtype::Bf16,
            Kind::Half => Dtype::F16,
            other => {
                return Err(OpError::Type(format!(
                    "{op}: expected {what} to be a floating-point tensor (float32, float64, \
                     bfloat16 or float16), but got {}",
                    torch_name(other)
                )))
            }
        };
        Ok(Operand {
            dtype,
            sizes: tensor.size(),
            strides: tensor.stride(),
            data: tensor.data_ptr() as *mut u8,
        })
    }

    pub fn numel(&self) -> usize {
        self.sizes.iter().product::<i64>() as usize
    }

    /// Whether the elements exactly fill `numel` consecutive slots in some dimension order
    /// (PyTorch's `is_non_overlapping_and_dense`): then they can be walked as one flat slice.
    pub fn is_dense(&self) -> bool {
        is_non_overlapping_and_dense(&self.sizes, &self.strides)
    }
}

pub fn not_on_cpu(op: &str, device: &str) -> OpError {
    OpError::NotImplemented(format!(
        "{op} has no kernel for device '{device}' yet (only CPU tensors are supported); \
         move the tensor to the CPU"
    ))
}

fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(index) => format!("cuda:{index}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
    }
}

/// The same test as `c10::TensorImpl::compute_non_overlapping_and_dense`.
pub fn is_non_overlapping_and_dense(sizes: &[i64], strides: &[i64]) -> bool {
    // Dimensions of size 0 or 1 do not constrain the layout.
    let mut dims: Vec<usize> = (0..sizes.len()).filter(|&d| sizes[d] >= 2).collect();
    dims.sort_by_key(|&d| strides[d]);
    let mut expected = 1;
    for d in dims {
        if strides[d] != expected {
            return false;
        }
        expected *= sizes[d];
    }
    true
}

/// Hands a tensor created in Rust to the C++ caller, which takes ownership.
pub fn into_raw(mut tensor: Tensor) -> *mut C_tensor {
    let ptr = tensor.as_mut_ptr();
    std::mem::forget(tensor);
    ptr
}
