//! Exact small cases: the objective against a direct evaluation, its gradient against finite
//! differences, the optimum's stationarity, and identical results for 1 and 2 threads.

use super::*;
use crate::samples::{Csr, Dense};

fn never() -> bool {
    false
}

/// A small deterministic dataset: `n` rows of `d` features, labels from a linear rule.
fn data(n: usize, d: usize, classes: usize) -> (Vec<f64>, Vec<i32>) {
    let mut x = Vec::with_capacity(n * d);
    let mut state = 12345u64;
    for _ in 0..n * d {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x.push(((state >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0);
    }
    let labels = (0..n)
        .map(|i| {
            let s: f64 = x[i * d..(i + 1) * d]
                .iter()
                .enumerate()
                .map(|(j, v)| v * (j as f64 + 1.0).sin())
                .sum();
            (((s + 3.0) * classes as f64 / 6.0)
                .floor()
                .clamp(0.0, classes as f64 - 1.0)) as i32
        })
        .collect();
    (x, labels)
}

/// The objective written out directly.
fn reference_loss(x: &[f64], labels: &[i32], sw: &[f64], model: Model, l2: f64, p: &[f64]) -> f64 {
    let (k, d) = (model.rows(), model.n_features);
    let n = labels.len();
    let mut total = 0.0;
    for i in 0..n {
        let z: Vec<f64> = (0..k)
            .map(|c| {
                let b = if model.fit_intercept {
                    p[k * d + c] * model.intercept_scaling
                } else {
                    0.0
                };
                (0..d).map(|j| x[i * d + j] * p[c * d + j]).sum::<f64>() + b
            })
            .collect();
        let l = if k == 1 {
            (1.0 + z[0].exp()).ln() - labels[i] as f64 * z[0]
        } else {
            z.iter().map(|v| v.exp()).sum::<f64>().ln() - z[labels[i] as usize]
        };
        total += sw[i] * l;
    }
    let sw_sum: f64 = sw.iter().sum();
    let mut pen: f64 = p[..k * d].iter().map(|v| v * v).sum();
    if model.penalize_intercept && model.fit_intercept {
        pen += p[k * d..].iter().map(|v| v * v).sum::<f64>();
    }
    total / sw_sum + 0.5 * l2 * pen
}

fn model(classes: usize, d: usize, penalize: bool) -> Model {
    Model {
        n_classes: classes,
        n_features: d,
        fit_intercept: true,
        intercept_scaling: if penalize { 2.5 } else { 1.0 },
        penalize_intercept: penalize,
    }
}

#[test]
fn objective_and_gradient_match_direct_evaluation() {
    for (classes, penalize) in [(2, false), (3, false), (2, true), (4, true)] {
        let (n, d) = (700, 5);
        let (x, labels) = data(n, d, classes);
        let sw: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
        let m = model(classes, d, penalize);
        let dense = Dense::new(&x, n, d).unwrap();
        let prob = Problem::new::<f64>(&dense, &labels, Some(&sw), m, 0.01).unwrap();
        let p: Vec<f64> = (0..m.n_params())
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 10.0)
            .collect();
        let mut g = vec![0.0; p.len()];
        let f = prob.loss_gradient::<f64>(&p, &mut g).unwrap();
        let want = reference_loss(&x, &labels, &sw, m, 0.01, &p);
        assert!(
            (f - want).abs() < 1e-12 * want.abs().max(1.0),
            "{f} vs {want}"
        );
        for i in 0..p.len() {
            let h = 1e-6;
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (reference_loss(&x, &labels, &sw, m, 0.01, &a)
                - reference_loss(&x, &labels, &sw, m, 0.01, &b))
                / (2.0 * h);
            assert!((g[i] - fd).abs() < 1e-7, "param {i}: {} vs {fd}", g[i]);
        }
    }
}

#[test]
fn sparse_and_float32_agree_with_dense() {
    let (n, d) = (600, 6);
    let (mut x, labels) = data(n, d, 3);
    // Some zeros so the CSR matrix is sparse.
    for (i, v) in x.iter_mut().enumerate() {
        if i % 3 == 0 {
            *v = 0.0;
        }
    }
    let m = model(3, d, false);
    let p: Vec<f64> = (0..m.n_params()).map(|i| (i as f64 - 9.0) / 13.0).collect();
    let dense = Dense::new(&x, n, d).unwrap();
    let mut g_dense = vec![0.0; p.len()];
    let f_dense = Problem::new::<f64>(&dense, &labels, None, m, 0.1)
        .unwrap()
        .loss_gradient::<f64>(&p, &mut g_dense)
        .unwrap();
    let (mut data_, mut indices, mut indptr) = (vec![], vec![], vec![0i64]);
    for i in 0..n {
        for j in 0..d {
            if x[i * d + j] != 0.0 {
                data_.push(x[i * d + j]);
                indices.push(j as i32);
            }
        }
        indptr.push(data_.len() as i64);
    }
    let csr = Csr::new(&data_, &indices, &indptr, n, d).unwrap();
    let mut g_csr = vec![0.0; p.len()];
    let f_csr = Problem::new::<f64>(&csr, &labels, None, m, 0.1)
        .unwrap()
        .loss_gradient::<f64>(&p, &mut g_csr)
        .unwrap();
    assert!((f_dense - f_csr).abs() < 1e-13);
    g_dense
        .iter()
        .zip(&g_csr)
        .for_each(|(a, b)| assert!((a - b).abs() < 1e-13));
    // float32 data that is exactly representable gives the float64 result.
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    let d32 = Dense::new(&x32, n, d).unwrap();
    let d64 = Dense::new(&x64, n, d).unwrap();
    let (mut g32, mut g64) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    let f32_ = Problem::new::<f32>(&d32, &labels, None, m, 0.1)
        .unwrap()
        .loss_gradient::<f32>(&p, &mut g32)
        .unwrap();
    let f64_ = Problem::new::<f64>(&d64, &labels, None, m, 0.1)
        .unwrap()
        .loss_gradient::<f64>(&p, &mut g64)
        .unwrap();
    assert_eq!(f32_, f64_);
    assert_eq!(g32, g64);
}

#[test]
fn fit_reaches_a_stationary_point_and_is_thread_independent() {
    for classes in [2, 5] {
        let (n, d) = (20_000, 8);
        let (x, labels) = data(n, d, classes);
        let m = model(classes, d, false);
        let dense = Dense::new(&x, n, d).unwrap();
        let prob = Problem::new::<f64>(&dense, &labels, None, m, 1.0 / n as f64).unwrap();
        let opts = FitOptions {
            lbfgs: lbfgs::Options {
                max_iter: 1000,
                max_ls: 50,
                pgtol: 1e-8,
                ftol: 64.0 * f64::EPSILON,
                ..Default::default()
            },
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit::<f64, _>(&prob, vec![0.0; m.n_params()], &opts, &never).unwrap())
        };
        let one = run(1);
        let two = run(2);
        assert_eq!(one.coef, two.coef);
        assert_eq!(one.intercept, two.intercept);
        let mut params = one.coef.clone();
        params.extend(&one.intercept);
        let mut g = vec![0.0; params.len()];
        prob.loss_gradient::<f64>(&params, &mut g).unwrap();
        let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(one.status == 0 && gmax < 1e-6, "{} {gmax}", one.message);
        if classes > 2 {
            // The multinomial optimum from zero is symmetric: coefficients sum to zero per feature.
            for j in 0..d {
                let s: f64 = (0..classes).map(|c| one.coef[c * d + j]).sum();
                assert!(s.abs() < 1e-8);
            }
        }
        // Probabilities of the fitted model are rows that sum to one.
        let scores =
            decision_function::<f64, _>(&dense, &one.coef, &one.intercept, &never).unwrap();
        let k = m.rows();
        let proba = probabilities(scores, k).unwrap();
        for row in proba.chunks_exact(classes) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}
