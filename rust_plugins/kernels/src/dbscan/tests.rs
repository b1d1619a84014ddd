//! DBSCAN checked against a direct transcription of scikit-learn's algorithm: every
//! neighbourhood materialised, then `_dbscan_inner.pyx`'s depth-first walk.

use super::*;
use crate::samples::{Csr, Dense};

fn never() -> bool {
    false
}

/// scikit-learn's DBSCAN over an explicit `within(i, j)` relation.
fn reference(
    n: usize,
    within: impl Fn(usize, usize) -> bool,
    min_samples: f64,
    weights: Option<&[f64]>,
) -> Clustering {
    let neighbourhoods: Vec<Vec<usize>> = (0..n)
        .map(|i| (0..n).filter(|&j| within(i, j)).collect())
        .collect();
    let core: Vec<bool> = neighbourhoods
        .iter()
        .map(|nb| {
            nb.iter()
                .map(|&j| weights.map_or(1.0, |w| w[j]))
                .sum::<f64>()
                >= min_samples
        })
        .collect();
    let mut labels = vec![-1i64; n];
    let mut label = 0;
    for start in 0..n {
        if labels[start] != -1 || !core[start] {
            continue;
        }
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if labels[i] == -1 {
                labels[i] = label;
                if core[i] {
                    stack.extend(neighbourhoods[i].iter().filter(|&&j| labels[j] == -1));
                }
            }
        }
        label += 1;
    }
    Clustering { labels, core }
}

fn euclidean_reference(
    x: &[f64],
    d: usize,
    eps: f64,
    min_samples: f64,
    w: Option<&[f64]>,
) -> Clustering {
    let test = MetricTest::new(crate::metric::Metric::Euclidean, eps);
    reference(
        x.len() / d,
        |i, j| test.within(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]),
        min_samples,
        w,
    )
}

fn ours(x: &[f64], d: usize, eps: f64, min_samples: f64, w: Option<&[f64]>) -> Clustering {
    let view = Dense::new(x, x.len() / d, d).unwrap();
    let rule = CoreRule {
        min_samples,
        weights: w,
    };
    cluster_points(
        &view,
        &MetricTest::new(crate::metric::Metric::Euclidean, eps),
        rule,
        &never,
    )
    .unwrap()
}

/// Deterministic pseudo-random values in [0, 1).
fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

#[test]
fn blobs_and_noise_match_the_reference_in_one_to_five_dimensions() {
    for d in 1..=5 {
        for (seed, eps, min_samples) in [
            (1, 0.05, 4.0),
            (2, 0.1, 8.0),
            (3, 0.02, 2.0),
            (4, 0.3, 30.0),
        ] {
            // Clumps around four centres plus uniform noise.
            let u = uniform(600 * d, seed + d as u64 * 10);
            let x: Vec<f64> = u
                .chunks(d)
                .enumerate()
                .flat_map(|(i, row)| {
                    let clump = (i % 5) as f64 * 0.25;
                    row.iter()
                        .map(move |&v| if i % 5 == 4 { v } else { clump + 0.1 * v })
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(
                ours(&x, d, eps, min_samples, None),
                euclidean_reference(&x, d, eps, min_samples, None),
                "d={d} seed={seed}"
            );
        }
    }
}

#[test]
fn integer_grids_with_pairs_at_exactly_eps() {
    // Lattice points: many pairs at distance exactly 1, sqrt(2), 2.
    for d in [2, 3, 4] {
        let side = if d == 4 { 5 } else { 9 };
        let n = (side as usize).pow(d as u32);
        let mut x = Vec::new();
        for i in 0..n {
            let mut rest = i;
            for _ in 0..d {
                x.push((rest % side) as f64 * 3.0);
                rest /= side;
            }
        }
        // Thin the lattice so that some points are borders and some noise.
        let keep: Vec<f64> = x
            .chunks(d)
            .enumerate()
            .filter(|(i, _)| i % 7 != 3 && i % 11 != 5)
            .flat_map(|(_, r)| r.to_vec())
            .collect();
        for eps in [3.0, 3.0 * 2f64.sqrt(), 6.0] {
            for min_samples in [2.0, 3.0, 5.0, 7.0] {
                assert_eq!(
                    ours(&keep, d, eps, min_samples, None),
                    euclidean_reference(&keep, d, eps, min_samples, None),
                    "d={d} eps={eps} m={min_samples}"
                );
            }
        }
    }
}

#[test]
fn duplicates_weights_and_single_points() {
    let mut x = vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.05, 5.0, 5.0];
    x.extend(uniform(200, 9).iter().map(|v| v * 2.0));
    let n = x.len() / 2;
    let weights: Vec<f64> = (0..n).map(|i| [1.0, 2.0, 0.0, -1.0, 3.0][i % 5]).collect();
    for min_samples in [1.0, 2.0, 3.0, 4.0] {
        assert_eq!(
            ours(&x, 2, 0.1, min_samples, None),
            euclidean_reference(&x, 2, 0.1, min_samples, None)
        );
        assert_eq!(
            ours(&x, 2, 0.1, min_samples, Some(&weights)),
            euclidean_reference(&x, 2, 0.1, min_samples, Some(&weights))
        );
    }
    let one = ours(&[3.0, 4.0], 2, 0.5, 1.0, None);
    assert_eq!(one.labels, vec![0]);
    assert_eq!(ours(&[3.0, 4.0], 2, 0.5, 2.0, None).labels, vec![-1]);
}

#[test]
fn huge_coordinates_and_tiny_eps_stay_exact() {
    // Cells are capped per dimension; the search must still find every neighbour.
    let u = uniform(800, 5);
    let x: Vec<f64> = u
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i % 2 == 0 {
                1e12 * v
            } else {
                (i % 10) as f64 * 1e-9 + v * 1e-9
            }
        })
        .collect();
    for eps in [1e-9, 1e-3, 1e9] {
        assert_eq!(
            ours(&x, 2, eps, 2.0, None),
            euclidean_reference(&x, 2, eps, 2.0, None)
        );
    }
}

#[test]
fn labels_do_not_depend_on_the_thread_count() {
    let x: Vec<f64> = uniform(3 * 30_000, 11);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| ours(&x, 3, 0.03, 5.0, None));
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| ours(&x, 3, 0.03, 5.0, None));
    assert_eq!(one, three);
    assert!(one.labels.iter().any(|&l| l > 3) && one.labels.contains(&-1));
}

#[test]
fn precomputed_matrices_follow_the_walk_even_when_not_symmetric() {
    let n = 60;
    let u = uniform(n * n, 21);
    // Asymmetric "distances": whether j is i's neighbour does not say whether i is j's.
    let dense: Vec<f64> = u
        .iter()
        .enumerate()
        .map(|(k, v)| if k / n == k % n { 0.0 } else { *v })
        .collect();
    let w: Vec<f64> = uniform(n, 3).iter().map(|v| 0.3 + v).collect();
    for (eps, m) in [(0.05, 2.0), (0.08, 3.0), (0.2, 10.0)] {
        let within = |i: usize, j: usize| dense[i * n + j] <= eps;
        let view = Dense::new(&dense, n, n).unwrap();
        for weights in [None, Some(w.as_slice())] {
            let rule = CoreRule {
                min_samples: m,
                weights,
            };
            let got = cluster_precomputed_dense(&view, eps, rule, &never).unwrap();
            assert_eq!(got, reference(n, within, m, weights), "eps={eps}");
        }
        // The same relation as a sparse graph storing only the entries within eps (and one
        // entry above it, which must be ignored).
        let (mut data, mut indices, mut indptr) = (vec![], vec![], vec![0i64]);
        for i in 0..n {
            for j in (0..n).rev() {
                if within(i, j) || j == (i + 1) % n {
                    data.push(dense[i * n + j]);
                    indices.push(j as i32);
                }
            }
            indptr.push(data.len() as i64);
        }
        let graph = Csr::new(&data, &indices, &indptr, n, n).unwrap();
        let rule = CoreRule {
            min_samples: m,
            weights: None,
        };
        let got = cluster_precomputed_csr(&graph, eps, rule, &never).unwrap();
        assert_eq!(got, reference(n, within, m, None));
    }
}

#[test]
fn an_interrupted_search_reports_it() {
    let x = uniform(2 * 10_000, 4);
    let view = Dense::new(&x, 10_000, 2).unwrap();
    let rule = CoreRule {
        min_samples: 3.0,
        weights: None,
    };
    let r = cluster_points(
        &view,
        &MetricTest::new(crate::metric::Metric::Euclidean, 0.01),
        rule,
        &|| true,
    );
    assert_eq!(r, Err(crate::KernelError::Interrupted));
}

#[test]
fn many_features_are_compared_by_products_with_the_same_clusters() {
    // Above 15 features pairs are tested a tile at a time by |a|^2 - 2 a.b + |b|^2; with
    // continuous data no pair is within rounding of eps, so the clusters are the direct ones.
    let d = 20;
    let u = uniform(900 * d, 17);
    let x: Vec<f64> = u
        .chunks(d)
        .enumerate()
        .flat_map(|(i, row)| {
            let centre = (i % 4) as f64 * 2.0;
            row.iter()
                .map(move |&v| {
                    if i % 9 == 8 {
                        4.0 * v
                    } else {
                        centre + 0.5 * v
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let weights: Vec<f64> = (0..900).map(|i| [1.0, 0.5, 2.0][i % 3]).collect();
    for (eps, m) in [(0.5, 3.0), (0.7, 6.0), (0.9, 25.0)] {
        assert_eq!(
            ours(&x, d, eps, m, None),
            euclidean_reference(&x, d, eps, m, None),
            "eps={eps}"
        );
        assert_eq!(
            ours(&x, d, eps, m, Some(&weights)),
            euclidean_reference(&x, d, eps, m, Some(&weights))
        );
    }
}
