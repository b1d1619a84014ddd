//! `X B^T + b`, the decision function of every linear model (scikit-learn's
//! `safe_sparse_dot(X, coef_.T) + intercept_`). Dense X is one product on faer (split over
//! output tiles, so any thread count gives the same bits); CSR rows are dotted one by one.

use faer::{Accum, MatRef};
use rayon::prelude::*;

use super::operator::Rows;
use crate::blocks;
use crate::dense::{self, Real};
use crate::{KernelError, StopCheck};

/// `(n, t)` row-major predictions from `coef` `(t, d)` row-major and `intercept` `(t,)`.
pub fn predict<T: Real>(
    rows: &Rows<'_, T>,
    coef: &[T],
    intercept: &[T],
    stop: StopCheck,
) -> Result<Vec<T>, KernelError> {
    let (n, d, t) = (rows.n_samples(), rows.n_features(), intercept.len());
    if coef.len() != t * d {
        return Err(KernelError::Shape(format!(
            "coefficients of length {} for {t} targets and {d} features",
            coef.len()
        )));
    }
    let mut out = crate::alloc::filled(&[n, t], T::ZERO)?;
    for row in out.chunks_exact_mut(t.max(1)) {
        row.copy_from_slice(intercept);
    }
    match rows {
        Rows::Dense(x) => {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let x = dense::row_major(x.rows(0, n), n, d);
            let coef_t = MatRef::from_column_major_slice(coef, d, t);
            dense::matmul(
                dense::row_major_mut(&mut out, n, t),
                Accum::Add,
                x,
                coef_t,
                T::ONE,
                dense::par(),
            );
        }
        Rows::Csr(x) => {
            let parts = blocks::partition(n, t);
            let slices = blocks::split_by_blocks(&mut out, &parts, t);
            slices
                .into_par_iter()
                .zip(parts.par_iter())
                .try_for_each(|(out, block)| {
                    if stop() {
                        return Err(KernelError::Interrupted);
                    }
                    for (row_out, i) in out.chunks_exact_mut(t.max(1)).zip(block.clone()) {
                        let (indices, values) = x.row(i);
                        for (k, o) in row_out.iter_mut().enumerate() {
                            let c = &coef[k * d..(k + 1) * d];
                            let mut acc = T::ZERO;
                            for (&j, &v) in indices.iter().zip(values) {
                                acc += v * c[j as usize];
                            }
                            *o += acc;
                        }
                    }
                    Ok(())
                })?;
        }
    }
    Ok(out)
}
