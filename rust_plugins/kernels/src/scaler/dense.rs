//! The two passes of scikit-learn's `_incremental_mean_and_var` over a dense batch: column
//! sums and NaN counts (or non-NaN weights), then the sums of deviations from the batch mean
//! and of their squares (the corrected two-pass algorithm).
//!
//! Sums follow NumPy's order (see [`super::sum`]): a running sum per column for a C-ordered
//! batch, pairwise per column for a column-contiguous one. Threads split the columns, never
//! a column's sum, so every value is the same for any thread count.

use rayon::prelude::*;

use super::sum;
use super::Layout;
use crate::alloc;
use crate::float::Float;
use crate::KernelError;
use crate::StopCheck;

/// Rows handled between two looks at the stop flag.
const ROWS_PER_STEP: usize = 4096;

/// A dense batch: `(n, d)` row-major for [`Layout::Rows`], `(d, n)` row-major (each feature
/// contiguous) for [`Layout::Columns`].
#[derive(Clone, Copy)]
pub struct Batch<'a, T> {
    pub data: &'a [T],
    pub n_samples: usize,
    pub n_features: usize,
    pub layout: Layout,
}

impl<'a, T: Float> Batch<'a, T> {
    pub fn new(
        data: &'a [T],
        n_samples: usize,
        n_features: usize,
        layout: Layout,
    ) -> Result<Self, KernelError> {
        if n_samples.checked_mul(n_features) != Some(data.len()) {
            return Err(KernelError::Shape(format!(
                "dense buffer of length {} is not ({n_samples}, {n_features})",
                data.len()
            )));
        }
        Ok(Self {
            data,
            n_samples,
            n_features,
            layout,
        })
    }

    /// Feature `j` of a column-contiguous batch.
    fn column(&self, j: usize) -> &'a [T] {
        &self.data[j * self.n_samples..(j + 1) * self.n_samples]
    }
}

#[inline(always)]
fn is_nan<T: Float>(v: T) -> bool {
    #[allow(clippy::eq_op)]
    let nan = v != v;
    nan
}

/// The per-feature results of the first pass.
#[derive(Clone, Debug, PartialEq)]
pub struct FirstPass {
    /// `np.nansum(X, axis=0)` (weighted: `sample_weight @ where(isnan(X), 0, X)`).
    pub sum: Vec<f64>,
    /// Samples that are not NaN (weighted: the sum of their weights).
    pub count: Vec<f64>,
    /// Whether any value is NaN (scikit-learn then sums with `nansum`).
    pub any_nan: bool,
}

/// The per-feature results of the second pass, about the batch mean `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondPass {
    /// Sum of `x - t` over the samples (the correction term).
    pub correction: Vec<f64>,
    /// Sum of `(x - t)^2`.
    pub squares: Vec<f64>,
}

/// Column ranges given to the threads of the pool (results do not depend on them). A row-major
/// sum must run down each column in row order to be NumPy's, so threads can only split the
/// columns; a thread streams every row, reading its columns' cache lines and, through the
/// hardware prefetchers, its neighbours'. Narrow splits then cost more memory traffic than the
/// thread adds (measured: two threads on 50 float64 columns were 1.5x slower than one), so a
/// range holds at least [`MIN_COLUMNS_PER_THREAD`] columns.
fn column_ranges(d: usize, layout: Layout) -> Vec<std::ops::Range<usize>> {
    let min_width = match layout {
        Layout::Rows => MIN_COLUMNS_PER_THREAD,
        Layout::Columns => 1,
    };
    let parts = rayon::current_num_threads().min(d / min_width).max(1);
    let per = d.div_ceil(parts).max(1);
    (0..d.div_ceil(per))
        .map(|p| p * per..((p + 1) * per).min(d))
        .collect()
}

/// Columns of a row-major batch per thread, at least (see [`column_ranges`]).
const MIN_COLUMNS_PER_THREAD: usize = 256;

/// Runs `column_range` over the column ranges in parallel and gathers its per-column outputs
/// (`width` values per column) in column order.
fn by_column_ranges<F>(
    d: usize,
    layout: Layout,
    width: usize,
    column_range: F,
) -> Result<Vec<Vec<f64>>, KernelError>
where
    F: Fn(std::ops::Range<usize>) -> Result<Vec<Vec<f64>>, KernelError> + Sync + Send,
{
    let parts: Vec<Vec<Vec<f64>>> = column_ranges(d, layout)
        .into_par_iter()
        .map(column_range)
        .collect::<Result<_, _>>()?;
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(width);
    for k in 0..width {
        let mut v = Vec::with_capacity(d);
        for p in &parts {
            v.extend_from_slice(&p[k]);
        }
        out.push(v);
    }
    Ok(out)
}

/// Column sums and non-NaN counts (or weights) of `x`.
pub fn first_pass<T: Float>(
    x: &Batch<T>,
    weights: Option<&[T]>,
    stop: StopCheck,
) -> Result<FirstPass, KernelError> {
    first_pass_from(x, weights, None, stop)
}

/// Only a row-major batch's running sums can continue from where earlier rows left them.
fn check_start(x_layout: Layout, len: Option<usize>, d: usize) -> Result<(), KernelError> {
    match len {
        None => Ok(()),
        Some(_) if x_layout != Layout::Rows => Err(KernelError::InvalidArgument(
            "only a row-major batch continues running sums".into(),
        )),
        Some(l) if l != d => Err(KernelError::Shape(
            "running sums do not match the number of features".into(),
        )),
        Some(_) => Ok(()),
    }
}

/// [`first_pass`] of rows that follow the rows summed into `start`: the running column sums
/// continue from `start`'s, so passes chained over consecutive row-major pieces give the bits
/// of one pass over their concatenation (a row-major sum runs down each column in row order).
pub fn first_pass_from<T: Float>(
    x: &Batch<T>,
    weights: Option<&[T]>,
    start: Option<&FirstPass>,
    stop: StopCheck,
) -> Result<FirstPass, KernelError> {
    let (n, d) = (x.n_samples, x.n_features);
    check_start(x.layout, start.map(|s| s.sum.len()), d)?;
    check_start(x.layout, start.map(|s| s.count.len()), d)?;
    if let Some(w) = weights {
        if w.len() != n {
            return Err(KernelError::Shape(
                "sample_weight length differs from X".into(),
            ));
        }
    }
    let buffered = std::mem::size_of::<T>() < 8;
    let clean = |v: T| if is_nan(v) { 0.0 } else { v.to_f64() };
    let parts = match x.layout {
        Layout::Rows => by_column_ranges(d, x.layout, 3, |cols| {
            let width = cols.len();
            let (mut sum, mut count) = match start {
                Some(s) => (s.sum[cols.clone()].to_vec(), s.count[cols.clone()].to_vec()),
                None => (vec![0.0f64; width], vec![0.0f64; width]),
            };
            let mut nans = vec![0u64; width];
            let mut rows = 0..n;
            while rows.start < n {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let step = rows.start..(rows.start + ROWS_PER_STEP).min(n);
                rows.start = step.end;
                if weights.is_none() {
                    sums_and_nans(x.data, d, cols.clone(), step.clone(), &mut sum, &mut nans);
                }
                for i in step {
                    let row = &x.data[i * d + cols.start..i * d + cols.end];
                    match weights {
                        None => {}
                        Some(w) => {
                            let wi = w[i].to_f64();
                            for (((s, c), k), &v) in sum
                                .iter_mut()
                                .zip(count.iter_mut())
                                .zip(nans.iter_mut())
                                .zip(row)
                            {
                                let nan = is_nan(v);
                                *s += wi * clean(v);
                                *c += if nan { 0.0 } else { wi };
                                *k += nan as u64;
                            }
                        }
                    }
                }
            }
            if weights.is_none() {
                // Whole numbers: the same total whichever rows were counted first.
                for (c, &k) in count.iter_mut().zip(&nans) {
                    *c += n as f64 - k as f64;
                }
            }
            let nans = nans.iter().map(|&c| c as f64).collect();
            Ok(vec![sum, count, nans])
        })?,
        Layout::Columns => by_column_ranges(d, x.layout, 3, |cols| {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let mut sum = Vec::with_capacity(cols.len());
            let mut count = Vec::with_capacity(cols.len());
            let mut nan_counts = Vec::with_capacity(cols.len());
            for j in cols {
                let col = x.column(j);
                let nans = col.iter().filter(|&&v| is_nan(v)).count();
                nan_counts.push(nans as f64);
                match weights {
                    None => {
                        sum.push(sum::contiguous(n, buffered, &|i| clean(col[i])));
                        count.push(n as f64 - nans as f64);
                    }
                    Some(w) => {
                        sum.push(sum::pairwise(n, &|i| w[i].to_f64() * clean(col[i])));
                        count.push(sum::contiguous(n, buffered, &|i| {
                            if is_nan(col[i]) {
                                0.0
                            } else {
                                w[i].to_f64()
                            }
                        }));
                    }
                }
            }
            Ok(vec![sum, count, nan_counts])
        })?,
    };
    let mut parts = parts.into_iter();
    let sum = parts.next().unwrap_or_default();
    let count = parts.next().unwrap_or_default();
    let any_nan = parts.next().unwrap_or_default().iter().any(|&c| c != 0.0)
        || start.is_some_and(|s| s.any_nan);
    Ok(FirstPass {
        sum,
        count,
        any_nan,
    })
}

/// Sums of `x - t` and `(x - t)^2` per feature. With `nansum`, NaN terms count as zero (as
/// `np.nansum` does); with weights, terms where `x` is NaN count as zero (as scikit-learn's
/// `where(isnan(X), 0, ...)` does).
pub fn second_pass<T: Float>(
    x: &Batch<T>,
    weights: Option<&[T]>,
    t: &[f64],
    nansum: bool,
    stop: StopCheck,
) -> Result<SecondPass, KernelError> {
    second_pass_from(x, weights, t, nansum, None, stop)
}

/// [`second_pass`] of rows that follow the rows summed into `start` (see [`first_pass_from`]).
pub fn second_pass_from<T: Float>(
    x: &Batch<T>,
    weights: Option<&[T]>,
    t: &[f64],
    nansum: bool,
    start: Option<&SecondPass>,
    stop: StopCheck,
) -> Result<SecondPass, KernelError> {
    let (n, d) = (x.n_samples, x.n_features);
    check_start(x.layout, start.map(|s| s.correction.len()), d)?;
    check_start(x.layout, start.map(|s| s.squares.len()), d)?;
    if t.len() != d {
        return Err(KernelError::Shape(
            "batch mean length differs from X".into(),
        ));
    }
    let zero_nan = |v: f64| if nansum && v.is_nan() { 0.0 } else { v };
    let parts = match x.layout {
        Layout::Rows => by_column_ranges(d, x.layout, 2, |cols| {
            let width = cols.len();
            let tj = &t[cols.clone()];
            let (mut corr, mut sq) = match start {
                Some(s) => (
                    s.correction[cols.clone()].to_vec(),
                    s.squares[cols.clone()].to_vec(),
                ),
                None => (vec![0.0f64; width], vec![0.0f64; width]),
            };
            let mut rows = 0..n;
            while rows.start < n {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let step = rows.start..(rows.start + ROWS_PER_STEP).min(n);
                rows.start = step.end;
                if weights.is_none() {
                    let (cols, step) = (cols.clone(), step.clone());
                    if nansum {
                        deviations_nansum(x.data, d, cols, step, tj, &mut corr, &mut sq);
                    } else {
                        deviations(x.data, d, cols, step, tj, &mut corr, &mut sq);
                    }
                }
                for i in step {
                    let row = &x.data[i * d + cols.start..i * d + cols.end];
                    match weights {
                        None => {}
                        Some(w) => {
                            let wi = w[i].to_f64();
                            for (((c, s), &v), &m) in
                                corr.iter_mut().zip(sq.iter_mut()).zip(row).zip(tj)
                            {
                                let dev = v.to_f64() - m;
                                let (dev, dev2) = if is_nan(v) {
                                    (0.0, 0.0)
                                } else {
                                    (dev, dev * dev)
                                };
                                *c += wi * dev;
                                *s += wi * dev2;
                            }
                        }
                    }
                }
            }
            Ok(vec![corr, sq])
        })?,
        Layout::Columns => by_column_ranges(d, x.layout, 2, |cols| {
            if stop() {
                return Err(KernelError::Interrupted);
            }
            let mut corr = Vec::with_capacity(cols.len());
            let mut sq = Vec::with_capacity(cols.len());
            for j in cols {
                let col = x.column(j);
                let m = t[j];
                match weights {
                    None => {
                        corr.push(sum::pairwise(n, &|i| zero_nan(col[i].to_f64() - m)));
                        sq.push(sum::pairwise(n, &|i| {
                            let dev = col[i].to_f64() - m;
                            zero_nan(dev * dev)
                        }));
                    }
                    Some(w) => {
                        let term = |i: usize, squared: bool| {
                            if is_nan(col[i]) {
                                return 0.0;
                            }
                            let dev = col[i].to_f64() - m;
                            w[i].to_f64() * if squared { dev * dev } else { dev }
                        };
                        corr.push(sum::pairwise(n, &|i| term(i, false)));
                        sq.push(sum::pairwise(n, &|i| term(i, true)));
                    }
                }
            }
            Ok(vec![corr, sq])
        })?,
    };
    let mut parts = parts.into_iter();
    Ok(SecondPass {
        correction: parts.next().unwrap_or_default(),
        squares: parts.next().unwrap_or_default(),
    })
}

/// Non-NaN samples per feature (scikit-learn's `X.shape[0] - isnan(X).sum(axis=0)`).
pub fn non_nan_counts<T: Float>(x: &Batch<T>, stop: StopCheck) -> Result<Vec<i64>, KernelError> {
    let pass = first_pass(x, None, stop)?;
    let mut out = alloc::with_capacity::<i64>(&[x.n_features])?;
    out.extend(pass.count.iter().map(|&c| c as i64));
    Ok(out)
}

/// Adds rows `rows` of the columns `cols` of a row-major batch to the running `sum` (NaN as
/// zero, as `np.nansum` does) and counts the NaN values in `nans`.
#[inline(always)]
fn sums_and_nans_body<T: Float>(
    data: &[T],
    d: usize,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    sum: &mut [f64],
    nans: &mut [u64],
) {
    for i in rows {
        let row = &data[i * d + cols.start..i * d + cols.end];
        for ((s, c), &v) in sum.iter_mut().zip(nans.iter_mut()).zip(row) {
            let nan = is_nan(v);
            *s += if nan { 0.0 } else { v.to_f64() };
            *c += nan as u64;
        }
    }
}

crate::simd::simd_variants!(
    fn sums_and_nans<T: Float>(
        data: &[T],
        d: usize,
        cols: std::ops::Range<usize>,
        rows: std::ops::Range<usize>,
        sum: &mut [f64],
        nans: &mut [u64],
    ) -> () = sums_and_nans_body;
);

/// Adds `x - t` and `(x - t)^2` of rows `rows`, columns `cols`, to `corr` and `sq`; with
/// `NANSUM`, NaN terms count as zero.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn deviations_body<T: Float, const NANSUM: bool>(
    data: &[T],
    d: usize,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    t: &[f64],
    corr: &mut [f64],
    sq: &mut [f64],
) {
    for i in rows {
        let row = &data[i * d + cols.start..i * d + cols.end];
        for (((c, s), &v), &m) in corr.iter_mut().zip(sq.iter_mut()).zip(row).zip(t) {
            let dev = v.to_f64() - m;
            let dev2 = dev * dev;
            if NANSUM {
                *c += if dev.is_nan() { 0.0 } else { dev };
                *s += if dev2.is_nan() { 0.0 } else { dev2 };
            } else {
                *c += dev;
                *s += dev2;
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn deviations_plain<T: Float>(
    data: &[T],
    d: usize,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    t: &[f64],
    corr: &mut [f64],
    sq: &mut [f64],
) {
    deviations_body::<T, false>(data, d, cols, rows, t, corr, sq)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn deviations_nan<T: Float>(
    data: &[T],
    d: usize,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    t: &[f64],
    corr: &mut [f64],
    sq: &mut [f64],
) {
    deviations_body::<T, true>(data, d, cols, rows, t, corr, sq)
}

crate::simd::simd_variants!(
    #[allow(clippy::too_many_arguments)]
    fn deviations<T: Float>(
        data: &[T],
        d: usize,
        cols: std::ops::Range<usize>,
        rows: std::ops::Range<usize>,
        t: &[f64],
        corr: &mut [f64],
        sq: &mut [f64],
    ) -> () = deviations_plain;
);

crate::simd::simd_variants!(
    #[allow(clippy::too_many_arguments)]
    fn deviations_nansum<T: Float>(
        data: &[T],
        d: usize,
        cols: std::ops::Range<usize>,
        rows: std::ops::Range<usize>,
        t: &[f64],
        corr: &mut [f64],
        sq: &mut [f64],
    ) -> () = deviations_nan;
);
