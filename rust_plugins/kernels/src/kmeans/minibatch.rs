//! Mini-batch k-means: scikit-learn's `_mini_batch_step` (assignment, the count-weighted center
//! update, random reassignment of small clusters) and the loop of `MiniBatchKMeans.fit`
//! (weighted minibatch draws, early stopping on the smoothed inertia), taking the draws
//! scikit-learn takes from the estimator's `RandomState`.
//!
//! scikit-learn draws each minibatch with `choice(n, batch_size, p=weights)`, which rebuilds the
//! cumulative sum of the n probabilities every step; the cumulative sum here is built once, with
//! a bucket index over it so that each draw searches a handful of entries.

use rayon::prelude::*;
use std::cmp::Ordering;

use super::check_problem;
use super::init::{probabilities, Cdf};
use super::steps;
use crate::alloc;
use crate::float::Float;
use crate::nearest::NearestSearch;
use crate::rng::Mt19937;
use crate::samples::{Csr, Dense, Samples};
use crate::KernelError;
use crate::StopCheck;

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutcome {
    /// Weighted inertia of the batch against the centers before the step.
    pub inertia: f64,
    /// Centers moved onto batch samples.
    pub n_reassigned: usize,
    /// Every cluster was to be reassigned, which leaves no count to reset them to (numpy's
    /// `min` of an empty selection raises there, and so must the caller).
    pub all_reassigned: bool,
}

/// The random reassignment of small clusters, when a step does it.
pub struct Reassignment<'a, T> {
    pub ratio: f64,
    pub rng: &'a mut Mt19937,
    /// The order `np.argsort(counts)` gives, ties included (see [`CountOrder`]).
    pub order: &'a CountOrder<T>,
}

/// The order NumPy's `argsort` (default `kind`) puts the counts in, which scikit-learn's
/// reassignment takes when more clusters are small than half the batch. That sort is not
/// stable, and which of several tied counts comes first depends on the sorting network NumPy
/// picks for the CPU (x86-simd-sort on AVX2 and AVX-512, Highway on Arm, an insertion sort
/// elsewhere), so the Python bindings ask NumPy itself; [`stable_order`] is the order without
/// NumPy.
pub type CountOrder<T> = dyn Fn(&[T]) -> Result<Vec<usize>, KernelError> + Sync;

/// Indices sorting `counts` ascending, ties in index order.
pub fn stable_order<T: Float>(counts: &[T]) -> Result<Vec<usize>, KernelError> {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[a].partial_cmp(&counts[b]).unwrap_or(Ordering::Equal));
    Ok(order)
}

/// scikit-learn's `_mini_batch_step`: labels the batch against `centers`, writes the updated
/// centers to `centers_new` and the cluster weights seen so far to `counts`, then reassigns the
/// clusters whose counts are small. `labels` is scratch (the batch's labels afterwards).
pub fn step<T: Float, S: NearestSearch<T>>(
    batch: &S,
    weights: &[T],
    centers: &[T],
    centers_new: &mut [T],
    counts: &mut [T],
    reassignment: Option<Reassignment<'_, T>>,
    labels: &mut Vec<i32>,
) -> Result<StepOutcome, KernelError> {
    step_checked(
        batch,
        weights,
        centers,
        centers_new,
        counts,
        reassignment,
        labels,
        true,
        false,
    )
}

/// [`step`], whose batch inertia is computed only `with_inertia` (else 0); with
/// `check_finite`, fails with [`crate::error::NON_FINITE`] before writing anything when the
/// batch holds NaN or infinity (the assignment pass checks it).
#[allow(clippy::too_many_arguments)]
fn step_checked<T: Float, S: NearestSearch<T>>(
    batch: &S,
    weights: &[T],
    centers: &[T],
    centers_new: &mut [T],
    counts: &mut [T],
    reassignment: Option<Reassignment<'_, T>>,
    labels: &mut Vec<i32>,
    with_inertia: bool,
    check_finite: bool,
) -> Result<StepOutcome, KernelError> {
    let k = check_problem(batch, weights, centers)?;
    if centers_new.len() != centers.len() || counts.len() != k {
        return Err(KernelError::Shape(format!(
            "{k} centers with {} new center values and {} counts",
            centers_new.len(),
            counts.len()
        )));
    }
    labels.clear();
    labels.resize(batch.n_samples(), -1);
    let inertia = steps::assign_as_labels_inertia(
        batch,
        weights,
        centers,
        labels,
        with_inertia,
        check_finite,
    )?
    .unwrap_or(0.0);
    update_centers(batch, weights, labels, centers, centers_new, counts);
    let mut outcome = StepOutcome {
        inertia,
        n_reassigned: 0,
        all_reassigned: false,
    };
    if let Some(Reassignment { ratio, rng, order }) = reassignment {
        if ratio > 0.0 {
            (outcome.n_reassigned, outcome.all_reassigned) =
                reassign(batch, centers_new, counts, ratio, rng, order)?;
        }
    }
    Ok(outcome)
}

/// What [`partial_fit_step`] did: the step's outcome (without the batch inertia against the
/// old centers, which `partial_fit` does not use), then with `compute_labels` the batch's
/// labels and weighted inertia against the new centers.
pub type PartialFitStep = (StepOutcome, Option<(Vec<i32>, f64)>);

/// One `MiniBatchKMeans.partial_fit` call's numerics: [`step`], then, with `compute_labels`
/// (and unless every cluster was to be reassigned), scikit-learn's `_labels_inertia` of the
/// batch against the new centers. With `check_finite`, fails with
/// [`crate::error::NON_FINITE`] before writing anything when the batch holds NaN or infinity.
#[allow(clippy::too_many_arguments)]
pub fn partial_fit_step<T: Float, S: NearestSearch<T>>(
    batch: &S,
    weights: &[T],
    centers: &[T],
    centers_new: &mut [T],
    counts: &mut [T],
    reassignment: Option<Reassignment<'_, T>>,
    compute_labels: bool,
    check_finite: bool,
) -> Result<PartialFitStep, KernelError> {
    let mut labels = Vec::new();
    let outcome = step_checked(
        batch,
        weights,
        centers,
        centers_new,
        counts,
        reassignment,
        &mut labels,
        // partial_fit does not use the inertia against the old centers.
        false,
        check_finite,
    )?;
    let labelled = if compute_labels && !outcome.all_reassigned {
        Some(super::labels_inertia(
            batch,
            weights,
            centers_new,
            true,
            false,
        )?)
    } else {
        None
    };
    Ok((outcome, labelled))
}

/// Whether the reassignment after a step on a batch of these `weights` could pick a cluster:
/// `false` only when none can fall under `ratio` times the largest count, whatever the batch's
/// labels (with non-negative weights counts only grow, the largest by at most the batch's
/// total weight). A step that cannot reassign takes no random draws, so the caller need not
/// hand over its generator.
pub fn may_reassign<T: Float>(counts: &[T], weights: &[T], ratio: f64) -> bool {
    if ratio <= 0.0 || counts.is_empty() {
        return false;
    }
    let mut total = 0.0;
    for &w in weights {
        let w = w.to_f64();
        if w.is_nan() || w < 0.0 {
            return true;
        }
        total += w;
    }
    let largest = counts
        .iter()
        .fold(f64::NEG_INFINITY, |m, &c| m.max(c.to_f64()));
    let smallest = counts.iter().fold(f64::INFINITY, |m, &c| m.min(c.to_f64()));
    // A margin far above the roundings of the counts' sums and of the threshold.
    let bound = ratio * (largest + total) * 1.001;
    smallest.is_nan() || bound.is_nan() || smallest < bound
}

/// scikit-learn's `_minibatch_update_dense/_sparse`: each cluster's new center is the mean of
/// its old center weighted by its count and of its batch members, summed in sample order.
fn update_centers<T: Float, S: Samples<T>>(
    batch: &S,
    weights: &[T],
    labels: &[i32],
    centers: &[T],
    centers_new: &mut [T],
    counts: &mut [T],
) {
    let d = batch.n_features();
    let k = counts.len();
    // The members of each cluster in sample order: a counting sort of the labels.
    let mut starts = vec![0usize; k + 1];
    for &l in labels {
        starts[l as usize + 1] += 1;
    }
    for j in 0..k {
        starts[j + 1] += starts[j];
    }
    let mut next = starts.clone();
    let mut members = vec![0usize; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        members[next[l as usize]] = i;
        next[l as usize] += 1;
    }
    // Each cluster is updated on its own, in sample order, so the bits do not depend on
    // how the clusters are shared among threads.
    let update = |j: usize, new: &mut [T], count: &mut T| {
        let own = &members[starts[j]..starts[j + 1]];
        let old = &centers[j * d..(j + 1) * d];
        let mut wsum = T::ZERO;
        for &i in own {
            wsum += weights[i];
        }
        if wsum > T::ZERO {
            new.iter_mut().zip(old).for_each(|(c, &o)| *c = o * *count);
            for &i in own {
                batch.add_scaled_row(i, weights[i], new);
            }
            *count += wsum;
            let alpha = T::ONE / *count;
            new.iter_mut().for_each(|c| *c *= alpha);
        } else {
            new.copy_from_slice(old);
        }
    };
    if labels.len().saturating_mul(d) < PARALLEL_UPDATE_VALUES {
        centers_new
            .chunks_mut(d.max(1))
            .zip(counts.iter_mut())
            .enumerate()
            .for_each(|(j, (new, count))| update(j, new, count));
    } else {
        centers_new
            .par_chunks_mut(d.max(1))
            .zip(counts.par_iter_mut())
            .enumerate()
            .for_each(|(j, (new, count))| update(j, new, count));
    }
}

/// Batches of at least this many values update their clusters in parallel.
const PARALLEL_UPDATE_VALUES: usize = 1 << 15;

/// Moves the clusters whose count is below `ratio` times the largest onto distinct batch
/// samples (at most half the batch: those after the first half of the batch size in `order`
/// keep their centers), drawn as numpy's `choice(n, n_reassigns, replace=False)` draws them,
/// and raises their counts to the smallest count kept. Returns the number moved and whether
/// every cluster was to be moved.
fn reassign<T: Float, S: Samples<T>>(
    batch: &S,
    centers_new: &mut [T],
    counts: &mut [T],
    ratio: f64,
    rng: &mut Mt19937,
    order: &CountOrder<T>,
) -> Result<(usize, bool), KernelError> {
    let d = batch.n_features();
    let k = counts.len();
    let n = batch.n_samples();
    let largest = counts.iter().copied().fold(-T::INFINITY, T::max);
    let threshold = T::from_f64(ratio) * largest;
    let mut to_reassign: Vec<bool> = counts.iter().map(|&c| c < threshold).collect();
    let half = 0.5 * n as f64;
    if to_reassign.iter().filter(|&&r| r).count() as f64 > half {
        // np.argsort(counts)[int(0.5 * n):] keep their centers.
        let order = order(counts)?;
        if order.len() != k || order.iter().any(|&j| j >= k) {
            return Err(KernelError::Shape(format!(
                "an order of {} indices for {k} counts",
                order.len()
            )));
        }
        for &j in order.get(half as usize..).unwrap_or(&[]) {
            to_reassign[j] = false;
        }
    }
    let n_reassigned = to_reassign.iter().filter(|&&r| r).count();
    if n_reassigned > 0 {
        let picks = rng.permutation(n);
        let targets = (0..k).filter(|&j| to_reassign[j]);
        for (&row, j) in picks.iter().zip(targets) {
            batch.copy_row(row, &mut centers_new[j * d..(j + 1) * d]);
        }
    }
    let smallest_kept = (0..k)
        .filter(|&j| !to_reassign[j])
        .map(|j| counts[j])
        .reduce(T::min);
    match smallest_kept {
        None => Ok((n_reassigned, true)),
        Some(m) => {
            for j in (0..k).filter(|&j| to_reassign[j]) {
                counts[j] = m;
            }
            Ok((n_reassigned, false))
        }
    }
}

/// scikit-learn's convergence bookkeeping (`_mini_batch_convergence`, `_random_reassign`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Monitor {
    pub ewa_inertia: Option<f64>,
    pub ewa_inertia_min: Option<f64>,
    pub no_improvement: usize,
    pub n_since_last_reassign: usize,
}

impl Monitor {
    /// Whether this step reassigns: when a cluster has no weight yet, or once every
    /// `10 * n_clusters` samples.
    pub fn random_reassign<T: Float>(&mut self, batch_size: usize, counts: &[T]) -> bool {
        self.n_since_last_reassign += batch_size;
        if counts.contains(&T::ZERO) || self.n_since_last_reassign >= 10 * counts.len() {
            self.n_since_last_reassign = 0;
            return true;
        }
        false
    }

    /// Updates the exponentially weighted average of the batch inertia and says whether the
    /// fit stops after `step` (0-based): on a squared center change within `tol`, or after
    /// `max_no_improvement` steps without a new smallest average.
    fn converged(
        &mut self,
        step: usize,
        n_samples: usize,
        config: &FitConfig,
        centers_squared_diff: f64,
        batch_inertia: f64,
        events: &mut Option<Vec<Event>>,
    ) -> bool {
        let batch_inertia = batch_inertia / config.batch_size as f64;
        let step = step + 1;
        let mut record = |e: Event| {
            if let Some(events) = events.as_mut() {
                events.push(e);
            }
        };
        if step == 1 {
            // The first batch's inertia is that of the initialisation.
            record(Event::Step {
                step,
                batch_inertia,
                ewa_inertia: None,
            });
            return false;
        }
        let ewa = match self.ewa_inertia {
            None => batch_inertia,
            Some(ewa) => {
                let alpha = (config.batch_size as f64 * 2.0 / (n_samples as f64 + 1.0)).min(1.0);
                ewa * (1.0 - alpha) + batch_inertia * alpha
            }
        };
        self.ewa_inertia = Some(ewa);
        record(Event::Step {
            step,
            batch_inertia,
            ewa_inertia: Some(ewa),
        });
        if config.tol > 0.0 && centers_squared_diff <= config.tol {
            record(Event::CentersConverged { step });
            return true;
        }
        match self.ewa_inertia_min {
            Some(min) if ewa >= min => self.no_improvement += 1,
            _ => {
                self.no_improvement = 0;
                self.ewa_inertia_min = Some(ewa);
            }
        }
        if config
            .max_no_improvement
            .is_some_and(|limit| self.no_improvement >= limit)
        {
            record(Event::InertiaConverged { step });
            return true;
        }
        false
    }
}

/// What a fit reports for scikit-learn's `verbose` output.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Reassigned {
        n: usize,
    },
    Step {
        step: usize,
        batch_inertia: f64,
        ewa_inertia: Option<f64>,
    },
    CentersConverged {
        step: usize,
    },
    InertiaConverged {
        step: usize,
    },
}

/// Settings of `MiniBatchKMeans.fit`'s loop.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig {
    pub batch_size: usize,
    pub n_steps: usize,
    /// Absolute tolerance on the squared center change (already scaled by the data variance).
    pub tol: f64,
    pub max_no_improvement: Option<usize>,
    pub reassignment_ratio: f64,
    pub verbose: bool,
}

/// Outcome of the loop.
#[derive(Clone, Debug)]
pub struct FitResult<T> {
    pub centers: Vec<T>,
    pub counts: Vec<T>,
    /// Steps run (`n_steps_`).
    pub n_steps: usize,
    pub monitor: Monitor,
    pub events: Vec<Event>,
    /// The last step met [`StepOutcome::all_reassigned`].
    pub all_reassigned: bool,
}

/// The loop of `MiniBatchKMeans.fit` from the row-major `(k, d)` initial centers: each step
/// draws a minibatch as `choice(n, batch_size, p=sample_weight / sum)` draws it and runs
/// [`step`] on it with unit weights; `order` is NumPy's `argsort` of the counts.
pub fn fit<T: Float, S: GatherRows<T>>(
    x: &S,
    sample_weight: &[T],
    centers_init: &[T],
    config: &FitConfig,
    rng: &mut Mt19937,
    order: &CountOrder<T>,
    stop: StopCheck,
) -> Result<FitResult<T>, KernelError> {
    let k = check_problem(x, sample_weight, centers_init)?;
    let (n, d) = (x.n_samples(), x.n_features());
    let batch_size = config.batch_size;
    if batch_size == 0 || batch_size > n {
        return Err(KernelError::InvalidArgument(format!(
            "batch_size={batch_size} must be in [1, n_samples={n}]"
        )));
    }
    let draws = BatchDraws::new(sample_weight)?;
    let mut centers = alloc::copied(centers_init, &[k, d])?;
    let mut centers_new = alloc::filled(&[k, d], T::ZERO)?;
    let mut counts = alloc::filled(&[k], T::ZERO)?;
    let unit_weights = vec![T::ONE; batch_size];
    let mut uniforms = vec![0.0; batch_size];
    let mut rows = vec![0usize; batch_size];
    let mut batch = RowBuffer::new(d);
    let mut labels = Vec::new();
    let mut monitor = Monitor::default();
    let mut events = config.verbose.then(Vec::new);
    let mut n_steps = 0;
    for i in 0..config.n_steps {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        n_steps = i + 1;
        draws.draw(rng, &mut uniforms, &mut rows);
        x.gather(&rows, &mut batch)?;
        let reassignment = monitor
            .random_reassign(batch_size, &counts)
            .then_some(Reassignment {
                ratio: config.reassignment_ratio,
                rng: &mut *rng,
                order,
            });
        let outcome = batch.step(
            &unit_weights,
            &centers,
            &mut centers_new,
            &mut counts,
            reassignment,
            &mut labels,
        )?;
        if let (Some(events), true) = (events.as_mut(), outcome.n_reassigned > 0) {
            events.push(Event::Reassigned {
                n: outcome.n_reassigned,
            });
        }
        if outcome.all_reassigned {
            return Ok(FitResult {
                centers,
                counts,
                n_steps,
                monitor,
                events: events.unwrap_or_default(),
                all_reassigned: true,
            });
        }
        let centers_squared_diff = if config.tol > 0.0 {
            centers
                .iter()
                .zip(&centers_new)
                .map(|(&a, &b)| ((b - a) * (b - a)).to_f64())
                .sum()
        } else {
            0.0
        };
        std::mem::swap(&mut centers, &mut centers_new);
        if monitor.converged(
            i,
            n,
            config,
            centers_squared_diff,
            outcome.inertia,
            &mut events,
        ) {
            break;
        }
    }
    Ok(FitResult {
        centers,
        counts,
        n_steps,
        monitor,
        events: events.unwrap_or_default(),
        all_reassigned: false,
    })
}

/// numpy's `choice(n, size, p=p)` with replacement (`cdf = cumsum(p); cdf /= cdf[-1];
/// cdf.searchsorted(uniforms, side='right')`) with the cdf built once. A bucket index over
/// `[0, 1)` (a power of two of buckets, so `u * buckets` is exact) bounds each search to the
/// entries between two bucket edges; the result is the same index the full search gives.
struct BatchDraws {
    cdf: Vec<f64>,
    /// `edges[b]`: the first index whose cdf value exceeds `b / buckets`.
    edges: Vec<usize>,
    buckets: f64,
}

impl BatchDraws {
    fn new<T: Float>(sample_weight: &[T]) -> Result<Self, KernelError> {
        let cdf = Cdf::new(&probabilities(sample_weight)?)?.cdf;
        if !cdf.last().is_some_and(|&c| c == 1.0) {
            return Err(KernelError::InvalidArgument(
                "probabilities do not sum to 1".into(),
            ));
        }
        let n_buckets = (cdf.len() / 4).max(1).next_power_of_two();
        let buckets = n_buckets as f64;
        let mut edges = alloc::with_capacity(&[n_buckets + 1])?;
        let mut i = 0;
        for b in 0..=n_buckets {
            let edge = b as f64 / buckets;
            while i < cdf.len() && cdf[i] <= edge {
                i += 1;
            }
            edges.push(i);
        }
        Ok(Self {
            cdf,
            edges,
            buckets,
        })
    }

    /// The first index whose cdf value exceeds `u` (in `[0, 1)`).
    #[inline]
    fn index(&self, u: f64) -> usize {
        let b = ((u * self.buckets) as usize).min(self.edges.len() - 2);
        let lo = self.edges[b];
        let hi = (self.edges[b + 1] + 1).min(self.cdf.len());
        lo + self.cdf[lo..hi].partition_point(|&c| c <= u)
    }

    /// Draws `rows.len()` indices, the uniforms in the generator's order.
    fn draw(&self, rng: &mut Mt19937, uniforms: &mut [f64], rows: &mut [usize]) {
        uniforms.iter_mut().for_each(|u| *u = rng.random_sample());
        rows.par_chunks_mut(1024)
            .zip(uniforms.par_chunks(1024))
            .for_each(|(rows, uniforms)| {
                for (r, &u) in rows.iter_mut().zip(uniforms) {
                    *r = self.index(u);
                }
            });
    }
}

/// A minibatch copied out of the samples, in the samples' storage.
pub struct RowBuffer<T> {
    d: usize,
    n: usize,
    sparse: bool,
    data: Vec<T>,
    indices: Vec<i32>,
    indptr: Vec<i64>,
}

impl<T: Float> RowBuffer<T> {
    pub fn new(d: usize) -> Self {
        Self {
            d,
            n: 0,
            sparse: false,
            data: Vec::new(),
            indices: Vec::new(),
            indptr: Vec::new(),
        }
    }

    /// [`step`] on the buffered rows.
    fn step(
        &self,
        weights: &[T],
        centers: &[T],
        centers_new: &mut [T],
        counts: &mut [T],
        reassignment: Option<Reassignment<'_, T>>,
        labels: &mut Vec<i32>,
    ) -> Result<StepOutcome, KernelError> {
        if self.sparse {
            let view = Csr::new(&self.data, &self.indices, &self.indptr, self.n, self.d)?;
            step(
                &view,
                weights,
                centers,
                centers_new,
                counts,
                reassignment,
                labels,
            )
        } else {
            let view = Dense::new(&self.data, self.n, self.d)?;
            step(
                &view,
                weights,
                centers,
                centers_new,
                counts,
                reassignment,
                labels,
            )
        }
    }
}

/// Storages a minibatch can be copied out of.
pub trait GatherRows<T: Float>: Samples<T> {
    /// Copies `rows` (in that order, repeats included) into `into`.
    fn gather(&self, rows: &[usize], into: &mut RowBuffer<T>) -> Result<(), KernelError>;
}

impl<T: Float> GatherRows<T> for Dense<'_, T> {
    fn gather(&self, rows: &[usize], into: &mut RowBuffer<T>) -> Result<(), KernelError> {
        let d = self.n_features();
        into.sparse = false;
        into.n = rows.len();
        into.data.resize(rows.len() * d, T::ZERO);
        into.data
            .par_chunks_mut(256 * d)
            .zip(rows.par_chunks(256))
            .for_each(|(out, rows)| {
                for (dst, &i) in out.chunks_exact_mut(d).zip(rows) {
                    dst.copy_from_slice(self.row(i));
                }
            });
        Ok(())
    }
}

impl<T: Float> GatherRows<T> for Csr<'_, T> {
    fn gather(&self, rows: &[usize], into: &mut RowBuffer<T>) -> Result<(), KernelError> {
        into.sparse = true;
        into.n = rows.len();
        into.data.clear();
        into.indices.clear();
        into.indptr.clear();
        into.indptr.push(0);
        for &i in rows {
            let (idx, vals) = self.row(i);
            into.indices.extend_from_slice(idx);
            into.data.extend_from_slice(vals);
            into.indptr.push(into.data.len() as i64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucketed_draws_match_a_full_search() {
        let weights: Vec<f64> = (0..1000).map(|i| ((i * 37) % 11) as f64).collect();
        let draws = BatchDraws::new(&weights).unwrap();
        let full = Cdf::new(&probabilities(&weights).unwrap()).unwrap();
        let mut rng = Mt19937::from_seed(3);
        for _ in 0..20_000 {
            let u = rng.random_sample();
            assert_eq!(draws.index(u), full.index(u), "u = {u}");
        }
        for &u in &full.cdf[..50] {
            assert_eq!(draws.index(u), full.index(u));
        }
        assert_eq!(draws.index(0.0), full.index(0.0));
    }

    #[test]
    fn partial_fit_step_labels_against_the_new_centers() {
        // Against the old centers 4 joins center 0 and 6, 9 center 1; the running means move
        // them to (0 + 4) / 2 = 2 and (9 + 6 + 9) / 3 = 8, against which the labels stay and
        // the inertia is 2^2 + 2^2 + 1^2.
        let x = [4.0, 6.0, 9.0];
        let batch = Dense::new(&x, 3, 1).unwrap();
        let (centers, weights) = ([0.0, 9.0], [1.0, 1.0, 1.0]);
        let (mut centers_new, mut counts) = ([0.0; 2], [1.0, 1.0]);
        let (outcome, labelled) = partial_fit_step(
            &batch,
            &weights,
            &centers,
            &mut centers_new,
            &mut counts,
            None,
            true,
            true,
        )
        .unwrap();
        assert_eq!(centers_new, [2.0, 8.0]);
        assert_eq!(counts, [2.0, 3.0]);
        assert_eq!(outcome.n_reassigned, 0);
        assert_eq!(labelled, Some((vec![0, 1, 1], 9.0)));
        // NaN in the batch: an error, and nothing written.
        let bad = [4.0, f64::NAN, 9.0];
        let batch = Dense::new(&bad, 3, 1).unwrap();
        let (mut centers_new, mut counts) = ([-1.0; 2], [1.0, 1.0]);
        let err = partial_fit_step(
            &batch,
            &weights,
            &centers,
            &mut centers_new,
            &mut counts,
            None,
            true,
            true,
        );
        assert!(err.is_err());
        assert_eq!((centers_new, counts), ([-1.0; 2], [1.0, 1.0]));
    }

    #[test]
    fn may_reassign_only_when_a_count_can_fall_under_the_threshold() {
        let ones = [1.0; 100];
        // The largest count can grow to 1100: 0.01 of it is 11.
        assert!(!may_reassign(&[12.0, 1000.0], &ones, 0.01));
        assert!(may_reassign(&[10.0, 1000.0], &ones, 0.01));
        assert!(may_reassign(&[0.0, 1000.0], &ones, 0.01));
        assert!(!may_reassign(&[0.0, 1000.0], &ones, 0.0));
        // Negative or NaN weights can lower counts: always possible.
        assert!(may_reassign(&[500.0, 1000.0], &[1.0, -0.5], 0.01));
        assert!(may_reassign(&[500.0, 1000.0], &[1.0, f64::NAN], 0.01));
        // Whenever a step does reassign, may_reassign said so beforehand.
        let mut rng = Mt19937::from_seed(7);
        for trial in 0..200 {
            let k = 2 + trial % 6;
            let x: Vec<f64> = (0..40).map(|_| rng.random_sample() * 10.0).collect();
            let batch = Dense::new(&x, 40, 1).unwrap();
            let centers: Vec<f64> = (0..k).map(|_| rng.random_sample() * 10.0).collect();
            let counts: Vec<f64> = (0..k)
                .map(|_| (rng.random_sample() * 60.0).floor())
                .collect();
            let ratio = rng.random_sample() * 0.3;
            let before = may_reassign(&counts, &[1.0; 40], ratio);
            let (mut centers_new, mut after) = (vec![0.0; k], counts.clone());
            let mut draw = Mt19937::from_seed(1);
            let reassignment = Reassignment {
                ratio,
                rng: &mut draw,
                order: &stable_order::<f64>,
            };
            let mut labels = Vec::new();
            let out = step(
                &batch,
                &[1.0; 40],
                &centers,
                &mut centers_new,
                &mut after,
                Some(reassignment),
                &mut labels,
            )
            .unwrap();
            assert!(before || out.n_reassigned == 0, "trial {trial}");
        }
    }

    #[test]
    fn step_updates_counts_and_centers_as_running_means() {
        // Two clusters on a line; the new center is the mean of the old one (weighted by its
        // count) and its members.
        let x = [0.0, 1.0, 10.0, 12.0];
        let batch = Dense::new(&x, 4, 1).unwrap();
        let centers = [0.0, 10.0];
        let mut centers_new = [0.0; 2];
        let mut counts = [2.0, 0.0];
        let mut labels = Vec::new();
        let out = step(
            &batch,
            &[1.0, 1.0, 1.0, 3.0],
            &centers,
            &mut centers_new,
            &mut counts,
            None,
            &mut labels,
        )
        .unwrap();
        assert_eq!(labels, [0, 0, 1, 1]);
        assert_eq!(counts, [4.0, 4.0]);
        assert_eq!(centers_new, [0.25, (10.0 + 36.0) / 4.0]);
        assert_eq!(out.inertia, 1.0 + 3.0 * 4.0);
    }

    #[test]
    fn numpy_order_decides_which_tied_clusters_keep_their_centers() {
        // Both samples go to cluster 0; clusters 1 and 2 (tied at count 0) are small, more
        // than half the batch: the one after the first position of the order keeps its center.
        let x = [0.0, 1.0];
        let batch = Dense::new(&x, 2, 1).unwrap();
        let centers = [0.0, 50.0, 100.0];
        for (order, moved, kept) in [(vec![1, 2, 0], 1, 2), (vec![2, 1, 0], 2, 1)] {
            let mut centers_new = [0.0; 3];
            let mut counts = [0.0; 3];
            let mut labels = Vec::new();
            let mut rng = Mt19937::from_seed(0);
            let given = move |_: &[f64]| Ok(order.clone());
            let out = step(
                &batch,
                &[1.0; 2],
                &centers,
                &mut centers_new,
                &mut counts,
                Some(Reassignment {
                    ratio: 0.01,
                    rng: &mut rng,
                    order: &given,
                }),
                &mut labels,
            )
            .unwrap();
            assert_eq!(out.n_reassigned, 1);
            assert_eq!(centers_new[kept], centers[kept]);
            assert!(x.contains(&centers_new[moved]));
            assert_eq!(counts, [2.0, 0.0, 0.0]);
        }
        assert_eq!(stable_order(&[2.0, 0.0, 0.0]).unwrap(), [1, 2, 0]);
    }

    #[test]
    fn small_clusters_move_onto_batch_samples() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let batch = Dense::new(&x, 4, 1).unwrap();
        let centers = [0.0, 100.0];
        let mut centers_new = [0.0; 2];
        let mut counts = [0.0, 0.0];
        let mut labels = Vec::new();
        let mut rng = Mt19937::from_seed(0);
        let out = step(
            &batch,
            &[1.0; 4],
            &centers,
            &mut centers_new,
            &mut counts,
            Some(Reassignment {
                ratio: 0.01,
                rng: &mut rng,
                order: &stable_order,
            }),
            &mut labels,
        )
        .unwrap();
        // Cluster 1 got nothing: it moves to the first pick of permutation(4) and takes the
        // smallest kept count.
        let first = Mt19937::from_seed(0).permutation(4)[0];
        assert_eq!(out.n_reassigned, 1);
        assert_eq!(centers_new[1], x[first]);
        assert_eq!(counts, [4.0, 4.0]);
    }
}
