//! `sklearn_rs._core`: thin PyO3 bindings of the `kernels` crate.
//!
//! Each estimator family has its binding file, which registers its functions below; the files
//! share the runtime ([`runtime`]: GIL release, thread pools, Ctrl-C, panics), the error
//! mapping ([`error`]) and the NumPy conversions ([`arrays`], [`samples`]). Validation with
//! scikit-learn's messages happens in Python; here only what could make Rust unsafe is checked.

mod arrays;
mod error;
mod runtime;
mod samples;
mod threads;

mod dbscan;
mod kmeans;
mod kmeans_blocks;
mod linear;
mod logistic;
mod metric;
mod minibatch;
mod neighbors;
mod pca;
mod precomputed;
mod scale;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    dbscan::register(m)?;
    kmeans::register(m)?;
    kmeans_blocks::register(m)?;
    minibatch::register(m)?;
    logistic::register(m)?;
    metric::register(m)?;
    neighbors::register(m)?;
    linear::register(m)?;
    pca::register(m)?;
    precomputed::register(m)?;
    scale::register(m)?;
    Ok(())
}
