use super::operator::Rows;
use super::*;
use crate::samples::{Csr, Dense};

fn never() -> bool {
    false
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// Solves the normal equations of the centred, weighted problem naively (Gauss-Jordan), as
/// an independent reference for well-conditioned data.
fn reference(
    x: &[f64],
    y: &[f64],
    w: Option<&[f64]>,
    n: usize,
    d: usize,
    alpha: f64,
    intercept: bool,
) -> (Vec<f64>, f64) {
    let wt = |i: usize| w.map_or(1.0, |w| w[i]);
    let total: f64 = (0..n).map(wt).sum();
    let mut mx = vec![0.0; d];
    let mut my = 0.0;
    if intercept {
        for i in 0..n {
            for j in 0..d {
                mx[j] += wt(i) * x[i * d + j] / total;
            }
            my += wt(i) * y[i] / total;
        }
    }
    let mut a = vec![vec![0.0; d + 1]; d];
    for i in 0..n {
        for j in 0..d {
            for k in 0..d {
                a[j][k] += wt(i) * (x[i * d + j] - mx[j]) * (x[i * d + k] - mx[k]);
            }
            a[j][d] += wt(i) * (x[i * d + j] - mx[j]) * (y[i] - my);
        }
    }
    for j in 0..d {
        a[j][j] += alpha;
    }
    for c in 0..d {
        let pivot = a[c][c];
        for k in 0..=d {
            a[c][k] /= pivot;
        }
        for r in 0..d {
            if r != c {
                let f = a[r][c];
                for k in 0..=d {
                    a[r][k] -= f * a[c][k];
                }
            }
        }
    }
    let coef: Vec<f64> = (0..d).map(|j| a[j][d]).collect();
    let b = my - coef.iter().zip(&mx).map(|(c, m)| c * m).sum::<f64>();
    (coef, b)
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
    }
}

fn dense_problem<'a>(
    x: &'a Dense<'a, f64>,
    y: &'a [f64],
    w: Option<&'a [f64]>,
    intercept: bool,
) -> Problem<'a, f64> {
    Problem {
        rows: Rows::Dense(x),
        targets: y,
        n_targets: 1,
        weights: w,
        fit_intercept: intercept,
    }
}

#[test]
fn least_squares_routes_match_the_normal_equations() {
    let (n, d) = (700, 6);
    let data = values(n * d, 1);
    let y: Vec<f64> = values(n, 2)
        .iter()
        .enumerate()
        .map(|(i, e)| data[i * d] * 2.0 - data[i * d + 3] + 0.1 * e + 5.0)
        .collect();
    let w: Vec<f64> = values(n, 3).iter().map(|v| v + 1.5).collect();
    let x = Dense::new(&data, n, d).unwrap();
    for weights in [None, Some(&w[..])] {
        for intercept in [true, false] {
            let (coef, b) = reference(&data, &y, weights, n, d, 0.0, intercept);
            let p = dense_problem(&x, &y, weights, intercept);
            let fit = linear_regression(&p, 1e-6, false, &never).unwrap();
            close(&fit.coef, &coef, 1e-10);
            close(&fit.intercept, &[b], 1e-10);
            assert_eq!(fit.rank, Some(d));
            // The exact route (as taken for float32 or ill-conditioned data) agrees.
            let (xo, yo) = p.offsets(&never).unwrap();
            let system = small::reduce(&p, &x, &xo, &yo, &never).unwrap();
            let spectral = Spectral::of(&system).unwrap();
            close(&spectral.min_norm(1e-6).unwrap(), &coef, 1e-10);
            let s = fit.singular.unwrap();
            close(&spectral.s, &s, 1e-10);
        }
    }
}

#[test]
fn collinear_columns_give_the_minimum_norm_solution() {
    // Column 2 duplicates column 0: the minimum-norm solution splits the weight equally.
    let n = 50;
    let base = values(n * 2, 4);
    let mut data = Vec::new();
    for i in 0..n {
        data.extend_from_slice(&[base[2 * i], base[2 * i + 1], base[2 * i]]);
    }
    let y: Vec<f64> = (0..n)
        .map(|i| 4.0 * base[2 * i] + base[2 * i + 1])
        .collect();
    let x = Dense::new(&data, n, 3).unwrap();
    let p = dense_problem(&x, &y, None, true);
    let fit = linear_regression(&p, 1e-6, false, &never).unwrap();
    close(&fit.coef, &[2.0, 1.0, 2.0], 1e-10);
    assert_eq!(fit.rank, Some(2));
}

#[test]
fn wide_least_squares_interpolates_with_minimum_norm() {
    let (n, d) = (5, 12);
    let data = values(n * d, 5);
    let y = values(n, 6);
    let x = Dense::new(&data, n, d).unwrap();
    let p = dense_problem(&x, &y, None, false);
    let fit = linear_regression(&p, 1e-6, false, &never).unwrap();
    // Interpolates the data...
    for i in 0..n {
        let pred: f64 = (0..d).map(|j| data[i * d + j] * fit.coef[j]).sum();
        assert!((pred - y[i]).abs() < 1e-10);
    }
    // ...with a coefficient vector in the row space (x = X^T z).
    assert_eq!(fit.rank, Some(n));
}

#[test]
fn ridge_solvers_agree() {
    let (n, d) = (400, 8);
    let data = values(n * d, 7);
    let y = values(n, 8);
    let w: Vec<f64> = values(n, 9).iter().map(|v| v + 1.2).collect();
    let x = Dense::new(&data, n, d).unwrap();
    for weights in [None, Some(&w[..])] {
        let (coef, b) = reference(&data, &y, weights, n, d, 3.0, true);
        let p = dense_problem(&x, &y, weights, true);
        for solver in [RidgeSolver::Cholesky, RidgeSolver::Svd] {
            let fit = ridge(&p, &[3.0], solver, 1e-4, None, &never).unwrap();
            close(&fit.coef, &coef, 1e-10);
            close(&fit.intercept, &[b], 1e-10);
        }
        for solver in [RidgeSolver::Lsqr, RidgeSolver::SparseCg] {
            let fit = ridge(&p, &[3.0], solver, 1e-10, None, &never).unwrap();
            close(&fit.coef, &coef, 1e-7);
        }
    }
}

#[test]
fn ridge_dual_form_matches_the_primal() {
    let (n, d) = (10, 30);
    let data = values(n * d, 10);
    let y = values(n, 11);
    let x = Dense::new(&data, n, d).unwrap();
    let p = dense_problem(&x, &y, None, true);
    let (coef, _) = reference(&data, &y, None, n, d, 0.5, true);
    let fit = ridge(&p, &[0.5], RidgeSolver::Cholesky, 1e-4, None, &never).unwrap();
    close(&fit.coef, &coef, 1e-9);
    let svd = ridge(&p, &[0.5], RidgeSolver::Svd, 1e-4, None, &never).unwrap();
    close(&svd.coef, &coef, 1e-9);
}

#[test]
fn sparse_lsqr_matches_dense() {
    let (n, d) = (300, 5);
    let mut data = values(n * d, 12);
    data.iter_mut().for_each(|v| {
        if *v < 0.2 {
            *v = 0.0
        }
    });
    let y = values(n, 13);
    let (mut values_, mut indices, mut indptr) = (Vec::new(), Vec::new(), vec![0i64]);
    for i in 0..n {
        for j in 0..d {
            if data[i * d + j] != 0.0 {
                values_.push(data[i * d + j]);
                indices.push(j as i32);
            }
        }
        indptr.push(values_.len() as i64);
    }
    let csr = Csr::new(&values_, &indices, &indptr, n, d).unwrap();
    let p = Problem {
        rows: Rows::Csr(&csr),
        targets: &y,
        n_targets: 1,
        weights: None,
        fit_intercept: true,
    };
    let (coef, b) = reference(&data, &y, None, n, d, 0.0, true);
    let fit = linear_regression(&p, 1e-12, false, &never).unwrap();
    close(&fit.coef, &coef, 1e-8);
    close(&fit.intercept, &[b], 1e-8);
}

#[test]
fn nnls_satisfies_the_optimality_conditions() {
    let (n, d) = (200, 6);
    let data = values(n * d, 14);
    let y: Vec<f64> = (0..n)
        .map(|i| data[i * d] - 2.0 * data[i * d + 1] + 0.5 * data[i * d + 2])
        .collect();
    let x = Dense::new(&data, n, d).unwrap();
    let p = dense_problem(&x, &y, None, false);
    let fit = linear_regression(&p, 1e-6, true, &never).unwrap();
    assert!(fit.coef.iter().all(|&c| c >= 0.0));
    // KKT: the gradient X^T (y - X b) is zero on positive coefficients and <= 0 elsewhere.
    for j in 0..d {
        let g: f64 = (0..n)
            .map(|i| {
                let r = y[i] - (0..d).map(|k| data[i * d + k] * fit.coef[k]).sum::<f64>();
                data[i * d + j] * r
            })
            .sum();
        if fit.coef[j] > 0.0 {
            assert!(g.abs() < 1e-9, "{j}: {g}");
        } else {
            assert!(g < 1e-9, "{j}: {g}");
        }
    }
    assert_eq!(fit.coef[1], 0.0);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (n, d) = (20_000, 12);
    let data = values(n * d, 15);
    let y = values(n, 16);
    let w: Vec<f64> = values(n, 17).iter().map(|v| v + 1.1).collect();
    let x = Dense::new(&data, n, d).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let p = dense_problem(&x, &y, Some(&w), true);
            let a = linear_regression(&p, 1e-6, false, &never).unwrap().coef;
            let b = ridge(&p, &[1.0], RidgeSolver::Lsqr, 1e-6, None, &never)
                .unwrap()
                .coef;
            let c = ridge(&p, &[1.0], RidgeSolver::Svd, 1e-6, None, &never)
                .unwrap()
                .coef;
            (a, b, c)
        })
    };
    assert_eq!(run(1), run(2));
    assert_eq!(run(1), run(3));
}
