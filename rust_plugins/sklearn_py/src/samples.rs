//! Conversion of the Python-side samples (a C-contiguous 2-D array, or a CSR matrix passed as
//! the tuple `(data, indices, indptr, n_samples, n_features)`) into `kernels::samples` views.
//! Every estimator's bindings take their `X` this way.

use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Borrowed NumPy buffers kept alive (and read-only) while Rust works on them.
pub enum SamplesArg<'py, T: Element> {
    Dense(PyReadonlyArray2<'py, T>),
    Csr {
        data: PyReadonlyArray1<'py, T>,
        indices: PyReadonlyArray1<'py, i32>,
        indptr: PyReadonlyArray1<'py, i64>,
        n_samples: usize,
        n_features: usize,
    },
}

impl<'py, T: Element> SamplesArg<'py, T> {
    pub fn extract(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(t) = obj.cast::<PyTuple>() {
            let (data, indices, indptr, n_samples, n_features) = t.extract()?;
            return Ok(Self::Csr {
                data,
                indices,
                indptr,
                n_samples,
                n_features,
            });
        }
        Ok(Self::Dense(obj.extract()?))
    }

    /// Number of samples (rows).
    pub fn n_samples(&self) -> usize {
        match self {
            SamplesArg::Dense(a) => a.shape()[0],
            SamplesArg::Csr { n_samples, .. } => *n_samples,
        }
    }

    /// The dense view, or `None` for CSR samples.
    pub fn dense(&self) -> PyResult<Option<kernels::samples::Dense<'_, T>>>
    where
        T: kernels::float::Float,
    {
        let SamplesArg::Dense(a) = self else {
            return Ok(None);
        };
        let data = a
            .as_slice()
            .map_err(|_| pyo3::exceptions::PyValueError::new_err("X must be C-contiguous"))?;
        kernels::samples::Dense::new(data, a.shape()[0], a.shape()[1])
            .map(Some)
            .map_err(crate::error::kernel_error)
    }

    /// The CSR view, or `None` for dense samples.
    pub fn csr(&self) -> PyResult<Option<kernels::samples::Csr<'_, T>>>
    where
        T: kernels::float::Float,
    {
        let SamplesArg::Csr {
            data,
            indices,
            indptr,
            n_samples,
            n_features,
        } = self
        else {
            return Ok(None);
        };
        kernels::samples::Csr::new(
            crate::arrays::slice(data)?,
            crate::arrays::slice(indices)?,
            crate::arrays::slice(indptr)?,
            *n_samples,
            *n_features,
        )
        .map(Some)
        .map_err(crate::error::kernel_error)
    }

    /// Number of features (columns).
    pub fn n_features(&self) -> usize {
        match self {
            SamplesArg::Dense(a) => a.shape()[1],
            SamplesArg::Csr { n_features, .. } => *n_features,
        }
    }
}

/// Runs `$body` with `$s` bound to a `kernels::samples::Dense` or `Csr` view of `$arg`.
#[macro_export]
macro_rules! with_samples {
    ($arg:expr, |$s:ident| $body:expr) => {
        match &$arg {
            $crate::samples::SamplesArg::Dense(a) => {
                use numpy::PyUntypedArrayMethods as _;
                let shape = a.shape();
                let data = a.as_slice().map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err("X must be C-contiguous")
                })?;
                let $s = kernels::samples::Dense::new(data, shape[0], shape[1])
                    .map_err($crate::error::kernel_error)?;
                $body
            }
            $crate::samples::SamplesArg::Csr {
                data,
                indices,
                indptr,
                n_samples,
                n_features,
            } => {
                let $s = kernels::samples::Csr::new(
                    $crate::arrays::slice(data)?,
                    $crate::arrays::slice(indices)?,
                    $crate::arrays::slice(indptr)?,
                    *n_samples,
                    *n_features,
                )
                .map_err($crate::error::kernel_error)?;
                $body
            }
        }
    };
}
