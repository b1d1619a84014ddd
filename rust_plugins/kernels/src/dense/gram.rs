//! Second moments of a samples matrix for the covariance-based solvers.
//!
//! Dense rows: the mean and the centred scatter matrix `sum_i (x_i - mean)(x_i - mean)^T` in one
//! pass over X, optionally with per-row weights (`sum_i w_i (x_i - mean_w)(x_i - mean_w)^T`
//! around the weighted mean) and with regression targets appended to each row as extra
//! columns, so the linear models get `X^T X`, `X^T y` and `y^T y` of centred data in one pass. Each chunk of rows is centred on its own mean (in cache) and multiplied by its
//! transpose (lower triangle only, a "syrk"); chunks and blocks are combined with Chan et al.'s
//! pairwise update `S = S_a + S_b + n_a n_b / n * (m_b - m_a)(m_b - m_a)^T`, which keeps the
//! accuracy of a two-pass computation (`X^T X - n m m^T` loses every digit the mean shares with
//! the data). Blocks follow the fixed partition of [`crate::blocks`], so the result does not
//! depend on the thread count.
//!
//! CSR rows: `X^T X` accumulated over the stored entries and the column sums; centring is then
//! `X^T X - n m m^T`, as scikit-learn computes it for sparse input.

use rayon::prelude::*;

use super::{syrk, ColMajor, Real};
use crate::blocks::{self, CHUNK};
use crate::samples::{Csr, Dense, Samples};
use crate::simd::simd_variants;
use crate::{KernelError, StopCheck};

/// Count, total weight (the count when unweighted), mean (float64, weighted) and scatter
/// matrix of a set of rows. Only the lower triangle of `scatter` is maintained until
/// [`Moments::symmetric`].
pub struct Moments<T> {
    pub count: usize,
    pub weight: f64,
    pub mean: Vec<f64>,
    pub scatter: ColMajor<T>,
}

impl<T: Real> Moments<T> {
    pub fn empty(d: usize) -> Result<Self, KernelError> {
        Ok(Moments {
            count: 0,
            weight: 0.0,
            mean: vec![0.0; d],
            scatter: ColMajor::zeros(d, d)?,
        })
    }

    /// Adds the moments of `count` rows of total weight `weight` whose own mean is `mean`
    /// and whose scatter around it has already been added to `self.scatter` (lower triangle).
    fn absorb(&mut self, count: usize, weight: f64, mean: &[f64]) {
        self.count += count;
        if weight == 0.0 {
            return;
        }
        let total = self.weight + weight;
        if self.weight > 0.0 {
            let pair_weight = self.weight * weight / total;
            let delta: Vec<f64> = mean.iter().zip(&self.mean).map(|(b, a)| b - a).collect();
            rank_one_lower(&mut self.scatter, &delta, pair_weight);
        }
        let share = weight / total;
        for (m, b) in self.mean.iter_mut().zip(mean) {
            *m += (b - *m) * share;
        }
        self.weight = total;
    }

    /// Combines the moments of two disjoint sets of rows.
    pub fn merge(mut self, other: Moments<T>) -> Self {
        add_lower(&mut self.scatter, &other.scatter);
        self.absorb(other.count, other.weight, &other.mean);
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

/// Rows to take moments of: dense `x`, optionally `targets` (`(n, t)` row-major) appended to
/// each row as `t` more columns, and optional per-row weights. Without `centred`, the
/// scatter is taken around zero (`sum_i w_i x_i x_i^T`) and the mean reported is zero.
#[derive(Clone, Copy)]
pub struct Design<'a, T> {
    pub x: &'a Dense<'a, T>,
    pub targets: &'a [T],
    pub n_targets: usize,
    pub weights: Option<&'a [T]>,
    pub centred: bool,
}

impl<'a, T: Real> Design<'a, T> {
    pub fn unweighted(x: &'a Dense<'a, T>) -> Self {
        Design {
            x,
            targets: &[],
            n_targets: 0,
            weights: None,
            centred: true,
        }
    }

    pub fn width(&self) -> usize {
        self.x.n_features() + self.n_targets
    }

    /// Row `i` of the targets.
    #[inline(always)]
    pub fn target_row(&self, i: usize) -> &[T] {
        &self.targets[i * self.n_targets..(i + 1) * self.n_targets]
    }

    /// Checks that targets and weights have one row per sample.
    pub fn check(&self) -> Result<(), KernelError> {
        let n = self.x.n_samples();
        if self.targets.len() != n * self.n_targets {
            return Err(KernelError::Shape(format!(
                "{} target values for {n} samples and {} targets",
                self.targets.len(),
                self.n_targets
            )));
        }
        if self.weights.is_some_and(|w| w.len() != n) {
            return Err(KernelError::Shape(format!("weights are not of length {n}")));
        }
        Ok(())
    }
}

/// Moments of the rows of `block`, chunk by chunk.
fn block_moments<T: Real>(
    rows: Design<'_, T>,
    block: std::ops::Range<usize>,
    stop: StopCheck,
) -> Result<Moments<T>, KernelError> {
    let (d, t) = (rows.x.n_features(), rows.n_targets);
    let width = d + t;
    let mut moments = Moments::empty(width)?;
    let rows_per_chunk = rows_per_product(width);
    // Rows are centred into a padded buffer (zeros beyond `width`) for the syrk tiles, whose
    // products accumulate in `products`; the rank-one merges go to `moments.scatter`.
    let stride = syrk::padded_width::<T>(width);
    let mut centred = crate::alloc::filled(&[rows_per_chunk.min(block.len()), stride], T::ZERO)?;
    let mut products = crate::alloc::filled(&[stride, stride], T::ZERO)?;
    let mut chunk_mean = vec![0.0f64; width];
    let chunks = block
        .clone()
        .step_by(rows_per_chunk)
        .map(|s| s..(s + rows_per_chunk).min(block.end));
    for chunk in chunks {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        let (r, chunk_end) = (chunk.len(), chunk.end);
        let chunk_weight = centre_chunk(&rows, chunk, stride, &mut centred, &mut chunk_mean);
        if chunk_weight == 0.0 {
            moments.absorb(r, 0.0, &chunk_mean);
            continue;
        }
        let next = chunk_end..(chunk_end + rows_per_chunk).min(block.end);
        syrk::syrk_lower(
            &centred,
            r,
            stride,
            &mut products,
            rows.x.rows(next.start, next.end),
        );
        moments.absorb(r, chunk_weight, &chunk_mean);
    }
    for j in 0..width {
        let column = &products[j * stride..j * stride + width];
        for (s, p) in moments.scatter.data[j * width + j..(j + 1) * width]
            .iter_mut()
            .zip(&column[j..])
        {
            *s += *p;
        }
    }
    Ok(moments)
}

simd_variants!(
    /// Centres (and scales by the square roots of their weights) the rows of `chunk` into
    /// `centred` (rows of `stride` values), leaving the chunk's weighted mean (zero when the
    /// design is not centred) in `chunk_mean`. Returns the chunk's total weight; when it is
    /// zero nothing is written. Compiled for AVX-512 and AVX2 too: at ~100 features these two
    /// passes over the cached chunk cost about half as much as its syrk.
    fn centre_chunk<T: Real>(
        rows: &Design<'_, T>,
        chunk: std::ops::Range<usize>,
        stride: usize,
        centred: &mut [T],
        chunk_mean: &mut [f64],
    ) -> f64 = centre_chunk_body;
);

#[inline(always)]
fn centre_chunk_body<T: Real>(
    rows: &Design<'_, T>,
    chunk: std::ops::Range<usize>,
    stride: usize,
    centred: &mut [T],
    chunk_mean: &mut [f64],
) -> f64 {
    let (d, width) = (rows.x.n_features(), rows.width());
    let r = chunk.len();
    let weights = rows.weights.map(|w| &w[chunk.clone()]);
    let weight_of = |k: usize| weights.map_or(1.0, |w| w[k].to_f64());
    chunk_mean.iter_mut().for_each(|m| *m = 0.0);
    let mut chunk_weight = 0.0;
    for k in 0..r {
        let w = weight_of(k);
        let (mx, my) = chunk_mean.split_at_mut(d);
        let row = rows.x.row(chunk.start + k);
        if weights.is_some() {
            mx.iter_mut()
                .zip(row)
                .for_each(|(m, v)| *m += w * v.to_f64());
        } else {
            mx.iter_mut().zip(row).for_each(|(m, v)| *m += v.to_f64());
        }
        my.iter_mut()
            .zip(rows.target_row(chunk.start + k))
            .for_each(|(m, v)| *m += w * v.to_f64());
        chunk_weight += w;
    }
    if chunk_weight == 0.0 {
        return 0.0;
    }
    if rows.centred {
        chunk_mean.iter_mut().for_each(|m| *m /= chunk_weight);
    } else {
        chunk_mean.iter_mut().for_each(|m| *m = 0.0);
    }
    let mean_t: Vec<T> = chunk_mean.iter().map(|&m| T::from_f64(m)).collect();
    for (k, row) in centred.chunks_exact_mut(stride).take(r).enumerate() {
        let dst = &mut row[..width];
        let (dx, dy) = dst.split_at_mut(d);
        dx.iter_mut()
            .zip(rows.x.row(chunk.start + k).iter().zip(&mean_t))
            .for_each(|(c, (v, m))| *c = *v - *m);
        dy.iter_mut()
            .zip(rows.target_row(chunk.start + k).iter().zip(&mean_t[d..]))
            .for_each(|(c, (v, m))| *c = *v - *m);
        if weights.is_some() {
            let root = T::from_f64(weight_of(k).sqrt());
            dst.iter_mut().for_each(|c| *c *= root);
        }
    }
    chunk_weight
}

/// Mean and centred scatter matrix of dense rows, in one pass (see the module docs).
pub fn centred_moments<T: Real>(
    x: &Dense<'_, T>,
    stop: StopCheck,
) -> Result<Moments<T>, KernelError> {
    design_moments(Design::unweighted(x), stop)
}

/// Weighted mean and weighted centred scatter matrix of the rows of a design (targets
/// appended), in one pass (see the module docs).
pub fn design_moments<T: Real>(
    rows: Design<'_, T>,
    stop: StopCheck,
) -> Result<Moments<T>, KernelError> {
    rows.check()?;
    let (n, width) = (rows.x.n_samples(), rows.width());
    let parts = blocks::partition(n, block_state(width));
    let moments = blocks_moments(rows, parts, stop)?;
    Ok(merge_in_order(moments, width)?.symmetric())
}

/// The state each block of the partition keeps for rows of `width` values: a `(width, width)`
/// accumulator, capped so that there are at least four blocks (when there are enough rows)
/// and wide data still balances over the pool.
pub fn block_state(width: usize) -> usize {
    (width * width + width).min(MAX_BLOCK_STATE)
}

/// The moments of each of `parts` (ranges of rows), computed in parallel. A caller holding
/// the rows in pieces that start at multiples of the partition's block size
/// (`blocks::rows_per_block(n, block_state(width))`) cuts each piece with `blocks::fixed`
/// and gets the blocks [`design_moments`] uses.
pub fn blocks_moments<T: Real>(
    rows: Design<'_, T>,
    parts: Vec<std::ops::Range<usize>>,
    stop: StopCheck,
) -> Result<Vec<Moments<T>>, KernelError> {
    rows.check()?;
    parts
        .into_par_iter()
        .map(|b| block_moments(rows, b, stop))
        .collect()
}

/// Blocks' moments merged in block order (lower triangle; see [`Moments::symmetric`]).
pub fn merge_in_order<T: Real>(
    parts: Vec<Moments<T>>,
    width: usize,
) -> Result<Moments<T>, KernelError> {
    let mut total = Moments::empty(width)?;
    for m in parts {
        total = total.merge(m);
    }
    Ok(total)
}

/// Column sums (float64) and `X^T X` (full, symmetric) of CSR rows.
pub fn sparse_gram<T: Real>(
    x: &Csr<'_, T>,
    stop: StopCheck,
) -> Result<(Vec<f64>, ColMajor<T>), KernelError> {
    sparse_weighted_gram(x, None, stop)
}

/// Weighted column sums `sum_i w_i x_i` (float64) and `X^T W X` (full, symmetric) of CSR
/// rows (`W = I` without weights).
pub fn sparse_weighted_gram<T: Real>(
    x: &Csr<'_, T>,
    weights: Option<&[T]>,
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
                let w = weights.map_or(T::ONE, |w| w[i]);
                for (a, (&ja, &va)) in indices.iter().zip(values).enumerate() {
                    let wa = if weights.is_some() { w * va } else { va };
                    sums[ja as usize] += wa.to_f64();
                    for (&jb, &vb) in indices[..=a].iter().zip(&values[..=a]) {
                        let (hi, lo) = if ja >= jb { (ja, jb) } else { (jb, ja) };
                        gram.data[lo as usize * d + hi as usize] += wa * vb;
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
