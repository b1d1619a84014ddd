//! scikit-learn's pairwise path for CSR samples. For sparse input its `ArgKmin` and
//! `RadiusNeighbors` reductions refuse the euclidean metrics, and cosine is not among their
//! metrics at all, so `kneighbors` / `radius_neighbors` compute a chunk of the distance
//! matrix with `euclidean_distances` / `cosine_distances` (SciPy's sparse product) and select
//! from it with NumPy. Here the same distances are computed bit for bit:
//!
//! - the sparse product: each dot product summed over the query's columns in order, starting
//!   from 0 (SciPy's row-by-row product accumulates so); the fitted samples are read by
//!   column (transposed once per call), so a query costs its non-zeros times the columns'
//!   lengths, not a walk over every pair of rows;
//! - euclidean: `((-2 dot) + |x|^2) + |y|^2` in float64, clipped at 0 (float32 data: upcast,
//!   as `_euclidean_distances_upcast`, and rounded to float32 before the clip);
//! - cosine: rows scaled by their float64 norm in the data's dtype (`normalize`), the product
//!   accumulated in that dtype, then `1 - s` clipped to `[0, 2]`.
//!
//! NumPy's selection (`argpartition`, then `argsort`) orders exactly equal distances by an
//! artefact of its introselect; here they come lowest index first. A radius search keeps
//! index order and sorts stably, as scikit-learn's `mergesort` does, so its lists are equal.

use super::heap::heap_push;
use super::{KNeighbors, RadiusNeighbors, QUERY_BLOCK};
use crate::alloc;
use crate::float::Float;
use crate::metric::Metric;
use crate::samples::{Csr, Samples};
use crate::{KernelError, StopCheck};
use rayon::prelude::*;

/// The metrics scikit-learn sends through its pairwise path for CSR samples.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SparsePairwise {
    Euclidean,
    Cosine,
}

impl SparsePairwise {
    pub fn for_metric(metric: &Metric) -> Option<Self> {
        match metric {
            Metric::Euclidean => Some(Self::Euclidean),
            Metric::Cosine => Some(Self::Cosine),
            _ => None,
        }
    }
}

/// Rows prepared for the product: values in the accumulation type `A` (euclidean: float64;
/// cosine: the data's dtype, scaled to unit norm) and, for euclidean, float64 squared norms.
struct Prepared<A> {
    values: Vec<A>,
    sq_norms: Vec<f64>,
}

fn prepare<T: Float, A: Float>(
    x: &Csr<T>,
    kind: SparsePairwise,
) -> Result<Prepared<A>, KernelError> {
    let n = x.n_samples();
    let mut values = alloc::with_capacity::<A>(&[x.nnz()])?;
    let mut sq_norms = alloc::with_capacity::<f64>(&[if kind == SparsePairwise::Euclidean {
        n
    } else {
        0
    }])?;
    for i in 0..n {
        let (_, row) = x.row(i);
        match kind {
            SparsePairwise::Euclidean => {
                // row_norms of the float64 (upcast) rows, summed in storage order.
                let mut s = 0.0f64;
                for &v in row {
                    s += v.to_f64() * v.to_f64();
                }
                sq_norms.push(s);
                values.extend(row.iter().map(|&v| A::from_f64(v.to_f64())));
            }
            SparsePairwise::Cosine => {
                // inplace_csr_row_normalize_l2: products in the dtype, summed in float64;
                // an all-zero row is left as it is.
                let mut s = 0.0f64;
                for &v in row {
                    s += (v * v).to_f64();
                }
                if s == 0.0 {
                    values.extend(row.iter().map(|&v| A::from_f64(v.to_f64())));
                } else {
                    let norm = s.sqrt();
                    values.extend(row.iter().map(|&v| A::from_f64(v.to_f64() / norm)));
                }
            }
        }
    }
    Ok(Prepared { values, sq_norms })
}

/// The fitted samples by column: for column `c`, the rows holding it (ascending) and their
/// prepared values in `rows[start[c]..start[c + 1]]`, `values[..]`.
struct Columns<A> {
    start: Vec<usize>,
    rows: Vec<u32>,
    values: Vec<A>,
}

fn columns<T: Float, A: Float>(fit: &Csr<T>, prepared: &[A]) -> Result<Columns<A>, KernelError> {
    let (n, d, nnz) = (fit.n_samples(), fit.n_features(), fit.nnz());
    let mut start = alloc::filled(&[d + 1], 0usize)?;
    for i in 0..n {
        for &c in fit.row(i).0 {
            start[c as usize + 1] += 1;
        }
    }
    for c in 0..d {
        start[c + 1] += start[c];
    }
    let mut next = start.clone();
    let mut rows = alloc::filled(&[nnz], 0u32)?;
    let mut values = alloc::filled(&[nnz], A::ZERO)?;
    let mut at = 0;
    for i in 0..n {
        for &c in fit.row(i).0 {
            let slot = &mut next[c as usize];
            rows[*slot] = i as u32;
            values[*slot] = prepared[at];
            *slot += 1;
            at += 1;
        }
    }
    Ok(Columns {
        start,
        rows,
        values,
    })
}

/// The queries and the fitted samples prepared for one metric.
struct Search<'a, T, A> {
    kind: SparsePairwise,
    queries: &'a Csr<'a, T>,
    query_values: &'a Prepared<A>,
    fit: &'a Columns<A>,
    fit_sq_norms: &'a [f64],
}

impl<T: Float, A: Float> Search<'_, T, A> {
    /// Query `i` against every fitted sample: the row of the matrix scikit-learn selects from
    /// (euclidean: squared), as float64 values of the data's dtype; with `zero_self` the
    /// query's distance to itself (same index) is 0, as for `X is Y`.
    fn distances(&self, i: usize, zero_self: bool, dots: &mut [A], out: &mut [f64]) {
        dots.fill(A::ZERO);
        let (cols, _) = self.queries.row(i);
        let first = self.queries.row_offset(i);
        for (at, &c) in cols.iter().enumerate() {
            let x = self.query_values.values[first + at];
            let (a, b) = (self.fit.start[c as usize], self.fit.start[c as usize + 1]);
            for (&j, &y) in self.fit.rows[a..b].iter().zip(&self.fit.values[a..b]) {
                dots[j as usize] += x * y;
            }
        }
        match self.kind {
            SparsePairwise::Euclidean => {
                let xx = self.query_values.sq_norms[i];
                for ((o, &dot), &yy) in out.iter_mut().zip(dots.iter()).zip(self.fit_sq_norms) {
                    let d = (-2.0 * dot.to_f64() + xx) + yy;
                    *o = T::from_f64(d).to_f64().max(0.0);
                }
            }
            SparsePairwise::Cosine => {
                for (o, &s) in out.iter_mut().zip(dots.iter()) {
                    let d = A::ONE - s; // S *= -1; S += 1
                    *o = d.to_f64().clamp(0.0, 2.0);
                }
            }
        }
        if zero_self {
            out[i] = 0.0;
        }
    }

    /// A matrix value as the distance scikit-learn returns (euclidean: the root, in the
    /// data's dtype).
    fn returned(&self, value: f64) -> f64 {
        match self.kind {
            SparsePairwise::Euclidean => T::from_f64(value.sqrt()).to_f64(),
            SparsePairwise::Cosine => value,
        }
    }
}

/// Per-thread scratch: one query's dot products and matrix row.
struct Scratch<A> {
    dots: Vec<A>,
    row: Vec<f64>,
}

impl<A: Float> Scratch<A> {
    fn new(n_fit: usize) -> Result<Self, KernelError> {
        Ok(Self {
            dots: alloc::filled(&[n_fit], A::ZERO)?,
            row: alloc::filled(&[n_fit], 0.0f64)?,
        })
    }
}

/// Calls `f(search)` with the rows prepared for `kind`: products accumulated in float64
/// (euclidean) or in the data's dtype (cosine).
macro_rules! with_search {
    ($fit:expr, $queries:expr, $kind:expr, |$search:ident| $body:expr) => {
        match $kind {
            SparsePairwise::Euclidean => {
                with_search!(@in f64, $fit, $queries, $kind, |$search| $body)
            }
            SparsePairwise::Cosine => with_search!(@in T, $fit, $queries, $kind, |$search| $body),
        }
    };
    (@in $acc:ty, $fit:expr, $queries:expr, $kind:expr, |$search:ident| $body:expr) => {{
        let fit_values = prepare::<T, $acc>($fit, $kind)?;
        let query_values = prepare::<T, $acc>($queries, $kind)?;
        let cols = columns($fit, &fit_values.values)?;
        let $search = Search {
            kind: $kind,
            queries: $queries,
            query_values: &query_values,
            fit: &cols,
            fit_sq_norms: &fit_values.sq_norms,
        };
        $body
    }};
}

/// The `k` nearest fitted samples of each query by scikit-learn's pairwise-path distances,
/// nearest first, exactly equal distances lowest index first; with `zero_self` (the queries
/// are the fitted samples) each query's distance to itself is 0.
pub fn kneighbors<T: Float>(
    fit: &Csr<T>,
    queries: &Csr<T>,
    kind: SparsePairwise,
    k: usize,
    zero_self: bool,
    stop: StopCheck,
) -> Result<KNeighbors, KernelError> {
    let (n_fit, n_q) = (fit.n_samples(), queries.n_samples());
    let mut indices = alloc::filled(&[n_q, k], 0i64)?;
    let mut distances = alloc::filled(&[n_q, k], 0.0f64)?;
    with_search!(fit, queries, kind, |search| {
        indices
            .par_chunks_mut(QUERY_BLOCK * k)
            .zip(distances.par_chunks_mut(QUERY_BLOCK * k))
            .enumerate()
            .try_for_each(|(b, (ind, dist))| {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let mut scratch = Scratch::new(n_fit)?;
                let mut heap = vec![(f64::INFINITY, i64::MAX); k];
                let mut unused = vec![0i64; k];
                for (r, (ind, dist)) in ind
                    .chunks_exact_mut(k)
                    .zip(dist.chunks_exact_mut(k))
                    .enumerate()
                {
                    let i = b * QUERY_BLOCK + r;
                    search.distances(i, zero_self, &mut scratch.dots, &mut scratch.row);
                    heap.fill((f64::INFINITY, i64::MAX));
                    // (distance, index) keys: a tie at the k-th place keeps the lower index.
                    for (j, &v) in scratch.row.iter().enumerate() {
                        heap_push(&mut heap, &mut unused, (v, j as i64), 0);
                    }
                    heap.sort_unstable_by(|a, b| {
                        a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
                    });
                    for ((&(v, j), o_d), o_i) in
                        heap.iter().zip(dist.iter_mut()).zip(ind.iter_mut())
                    {
                        *o_d = search.returned(v);
                        *o_i = j;
                    }
                }
                Ok(())
            })
    })?;
    if stop() {
        return Err(KernelError::Interrupted);
    }
    Ok(KNeighbors { distances, indices })
}

/// The fitted samples within `radius` of each query by scikit-learn's pairwise-path
/// distances (compared in the data's dtype, as NumPy compares them), in index order or
/// (`sort`) nearest first with ties in index order; `exclude_self` leaves each query's own
/// index out (the queries are the fitted samples).
#[allow(clippy::too_many_arguments)]
pub fn radius_neighbors<T: Float>(
    fit: &Csr<T>,
    queries: &Csr<T>,
    kind: SparsePairwise,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
    stop: StopCheck,
) -> Result<RadiusNeighbors, KernelError> {
    let (n_fit, n_q) = (fit.n_samples(), queries.n_samples());
    // scikit-learn compares squared euclidean distances with radius * radius.
    let bound = match kind {
        SparsePairwise::Euclidean => radius * radius,
        SparsePairwise::Cosine => radius,
    };
    let bound = T::from_f64(bound).to_f64();
    let n_blocks = n_q.div_ceil(QUERY_BLOCK);
    let blocks: Vec<Vec<super::Found>> = with_search!(fit, queries, kind, |search| {
        (0..n_blocks)
            .into_par_iter()
            .map(|b| {
                if stop() {
                    return Err(KernelError::Interrupted);
                }
                let mut scratch = Scratch::new(n_fit)?;
                let rows = b * QUERY_BLOCK..((b + 1) * QUERY_BLOCK).min(n_q);
                rows.map(|i| {
                    search.distances(i, false, &mut scratch.dots, &mut scratch.row);
                    let mut found: super::Found = (Vec::new(), Vec::new());
                    for (j, &v) in scratch.row.iter().enumerate() {
                        if v <= bound && !(exclude_self && j == i) {
                            super::push_found(&mut found, j as i64, v)?;
                        }
                    }
                    if sort {
                        let mut order: Vec<usize> = (0..found.0.len()).collect();
                        order.sort_by(|&a, &b| {
                            found.1[a]
                                .partial_cmp(&found.1[b])
                                .unwrap_or(std::cmp::Ordering::Equal)
                        });
                        found = (
                            order.iter().map(|&a| found.0[a]).collect(),
                            order.iter().map(|&a| found.1[a]).collect(),
                        );
                    }
                    for v in found.1.iter_mut() {
                        *v = search.returned(*v);
                    }
                    Ok(found)
                })
                .collect::<Result<Vec<_>, KernelError>>()
            })
            .collect::<Result<Vec<_>, KernelError>>()
    })?;
    super::concatenate_found(n_q, blocks, with_distances)
}
