//! `transform` and `inverse_transform` of dense data: `(x - mean) / scale` and
//! `x * scale + mean`, each operation rounded in the data's dtype as NumPy's in-place
//! `X -= mean; X /= scale` (and `X *= scale; X += mean`) round them. Runs over blocks of rows
//! in parallel, into a fresh buffer or in place; every value is computed the same way
//! whatever the split.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{check_len, Layout};
use crate::alloc;
use crate::float::Float;
use crate::KernelError;

/// Values handled by one task (a few hundred KiB: cache-friendly, enough tasks to balance).
const TASK_VALUES: usize = 1 << 15;

/// Which direction, with which of the fitted vectors (already in the data's dtype).
#[derive(Clone, Copy)]
pub struct Scaling<'a, T> {
    pub mean: Option<&'a [T]>,
    pub scale: Option<&'a [T]>,
    pub inverse: bool,
}

fn check<T: Float>(s: &Scaling<T>, d: usize) -> Result<(), KernelError> {
    if let Some(m) = s.mean {
        check_len("mean", m.len(), d)?;
    }
    if let Some(v) = s.scale {
        check_len("scale", v.len(), d)?;
    }
    Ok(())
}

/// Applies `f` per value from `src` into `dst` (the same slice when in place), parameters
/// chosen by the value's feature.
#[allow(clippy::too_many_arguments)]
fn run<T: Float, F: Fn(T, T, T) -> T + Sync>(
    src: Option<&[T]>,
    dst: DstSlice<'_, T>,
    n_features: usize,
    n_samples: usize,
    layout: Layout,
    mean: &[T],
    scale: &[T],
    f: F,
) {
    // Features are rows of `run_len` values sharing parameters (Columns), or every row holds
    // one value per feature (Rows).
    let row_len = match layout {
        Layout::Rows => n_features.max(1),
        Layout::Columns => n_samples.max(1),
    };
    let rows_per_task = (TASK_VALUES / row_len).max(1);
    let chunk = rows_per_task * row_len;
    match (src, dst) {
        (None, DstSlice::Init(data)) => {
            data.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(t, block)| {
                    let first = t * rows_per_task;
                    match layout {
                        Layout::Rows => {
                            for row in block.chunks_mut(row_len) {
                                for (v, (&m, &s)) in row.iter_mut().zip(mean.iter().zip(scale)) {
                                    *v = f(*v, m, s);
                                }
                            }
                        }
                        Layout::Columns => {
                            for (r, row) in block.chunks_mut(row_len).enumerate() {
                                let (m, s) = (mean[first + r], scale[first + r]);
                                for v in row.iter_mut() {
                                    *v = f(*v, m, s);
                                }
                            }
                        }
                    }
                });
        }
        (Some(src), DstSlice::Uninit(out)) => {
            out.par_chunks_mut(chunk)
                .zip(src.par_chunks(chunk))
                .enumerate()
                .for_each(|(t, (out, src))| match layout {
                    Layout::Rows => {
                        for (o_row, s_row) in out.chunks_mut(row_len).zip(src.chunks(row_len)) {
                            for ((o, &v), (&m, &s)) in
                                o_row.iter_mut().zip(s_row).zip(mean.iter().zip(scale))
                            {
                                *o = MaybeUninit::new(f(v, m, s));
                            }
                        }
                    }
                    Layout::Columns => {
                        let first = t * rows_per_task;
                        for (r, (o_row, s_row)) in
                            out.chunks_mut(row_len).zip(src.chunks(row_len)).enumerate()
                        {
                            let (m, s) = (mean[first + r], scale[first + r]);
                            for (o, &v) in o_row.iter_mut().zip(s_row) {
                                *o = MaybeUninit::new(f(v, m, s));
                            }
                        }
                    }
                });
        }
        _ => unreachable!("a source goes with an uninitialised destination"),
    }
}

enum DstSlice<'a, T> {
    Init(&'a mut [T]),
    Uninit(&'a mut [MaybeUninit<T>]),
}

/// Dispatches on the scaling to a monomorphised `run`.
fn dispatch<T: Float>(
    src: Option<&[T]>,
    dst: DstSlice<'_, T>,
    n_samples: usize,
    n_features: usize,
    layout: Layout,
    s: &Scaling<T>,
) {
    let ones;
    let zeros;
    let (mean, scale) = match (s.mean, s.scale) {
        (Some(m), Some(v)) => (m, v),
        (Some(m), None) => {
            ones = vec![T::ONE; n_features];
            (m, &ones[..])
        }
        (None, Some(v)) => {
            zeros = vec![T::ZERO; n_features];
            (&zeros[..], v)
        }
        (None, None) => {
            zeros = vec![T::ZERO; n_features];
            (&zeros[..], &zeros[..])
        }
    };
    macro_rules! go {
        ($f:expr) => {
            run(src, dst, n_features, n_samples, layout, mean, scale, $f)
        };
    }
    match (s.inverse, s.mean.is_some(), s.scale.is_some()) {
        (false, true, true) => go!(|x: T, m: T, v: T| (x - m) / v),
        (false, true, false) => go!(|x: T, m: T, _v: T| x - m),
        (false, false, true) => go!(|x: T, _m: T, v: T| x / v),
        (true, true, true) => go!(|x: T, m: T, v: T| x * v + m),
        (true, true, false) => go!(|x: T, m: T, _v: T| x + m),
        (true, false, true) => go!(|x: T, _m: T, v: T| x * v),
        (_, false, false) => go!(|x: T, _m: T, _v: T| x),
    }
}

/// The scaled copy of `src` (laid out as `layout`), in a new buffer of the same layout.
pub fn scaled<T: Float>(
    src: &[T],
    n_samples: usize,
    n_features: usize,
    layout: Layout,
    s: &Scaling<T>,
) -> Result<Vec<T>, KernelError> {
    check(s, n_features)?;
    if n_samples.checked_mul(n_features) != Some(src.len()) {
        return Err(KernelError::Shape(
            "data length is not n_samples * n_features".into(),
        ));
    }
    let mut out = alloc::with_capacity::<T>(&[n_samples, n_features])?;
    alloc::advise_huge_pages(&mut out);
    dispatch(
        Some(src),
        DstSlice::Uninit(&mut out.spare_capacity_mut()[..src.len()]),
        n_samples,
        n_features,
        layout,
        s,
    );
    // SAFETY: `dispatch` wrote every one of the first `src.len()` elements.
    unsafe { out.set_len(src.len()) };
    Ok(out)
}

/// Scales `data` (laid out as `layout`) in place.
pub fn scale_in_place<T: Float>(
    data: &mut [T],
    n_samples: usize,
    n_features: usize,
    layout: Layout,
    s: &Scaling<T>,
) -> Result<(), KernelError> {
    check(s, n_features)?;
    if n_samples.checked_mul(n_features) != Some(data.len()) {
        return Err(KernelError::Shape(
            "data length is not n_samples * n_features".into(),
        ));
    }
    dispatch(None, DstSlice::Init(data), n_samples, n_features, layout, s);
    Ok(())
}
