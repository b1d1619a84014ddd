//! DBSCAN on a precomputed distance matrix (dense, or a sparse radius graph whose stored entries
//! are the candidate neighbours). The matrix need not be symmetric, so the clusters are those of
//! scikit-learn's depth-first walk (`_dbscan_inner.pyx`): from each unlabelled core point in
//! index order, label every point reachable through core points not labelled yet. The walk reads
//! the rows of the matrix instead of materialised neighbourhoods.

use rayon::prelude::*;

use super::{Clustering, CoreRule};
use crate::float::Float;
use crate::samples::{Csr, Dense, Samples};
use crate::scaler::sum::pairwise;
use crate::{KernelError, StopCheck};

/// Rows per unit of parallel work when counting neighbours.
const ROWS_PER_TASK: usize = 64;

/// A matrix whose row `i` lists the candidate neighbours of point `i` with their distances.
trait DistanceRows: Sync {
    fn n(&self) -> usize;
    /// Calls `visit(j)` for each `j` in row `i` whose distance is `<= eps`, in stored order.
    fn for_each_neighbour(&self, i: usize, visit: &mut dyn FnMut(usize));
}

struct DenseRows<'a, T: Float> {
    matrix: &'a Dense<'a, T>,
    eps: T,
}

impl<T: Float> DistanceRows for DenseRows<'_, T> {
    fn n(&self) -> usize {
        self.matrix.n_samples()
    }
    fn for_each_neighbour(&self, i: usize, visit: &mut dyn FnMut(usize)) {
        for (j, &v) in self.matrix.row(i).iter().enumerate() {
            if v <= self.eps {
                visit(j);
            }
        }
    }
}

struct GraphRows<'a, T: Float> {
    graph: &'a Csr<'a, T>,
    eps: T,
}

impl<T: Float> DistanceRows for GraphRows<'_, T> {
    fn n(&self) -> usize {
        self.graph.n_samples()
    }
    fn for_each_neighbour(&self, i: usize, visit: &mut dyn FnMut(usize)) {
        let (indices, values) = self.graph.row(i);
        for (&j, &v) in indices.iter().zip(values) {
            if v <= self.eps {
                visit(j as usize);
            }
        }
    }
}

/// DBSCAN on a dense `(n, n)` distance matrix; a pair is within `eps` when its entry is
/// `<= eps` in the matrix's dtype (NumPy's comparison with a Python float).
pub fn cluster_precomputed_dense<T: Float>(
    distances: &Dense<'_, T>,
    eps: T,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    square(distances.n_samples(), distances.n_features())?;
    walk(
        &DenseRows {
            matrix: distances,
            eps,
        },
        rule,
        stop,
    )
}

/// DBSCAN on a sparse `(n, n)` radius graph: only stored entries `<= eps` are neighbours
/// (scikit-learn stores the diagonal explicitly before it searches).
pub fn cluster_precomputed_csr<T: Float>(
    graph: &Csr<'_, T>,
    eps: T,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    square(graph.n_samples(), graph.n_features())?;
    walk(&GraphRows { graph, eps }, rule, stop)
}

fn square(n: usize, d: usize) -> Result<(), KernelError> {
    if n != d {
        return Err(KernelError::Shape(format!(
            "a distance matrix must be square, not ({n}, {d})"
        )));
    }
    Ok(())
}

fn walk(
    rows: &impl DistanceRows,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    let n = rows.n();
    rule.check(n)?;
    let core = core_flags(rows, rule, stop)?;
    let mut labels = vec![-1i64; n];
    let mut stack = Vec::new();
    let mut next_label = 0;
    for start in 0..n {
        if labels[start] != -1 || !core[start] {
            continue;
        }
        if stop() {
            return Err(KernelError::Interrupted);
        }
        stack.push(start);
        while let Some(i) = stack.pop() {
            if labels[i] != -1 {
                continue;
            }
            labels[i] = next_label;
            if core[i] {
                rows.for_each_neighbour(i, &mut |j| {
                    if labels[j] == -1 {
                        stack.push(j);
                    }
                });
            }
        }
        next_label += 1;
    }
    Ok(Clustering { labels, core })
}

/// Whether each row's neighbours weigh at least `min_samples`; weights are added in the row's
/// order by NumPy's pairwise summation, as `np.sum(sample_weight[neighbors])`.
fn core_flags(
    rows: &impl DistanceRows,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Vec<bool>, KernelError> {
    let n = rows.n();
    let mut core = vec![false; n];
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    core.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, flags)| {
            if stop() {
                interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            let mut neighbour_weights = Vec::new();
            for (k, flag) in flags.iter_mut().enumerate() {
                let i = task * ROWS_PER_TASK + k;
                let weight = match rule.weights {
                    None => {
                        let mut count = 0usize;
                        rows.for_each_neighbour(i, &mut |_| count += 1);
                        count as f64
                    }
                    Some(w) => {
                        neighbour_weights.clear();
                        rows.for_each_neighbour(i, &mut |j| neighbour_weights.push(w[j]));
                        match neighbour_weights.len() {
                            0 => 0.0,
                            m => pairwise(m, &|t| neighbour_weights[t]),
                        }
                    }
                };
                *flag = weight >= rule.min_samples;
            }
        });
    if interrupted.into_inner() {
        return Err(KernelError::Interrupted);
    }
    Ok(core)
}
