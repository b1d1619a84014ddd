//! What a fitted PCA computes from its attributes (scikit-learn's `_BasePCA` and
//! `PCA.score_samples`): projections, reconstructions, the model's covariance and precision,
//! and per-sample log-likelihoods. Rows are processed by chunks of the fixed partition of
//! [`crate::blocks`], each centred in cache before its product, so results do not depend on
//! the thread count.

use faer::{Accum, Par};
use rayon::prelude::*;

use crate::blocks::{self, CHUNK};
use crate::dense::{self, row_major, row_major_mut, ColMajor, Lu, Real};
use crate::samples::{Csr, Dense, Samples};
use crate::{alloc, KernelError, StopCheck};

/// `1 / scale` per component for whitening: `sqrt(explained_variance)` with values below the
/// dtype's epsilon raised to it, as scikit-learn does.
fn whitening<T: Real>(explained_variance: &[T]) -> Vec<T> {
    explained_variance
        .iter()
        .map(|&v| {
            let s = v.sqrt();
            if s < T::EPSILON {
                T::EPSILON
            } else {
                s
            }
        })
        .collect()
}

/// Rows centred and multiplied at a time: about 1 MiB of float64 scratch (in L2), so each
/// product is long enough to amortise its set-up.
fn rows_per_product(d: usize) -> usize {
    ((1 << 17) / d.max(1)).clamp(CHUNK, 4 * CHUNK) / CHUNK * CHUNK
}

/// `(X - mean) @ components^T` (divided by the whitening scale when `whiten_by` is given):
/// `(n, k)` row-major. An error when X holds NaN or infinite values (the caller then raises
/// scikit-learn's message).
pub fn transform_dense<T: Real>(
    x: &Dense<'_, T>,
    mean: &[T],
    components: &[T],
    whiten_by: Option<&[T]>,
    stop: StopCheck,
) -> Result<Vec<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let k = components.len() / d.max(1);
    let mut out = alloc::filled(&[n, k], T::ZERO)?;
    let scale = whiten_by.map(whitening);
    let c_t = row_major(components, k, d).transpose();
    let rows_per_chunk = rows_per_product(d);
    let parts = blocks::partition(n, rows_per_chunk * d);
    let outs = blocks::split_by_blocks(&mut out, &parts, k);
    parts
        .into_par_iter()
        .zip(outs)
        .try_for_each(|(block, out)| -> Result<(), KernelError> {
            let mut centred = alloc::filled(&[rows_per_chunk.min(block.len()), d], T::ZERO)?;
            let start = block.start;
            let chunks = block
                .clone()
                .step_by(rows_per_chunk)
                .map(|s| s..(s + rows_per_chunk).min(block.end));
            for chunk in chunks {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let r = chunk.len();
                let rows = x.rows(chunk.start, chunk.end);
                // `v * 0` is 0 for every finite v and NaN otherwise: a free finiteness check
                // in the pass that reads X anyway.
                let mut probe = T::ZERO;
                for (dst, row) in centred.chunks_exact_mut(d).zip(rows.chunks_exact(d)) {
                    dst.iter_mut()
                        .zip(row.iter().zip(mean))
                        .for_each(|(c, (v, m))| {
                            *c = *v - *m;
                            probe += *v * T::ZERO;
                        });
                }
                if probe != T::ZERO {
                    return Err(KernelError::InvalidArgument(super::NON_FINITE.into()));
                }
                let dst = &mut out[(chunk.start - start) * k..(chunk.end - start) * k];
                dense::matmul(
                    row_major_mut(dst, r, k),
                    Accum::Replace,
                    row_major(&centred[..r * d], r, d),
                    c_t,
                    T::ONE,
                    Par::Seq,
                );
                if let Some(scale) = &scale {
                    for row in dst.chunks_exact_mut(k.max(1)) {
                        row.iter_mut().zip(scale).for_each(|(v, s)| *v /= *s);
                    }
                }
            }
            Ok(())
        })?;
    Ok(out)
}

/// [`transform_dense`] for CSR rows: `X @ components^T - mean @ components^T`.
pub fn transform_sparse<T: Real>(
    x: &Csr<'_, T>,
    mean: &[T],
    components: &[T],
    whiten_by: Option<&[T]>,
    stop: StopCheck,
) -> Result<Vec<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let k = components.len() / d.max(1);
    let scale = whiten_by.map(whitening);
    // components^T row-major (d, k): the k weights of feature j are contiguous.
    let mut by_feature = alloc::filled(&[d, k], T::ZERO)?;
    for c in 0..k {
        for j in 0..d {
            by_feature[j * k + c] = components[c * d + j];
        }
    }
    let offset: Vec<T> = (0..k)
        .map(|c| (0..d).map(|j| mean[j] * components[c * d + j]).sum())
        .collect();
    let mut out = alloc::filled(&[n, k], T::ZERO)?;
    let parts = blocks::partition(n, k);
    let outs = blocks::split_by_blocks(&mut out, &parts, k);
    parts
        .into_par_iter()
        .zip(outs)
        .try_for_each(|(block, out)| -> Result<(), KernelError> {
            for (r, i) in block.enumerate() {
                if r % CHUNK == 0 && stop() {
                    return Err(KernelError::Interrupted);
                }
                let dst = &mut out[r * k..(r + 1) * k];
                let (indices, values) = x.row(i);
                for (&j, &v) in indices.iter().zip(values) {
                    let w = &by_feature[j as usize * k..(j as usize + 1) * k];
                    dst.iter_mut().zip(w).for_each(|(o, &w)| *o += v * w);
                }
                dst.iter_mut().zip(&offset).for_each(|(o, &m)| *o -= m);
                if let Some(scale) = &scale {
                    dst.iter_mut().zip(scale).for_each(|(v, s)| *v /= *s);
                }
            }
            Ok(())
        })?;
    Ok(out)
}

/// `Z @ components + mean`, with the components scaled by `sqrt(explained_variance)` when
/// the model whitens: `(n, d)` row-major.
pub fn inverse_transform<T: Real>(
    z: &[T],
    n: usize,
    mean: &[T],
    components: &[T],
    whiten_by: Option<&[T]>,
) -> Result<Vec<T>, KernelError> {
    let d = mean.len();
    let k = components.len() / d.max(1);
    if z.len() != n * k {
        return Err(KernelError::Shape(format!(
            "X has {} values, expected {n} x {k}",
            z.len()
        )));
    }
    let scaled: Vec<T> = match whiten_by {
        Some(ev) => components
            .chunks_exact(d.max(1))
            .zip(ev)
            .flat_map(|(row, &v)| {
                let s = v.sqrt();
                row.iter().map(move |&c| s * c)
            })
            .collect(),
        None => components.to_vec(),
    };
    let mut out = alloc::filled(&[n, d], T::ZERO)?;
    let parts = blocks::partition(n, CHUNK * d);
    let outs = blocks::split_by_blocks(&mut out, &parts, d);
    parts.into_par_iter().zip(outs).for_each(|(block, out)| {
        let r = block.len();
        for row in out.chunks_exact_mut(d.max(1)) {
            row.copy_from_slice(mean);
        }
        dense::matmul(
            row_major_mut(out, r, d),
            Accum::Add,
            row_major(&z[block.start * k..block.end * k], r, k),
            row_major(&scaled, k, d),
            T::ONE,
            Par::Seq,
        );
    });
    Ok(out)
}

/// The model's components (scaled by `sqrt(explained_variance)` when whitening) and
/// `max(explained_variance - noise_variance, 0)`.
fn model_parts<T: Real>(
    components: &[T],
    explained_variance: &[T],
    noise_variance: T,
    whiten: bool,
    d: usize,
) -> (Vec<T>, Vec<T>) {
    let mut c = components.to_vec();
    if whiten {
        for (row, &v) in c.chunks_exact_mut(d.max(1)).zip(explained_variance) {
            let s = v.sqrt();
            row.iter_mut().for_each(|x| *x *= s);
        }
    }
    let diff = explained_variance
        .iter()
        .map(|&v| {
            if v > noise_variance {
                v - noise_variance
            } else {
                T::ZERO
            }
        })
        .collect();
    (c, diff)
}

/// `components^T diag(diff) components + noise_variance I` (`get_covariance`): `(d, d)`.
pub fn covariance<T: Real>(
    components: &[T],
    explained_variance: &[T],
    noise_variance: T,
    whiten: bool,
    d: usize,
) -> Result<ColMajor<T>, KernelError> {
    let k = explained_variance.len();
    let (c, diff) = model_parts(components, explained_variance, noise_variance, whiten, d);
    let mut weighted = c.clone();
    for (row, &w) in weighted.chunks_exact_mut(d.max(1)).zip(&diff) {
        row.iter_mut().for_each(|x| *x *= w);
    }
    let mut cov = dense::product(
        row_major(&weighted, k, d).transpose(),
        row_major(&c, k, d),
        dense::par(),
    )?;
    for i in 0..d {
        cov.data[i * d + i] += noise_variance;
    }
    Ok(cov)
}

/// The inverse of the model's covariance (`get_precision`), by the matrix inversion lemma as
/// scikit-learn computes it. `None` when the matrix to invert is exactly singular.
pub fn precision<T: Real>(
    components: &[T],
    explained_variance: &[T],
    noise_variance: T,
    whiten: bool,
    d: usize,
) -> Result<Option<ColMajor<T>>, KernelError> {
    let k = explained_variance.len();
    let par = dense::par();
    if k == 0 {
        let mut p = ColMajor::identity(d, d)?;
        p.data.iter_mut().for_each(|v| *v /= noise_variance);
        return Ok(Some(p));
    }
    if noise_variance == T::ZERO {
        let cov = covariance(components, explained_variance, noise_variance, whiten, d)?;
        return Lu::new(cov.as_ref())?.inverse();
    }
    let (c, diff) = model_parts(components, explained_variance, noise_variance, whiten, d);
    let c = row_major(&c, k, d);
    let mut small = dense::product(c, c.transpose(), par)?;
    small.data.iter_mut().for_each(|v| *v /= noise_variance);
    for (i, &w) in diff.iter().enumerate() {
        small.data[i * k + i] += T::ONE / w;
    }
    let Some(inv) = Lu::new(small.as_ref())?.inverse()? else {
        return Ok(None);
    };
    let left = dense::product(c.transpose(), inv.as_ref(), par)?;
    let mut p = dense::product(left.as_ref(), c, par)?;
    let nv2 = noise_variance * noise_variance;
    p.data.iter_mut().for_each(|v| *v /= -nv2);
    for i in 0..d {
        p.data[i * d + i] += T::ONE / noise_variance;
    }
    Ok(Some(p))
}

/// `numpy.linalg.slogdet`-based log-determinant as scikit-learn's `fast_logdet` (`-inf` unless
/// the determinant is positive).
pub fn fast_logdet<T: Real>(a: &ColMajor<T>) -> Result<f64, KernelError> {
    let (sign, log_abs) = Lu::new(a.as_ref())?.slogdet();
    Ok(if sign > 0.0 {
        log_abs
    } else {
        f64::NEG_INFINITY
    })
}

/// Log-likelihood of each row under the model with this mean and precision:
/// `-((x - mean)^T P (x - mean)) / 2 - (d log(2 pi) - log det P) / 2`.
pub fn score_samples<T: Real>(
    x: &Dense<'_, T>,
    mean: &[T],
    precision: &ColMajor<T>,
    stop: StopCheck,
) -> Result<Vec<T>, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let constant = -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() - fast_logdet(precision)?);
    let mut out = alloc::filled(&[n], T::ZERO)?;
    let parts = blocks::partition(n, 2 * CHUNK * d);
    let outs = blocks::split_by_blocks(&mut out, &parts, 1);
    parts
        .into_par_iter()
        .zip(outs)
        .try_for_each(|(block, out)| -> Result<(), KernelError> {
            let mut centred = alloc::filled(&[CHUNK, d], T::ZERO)?;
            let mut product = alloc::filled(&[CHUNK, d], T::ZERO)?;
            let start = block.start;
            for chunk in blocks::chunks(block) {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let r = chunk.len();
                for (dst, row) in centred
                    .chunks_exact_mut(d.max(1))
                    .zip(x.rows(chunk.start, chunk.end).chunks_exact(d.max(1)))
                {
                    dst.iter_mut()
                        .zip(row.iter().zip(mean))
                        .for_each(|(c, (v, m))| *c = *v - *m);
                }
                let z = row_major(&centred[..r * d], r, d);
                dense::matmul(
                    row_major_mut(&mut product[..r * d], r, d),
                    Accum::Replace,
                    z,
                    precision.as_ref(),
                    T::ONE,
                    Par::Seq,
                );
                for (i, o) in out[chunk.start - start..chunk.end - start]
                    .iter_mut()
                    .enumerate()
                {
                    let quadratic: T = centred[i * d..(i + 1) * d]
                        .iter()
                        .zip(&product[i * d..(i + 1) * d])
                        .map(|(&a, &b)| a * b)
                        .sum();
                    *o = T::from_f64(-0.5) * quadratic + T::from_f64(constant);
                }
            }
            Ok(())
        })?;
    Ok(out)
}
