//! Second moments of a samples matrix for the covariance-based solvers.
//!
//! Dense rows: the mean and the centred scatter matrix `sum_i (x_i - mean)(x_i - mean)^T` in one
//! pass over X. Each chunk of rows is centred on its own mean (in cache) and multiplied by its
//! transpose (lower triangle only, a "syrk"); chunks and blocks are combined with Chan et al.'s
//! pairwise update `S = S_a + S_b + n_a n_b / n * (m_b - m_a)(m_b - m_a)^T`, which keeps the
//! accuracy of a two-pass computation (`X^T X - n m m^T` loses every digit the mean shares with
//! the data). Blocks follow the fixed partition of [`crate::blocks`], so the result does not
//! depend on the thread count.
//!
//! CSR rows: `X^T X` accumulated over the stored entries and the column sums; centring is then
//! `X^T X - n m m^T`, as scikit-learn computes it for sparse input.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, MatRef, Par};
use rayon::prelude::*;

use super::{ColMajor, Real};
use crate::blocks::{self, CHUNK};
use crate::samples::{Csr, Dense, Samples};
use crate::{KernelError, StopCheck};

/// Count, mean (float64) and scatter matrix of a set of rows. Only the lower triangle of
/// `scatter` is maintained until [`Moments::symmetric`].
pub struct Moments<T> {
    pub count: usize,
    pub mean: Vec<f64>,
    pub scatter: ColMajor<T>,
}

impl<T: Real> Moments<T> {
    fn empty(d: usize) -> Result<Self, KernelError> {
        Ok(Moments {
            count: 0,
            mean: vec![0.0; d],
            scatter: ColMajor::zeros(d, d)?,
        })
    }

    /// Adds the moments of rows whose own mean is `mean` and whose scatter around it has
    /// already been added to `self.scatter` (lower triangle).
    fn absorb(&mut self, count: usize, mean: &[f64]) {
        if count == 0 {
            return;
        }
        let total = self.count + count;
        if self.count > 0 {
            let weight = self.count as f64 * count as f64 / total as f64;
            let delta: Vec<f64> = mean.iter().zip(&self.mean).map(|(b, a)| b - a).collect();
            rank_one_lower(&mut self.scatter, &delta, weight);
        }
        let share = count as f64 / total as f64;
        for (m, b) in self.mean.iter_mut().zip(mean) {
            *m += (b - *m) * share;
        }
        self.count = total;
    }

    /// Combines the moments of two disjoint sets of rows.
    fn merge(mut self, other: Moments<T>) -> Self {
        add_lower(&mut self.scatter, &other.scatter);
        self.absorb(other.count, &other.mean);
        self
    }

    /// The full symmetric scatter matrix (upper triangle mirrored from the lower).
    pub fn symmetric(mut self) -> Self {
        symmetrize_lower(&mut self.scatter);
        self
    }
}

/// `s += weight * delta delta^T` on the lower triangle.
fn rank_one_lower<T: Real>(s: &mut ColMajor<T>, delta: &[f64], weight: f64) {
    let d = s.rows;
    for j in 0..d {
        let scaled = weight * delta[j];
        let column = &mut s.data[j * d..(j + 1) * d];
        for i in j..d {
            column[i] += T::from_f64(scaled * delta[i]);
        }
    }
}

fn add_lower<T: Real>(s: &mut ColMajor<T>, other: &ColMajor<T>) {
    let d = s.rows;
    for j in 0..d {
        for i in j..d {
            s.data[j * d + i] += other.data[j * d + i];
        }
    }
}

/// Mirrors the lower triangle of a square matrix onto its upper triangle.
pub fn symmetrize_lower<T: Real>(s: &mut ColMajor<T>) {
    let d = s.rows;
    for j in 0..d {
        for i in j + 1..d {
            s.data[i * d + j] = s.data[j * d + i];
        }
    }
}

/// Per-block state passed to the partition: small enough that any data gets four blocks
/// (the partition's budget is 4M values), so wide data balances over the pool.
const MAX_BLOCK_STATE: usize = 1 << 20;

/// Rows per product: at least [`CHUNK`], more for wide data so that each product's inner
/// dimension is long enough to amortise reading and writing the `(d, d)` accumulator.
fn rows_per_product(d: usize) -> usize {
    (CHUNK * d.div_ceil(128)).clamp(CHUNK, 16 * CHUNK)
}

/// Moments of the dense rows of `block`, chunk by chunk.
fn block_moments<T: Real>(
    x: &Dense<'_, T>,
    block: std::ops::Range<usize>,
    par: Par,
    stop: StopCheck,
) -> Result<Moments<T>, KernelError> {
    let d = x.n_features();
    let mut moments = Moments::empty(d)?;
    let rows_per_chunk = rows_per_product(d);
    let mut centred = crate::alloc::filled(&[rows_per_chunk.min(block.len()), d], T::ZERO)?;
    let mut chunk_mean = vec![0.0f64; d];
    let chunks = block
        .clone()
        .step_by(rows_per_chunk)
        .map(|s| s..(s + rows_per_chunk).min(block.end));
    for chunk in chunks {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        let rows = x.rows(chunk.start, chunk.end);
        let r = chunk.len();
        chunk_mean.iter_mut().for_each(|m| *m = 0.0);
        for row in rows.chunks_exact(d) {
            chunk_mean
                .iter_mut()
                .zip(row)
                .for_each(|(m, v)| *m += v.to_f64());
        }
        chunk_mean.iter_mut().for_each(|m| *m /= r as f64);
        let mean_t: Vec<T> = chunk_mean.iter().map(|&m| T::from_f64(m)).collect();
        for (dst, row) in centred.chunks_exact_mut(d).zip(rows.chunks_exact(d)) {
            dst.iter_mut()
                .zip(row.iter().zip(&mean_t))
                .for_each(|(c, (v, m))| *c = *v - *m);
        }
        // The chunk's rows, row-major (r, d), are the columns of a (d, r) column-major matrix.
        let z = MatRef::from_column_major_slice(&centred[..r * d], d, r);
        triangular::matmul(
            moments.scatter.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            z,
            BlockStructure::Rectangular,
            z.transpose(),
            BlockStructure::Rectangular,
            T::ONE,
            par,
        );
        moments.absorb(r, &chunk_mean);
    }
    Ok(moments)
}

/// Mean and centred scatter matrix of dense rows, in one pass (see the module docs).
pub fn centred_moments<T: Real>(
    x: &Dense<'_, T>,
    stop: StopCheck,
) -> Result<Moments<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    // Each block holds a (d, d) accumulator; at least four of them (when there are
    // enough rows) so that wide data still balances over the pool.
    let parts = blocks::partition(n, (d * d + d).min(MAX_BLOCK_STATE));
    let moments: Vec<Moments<T>> = parts
        .into_par_iter()
        .map(|b| block_moments(x, b, Par::Seq, stop))
        .collect::<Result<_, _>>()?;
    let mut total = Moments::empty(d)?;
    for m in moments {
        total = total.merge(m);
    }
    Ok(total.symmetric())
}

/// Column sums (float64) and `X^T X` (full, symmetric) of CSR rows.
pub fn sparse_gram<T: Real>(
    x: &Csr<'_, T>,
    stop: StopCheck,
) -> Result<(Vec<f64>, ColMajor<T>), KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let parts = blocks::partition(n, d * d + d);
    let partial: Vec<(Vec<f64>, ColMajor<T>)> = parts
        .into_par_iter()
        .map(|b| {
            let mut sums = vec![0.0f64; d];
            let mut gram = ColMajor::<T>::zeros(d, d)?;
            for (k, i) in b.enumerate() {
                if k % CHUNK == 0 && stop() {
                    return Err(KernelError::Interrupted);
                }
                let (indices, values) = x.row(i);
                for (a, (&ja, &va)) in indices.iter().zip(values).enumerate() {
                    sums[ja as usize] += va.to_f64();
                    for (&jb, &vb) in indices[..=a].iter().zip(&values[..=a]) {
                        let (hi, lo) = if ja >= jb { (ja, jb) } else { (jb, ja) };
                        gram.data[lo as usize * d + hi as usize] += va * vb;
                    }
                }
            }
            Ok((sums, gram))
        })
        .collect::<Result<_, KernelError>>()?;
    let mut sums = vec![0.0f64; d];
    let mut gram = ColMajor::<T>::zeros(d, d)?;
    for (s, g) in partial {
        sums.iter_mut().zip(s).for_each(|(t, v)| *t += v);
        add_lower(&mut gram, &g);
    }
    symmetrize_lower(&mut gram);
    Ok((sums, gram))
}
