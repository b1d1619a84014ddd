//! `torch_rs._C`: registers the `rs::` operators with PyTorch's dispatcher.
//!
//! Importing the module runs the static `TORCH_LIBRARY` registrations of the C++ shim
//! (csrc/library.cpp and one csrc/ops/<family>.cpp per op family), whose CPU kernels call the
//! Rust entry points in [`ops`]. Python never runs per call. `torch` must be imported first so
//! that libtorch is already loaded.
//!
//! Layers: [`ops`] (entry points, one file per family) → [`elementwise`] (operand checks,
//! output allocation, flat or strided traversal over [`threads`]) → the `kernels` crate.

mod elementwise;
mod error;
mod ffi;
mod memory;
mod ops;
mod rows;
mod strided;
mod tensors;
mod threads;

use pyo3::prelude::*;

/// The vector instruction set the kernels use on this CPU ("avx512_bf16", "avx512", "avx2" or
/// "portable").
#[pyfunction]
fn cpu_capability() -> &'static str {
    kernels::cpu::Isa::detect().name()
}

/// Tensors with fewer elements than this run on the calling thread only.
#[pyfunction]
fn parallel_min_elements() -> usize {
    threads::PARALLEL_MIN_ELEMENTS
}

#[pymodule]
#[pyo3(name = "_C")]
fn torch_rs_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cpu_capability, m)?)?;
    m.add_function(wrap_pyfunction!(parallel_min_elements, m)?)?;
    Ok(())
}
