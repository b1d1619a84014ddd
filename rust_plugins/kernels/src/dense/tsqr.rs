//! The `R` factor of a tall matrix by a one-level TSQR (Demmel et al., "Communication-optimal
//! parallel and sequential QR and LU factorizations", 2012): row blocks are factorised in
//! parallel, their `R` factors stacked and factorised again. `X = Q R` with `Q` orthonormal,
//! so `X` and `R` have the same singular values and right singular vectors, and the SVD of a
//! tall matrix reduces to that of a `(d, d)` one. The blocks depend only on the shape, so the
//! result does not depend on the thread count.

use faer::dyn_stack::MemStack;
use faer::linalg::qr::no_pivoting::factor;
use faer::Par;
use rayon::prelude::*;

use super::gram::Design;
use super::{workspace, ColMajor, Real};
use crate::samples::{Dense, Samples};
use crate::{KernelError, StopCheck};

/// At most this many row blocks (their stacked `R` factors are factorised again).
const MAX_BLOCKS: usize = 8;

/// The upper triangle of the QR factorisation of `a` (`a` is overwritten).
fn r_factor<T: Real>(mut a: ColMajor<T>) -> Result<ColMajor<T>, KernelError> {
    let (m, n) = (a.rows, a.cols);
    let size = m.min(n);
    let mut r = ColMajor::<T>::zeros(size, n)?;
    if size == 0 {
        return Ok(r);
    }
    let block = factor::recommended_block_size::<T>(m, n);
    let mut coeff = ColMajor::<T>::zeros(block, size)?;
    let mut buffer = workspace(factor::qr_in_place_scratch::<T>(
        m,
        n,
        block,
        Par::Seq,
        Default::default(),
    ))?;
    factor::qr_in_place(
        a.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut buffer),
        Default::default(),
    );
    for j in 0..n {
        for i in 0..=j.min(size - 1) {
            r.data[j * size + i] = a.at(i, j);
        }
    }
    Ok(r)
}

/// `R` (`(d, d)`, upper triangular) of `X - 1 shift^T` for dense rows with `n >= d`.
pub fn shifted_r<T: Real>(
    x: &Dense<'_, T>,
    shift: &[T],
    stop: StopCheck,
) -> Result<ColMajor<T>, KernelError> {
    design_r(Design::unweighted(x), shift, stop)
}

/// `R` of the design's rows shifted by `shift` (one value per column, targets included) and
/// scaled by the square roots of their weights: `(min(n, width), width)`, upper triangular.
/// With targets appended, `R`'s last columns are `Q^T y` of the least-squares problem.
pub fn design_r<T: Real>(
    rows: Design<'_, T>,
    shift: &[T],
    stop: StopCheck,
) -> Result<ColMajor<T>, KernelError> {
    rows.check()?;
    let (n, width) = (rows.x.n_samples(), rows.width());
    // Blocks of at least 2 width rows each, so that every block's R is square.
    let n_blocks = (n / (2 * width).max(1)).clamp(1, MAX_BLOCKS);
    let block_rows = n.div_ceil(n_blocks);
    let factors: Vec<ColMajor<T>> = (0..n_blocks)
        .into_par_iter()
        .map(|b| {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let (start, end) = (b * block_rows, ((b + 1) * block_rows).min(n));
            let m = end - start;
            let mut block = ColMajor::<T>::zeros(m, width)?;
            for i in 0..m {
                let root = rows
                    .weights
                    .map(|w| T::from_f64(w[start + i].to_f64().sqrt()));
                let values = rows
                    .x
                    .row(start + i)
                    .iter()
                    .chain(rows.target_row(start + i));
                for (j, (&v, &s)) in values.zip(shift).enumerate() {
                    let centred = v - s;
                    block.data[j * m + i] = root.map_or(centred, |r| centred * r);
                }
            }
            r_factor(block)
        })
        .collect::<Result<_, _>>()?;
    if factors.len() == 1 {
        return Ok(factors.into_iter().next().expect("one block"));
    }
    let stacked_rows: usize = factors.iter().map(|r| r.rows).sum();
    let mut stacked = ColMajor::<T>::zeros(stacked_rows, width)?;
    let mut offset = 0;
    for r in &factors {
        for j in 0..width {
            stacked.data[j * stacked_rows + offset..j * stacked_rows + offset + r.rows]
                .copy_from_slice(r.col(j));
        }
        offset += r.rows;
    }
    r_factor(stacked)
}
