//! Conjugate gradients on a symmetric positive definite operator, a port of
//! `scipy.sparse.linalg.cg` without preconditioner (`atol = max(0, rtol * ||b||)`, `maxiter`
//! defaulting to ten times the size, the residual test before each step).

use crate::{KernelError, StopCheck};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `C x = b` from `x = 0`, `apply(p, out)` computing `out = C p`. Returns the solution
/// and scipy's `info` (0 when converged, else the iteration limit).
pub fn cg(
    b: &[f64],
    rtol: f64,
    maxiter: Option<usize>,
    stop: StopCheck,
    mut apply: impl FnMut(&[f64], &mut [f64]) -> Result<(), KernelError>,
) -> Result<(Vec<f64>, usize), KernelError> {
    let n = b.len();
    let bnorm = dot(b, b).sqrt();
    let atol = rtol * bnorm;
    if bnorm == 0.0 {
        return Ok((b.to_vec(), 0));
    }
    let maxiter = maxiter.unwrap_or(n * 10);
    let mut x = vec![0.0; n];
    let mut r = b.to_vec();
    let mut p = vec![0.0; n];
    let mut q = vec![0.0; n];
    let mut rho_prev = 0.0;
    for iteration in 0..maxiter {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        if dot(&r, &r).sqrt() < atol {
            return Ok((x, 0));
        }
        let rho = dot(&r, &r);
        if iteration > 0 {
            let beta = rho / rho_prev;
            p.iter_mut()
                .zip(&r)
                .for_each(|(pe, re)| *pe = *pe * beta + re);
        } else {
            p.copy_from_slice(&r);
        }
        apply(&p, &mut q)?;
        let alpha = rho / dot(&p, &q);
        x.iter_mut().zip(&p).for_each(|(xe, pe)| *xe += alpha * pe);
        r.iter_mut().zip(&q).for_each(|(re, qe)| *re -= alpha * qe);
        rho_prev = rho;
    }
    Ok((x, maxiter))
}
