//! The fused euclidean search for dense rows: a register-blocked micro-kernel computes the
//! values `max(0, ||q||^2 - 2<q, x> + ||x||^2)` of `MR` fitted rows against a panel of `NR`
//! queries (queries in SIMD lanes, scaled by -2 and packed once per block) and hands only the
//! values below each query's bound (its heap's largest value, or the radius) to scalar code.
//! Nothing but the packed queries and the heaps is written to memory.
//!
//! float64 values are scikit-learn's expansion. float32 ones are computed in float32 for speed,
//! which only preselects: scikit-learn upcasts float32 to float64 for the whole expansion, so a
//! float32 search keeps `F32_SPARE` more candidates than asked, ranks them again by their exact
//! float64 distances, and proves that no sample it dropped can be nearer than the last one it
//! keeps (the float32 values' rounding error is bounded); a query without that proof is searched
//! again in float64. Radius searches check the candidates the expansion lets through by their
//! exact distance.

// The micro-kernel's operands are passed one by one: bundled in a struct they measured
// 2-10x slower (the compiler no longer kept the tile in registers).
#![allow(clippy::too_many_arguments)]

use super::heap::{heap_push, repush, simultaneous_sort};
use super::FIT_CHUNK;
use crate::alloc;
use crate::float::Float;
use crate::linalg::sq_norm;
use crate::metric::Metric;
use crate::samples::{Dense, Samples};
use crate::simd::simd_variants;
use crate::{KernelError, StopCheck};
use std::ops::Range;

/// Query lanes per panel: two AVX-512 registers (four AVX2 ones).
const fn lanes<T>() -> usize {
    if std::mem::size_of::<T>() == 4 {
        32
    } else {
        16
    }
}

pub fn row_norms<T: Float>(x: &Dense<T>) -> Result<Vec<T>, KernelError> {
    let n = x.n_samples();
    let mut norms = alloc::with_capacity::<T>(&[n])?;
    norms.extend((0..n).map(|i| sq_norm(x.row(i))));
    Ok(norms)
}

/// Queries `rows` packed by panels of `lanes::<T>()`: `[panel][feature][lane]` times -2 (exact),
/// their squared norms, zero queries padding the last panel.
fn pack<T: Float>(q: &Dense<T>, rows: Range<usize>) -> (Vec<T>, Vec<T>) {
    let (nr, d) = (lanes::<T>(), q.n_features());
    let n_panels = rows.len().div_ceil(nr);
    let mut packed = vec![T::ZERO; n_panels * nr * d];
    let mut norms = vec![T::ZERO; n_panels * nr];
    for (r, i) in rows.enumerate() {
        let (p, l) = (r / nr, r % nr);
        let row = q.row(i);
        for f in 0..d {
            packed[(p * d + f) * nr + l] = row[f] * T::from_f64(-2.0);
        }
        norms[r] = sq_norm(row);
    }
    (packed, norms)
}

/// Offers every value of fitted rows `range` against one panel of queries that is below the
/// lane's `bound` to `offer(lane, value, row)`, which returns the lane's new bound.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan_body<T: Float>(
    fit: &[T],
    fit_norms: &[T],
    d: usize,
    range: Range<usize>,
    panel: &[T],
    q_norms: &[T],
    bound: &mut [T],
    offer: &mut dyn FnMut(usize, T, usize) -> T,
) {
    if lanes::<T>() == 32 {
        scan_tiles::<T, 32>(fit, fit_norms, d, range, panel, q_norms, bound, offer)
    } else {
        scan_tiles::<T, 16>(fit, fit_norms, d, range, panel, q_norms, bound, offer)
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan_tiles<T: Float, const NR: usize>(
    fit: &[T],
    fit_norms: &[T],
    d: usize,
    range: Range<usize>,
    panel: &[T],
    q_norms: &[T],
    bound: &mut [T],
    offer: &mut dyn FnMut(usize, T, usize) -> T,
) {
    let bound: &mut [T; NR] = bound.try_into().unwrap();
    let q_norms: &[T; NR] = q_norms.try_into().unwrap();
    assert!(panel.len() == d * NR && fit.len() >= range.end * d && fit_norms.len() >= range.end);
    const MR: usize = 8;
    let mut j = range.start;
    while j + MR <= range.end {
        tile::<T, NR, MR>(fit, fit_norms, d, j, panel, q_norms, bound, offer);
        j += MR;
    }
    while j < range.end {
        tile::<T, NR, 1>(fit, fit_norms, d, j, panel, q_norms, bound, offer);
        j += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn tile<T: Float, const NR: usize, const MR: usize>(
    fit: &[T],
    fit_norms: &[T],
    d: usize,
    j: usize,
    panel: &[T],
    q_norms: &[T; NR],
    bound: &mut [T; NR],
    offer: &mut dyn FnMut(usize, T, usize) -> T,
) {
    let mut acc = [[T::ZERO; NR]; MR];
    for r in 0..MR {
        acc[r] = [fit_norms[j + r]; NR];
    }
    let xs = &fit[j * d..(j + MR) * d];
    for f in 0..d {
        // SAFETY: f < d, the panel holds d * NR values and xs MR * d (asserted by the caller).
        let q: &[T; NR] = unsafe { &*(panel.as_ptr().add(f * NR) as *const [T; NR]) };
        for r in 0..MR {
            let xv = unsafe { *xs.get_unchecked(r * d + f) };
            for l in 0..NR {
                acc[r][l] = xv.mul_add(q[l], acc[r][l]);
            }
        }
    }
    for r in 0..MR {
        let mut v = [T::ZERO; NR];
        let mut any = false;
        for l in 0..NR {
            let s = q_norms[l] + acc[r][l];
            v[l] = if s > T::ZERO { s } else { T::ZERO };
            any |= v[l] < bound[l];
        }
        if any {
            for l in 0..NR {
                if v[l] < bound[l] {
                    bound[l] = offer(l, v[l], j + r);
                }
            }
        }
    }
}

simd_variants! {
    fn scan<T: Float>(
        fit: &[T],
        fit_norms: &[T],
        d: usize,
        range: Range<usize>,
        panel: &[T],
        q_norms: &[T],
        bound: &mut [T],
        offer: &mut dyn FnMut(usize, T, usize) -> T,
    ) -> () = scan_body;
}

/// `||a - b||^2` in float64, by differences.
fn exact_sq_dist<T: Float>(a: &[T], b: &[T]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let t = x.to_f64() - y.to_f64();
            t * t
        })
        .sum()
}

fn is_f32<T>() -> bool {
    std::mem::size_of::<T>() == 4
}

/// The `k` nearest fitted rows of queries `start..start + dist.len() / k`.
#[allow(clippy::too_many_arguments)]
pub fn kneighbors_block<T: Float>(
    fit: &Dense<T>,
    fit_norms: &[T],
    queries: &Dense<T>,
    start: usize,
    metric: &Metric,
    k: usize,
    merge: bool,
    dist: &mut [f64],
    ind: &mut [i64],
    stop: StopCheck,
) -> Result<(), KernelError> {
    let n_rows = dist.len() / k;
    let (nr, d, n_fit) = (lanes::<T>(), fit.n_features(), fit.n_samples());
    let (packed, q_norms) = pack(queries, start..start + n_rows);
    let n_panels = n_rows.div_ceil(nr);
    // Heaps of float32 searches hold spare candidates for the exact ranking.
    let kept = if is_f32::<T>() { k + F32_SPARE } else { k };
    let mut heap_v = vec![T::MAX; n_panels * nr * kept];
    let mut heap_i = vec![0i64; n_panels * nr * kept];
    // Padding lanes (past the last query) never offer: their bound is below every value.
    let mut bounds: Vec<T> = (0..n_panels * nr)
        .map(|l| if l < n_rows { T::MAX } else { -T::MAX })
        .collect();
    let fit_data = fit.rows(0, n_fit);
    for chunk in (0..n_fit).step_by(FIT_CHUNK) {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        let range = chunk..(chunk + FIT_CHUNK).min(n_fit);
        for p in 0..n_panels {
            let hv = &mut heap_v[p * nr * kept..(p + 1) * nr * kept];
            let hi = &mut heap_i[p * nr * kept..(p + 1) * nr * kept];
            let mut offer = |l: usize, v: T, j: usize| {
                let (v_l, i_l) = (
                    &mut hv[l * kept..(l + 1) * kept],
                    &mut hi[l * kept..(l + 1) * kept],
                );
                heap_push(v_l, i_l, v, j as i64);
                v_l[0]
            };
            scan(
                fit_data,
                fit_norms,
                d,
                range.clone(),
                &packed[p * d * nr..(p + 1) * d * nr],
                &q_norms[p * nr..(p + 1) * nr],
                &mut bounds[p * nr..(p + 1) * nr],
                &mut offer,
            );
        }
    }
    let squared = *metric == Metric::SqEuclidean;
    let max_fit_norm = fit_norms.iter().fold(0.0f64, |m, v| m.max(v.to_f64()));
    for r in 0..n_rows {
        let (v, i) = (
            &mut heap_v[r * kept..(r + 1) * kept],
            &mut heap_i[r * kept..(r + 1) * kept],
        );
        let (out_d, out_i) = (&mut dist[r * k..(r + 1) * k], &mut ind[r * k..(r + 1) * k]);
        if is_f32::<T>() {
            let error = f32_value_error(d, q_norms[r].to_f64() + max_fit_norm);
            let q = queries.row(start + r);
            if !rank_exactly(q, fit, v, i, n_fit, error, out_d, out_i) {
                search_exactly(q, fit, out_d, out_i);
            }
            if merge {
                repush(out_d, out_i, f64::INFINITY);
            }
            simultaneous_sort(out_d, out_i);
        } else {
            if merge {
                repush(v, i, T::MAX);
            }
            simultaneous_sort(v, i);
            out_i.copy_from_slice(i);
            for (o, &x) in out_d.iter_mut().zip(v.iter()) {
                *o = x.to_f64();
            }
        }
        if !squared {
            out_d.iter_mut().for_each(|x| *x = x.sqrt());
        }
    }
    Ok(())
}

/// Candidates a float32 search keeps beyond the `k` asked for, so that the exact ranking can
/// prove its choice in all but rare cases (several samples within rounding of the k-th).
const F32_SPARE: usize = 4;

/// A bound on the rounding error of a float32 expansion value `||q||^2 - 2<q, x> + ||x||^2`
/// (`norms`: ||q||^2 plus the largest ||x||^2), with room to spare.
fn f32_value_error(d: usize, norms: f64) -> f64 {
    4.0 * (d as f64 + 2.0) * f32::EPSILON as f64 * norms
}

/// The `out_d.len()` nearest of a float32 search's candidates `values`/`indices` (a heap, with
/// `T::MAX` in unfilled slots), chosen by exact float64 distances and pushed in index order
/// into scikit-learn's heap, as its scan of upcast values chooses them. Returns false when the
/// choice is not proven: a sample the float32 search dropped (its value at least the heap's
/// largest) might be nearer than the last one kept, given `error`, the values' rounding bound.
#[allow(clippy::too_many_arguments)]
fn rank_exactly<T: Float>(
    q: &[T],
    fit: &Dense<T>,
    values: &[T],
    indices: &[i64],
    n_fit: usize,
    error: f64,
    out_d: &mut [f64],
    out_i: &mut [i64],
) -> bool {
    let filled = values.iter().filter(|&&v| v < T::MAX).count();
    if filled < values.len().min(n_fit) {
        return false; // values too large for float32: some samples were never offered
    }
    let mut candidates: Vec<i64> = (0..values.len())
        .filter(|&c| values[c] < T::MAX)
        .map(|c| indices[c])
        .collect();
    candidates.sort_unstable();
    out_d.fill(f64::INFINITY);
    out_i.fill(0);
    for &j in &candidates {
        heap_push(out_d, out_i, exact_sq_dist(q, fit.row(j as usize)), j);
    }
    // Nothing was dropped when the heap never filled; otherwise every dropped sample's exact
    // value is above the largest float32 value kept minus the error, so the k-th exact
    // distance must be below that.
    filled < values.len() || out_d[0] < values[0].to_f64() - 2.0 * error
}

/// The `out_d.len()` nearest fitted rows of `q` by exact float64 distances, every row pushed
/// in index order into scikit-learn's heap.
fn search_exactly<T: Float>(q: &[T], fit: &Dense<T>, out_d: &mut [f64], out_i: &mut [i64]) {
    out_d.fill(f64::INFINITY);
    out_i.fill(0);
    for j in 0..fit.n_samples() {
        heap_push(out_d, out_i, exact_sq_dist(q, fit.row(j)), j as i64);
    }
}

/// Fitted rows within reduced radius `r_radius` of each query of `rows`, in index order, with
/// their reduced distances.
pub fn radius_block<T: Float>(
    fit: &Dense<T>,
    fit_norms: &[T],
    queries: &Dense<T>,
    rows: Range<usize>,
    r_radius: f64,
) -> Result<Vec<super::Found>, KernelError> {
    let (nr, d, n_fit) = (lanes::<T>(), fit.n_features(), fit.n_samples());
    let n_rows = rows.len();
    let (packed, q_norms) = pack(queries, rows.clone());
    let n_panels = n_rows.div_ceil(nr);
    let mut found: Vec<super::Found> = vec![(Vec::new(), Vec::new()); n_panels * nr];
    let mut failed = None;
    let fit_data = fit.rows(0, n_fit);
    // Values pass a bound widened by their rounding error and are then checked exactly: the
    // expansion loses the digits a distance shares with the norms (a sample's distance to
    // itself is not 0), which a radius of 0 or between close samples would expose.
    let max_norm = fit_norms.iter().fold(0.0f64, |m, v| m.max(v.to_f64()));
    let eps = T::EPSILON.to_f64();
    let mut bounds: Vec<T> = q_norms
        .iter()
        .enumerate()
        .map(|(l, qn)| {
            if l >= n_rows {
                -T::MAX
            } else {
                let slack = 4.0 * (d as f64 + 2.0) * eps * (qn.to_f64() + max_norm);
                next_up(T::from_f64(r_radius + slack))
            }
        })
        .collect();
    for chunk in (0..n_fit).step_by(FIT_CHUNK) {
        let range = chunk..(chunk + FIT_CHUNK).min(n_fit);
        for p in 0..n_panels {
            let lists = &mut found[p * nr..(p + 1) * nr];
            let first = rows.start + p * nr;
            let lane_bounds = &mut bounds[p * nr..(p + 1) * nr];
            let fixed: Vec<T> = lane_bounds.to_vec();
            let mut offer = |l: usize, _: T, j: usize| {
                let value = exact_sq_dist(queries.row(first + l), fit.row(j));
                if value <= r_radius && failed.is_none() {
                    if let Err(e) = super::push_found(&mut lists[l], j as i64, value) {
                        failed = Some(e);
                    }
                }
                fixed[l]
            };
            scan(
                fit_data,
                fit_norms,
                d,
                range.clone(),
                &packed[p * d * nr..(p + 1) * d * nr],
                &q_norms[p * nr..(p + 1) * nr],
                lane_bounds,
                &mut offer,
            );
            if let Some(e) = failed.take() {
                return Err(e);
            }
        }
    }
    found.truncate(n_rows);
    Ok(found)
}

/// The smallest value above `x` (`v < next_up(x)` is `v <= x`).
fn next_up<T: Float>(x: T) -> T {
    let f = x.to_f64();
    if !f.is_finite() {
        return x;
    }
    if is_f32::<T>() {
        let b = (f as f32).to_bits();
        let up = if f >= 0.0 {
            f32::from_bits(b + 1)
        } else {
            f32::from_bits(b - 1)
        };
        T::from_f64(up as f64)
    } else {
        let b = f.to_bits();
        T::from_f64(if f >= 0.0 {
            f64::from_bits(b + 1)
        } else {
            f64::from_bits(b - 1)
        })
    }
}
