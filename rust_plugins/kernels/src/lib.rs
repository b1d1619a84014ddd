//! Numerical kernels shared by the Python bindings.
//!
//! Everything here is plain Rust over slices: no pyo3, numpy or libtorch types, so the crate
//! builds and tests with `cargo test` alone. Kernels are generic over `f32`/`f64` where that
//! makes sense, choose SIMD code paths at run time and use the caller's rayon pool for threads.

pub mod cpu;
pub mod error;
pub mod float;
pub mod gelu;
pub mod kmeans;
pub mod simd;

pub use error::KernelError;
