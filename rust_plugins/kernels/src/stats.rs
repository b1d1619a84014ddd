//! Per-feature statistics of a samples matrix, summed over a fixed partition of the samples
//! and combined in block order, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::blocks;
use crate::float::Float;
use crate::samples::Samples;

/// Per-feature sums of `value(i, acc)` over the samples, by blocks combined in block order.
fn feature_sums<T: Float, S: Samples<T>>(
    x: &S,
    value: &(dyn Fn(usize, &mut [f64]) + Sync),
) -> Vec<f64> {
    let d = x.n_features();
    let parts = block_sums(x, &blocks::partition(x.n_samples(), d), value);
    combine_sums(parts, d)
}

fn block_sums<T: Float, S: Samples<T>>(
    x: &S,
    blocks: &[std::ops::Range<usize>],
    value: &(dyn Fn(usize, &mut [f64]) + Sync),
) -> Vec<Vec<f64>> {
    let d = x.n_features();
    blocks
        .par_iter()
        .map(|b| {
            let mut acc = vec![0.0f64; d];
            for i in b.clone() {
                value(i, &mut acc);
            }
            acc
        })
        .collect()
}

/// Adds per-block sums in block order.
pub fn combine_sums(parts: Vec<Vec<f64>>, d: usize) -> Vec<f64> {
    parts.into_iter().fold(vec![0.0; d], |mut total, p| {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        total
    })
}

/// Per-block sums of the dense or sparse samples (`mean` None) or of their squared deviations
/// from `mean`, over `blocks` of [`crate::blocks::partition`]`(n, d)`: what
/// [`mean_feature_variance`] combines, for samples held in pieces.
pub fn moment_block_sums<T: Float, S: Samples<T>>(
    x: &S,
    blocks: &[std::ops::Range<usize>],
    mean: Option<&[f64]>,
) -> Vec<Vec<f64>> {
    block_sums(x, blocks, &|i, acc| x.add_row_moment(i, mean, acc))
}

/// The mean variance from the combined squared deviations of dense samples.
pub fn mean_variance_of(squared_deviations: &[f64], n: usize) -> f64 {
    squared_deviations.iter().sum::<f64>() / (n as f64 * squared_deviations.len() as f64)
}

/// The mean of each feature (column), accumulated in float64.
pub fn feature_means<T: Float, S: Samples<T>>(x: &S) -> Vec<f64> {
    let n = x.n_samples().max(1) as f64;
    feature_sums(x, &|i, acc| x.add_row_moment(i, None, acc))
        .into_iter()
        .map(|s| s / n)
        .collect()
}

/// Mean over features of the (population) variance of each feature, the scale scikit-learn
/// applies to `tol`. Two passes (mean, then squared deviations) for accuracy.
pub fn mean_feature_variance<T: Float, S: Samples<T>>(x: &S) -> f64 {
    let (n, d) = (x.n_samples(), x.n_features());
    if n == 0 || d == 0 {
        return 0.0;
    }
    let mean = feature_means(x);
    let mut squared_deviations = feature_sums(x, &|i, acc| x.add_row_moment(i, Some(&mean), acc));
    if x.is_sparse() {
        squared_deviations
            .iter_mut()
            .zip(&mean)
            .for_each(|(s, m)| *s += n as f64 * m * m);
    }
    mean_variance_of(&squared_deviations, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{Csr, Dense};

    #[test]
    fn variance_is_the_same_for_dense_and_sparse() {
        let (n, d) = (7, 3);
        let dense = [
            1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 4.0, 5.0, 0.0, 0.0, 0.0, 0.0, 1.5, 0.0, -2.0, 0.0, 6.0,
            0.0, 2.0, 2.0, 2.0,
        ];
        let (mut data, mut indices, mut indptr) = (vec![], vec![], vec![0i64]);
        for row in dense.chunks(d) {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    data.push(v);
                    indices.push(j as i32);
                }
            }
            indptr.push(data.len() as i64);
        }
        let mut naive = 0.0;
        for j in 0..d {
            let col: Vec<f64> = (0..n).map(|i| dense[i * d + j]).collect();
            let m = col.iter().sum::<f64>() / n as f64;
            naive += col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64;
        }
        naive /= d as f64;
        let dv = mean_feature_variance(&Dense::new(&dense, n, d).unwrap());
        let sv = mean_feature_variance(&Csr::new(&data, &indices, &indptr, n, d).unwrap());
        assert!(
            (dv - naive).abs() < 1e-12 && (sv - naive).abs() < 1e-12,
            "{dv} {sv} {naive}"
        );
    }
}
