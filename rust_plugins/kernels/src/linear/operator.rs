//! The centred, weighted design as a linear operator, for the iterative solvers (LSQR, CG):
//! `A v = sqrt(w) * (X v - (m . v))` and `A^T u = X^T (sqrt(w) * u) - m (sqrt(w) . u)`, the
//! operator scikit-learn builds with `_get_rescaled_operator` (for dense X it centres and
//! rescales a copy instead; the operator is the same). Vectors are float64 whatever X's dtype.
//! Products split the rows over the fixed partition of [`crate::blocks`]; `A^T u` sums the
//! blocks' partial vectors in block order, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::blocks;
use crate::float::Float;
use crate::samples::{Csr, Dense, Samples};
use crate::{KernelError, StopCheck};

/// Dense or CSR samples, read row by row.
#[derive(Clone, Copy)]
pub enum Rows<'a, T> {
    Dense(&'a Dense<'a, T>),
    Csr(&'a Csr<'a, T>),
}

impl<T: Float> Rows<'_, T> {
    pub fn n_samples(&self) -> usize {
        match self {
            Rows::Dense(x) => x.n_samples(),
            Rows::Csr(x) => x.n_samples(),
        }
    }

    pub fn n_features(&self) -> usize {
        match self {
            Rows::Dense(x) => x.n_features(),
            Rows::Csr(x) => x.n_features(),
        }
    }

    /// `x_i . v`
    #[inline]
    fn dot(&self, i: usize, v: &[f64]) -> f64 {
        match self {
            Rows::Dense(x) => x.row(i).iter().zip(v).map(|(a, b)| a.to_f64() * b).sum(),
            Rows::Csr(x) => {
                let (indices, values) = x.row(i);
                indices
                    .iter()
                    .zip(values)
                    .map(|(&j, a)| a.to_f64() * v[j as usize])
                    .sum()
            }
        }
    }

    /// `acc += s * x_i`
    #[inline]
    fn add_scaled(&self, i: usize, s: f64, acc: &mut [f64]) {
        match self {
            Rows::Dense(x) => acc
                .iter_mut()
                .zip(x.row(i))
                .for_each(|(a, v)| *a += s * v.to_f64()),
            Rows::Csr(x) => {
                let (indices, values) = x.row(i);
                for (&j, v) in indices.iter().zip(values) {
                    acc[j as usize] += s * v.to_f64();
                }
            }
        }
    }
}

/// `sqrt(w) * (X - 1 m^T)` without forming it.
pub struct Centred<'a, T> {
    pub rows: Rows<'a, T>,
    /// The column offsets `m` (zeros without an intercept).
    pub offset: Vec<f64>,
    /// Square roots of the sample weights, if any.
    pub root_weights: Option<Vec<f64>>,
    partition: Vec<std::ops::Range<usize>>,
}

impl<'a, T: Float> Centred<'a, T> {
    pub fn new(rows: Rows<'a, T>, offset: Vec<f64>, weights: Option<&[T]>) -> Self {
        let (n, d) = (rows.n_samples(), rows.n_features());
        Centred {
            partition: blocks::partition(n, d),
            root_weights: weights.map(|w| w.iter().map(|v| v.to_f64().sqrt()).collect()),
            rows,
            offset,
        }
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows.n_samples(), self.rows.n_features())
    }

    #[inline]
    fn root_weight(&self, i: usize) -> f64 {
        self.root_weights.as_ref().map_or(1.0, |w| w[i])
    }

    /// `out = A v`
    pub fn matvec(&self, v: &[f64], out: &mut [f64], stop: StopCheck) -> Result<(), KernelError> {
        let shift: f64 = self.offset.iter().zip(v).map(|(m, x)| m * x).sum();
        let parts = blocks::split_by_blocks(out, &self.partition, 1);
        parts
            .into_par_iter()
            .zip(self.partition.par_iter())
            .try_for_each(|(out, block)| {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                for (o, i) in out.iter_mut().zip(block.clone()) {
                    *o = self.root_weight(i) * (self.rows.dot(i, v) - shift);
                }
                Ok(())
            })
    }

    /// `out = A^T u`
    pub fn rmatvec(&self, u: &[f64], out: &mut [f64], stop: StopCheck) -> Result<(), KernelError> {
        let d = self.rows.n_features();
        let partials: Vec<(Vec<f64>, f64)> = self
            .partition
            .par_iter()
            .map(|block| {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let mut acc = vec![0.0; d];
                let mut weight_sum = 0.0;
                for i in block.clone() {
                    let s = self.root_weight(i) * u[i];
                    self.rows.add_scaled(i, s, &mut acc);
                    weight_sum += s;
                }
                Ok((acc, weight_sum))
            })
            .collect::<Result<_, _>>()?;
        out.iter_mut().for_each(|o| *o = 0.0);
        let mut total = 0.0;
        for (acc, s) in partials {
            out.iter_mut().zip(acc).for_each(|(o, a)| *o += a);
            total += s;
        }
        out.iter_mut()
            .zip(&self.offset)
            .for_each(|(o, m)| *o -= m * total);
        Ok(())
    }
}
