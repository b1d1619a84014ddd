//! Numerical kernels shared by the Python bindings.
//!
//! Everything here is plain Rust over slices: no pyo3, numpy or libtorch types, so the crate
//! builds and tests with `cargo test` alone. Kernels are generic over `f32`/`f64` where that
//! makes sense, choose SIMD code paths at run time and use the caller's rayon pool for threads.

pub mod alloc;
pub mod blocks;
pub mod cpu;
pub mod cross_entropy;
pub mod dbscan;
pub mod dense;
pub mod elementwise;
pub mod error;
pub mod float;
pub mod gelu;
pub mod glu;
pub mod half;
pub mod kmeans;
pub mod linalg;
pub mod linear;
pub mod logistic;
pub mod metric;
pub mod nearest;
pub mod neighbors;
pub mod pca;
pub mod rms_norm;
pub mod rng;
pub mod rope;
pub mod samples;
pub mod scaler;
pub mod simd;
pub mod stats;
pub mod vector;

pub use error::KernelError;

/// Callback that long kernels poll between iterations; returning true makes them stop with
/// `KernelError::Interrupted` (Ctrl-C in Python).
pub type StopCheck<'a> = &'a (dyn Fn() -> bool + Sync);
