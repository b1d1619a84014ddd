use super::heap::{heap_push, simultaneous_sort};
use super::*;
use crate::samples::Csr;

fn no_stop() -> bool {
    false
}

fn data(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = super::test_data::Lcg::new(seed);
    (0..n * d)
        .map(|_| ((rng.next_u64() >> 33) as f64 / (1u64 << 31) as f64) - 0.5)
        .collect()
}

/// Every distance, sorted by (distance, index): the answer when there are no exact ties.
fn naive(fit: &[f64], q: &[f64], d: usize, metric: &Metric, k: usize) -> Vec<Vec<(f64, i64)>> {
    q.chunks(d)
        .map(|qr| {
            let mut all: Vec<(f64, i64)> = fit
                .chunks(d)
                .enumerate()
                .map(|(j, x)| (metric.dist(qr, x), j as i64))
                .collect();
            all.sort_by(|a, b| a.partial_cmp(b).unwrap());
            all.truncate(k);
            all
        })
        .collect()
}

#[test]
fn dense_fused_generic_and_csr_searches_find_the_nearest() {
    let (n, m, d, k) = (300, 70, 5, 7);
    let (fit, q) = (data(n, d, 1), data(m, d, 2));
    for metric in [
        Metric::Euclidean,
        Metric::SqEuclidean,
        Metric::Manhattan,
        Metric::Cosine,
    ] {
        let want = naive(&fit, &q, d, &metric, k);
        let fd = Dense::new(&fit, n, d).unwrap();
        let qd = Dense::new(&q, m, d).unwrap();
        let dense = kneighbors(&fd, &qd, &metric, k, false, &no_stop).unwrap();
        let (ip, ix): (Vec<i64>, Vec<i32>) = (
            (0..=n as i64).map(|i| i * d as i64).collect(),
            (0..n * d).map(|i| (i % d) as i32).collect(),
        );
        let (qp, qx): (Vec<i64>, Vec<i32>) = (
            (0..=m as i64).map(|i| i * d as i64).collect(),
            (0..m * d).map(|i| (i % d) as i32).collect(),
        );
        let fc = Csr::new(&fit, &ix, &ip, n, d).unwrap();
        let qc = Csr::new(&q, &qx, &qp, m, d).unwrap();
        let csr = kneighbors(&fc, &qc, &metric, k, false, &no_stop).unwrap();
        for got in [&dense, &csr] {
            for (r, row) in want.iter().enumerate() {
                for (c, &(dist, j)) in row.iter().enumerate() {
                    assert_eq!(got.indices[r * k + c], j, "{metric:?}");
                    assert!(
                        (got.distances[r * k + c] - dist).abs() < 1e-12,
                        "{metric:?}"
                    );
                }
            }
        }
        // float32 rows give the same neighbours and float64-exact distances.
        let (f32s, q32): (Vec<f32>, Vec<f32>) = (
            fit.iter().map(|&v| v as f32).collect(),
            q.iter().map(|&v| v as f32).collect(),
        );
        let r32 = kneighbors(
            &Dense::new(&f32s, n, d).unwrap(),
            &Dense::new(&q32, m, d).unwrap(),
            &metric,
            k,
            false,
            &no_stop,
        )
        .unwrap();
        for (a, b) in r32.distances.iter().zip(&dense.distances) {
            assert!((a - b).abs() < 1e-5, "{metric:?}");
        }
        // Radius: every fitted row within the k-th distance of the naive answer.
        let radius = want[0][k - 1].0;
        let rad = radius_neighbors(&fd, &qd, &metric, radius, true, false, true, &no_stop).unwrap();
        let first = &rad.indices[rad.offsets[0] as usize..rad.offsets[1] as usize];
        assert_eq!(
            first,
            want[0].iter().map(|p| p.1).collect::<Vec<_>>().as_slice()
        );
        let rad32 = radius_neighbors(
            &Dense::new(&f32s, n, d).unwrap(),
            &Dense::new(&q32, m, d).unwrap(),
            &metric,
            radius,
            false,
            false,
            true,
            &no_stop,
        )
        .unwrap();
        assert!(rad32.offsets[1] as usize >= k - 1);
    }
}

#[test]
fn exact_ties_keep_the_earlier_candidates() {
    // Four copies of one point: the three kept are the first three seen.
    let mut values = vec![f64::MAX; 3];
    let mut idx = vec![0i64; 3];
    for j in 0..4 {
        heap_push(&mut values, &mut idx, 1.0, j);
    }
    simultaneous_sort(&mut values, &mut idx);
    let mut sorted = idx.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2]);
}

#[test]
fn simultaneous_sort_sorts_long_arrays() {
    let mut v: Vec<f64> = data(200, 1, 5).iter().map(|x| (x * 10.0).round()).collect();
    let mut i: Vec<i64> = (0..200).collect();
    let orig = v.clone();
    simultaneous_sort(&mut v, &mut i);
    assert!(v.windows(2).all(|w| w[0] <= w[1]));
    assert!(i.iter().zip(&v).all(|(&j, &x)| orig[j as usize] == x));
}

#[test]
fn radius_search_of_the_fitted_samples_leaves_each_one_out_of_its_list() {
    let (n, d) = (200, 3);
    let fit = data(n, d, 7);
    let fd = Dense::new(&fit, n, d).unwrap();
    for metric in [Metric::Euclidean, Metric::Manhattan] {
        let all = radius_neighbors(&fd, &fd, &metric, 0.3, true, false, true, &no_stop).unwrap();
        let own = radius_neighbors(&fd, &fd, &metric, 0.3, true, true, true, &no_stop).unwrap();
        for i in 0..n {
            let a = &all.indices[all.offsets[i] as usize..all.offsets[i + 1] as usize];
            let b = &own.indices[own.offsets[i] as usize..own.offsets[i + 1] as usize];
            let want: Vec<i64> = a.iter().copied().filter(|&j| j != i as i64).collect();
            assert_eq!(b, want.as_slice());
        }
    }
}

#[test]
fn class_probabilities_count_votes_per_query() {
    // Query 0: labels 1, 1, 0; query 1: no neighbours; query 2: label 2.
    let offsets = [0i64, 3, 3, 4];
    let indices = [0i64, 1, 2, 3];
    let labels = [1i64, 1, 0, 2];
    let p = predict::class_probabilities(&offsets, &indices, &labels, 3, &no_stop).unwrap();
    assert_eq!(
        p,
        vec![1.0 / 3.0, 2.0 / 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    );
    assert!(predict::class_probabilities(&offsets, &indices, &labels, 2, &no_stop).is_err());
    assert!(predict::class_probabilities(&[0, 5], &indices, &labels, 3, &no_stop).is_err());
    assert!(predict::class_probabilities(&[0, 1], &[9], &labels, 3, &no_stop).is_err());
}

#[test]
fn neighbor_means_average_targets_and_give_nan_without_neighbours() {
    let offsets = [0i64, 2, 2];
    let indices = [0i64, 2];
    let y = [1.0, 10.0, 2.0, 20.0, 4.0, 40.0];
    let m = predict::neighbor_means(&offsets, &indices, &y, 2, &no_stop).unwrap();
    assert_eq!(&m[..2], &[2.5, 25.0]);
    assert!(m[2].is_nan() && m[3].is_nan());
    assert!(predict::neighbor_means(&offsets, &indices, &y[..5], 2, &no_stop).is_err());
}
