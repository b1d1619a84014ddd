//! The fused euclidean search for dense rows: a register-blocked micro-kernel computes the
//! values `max(0, ||q||^2 - 2<q, x> + ||x||^2)` of `MR` fitted rows against a panel of `NR`
//! queries (queries in SIMD lanes, scaled by -2 and packed once per block) and hands only the
//! values below each query's bound (its heap's largest value, or the radius) to scalar code.
//! Nothing but the packed queries and the heaps is written to memory.
//!
//! float64 values are scikit-learn's expansion. k-nearest searches preselect in float32, at
//! twice the SIMD width: a search keeps `F32_SPARE` more candidates than asked, ranks them again
//! by their values in the data's terms (float32 data: the exact float64 distances scikit-learn
//! computes on upcast samples; float64 data: the float64 expansion, the same arithmetic as the
//! float64 scan), and proves that no sample it dropped can be nearer than the last one it keeps
//! (the float32 values' rounding error, inputs' rounding included, is bounded). The ranking
//! must also be free of exact ties: scikit-learn orders equal distances by the history of its
//! heap over every sample, which only the full scan reproduces. A query without that proof is
//! searched again in full (a float64 block scan, or float32 data's exact scan). Radius searches
//! check the candidates the expansion lets through by their exact distance.

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

/// Queries `rows` in precision `P` packed by panels of `lanes::<P>()`: `[panel][feature][lane]`
/// times -2 (exact), their squared norms, zero queries padding the last panel.
fn pack<T: Float, P: Float>(q: &Dense<T>, rows: Range<usize>) -> (Vec<P>, Vec<P>) {
    let (nr, d) = (lanes::<P>(), q.n_features());
    let n_panels = rows.len().div_ceil(nr);
    let mut packed = vec![P::ZERO; n_panels * nr * d];
    let mut norms = vec![P::ZERO; n_panels * nr];
    let mut row = vec![P::ZERO; d];
    for (r, i) in rows.enumerate() {
        let (p, l) = (r / nr, r % nr);
        convert_row(q.row(i), &mut row);
        for f in 0..d {
            packed[(p * d + f) * nr + l] = row[f] * P::from_f64(-2.0);
        }
        norms[r] = sq_norm(&row);
    }
    (packed, norms)
}

/// `row` in precision `P` (rounded to nearest; the identity when `P` is `T`).
fn convert_row<T: Float, P: Float>(row: &[T], out: &mut [P]) {
    for (o, &x) in out.iter_mut().zip(row) {
        *o = P::from_f64(x.to_f64());
    }
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

/// Offers fitted rows (row-major, with their squared norms; the first is sample `first`) to
/// the heaps of a block's packed queries (`kept` slots per query, panel after panel), each
/// heap's largest value being its query's bound.
fn offer_to_heaps<P: Float>(
    (rows, norms): (&[P], &[P]),
    d: usize,
    first: usize,
    (packed, q_norms): (&[P], &[P]),
    kept: usize,
    (heap_v, heap_i): (&mut [P], &mut [i64]),
    bounds: &mut [P],
) {
    let nr = lanes::<P>();
    for p in 0..bounds.len() / nr {
        let hv = &mut heap_v[p * nr * kept..(p + 1) * nr * kept];
        let hi = &mut heap_i[p * nr * kept..(p + 1) * nr * kept];
        let mut offer = |l: usize, v: P, j: usize| {
            let (v_l, i_l) = (
                &mut hv[l * kept..(l + 1) * kept],
                &mut hi[l * kept..(l + 1) * kept],
            );
            heap_push(v_l, i_l, v, (first + j) as i64);
            v_l[0]
        };
        scan(
            rows,
            norms,
            d,
            0..norms.len(),
            &packed[p * d * nr..(p + 1) * d * nr],
            &q_norms[p * nr..(p + 1) * nr],
            &mut bounds[p * nr..(p + 1) * nr],
            &mut offer,
        );
    }
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
    if !is_f32::<T>()
        && preselect_in_f32(fit, fit_norms, queries, start, metric, k, dist, ind, stop)?
    {
        return Ok(());
    }
    scan_block(
        fit, fit_norms, queries, start, metric, k, merge, dist, ind, stop,
    )
}

/// [`kneighbors_block`] by a scan in the data's precision (float32 data: a preselection ranked
/// again exactly).
#[allow(clippy::too_many_arguments)]
fn scan_block<T: Float>(
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
    let (packed, q_norms) = pack::<T, T>(queries, start..start + n_rows);
    let n_panels = n_rows.div_ceil(nr);
    // Heaps of float32 searches hold spare candidates for the exact ranking.
    let kept = if is_f32::<T>() { k + F32_SPARE } else { k };
    let mut heap_v = vec![T::MAX; n_panels * nr * kept];
    let mut heap_i = vec![0i64; n_panels * nr * kept];
    // Padding lanes (past the last query) never offer: their bound is below every value.
    let mut bounds: Vec<T> = (0..n_panels * nr)
        .map(|l| if l < n_rows { T::MAX } else { -T::MAX })
        .collect();
    for chunk in (0..n_fit).step_by(FIT_CHUNK) {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        let end = (chunk + FIT_CHUNK).min(n_fit);
        let rows = (fit.rows(chunk, end), &fit_norms[chunk..end]);
        offer_to_heaps(
            rows,
            d,
            chunk,
            (&packed, &q_norms),
            kept,
            (&mut heap_v, &mut heap_i),
            &mut bounds,
        );
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
            let exact = |j: usize| exact_sq_dist(q, fit.row(j));
            if !rank_candidates(v, i, n_fit, error, exact, out_d, out_i) {
                search_exactly(q, fit, out_d, out_i);
                if merge {
                    repush(out_d, out_i, f64::INFINITY);
                }
                simultaneous_sort(out_d, out_i);
            }
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

/// The `out_d.len()` nearest of a preselection's candidates `values`/`indices` (a heap, with
/// `P::MAX` in unfilled slots), nearest first, by their values in the data's terms
/// (`exact(j)`). Returns false when the choice is not proven: a sample the preselection
/// dropped (its value at least the heap's largest) might be nearer than the last one kept,
/// given `error`, the bound on the preselected values' error; or two of the chosen (or the
/// last chosen and the next) are at exactly equal distances, whose order scikit-learn's heap
/// history decides.
fn rank_candidates<P: Float>(
    values: &[P],
    indices: &[i64],
    n_fit: usize,
    error: f64,
    exact: impl Fn(usize) -> f64,
    out_d: &mut [f64],
    out_i: &mut [i64],
) -> bool {
    let k = out_d.len();
    let filled = values.iter().filter(|&&v| v < P::MAX).count();
    if filled < values.len().min(n_fit) || filled < k {
        return false; // values too large for float32: some samples were never offered
    }
    let mut ranked: Vec<(f64, i64)> = (0..values.len())
        .filter(|&c| values[c] < P::MAX)
        .map(|c| (exact(indices[c] as usize), indices[c]))
        .collect();
    ranked.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let next = (k + 1).min(ranked.len());
    let below = |a: f64, b: f64| a.partial_cmp(&b) == Some(std::cmp::Ordering::Less);
    if ranked[..next].windows(2).any(|w| !below(w[0].0, w[1].0)) {
        return false;
    }
    // Nothing was dropped when the heap never filled; otherwise every dropped sample's value
    // is above the largest preselected value kept minus the error, so the k-th must be below.
    if filled == values.len() && !below(ranked[k - 1].0, values[0].to_f64() - 2.0 * error) {
        return false;
    }
    for ((o_d, o_i), &(v, j)) in out_d.iter_mut().zip(out_i.iter_mut()).zip(&ranked) {
        (*o_d, *o_i) = (v, j);
    }
    true
}

/// float64 data: the `k` nearest of each query of the block preselected in float32 and ranked
/// by the float64 expansion, written nearest first (distances, or squared ones for
/// sqeuclidean). Returns false, leaving `dist`/`ind` to be overwritten, when a query's choice
/// is not proven (see [`rank_candidates`]); the caller then scans the block in float64.
#[allow(clippy::too_many_arguments)]
fn preselect_in_f32<T: Float>(
    fit: &Dense<T>,
    fit_norms: &[T],
    queries: &Dense<T>,
    start: usize,
    metric: &Metric,
    k: usize,
    dist: &mut [f64],
    ind: &mut [i64],
    stop: StopCheck,
) -> Result<bool, KernelError> {
    let n_rows = dist.len() / k;
    let (nr, d, n_fit) = (lanes::<f32>(), fit.n_features(), fit.n_samples());
    if d == 0 {
        return Ok(false);
    }
    let (packed, q_norms32) = pack::<T, f32>(queries, start..start + n_rows);
    let n_panels = n_rows.div_ceil(nr);
    let kept = k + F32_SPARE;
    let mut heap_v = vec![f32::MAX; n_panels * nr * kept];
    let mut heap_i = vec![0i64; n_panels * nr * kept];
    let mut bounds: Vec<f32> = (0..n_panels * nr)
        .map(|l| if l < n_rows { f32::MAX } else { -f32::MAX })
        .collect();
    // One chunk of fitted rows at a time in float32 (no float32 copy of the whole data).
    let mut rows32 = vec![0.0f32; FIT_CHUNK * d];
    let mut norms32 = vec![0.0f32; FIT_CHUNK];
    for chunk in (0..n_fit).step_by(FIT_CHUNK) {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        let len = FIT_CHUNK.min(n_fit - chunk);
        for (j, (row, norm)) in rows32
            .chunks_exact_mut(d)
            .zip(&mut norms32)
            .take(len)
            .enumerate()
        {
            convert_row(fit.row(chunk + j), row);
            *norm = sq_norm(row);
        }
        let rows = (&rows32[..len * d], &norms32[..len]);
        offer_to_heaps(
            rows,
            d,
            chunk,
            (&packed, &q_norms32),
            kept,
            (&mut heap_v, &mut heap_i),
            &mut bounds,
        );
    }
    let max_fit_norm = fit_norms.iter().fold(0.0f64, |m, v| m.max(v.to_f64()));
    let squared = *metric == Metric::SqEuclidean;
    for r in 0..n_rows {
        let q = queries.row(start + r);
        let q_norm = sq_norm(q);
        let error = f64_preselect_error(d, q_norm.to_f64() + max_fit_norm);
        let exact = |j: usize| expansion(q, q_norm, fit.row(j), fit_norms[j]).to_f64();
        let (out_d, out_i) = (&mut dist[r * k..(r + 1) * k], &mut ind[r * k..(r + 1) * k]);
        let (v, i) = (
            &heap_v[r * kept..(r + 1) * kept],
            &heap_i[r * kept..(r + 1) * kept],
        );
        if !rank_candidates(v, i, n_fit, error, exact, out_d, out_i) {
            return Ok(false);
        }
        if !squared {
            out_d.iter_mut().for_each(|x| *x = x.sqrt());
        }
    }
    Ok(true)
}

/// The value the float64 scan computes for query `q` and fitted row `x` (the micro-kernel's
/// arithmetic, operation for operation): `||x||^2`, then `x_f * (-2 q_f)` added feature by
/// feature by fused multiply-adds, then `||q||^2`, clamped at 0.
fn expansion<T: Float>(q: &[T], q_norm: T, x: &[T], x_norm: T) -> T {
    let minus_two = T::from_f64(-2.0);
    let dot = q
        .iter()
        .zip(x)
        .fold(x_norm, |acc, (&qf, &xf)| xf.mul_add(qf * minus_two, acc));
    let s = q_norm + dot;
    if s > T::ZERO {
        s
    } else {
        T::ZERO
    }
}

/// A bound on the difference between a float32 expansion value of float64 samples and their
/// float64 expansion value (`norms`: ||q||^2 plus the largest ||x||^2): the float32 value's
/// own rounding, the samples' rounding to float32 (at most 2 eps ||q - x|| (||q|| + ||x||),
/// below 4 eps `norms`), and the float64 value's rounding, with room to spare.
fn f64_preselect_error(d: usize, norms: f64) -> f64 {
    f32_value_error(d, norms)
        + 4.0 * f32::EPSILON as f64 * norms
        + 4.0 * (d as f64 + 2.0) * f64::EPSILON * norms
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
    let (packed, q_norms) = pack::<T, T>(queries, rows.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stop() -> bool {
        false
    }

    fn gaussian_like(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::neighbors::test_data::Lcg::new(seed);
        (0..n)
            .map(|_| (0..4).map(|_| rng.unit() - 0.5).sum())
            .collect()
    }

    #[test]
    fn float64_preselection_equals_the_float64_scan_bit_for_bit() {
        for &(n, m, d) in &[(3000, 300, 16), (1500, 70, 3), (800, 33, 40), (40, 20, 2)] {
            let (fit, q) = (gaussian_like(n * d, 1 + d as u64), gaussian_like(m * d, 7));
            let (fd, qd) = (
                Dense::new(&fit, n, d).unwrap(),
                Dense::new(&q, m, d).unwrap(),
            );
            let norms = row_norms(&fd).unwrap();
            for k in [1, 5, 17].into_iter().filter(|&k| k <= n) {
                for metric in [Metric::Euclidean, Metric::SqEuclidean] {
                    let (mut d1, mut i1) = (vec![0.0; m * k], vec![0i64; m * k]);
                    let (mut d2, mut i2) = (vec![0.0; m * k], vec![0i64; m * k]);
                    let proven = preselect_in_f32(
                        &fd, &norms, &qd, 0, &metric, k, &mut d1, &mut i1, &no_stop,
                    )
                    .unwrap();
                    assert!(
                        proven,
                        "n={n} d={d} k={k}: random data needs no float64 scan"
                    );
                    scan_block(
                        &fd, &norms, &qd, 0, &metric, k, false, &mut d2, &mut i2, &no_stop,
                    )
                    .unwrap();
                    assert_eq!(i1, i2, "n={n} d={d} k={k}");
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&d1), bits(&d2), "n={n} d={d} k={k}");
                }
            }
        }
    }

    #[test]
    fn float64_preselection_declines_exact_ties_and_huge_values() {
        // Grid points with duplicates: equal distances, whose order only the full scan gives.
        let grid: Vec<f64> = (0..36)
            .flat_map(|i| [(i / 6) as f64, (i % 6) as f64])
            .collect();
        let fit: Vec<f64> = grid.iter().chain(&grid).copied().collect();
        let (fd, qd) = (
            Dense::new(&fit, 72, 2).unwrap(),
            Dense::new(&grid, 36, 2).unwrap(),
        );
        let norms = row_norms(&fd).unwrap();
        let (mut d, mut i) = (vec![0.0; 36 * 4], vec![0i64; 36 * 4]);
        let m = Metric::Euclidean;
        assert!(!preselect_in_f32(&fd, &norms, &qd, 0, &m, 4, &mut d, &mut i, &no_stop).unwrap());
        // Beyond float32's range: the preselection cannot rank them.
        let huge: Vec<f64> = gaussian_like(200 * 3, 3).iter().map(|x| x * 1e30).collect();
        let hd = Dense::new(&huge, 200, 3).unwrap();
        let norms = row_norms(&hd).unwrap();
        let (mut d, mut i) = (vec![0.0; 200 * 2], vec![0i64; 200 * 2]);
        assert!(!preselect_in_f32(&hd, &norms, &hd, 0, &m, 2, &mut d, &mut i, &no_stop).unwrap());
    }
}
