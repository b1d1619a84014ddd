use super::gram::{centred_moments, sparse_gram};
use super::*;
use crate::samples::{Csr, Dense};

/// A reproducible matrix with correlated columns and an offset.
fn sample(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let mut out = vec![0.0; rows * cols];
    for i in 0..rows {
        let shared = next();
        for j in 0..cols {
            out[i * cols + j] = 3.0 + shared * (j as f64 + 1.0) + next();
        }
    }
    out
}

fn on_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn never() -> bool {
    false
}

fn max_abs_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut worst = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            worst = worst.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    worst
}

#[test]
fn svd_reconstructs_tall_and_wide_matrices() {
    for &(m, n) in &[(300, 7), (7, 300), (40, 40)] {
        let data = sample(m, n, 1);
        let a = row_major(&data, m, n);
        let f = svd(a, true).unwrap();
        assert!(f.s.windows(2).all(|w| w[0] >= w[1]));
        let u = f.u.unwrap();
        let mut us = u.clone();
        for (j, &s) in f.s.iter().enumerate() {
            us.as_mut().col_mut(j).iter_mut().for_each(|v| *v *= s);
        }
        let back = product(us.as_ref(), f.v.as_ref().transpose(), Par::Seq).unwrap();
        assert!(max_abs_diff(back.as_ref(), a) < 1e-10, "{m}x{n}");
    }
}

#[test]
fn eigh_diagonalises_a_symmetric_matrix() {
    let data = sample(50, 6, 2);
    let a = row_major(&data, 50, 6);
    let gram = product(a.transpose(), a, Par::Seq).unwrap();
    let (w, v) = eigh(gram.as_ref()).unwrap();
    assert!(w.windows(2).all(|p| p[0] <= p[1]));
    let av = product(gram.as_ref(), v.as_ref(), Par::Seq).unwrap();
    for j in 0..6 {
        for i in 0..6 {
            assert!((av.at(i, j) - w[j] * v.at(i, j)).abs() < 1e-9 * w[5]);
        }
    }
}

#[test]
fn thin_q_is_an_orthonormal_basis_of_the_columns() {
    for &(m, n) in &[(200, 9), (5, 9)] {
        let data = sample(m, n, 3);
        let a = row_major(&data, m, n);
        let q = thin_q(a).unwrap();
        assert_eq!((q.rows, q.cols), (m, m.min(n)));
        let qtq = product(q.as_ref().transpose(), q.as_ref(), Par::Seq).unwrap();
        let eye = ColMajor::<f64>::identity(q.cols, q.cols).unwrap();
        assert!(max_abs_diff(qtq.as_ref(), eye.as_ref()) < 1e-12);
        // A lies in the span of Q: Q Q^T A = A.
        let qta = product(q.as_ref().transpose(), a, Par::Seq).unwrap();
        let back = product(q.as_ref(), qta.as_ref(), Par::Seq).unwrap();
        assert!(max_abs_diff(back.as_ref(), a) < 1e-10);
    }
}

#[test]
fn permuted_lower_matches_scipy() {
    // scipy.linalg.lu(A, permute_l=True)[0]
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.0, 1.0];
    let expected: [f64; 8] = [
        -1.0 / 7.0,
        0.31914894,
        -3.0 / 7.0,
        0.65957447,
        -5.0 / 7.0,
        1.0,
        1.0,
        0.0,
    ];
    let pl = permuted_lower(row_major(&a, 4, 2)).unwrap();
    let got = pl.to_row_major().unwrap();
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 1e-8, "{got:?}");
    }
}

#[test]
fn inverse_and_slogdet_of_a_small_matrix() {
    let a = [4.0, 1.0, 2.0, 0.0, 3.0, 1.0, 1.0, -2.0, 5.0];
    let lu = Lu::new(row_major(&a, 3, 3)).unwrap();
    // det = 4(15+2) - 1(0-1) + 2(0-3) = 63
    let (sign, log_abs) = lu.slogdet();
    assert_eq!(sign, 1.0);
    assert!((log_abs - 63f64.ln()).abs() < 1e-12);
    let inv = lu.inverse().unwrap().unwrap();
    let eye = product(row_major(&a, 3, 3), inv.as_ref(), Par::Seq).unwrap();
    let id = ColMajor::<f64>::identity(3, 3).unwrap();
    assert!(max_abs_diff(eye.as_ref(), id.as_ref()) < 1e-14);
    let singular = [1.0, 2.0, 2.0, 4.0];
    let lu = Lu::new(row_major(&singular, 2, 2)).unwrap();
    assert_eq!(lu.slogdet(), (0.0, f64::NEG_INFINITY));
    assert!(lu.inverse().unwrap().is_none());
    // An odd permutation flips the sign: det [[0, 1], [1, 0]] = -1.
    let swap = [0.0, 1.0, 1.0, 0.0];
    assert_eq!(
        Lu::new(row_major(&swap, 2, 2)).unwrap().slogdet(),
        (-1.0, 0.0)
    );
}

#[test]
fn centred_moments_match_a_two_pass_computation() {
    let (n, d) = (1000, 5);
    let mut data = sample(n, d, 4);
    data.iter_mut().for_each(|v| *v += 1e6);
    let x = Dense::new(&data, n, d).unwrap();
    let m = centred_moments(&x, &never).unwrap();
    assert_eq!(m.count, n);
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| data[i * d + j]).sum::<f64>() / n as f64)
        .collect();
    for j in 0..d {
        assert!(
            (m.mean[j] - mean[j]).abs() < 1e-14 * mean[j],
            "{} {}",
            m.mean[j],
            mean[j]
        );
        for k in 0..d {
            let s: f64 = (0..n)
                .map(|i| (data[i * d + j] - mean[j]) * (data[i * d + k] - mean[k]))
                .sum();
            assert!(
                (m.scatter.at(j, k) - s).abs() < 1e-9 * s.abs().max(1.0),
                "{j} {k}"
            );
        }
    }
}

#[test]
fn sparse_gram_matches_the_dense_product() {
    let dense = [1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 4.0, 5.0, 0.0, 0.0, 0.0, 0.0];
    let (data, indices, indptr) = (
        vec![2.0, 1.0, 3.0, 5.0, 4.0],
        vec![2i32, 0, 2, 1, 0],
        vec![0i64, 2, 3, 5, 5],
    );
    let x = Csr::new(&data, &indices, &indptr, 4, 3).unwrap();
    let (sums, gram) = sparse_gram(&x, &never).unwrap();
    let a = row_major(&dense, 4, 3);
    let expected = product(a.transpose(), a, Par::Seq).unwrap();
    assert_eq!(gram.data, expected.data);
    assert_eq!(sums, vec![5.0, 5.0, 5.0]);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (n, d) = (3000, 120);
    let data = sample(n, d, 5);
    let run = || {
        let a = row_major(&data, n, d);
        let p = par();
        let gram = product(a.transpose(), a, p).unwrap();
        let f = svd(ColMajor::copy_of(a).unwrap().as_ref(), true).unwrap();
        let (w, v) = eigh(gram.as_ref()).unwrap();
        let q = thin_q(ColMajor::copy_of(a).unwrap().as_ref()).unwrap();
        let l = permuted_lower(a).unwrap();
        let m = centred_moments(&Dense::new(&data, n, d).unwrap(), &never).unwrap();
        let shift = vec![1.0; d];
        let r = super::tsqr::shifted_r(&Dense::new(&data, n, d).unwrap(), &shift, &never).unwrap();
        (gram, f.s, f.u, f.v, w, v, q, l, m.scatter, m.mean, r)
    };
    let one = on_pool(1, run);
    let two = on_pool(2, run);
    assert!(one.0 == two.0, "gram");
    assert!(one.1 == two.1 && one.2 == two.2 && one.3 == two.3, "svd");
    assert!(one.4 == two.4 && one.5 == two.5, "eigh");
    assert!(one.6 == two.6, "qr");
    assert!(one.7 == two.7, "lu");
    assert!(one.8 == two.8 && one.9 == two.9, "moments");
    assert!(one.10 == two.10, "tsqr");
}

#[test]
fn tsqr_r_has_the_singular_values_of_the_shifted_matrix() {
    let (n, d) = (2000, 9);
    let data = sample(n, d, 6);
    let shift: Vec<f64> = (0..d).map(|j| j as f64).collect();
    let r = super::tsqr::shifted_r(&Dense::new(&data, n, d).unwrap(), &shift, &never).unwrap();
    let mut shifted = data.clone();
    for row in shifted.chunks_exact_mut(d) {
        row.iter_mut().zip(&shift).for_each(|(v, s)| *v -= s);
    }
    let expected = svd(row_major(&shifted, n, d), false).unwrap();
    let got = svd(r.as_ref(), false).unwrap();
    for (a, b) in expected.s.iter().zip(&got.s) {
        assert!((a - b).abs() < 1e-12 * expected.s[0]);
    }
    // R is upper triangular.
    for j in 0..d {
        for i in j + 1..d {
            assert_eq!(r.at(i, j), 0.0);
        }
    }
}
