//! Symmetric positive definite solves by Cholesky, as `scipy.linalg.solve(assume_a="pos")`
//! does them (LAPACK `posv`, then `pocon`'s estimate of the reciprocal condition number,
//! which decides scipy's ill-conditioning warning: below the dtype's machine epsilon).

use faer::dyn_stack::MemStack;
use faer::linalg::cholesky::llt;
use faer::Par;

use crate::dense::{workspace, ColMajor, Real};
use crate::KernelError;

/// A solved system and the reciprocal condition number (1-norm) of its matrix.
pub struct Solved<T> {
    pub x: ColMajor<T>,
    pub rcond: f64,
}

/// The Cholesky factor `L` of `a` (overwritten), or `None` when `a` is not positive definite.
fn cholesky<T: Real>(a: &mut ColMajor<T>) -> Result<bool, KernelError> {
    let n = a.rows;
    let mut buffer = workspace(llt::factor::cholesky_in_place_scratch::<T>(
        n,
        Par::Seq,
        Default::default(),
    ))?;
    let factored = llt::factor::cholesky_in_place(
        a.as_mut(),
        Default::default(),
        Par::Seq,
        MemStack::new(&mut buffer),
        Default::default(),
    );
    Ok(factored.is_ok())
}

/// The lower Cholesky factor `L` of `a` (`a = L L^T`, zeros above the diagonal), or `None`
/// when `a` is not positive definite.
pub fn lower_factor<T: Real>(a: &ColMajor<T>) -> Result<Option<ColMajor<T>>, KernelError> {
    let mut l = a.clone();
    if !cholesky(&mut l)? {
        return Ok(None);
    }
    let n = l.rows;
    for j in 0..n {
        l.data[j * n..j * n + j]
            .iter_mut()
            .for_each(|v| *v = T::ZERO);
    }
    Ok(Some(l))
}

/// `x = L^{-1} b` for lower-triangular `L`.
pub fn solve_lower<T: Real>(l: &ColMajor<T>, b: &mut ColMajor<T>) {
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(
        l.as_ref(),
        b.as_mut(),
        Par::Seq,
    );
}

fn solve_with<T: Real>(l: &ColMajor<T>, rhs: &mut ColMajor<T>) {
    let mut buffer = [];
    llt::solve::solve_in_place(
        l.as_ref(),
        rhs.as_mut(),
        Par::Seq,
        MemStack::new(&mut buffer),
    );
}

/// Solves `a x = b` for symmetric positive definite `a` (full storage). `None` when the
/// factorisation finds a non-positive pivot (scipy's "Matrix is singular." LinAlgError).
pub fn solve<T: Real>(a: &ColMajor<T>, b: &ColMajor<T>) -> Result<Option<Solved<T>>, KernelError> {
    let n = a.rows;
    let a_norm = one_norm(a);
    let mut l = a.clone();
    if !cholesky(&mut l)? {
        return Ok(None);
    }
    for j in 0..n {
        if l.at(j, j) == T::ZERO || !l.at(j, j).is_finite() {
            return Ok(None);
        }
    }
    let mut x = b.clone();
    solve_with(&l, &mut x);
    let inverse_norm = inverse_one_norm(&l)?;
    let rcond = if a_norm == 0.0 || inverse_norm == 0.0 {
        0.0
    } else {
        (1.0 / inverse_norm) / a_norm
    };
    Ok(Some(Solved { x, rcond }))
}

/// `max_j sum_i |a_ij|`
fn one_norm<T: Real>(a: &ColMajor<T>) -> f64 {
    (0..a.cols)
        .map(|j| a.col(j).iter().map(|v| v.to_f64().abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// Estimate of `||A^-1||_1` from A's Cholesky factor: Higham's refinement of Hager's method
/// (LAPACK `lacn2`, which `pocon` runs; A is symmetric, so `A^-T = A^-1`).
fn inverse_one_norm<T: Real>(l: &ColMajor<T>) -> Result<f64, KernelError> {
    let n = l.rows;
    let apply = |v: &[f64]| -> Result<Vec<f64>, KernelError> {
        let mut x = ColMajor::<T>::zeros(n, 1)?;
        x.data
            .iter_mut()
            .zip(v)
            .for_each(|(a, b)| *a = T::from_f64(*b));
        solve_with(l, &mut x);
        Ok(x.data.iter().map(|v| v.to_f64()).collect())
    };
    let l1 = |v: &[f64]| v.iter().map(|x| x.abs()).sum::<f64>();
    let sign = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|&x| if x >= 0.0 { 1.0 } else { -1.0 })
            .collect()
    };
    let argmax_abs = |v: &[f64]| {
        let mut best = 0;
        for (i, x) in v.iter().enumerate() {
            if x.abs() > v[best].abs() {
                best = i;
            }
        }
        best
    };
    if n == 0 {
        return Ok(0.0);
    }
    let y = apply(&vec![1.0 / n as f64; n])?;
    if n == 1 {
        return Ok(y[0].abs());
    }
    let mut estimate = l1(&y);
    let mut xi = sign(&y);
    let mut j = argmax_abs(&apply(&xi)?);
    for iteration in 2..=5 {
        let mut unit = vec![0.0; n];
        unit[j] = 1.0;
        let y = apply(&unit)?;
        let previous = estimate;
        estimate = l1(&y);
        let new_xi = sign(&y);
        if new_xi == xi || estimate <= previous {
            break;
        }
        xi = new_xi;
        let z = apply(&xi)?;
        let last = j;
        j = argmax_abs(&z);
        if z[last].abs() == z[j].abs() || iteration == 5 {
            break;
        }
    }
    let alternating: Vec<f64> = (0..n)
        .map(|i| {
            let magnitude = 1.0 + i as f64 / (n - 1) as f64;
            if i % 2 == 0 {
                magnitude
            } else {
                -magnitude
            }
        })
        .collect();
    let alternative = 2.0 * l1(&apply(&alternating)?) / (3.0 * n as f64);
    Ok(estimate.max(alternative))
}
