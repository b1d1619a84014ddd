//! Logistic regression: scikit-learn's penalised binomial and multinomial objectives
//! (`LinearModelLoss` with `HalfBinomialLoss` / `HalfMultinomialLoss`), minimised by scipy's
//! L-BFGS-B driver ([`lbfgs`]), and the decision function and probabilities of a fitted model.
//!
//! The objective is scikit-learn's scaling: the sample-weighted mean of the pointwise losses
//! plus `l2 / 2 * ||W||^2` with `l2 = 1 / (C * sum(sample_weight))`, intercepts unpenalised
//! (liblinear's problem penalises a synthetic intercept feature of value `intercept_scaling`:
//! [`Model::penalize_intercept`]). One evaluation is one pass over `X`: each chunk of rows
//! gets its raw predictions `X_c W^T + b`, their losses and pointwise gradients (sigmoid, or
//! the softmax for several classes) and adds `G_c^T X_c` to its block's gradient while the
//! chunk is still in cache. Blocks come from [`crate::blocks`] and are summed in block order,
//! so results do not depend on the thread count. Arithmetic is float64 whatever `X`'s dtype.
//!
//! Coefficients are laid out `[W (rows x d, row-major), b (rows)]`, `rows` being 1 for two
//! classes (class 1 is the positive one) and the number of classes otherwise.

pub mod lbfgs;
mod products;
#[cfg(test)]
mod tests;

use std::ops::Range;

use rayon::prelude::*;

use crate::blocks::{self, CHUNK};
use crate::float::Float;
use crate::samples::{Csr, Dense};
use crate::{alloc, KernelError, StopCheck};

/// What the model is: its coefficient rows and how the intercept enters.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// Number of classes (2 for a binary problem).
    pub n_classes: usize,
    pub n_features: usize,
    pub fit_intercept: bool,
    /// Value of the synthetic intercept feature (1 unless liblinear's problem).
    pub intercept_scaling: f64,
    /// Whether the intercept's coefficient is penalised (liblinear's problem).
    pub penalize_intercept: bool,
}

impl Model {
    /// Coefficient rows: 1 for two classes.
    pub fn rows(&self) -> usize {
        if self.n_classes <= 2 {
            1
        } else {
            self.n_classes
        }
    }

    /// Length of the parameter vector.
    pub fn n_params(&self) -> usize {
        self.rows() * (self.n_features + self.fit_intercept as usize)
    }
}

/// Samples as the logistic kernels read them: chunks of rows times coefficient rows, and the
/// transpose product into the gradient.
pub trait Design<T>: Sync {
    fn n_samples(&self) -> usize;
    fn n_features(&self) -> usize;
    /// `z[i, k] = x_i . w_k` for the rows of `chunk` (`z` row-major `(len, k)`).
    fn scores(&self, chunk: Range<usize>, w: &[f64], k: usize, z: &mut [f64], buf: &mut [f64]);
    /// `grad[k, :] += sum_i g[i, k] x_i` over the rows of `chunk`, called after `scores` of the
    /// same chunk with the same `buf` (the dense float32 path reuses the rows it widened).
    fn add_gradient(&self, chunk: Range<usize>, g: &[f64], k: usize, grad: &mut [f64], buf: &[f64]);
    /// Scratch (float64 copy of a chunk) the dense float32 path needs.
    fn buffer_len(&self) -> usize;
}

/// Dense rows as float64: read in place for float64, copied for float32.
pub trait Widen: Float {
    const IS_F64: bool;
    fn widen<'a>(src: &'a [Self], buf: &'a mut [f64]) -> &'a [f64];
    /// The data itself when it is float64.
    fn as_f64(src: &[Self]) -> Option<&[f64]>;
}

impl Widen for f64 {
    const IS_F64: bool = true;
    fn widen<'a>(src: &'a [f64], _buf: &'a mut [f64]) -> &'a [f64] {
        src
    }
    fn as_f64(src: &[f64]) -> Option<&[f64]> {
        Some(src)
    }
}

impl Widen for f32 {
    const IS_F64: bool = false;
    fn as_f64(_src: &[f32]) -> Option<&[f64]> {
        None
    }
    fn widen<'a>(src: &'a [f32], buf: &'a mut [f64]) -> &'a [f64] {
        let out = &mut buf[..src.len()];
        out.iter_mut().zip(src).for_each(|(o, &v)| *o = v as f64);
        out
    }
}

/// The float types logistic regression accepts for `X`.
pub trait Sample: Widen {}
impl Sample for f32 {}
impl Sample for f64 {}

impl<T: Sample> Design<T> for Dense<'_, T> {
    fn n_samples(&self) -> usize {
        Samples::n_samples(self)
    }
    fn n_features(&self) -> usize {
        Samples::n_features(self)
    }

    fn scores(&self, chunk: Range<usize>, w: &[f64], k: usize, z: &mut [f64], buf: &mut [f64]) {
        let (len, d) = (chunk.len(), Samples::n_features(self));
        let x = <T as Widen>::widen(self.rows(chunk.start, chunk.end), buf);
        products::scores(x, w, k, d, &mut z[..len * k]);
    }

    fn add_gradient(
        &self,
        chunk: Range<usize>,
        g: &[f64],
        k: usize,
        grad: &mut [f64],
        buf: &[f64],
    ) {
        let (len, d) = (chunk.len(), Samples::n_features(self));
        // float64 rows are read in place; float32 ones were widened into `buf` by `scores`.
        let x = match <T as Widen>::as_f64(self.rows(chunk.start, chunk.end)) {
            Some(rows) => rows,
            None => &buf[..len * d],
        };
        products::gradient(x, &g[..len * k], k, d, &mut grad[..k * d]);
    }

    fn buffer_len(&self) -> usize {
        if T::IS_F64 {
            0
        } else {
            CHUNK * Samples::n_features(self)
        }
    }
}

use crate::samples::Samples;

impl<T: Sample> Design<T> for Csr<'_, T> {
    fn n_samples(&self) -> usize {
        Samples::n_samples(self)
    }
    fn n_features(&self) -> usize {
        Samples::n_features(self)
    }

    fn scores(&self, chunk: Range<usize>, w: &[f64], k: usize, z: &mut [f64], _buf: &mut [f64]) {
        let d = Samples::n_features(self);
        for (r, i) in chunk.enumerate() {
            let (idx, vals) = self.row(i);
            let zr = &mut z[r * k..(r + 1) * k];
            for (c, zc) in zr.iter_mut().enumerate() {
                let wc = &w[c * d..(c + 1) * d];
                *zc = idx
                    .iter()
                    .zip(vals)
                    .map(|(&j, v)| v.to_f64() * wc[j as usize])
                    .sum();
            }
        }
    }

    fn add_gradient(
        &self,
        chunk: Range<usize>,
        g: &[f64],
        k: usize,
        grad: &mut [f64],
        _buf: &[f64],
    ) {
        let d = Samples::n_features(self);
        for (r, i) in chunk.enumerate() {
            let (idx, vals) = self.row(i);
            for c in 0..k {
                let gc = g[r * k + c];
                let row = &mut grad[c * d..(c + 1) * d];
                for (&j, v) in idx.iter().zip(vals) {
                    row[j as usize] += gc * v.to_f64();
                }
            }
        }
    }

    fn buffer_len(&self) -> usize {
        0
    }
}

/// `log(1 + exp(z))` and the sigmoid, without overflow.
#[inline(always)]
fn log1pexp_sigmoid(z: f64) -> (f64, f64) {
    if z >= 0.0 {
        let e = (-z).exp();
        (z + e.ln_1p(), 1.0 / (1.0 + e))
    } else {
        let e = z.exp();
        (e.ln_1p(), e / (1.0 + e))
    }
}

/// The training data of one fit.
pub struct Problem<'a, S> {
    pub x: &'a S,
    /// Class index of every sample (`0..n_classes`).
    pub labels: &'a [i32],
    pub sample_weight: Option<&'a [f64]>,
    pub model: Model,
    /// `1 / (C * sum(sample_weight))`; 0 without penalty.
    pub l2: f64,
}

impl<'a, S> Problem<'a, S> {
    /// Checks lengths and labels once, so the passes index without surprises.
    pub fn new<T: Sample>(
        x: &'a S,
        labels: &'a [i32],
        sample_weight: Option<&'a [f64]>,
        model: Model,
        l2: f64,
    ) -> Result<Self, KernelError>
    where
        S: Design<T>,
    {
        let n = x.n_samples();
        if labels.len() != n || sample_weight.is_some_and(|w| w.len() != n) {
            return Err(KernelError::Shape(
                "labels and sample weights must have one value per sample".into(),
            ));
        }
        if model.n_features != x.n_features() || model.n_classes < 2 {
            return Err(KernelError::Shape("model does not match the data".into()));
        }
        if labels
            .iter()
            .any(|&c| c < 0 || c as usize >= model.n_classes)
        {
            return Err(KernelError::InvalidArgument(
                "class index out of range".into(),
            ));
        }
        Ok(Problem {
            x,
            labels,
            sample_weight,
            model,
            l2,
        })
    }

    /// Sum of the sample weights (the number of samples without weights).
    pub fn weight_sum(&self) -> f64 {
        match self.sample_weight {
            Some(w) => w.iter().sum(),
            None => self.labels.len() as f64,
        }
    }

    /// The objective at `params`; its gradient is written into `grad`.
    pub fn loss_gradient<T: Sample>(
        &self,
        params: &[f64],
        grad: &mut [f64],
    ) -> Result<f64, KernelError>
    where
        S: Design<T>,
    {
        let m = self.model;
        let (k, d) = (m.rows(), m.n_features);
        let n = self.x.n_samples();
        let width = k * d + k;
        let w = &params[..k * d];
        let b: Vec<f64> = if m.fit_intercept {
            params[k * d..]
                .iter()
                .map(|v| v * m.intercept_scaling)
                .collect()
        } else {
            vec![0.0; k]
        };
        let parts = blocks::partition(n, width);
        let partials = parts
            .into_par_iter()
            .map(|block| self.block_loss_gradient::<T>(block, w, &b))
            .collect::<Result<Vec<_>, _>>()?;
        let sw_sum = self.weight_sum();
        let mut loss = 0.0;
        let mut acc = alloc::filled(&[width], 0.0)?;
        for (l, g) in partials {
            loss += l;
            acc.iter_mut().zip(&g).for_each(|(a, v)| *a += v);
        }
        loss /= sw_sum;
        let l2 = self.l2;
        let mut penalty = w.iter().map(|v| v * v).sum::<f64>();
        for (gv, (a, wv)) in grad[..k * d].iter_mut().zip(acc.iter().zip(w)) {
            *gv = a / sw_sum + l2 * wv;
        }
        if m.fit_intercept {
            for c in 0..k {
                let bc = params[k * d + c];
                let mut gv = acc[k * d + c] / sw_sum * m.intercept_scaling;
                if m.penalize_intercept {
                    gv += l2 * bc;
                    penalty += bc * bc;
                }
                grad[k * d + c] = gv;
            }
        }
        Ok(loss + 0.5 * l2 * penalty)
    }

    /// Weighted loss sum and gradient sums (`[G^T X, sum G]`) of one block.
    fn block_loss_gradient<T: Sample>(
        &self,
        block: Range<usize>,
        w: &[f64],
        b: &[f64],
    ) -> Result<(f64, Vec<f64>), KernelError>
    where
        S: Design<T>,
    {
        let m = self.model;
        let (k, d) = (m.rows(), m.n_features);
        let mut grad = alloc::filled(&[k * d + k], 0.0)?;
        let mut z = alloc::filled(&[CHUNK * k], 0.0)?;
        let mut buf = alloc::filled(&[self.x.buffer_len()], 0.0)?;
        let mut loss = 0.0;
        // Per row of a chunk: the binary raw prediction, or the multinomial row's shifted
        // label score `z_y - max`.
        let mut keep = [0.0f64; CHUNK];
        for chunk in blocks::chunks(block) {
            let len = chunk.len();
            self.x.scores(chunk.clone(), w, k, &mut z, &mut buf);
            let (gw, gb) = grad.split_at_mut(k * d);
            let labels = &self.labels[chunk.clone()];
            let zc = &mut z[..len * k];
            // Exponentials of the chunk in one vectorised pass: e^{-|z|} for the sigmoid,
            // e^{z - max} for the softmax.
            for (r, zr) in zc.chunks_exact_mut(k).enumerate() {
                zr.iter_mut().zip(b).for_each(|(v, bv)| *v += bv);
                if k == 1 {
                    keep[r] = zr[0];
                    zr[0] = -zr[0].abs();
                } else {
                    let max = zr.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                    zr.iter_mut().for_each(|v| *v -= max);
                    keep[r] = zr[labels[r] as usize];
                }
            }
            products::exp_nonpositive(zc);
            for (r, zr) in zc.chunks_exact_mut(k).enumerate() {
                let sw = self.sample_weight.map_or(1.0, |s| s[chunk.start + r]);
                let label = labels[r] as usize;
                if k == 1 {
                    let (raw, e) = (keep[r], zr[0]);
                    let y = label as f64;
                    // log(1 + e^raw) = max(raw, 0) + log(1 + e^{-|raw|}).
                    loss += sw * (raw.max(0.0) + e.ln_1p() - y * raw);
                    let p = if raw >= 0.0 {
                        1.0 / (1.0 + e)
                    } else {
                        e / (1.0 + e)
                    };
                    zr[0] = sw * (p - y);
                    gb[0] += zr[0];
                } else {
                    let sum: f64 = zr.iter().sum();
                    loss += sw * (sum.ln() - keep[r]);
                    let scale = sw / sum;
                    for (c, v) in zr.iter_mut().enumerate() {
                        *v *= scale;
                        if c == label {
                            *v -= sw;
                        }
                        gb[c] += *v;
                    }
                }
            }
            self.x.add_gradient(chunk, &z, k, gw, &buf);
        }
        Ok((loss, grad))
    }
}

/// Settings of a fit.
#[derive(Clone, Copy, Debug)]
pub struct FitOptions {
    pub lbfgs: lbfgs::Options,
}

/// A fitted model: `coef` `(rows, d)` row-major, `intercept` `(rows,)` (already multiplied by
/// `intercept_scaling`), and how the minimisation ended.
#[derive(Clone, Debug)]
pub struct Fit {
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
    pub n_iter: usize,
    pub status: u8,
    pub message: &'static str,
    pub loss: f64,
}

/// The error of a fit whose starting objective is not finite (non-finite data).
pub const NON_FINITE: &str = "the objective is not finite at the starting point";

/// Minimises the problem's objective from `params0` (layout of the module docs).
pub fn fit<T: Sample, S: Design<T>>(
    problem: &Problem<'_, S>,
    params0: Vec<f64>,
    options: &FitOptions,
    stop: StopCheck,
) -> Result<Fit, KernelError> {
    let m = problem.model;
    if params0.len() != m.n_params() {
        return Err(KernelError::Shape(format!(
            "initial coefficients have {} values, expected {}",
            params0.len(),
            m.n_params()
        )));
    }
    // The first evaluation doubles as the finiteness check of X (a NaN or infinity anywhere
    // makes its objective or gradient non-finite): the caller reports the offending input.
    let mut first = true;
    let out = lbfgs::minimize(params0, &options.lbfgs, stop, |x, g| {
        let f = problem.loss_gradient::<T>(x, g)?;
        if std::mem::take(&mut first) && !(f.is_finite() && g.iter().all(|v| v.is_finite())) {
            return Err(KernelError::InvalidArgument(NON_FINITE.into()));
        }
        Ok(f)
    })?;
    let (k, d) = (m.rows(), m.n_features);
    let mut x = out.x;
    let intercept = if m.fit_intercept {
        x[k * d..].iter().map(|v| v * m.intercept_scaling).collect()
    } else {
        vec![0.0; k]
    };
    x.truncate(k * d);
    Ok(Fit {
        coef: x,
        intercept,
        n_iter: out.n_iter,
        status: out.status,
        message: out.message,
        loss: out.f,
    })
}

/// `X W^T + b` for coefficient rows `coef` `(k, d)`: `(n, k)` row-major.
pub fn decision_function<T: Sample, S: Design<T>>(
    x: &S,
    coef: &[f64],
    intercept: &[f64],
    stop: StopCheck,
) -> Result<Vec<f64>, KernelError> {
    let (n, d, k) = (x.n_samples(), x.n_features(), intercept.len());
    if coef.len() != k * d {
        return Err(KernelError::Shape(
            "coefficients do not match the data".into(),
        ));
    }
    let mut out = alloc::filled(&[n, k], 0.0)?;
    let parts = blocks::partition(n, k.max(1));
    let outs = blocks::split_by_blocks(&mut out, &parts, k);
    parts
        .into_par_iter()
        .zip(outs)
        .map(|(block, out)| {
            let mut buf = alloc::filled(&[x.buffer_len()], 0.0)?;
            for chunk in blocks::chunks(block.clone()) {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let start = (chunk.start - block.start) * k;
                let z = &mut out[start..start + chunk.len() * k];
                x.scores(chunk, coef, k, z, &mut buf);
                for row in z.chunks_exact_mut(k) {
                    row.iter_mut().zip(intercept).for_each(|(v, b)| *v += b);
                }
            }
            Ok(())
        })
        .collect::<Result<Vec<()>, KernelError>>()?;
    Ok(out)
}

/// Class probabilities from decision values in place: `(n, 1)` scores become the sigmoid's
/// `(n, 2)` `[1 - p, p]`; `(n, k)` scores their softmax.
pub fn probabilities(scores: Vec<f64>, k: usize) -> Result<Vec<f64>, KernelError> {
    if k == 1 {
        let mut out = alloc::filled(&[scores.len(), 2], 0.0)?;
        for (o, &z) in out.chunks_exact_mut(2).zip(&scores) {
            let p = log1pexp_sigmoid(z).1;
            o[0] = 1.0 - p;
            o[1] = p;
        }
        return Ok(out);
    }
    let mut scores = scores;
    for row in scores.chunks_exact_mut(k.max(1)) {
        let max = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
    Ok(scores)
}
