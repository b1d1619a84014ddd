//! Non-negative least squares, `min ||M x - c||` subject to `x >= 0`, by Lawson and Hanson's
//! active-set method (the algorithm of `scipy.optimize.nnls`, with its default of `3 n`
//! iterations). The solution is unique when `M` has full column rank, so it is scipy's to
//! rounding. Runs on the small system the design reduces to (`R` of its QR factorisation).

use super::small::min_norm_columns;
use crate::dense::{ColMajor, Real};
use crate::KernelError;

/// `M^T (c - M x)`
fn gradient<T: Real>(m: &ColMajor<T>, c: &[f64], x: &[f64]) -> Vec<f64> {
    let residual: Vec<f64> = (0..m.rows)
        .map(|i| c[i] - (0..m.cols).map(|j| m.at(i, j).to_f64() * x[j]).sum::<f64>())
        .collect();
    (0..m.cols)
        .map(|j| {
            m.col(j)
                .iter()
                .zip(&residual)
                .map(|(a, r)| a.to_f64() * r)
                .sum()
        })
        .collect()
}

/// Lawson–Hanson NNLS. Fails like scipy ("Maximum number of iterations reached.") after
/// `3 n` iterations.
pub fn nnls<T: Real>(m: &ColMajor<T>, c: &[f64]) -> Result<Vec<f64>, KernelError> {
    let n = m.cols;
    let max_iter = 3 * n;
    let scale = (0..n)
        .map(|j| m.col(j).iter().map(|v| v.to_f64().abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let tol = 10.0 * f64::EPSILON * scale * (m.rows.max(n) as f64);
    let mut x = vec![0.0; n];
    let mut passive = vec![false; n];
    let mut iterations = 0;
    loop {
        let w = gradient(m, c, &x);
        let candidate = (0..n)
            .filter(|&j| !passive[j] && w[j] > tol)
            .max_by(|&a, &b| w[a].total_cmp(&w[b]).then(b.cmp(&a)));
        let Some(j) = candidate else {
            return Ok(x);
        };
        passive[j] = true;
        loop {
            iterations += 1;
            if iterations > max_iter {
                return Err(KernelError::NoConvergence(
                    "Maximum number of iterations reached.".into(),
                ));
            }
            let columns: Vec<usize> = (0..n).filter(|&j| passive[j]).collect();
            let s_passive = min_norm_columns(m, &columns, c)?;
            let mut s = vec![0.0; n];
            for (&j, v) in columns.iter().zip(&s_passive) {
                s[j] = *v;
            }
            if columns.iter().all(|&j| s[j] > 0.0) {
                x = s;
                break;
            }
            // Step towards s until the first passive variable reaches zero.
            let alpha = columns
                .iter()
                .filter(|&&j| s[j] <= 0.0)
                .map(|&j| x[j] / (x[j] - s[j]))
                .fold(f64::INFINITY, f64::min);
            for k in 0..n {
                x[k] += alpha * (s[k] - x[k]);
                if passive[k] && x[k] <= tol {
                    x[k] = 0.0;
                    passive[k] = false;
                }
            }
        }
    }
}
