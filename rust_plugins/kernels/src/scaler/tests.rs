use super::apply::{scale_in_place, scaled, Scaling};
use super::sparse::{self, Compressed};
use super::*;

fn never() -> bool {
    false
}

/// A small deterministic generator (values with a large offset, some NaN).
fn data(n: usize, d: usize, nan_every: usize) -> Vec<f64> {
    let mut state = 0x2545F4914F6CDD1Du64;
    (0..n * d)
        .map(|k| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if nan_every > 0 && k % nan_every == 3 {
                f64::NAN
            } else {
                1e4 + (state % 10_000) as f64 / 997.0
            }
        })
        .collect()
}

fn transpose(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..d {
            t[j * n + i] = x[i * d + j];
        }
    }
    t
}

fn zeros(d: usize, with_var: bool) -> Running {
    Running {
        mean: vec![0.0; d],
        var: with_var.then(|| vec![0.0; d]),
        count: vec![0.0; d],
    }
}

/// Two-pass reference in float64, NaN ignored.
fn reference(x: &[f64], n: usize, d: usize, w: Option<&[f64]>) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; d];
    let mut var = vec![0.0; d];
    let mut count = vec![0.0; d];
    for j in 0..d {
        let (mut s, mut c) = (0.0, 0.0);
        for i in 0..n {
            let v = x[i * d + j];
            if !v.is_nan() {
                let wi = w.map_or(1.0, |w| w[i]);
                s += wi * v;
                c += wi;
            }
        }
        let m = s / c;
        let mut q = 0.0;
        for i in 0..n {
            let v = x[i * d + j];
            if !v.is_nan() {
                q += w.map_or(1.0, |w| w[i]) * (v - m) * (v - m);
            }
        }
        (mean[j], var[j], count[j]) = (m, q / c, c);
    }
    (mean, var, count)
}

fn close(a: &[f64], b: &[f64], rtol: f64) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= rtol * y.abs().max(1e-300), "{x} vs {y}");
    }
}

#[test]
fn dense_matches_two_pass_reference_in_both_layouts() {
    let (n, d) = (1000, 7);
    for nan_every in [0, 11] {
        let x = data(n, d, nan_every);
        let xt = transpose(&x, n, d);
        let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
        for weights in [None, Some(&w[..])] {
            let (m, v, c) = reference(&x, n, d, weights);
            for (buf, layout) in [(&x, Layout::Rows), (&xt, Layout::Columns)] {
                let b = Batch::new(buf, n, d, layout).unwrap();
                let r = dense_update(&b, weights, &zeros(d, true), &never).unwrap();
                close(&r.mean, &m, 1e-14);
                close(r.var.as_ref().unwrap(), &v, 1e-10);
                close(&r.count, &c, 0.0);
            }
        }
    }
}

#[test]
fn rows_layout_sums_each_column_in_row_order() {
    // A running sum per column: 1e16 + 1 + 1 - 1e16 is 0 in that order (pairwise would give 2).
    let x = [1e16, 1.0, 1.0, 1.0, 1.0, 1.0, -1e16, 1.0];
    let b = Batch::new(&x, 4, 2, Layout::Rows).unwrap();
    let p = dense::first_pass(&b, None, &never).unwrap();
    assert_eq!(p.sum, vec![((1e16 + 1.0) + 1.0) - 1e16, 4.0]);
    assert_eq!(p.count, vec![4.0, 4.0]);
    assert!(!p.any_nan);
}

#[test]
fn incremental_batches_agree_with_one_batch() {
    let (n, d) = (900, 5);
    let x = data(n, d, 13);
    let whole = dense_update(
        &Batch::new(&x, n, d, Layout::Rows).unwrap(),
        None,
        &zeros(d, true),
        &never,
    )
    .unwrap();
    let mut running = zeros(d, true);
    for part in x.chunks(300 * d) {
        let b = Batch::new(part, part.len() / d, d, Layout::Rows).unwrap();
        running = dense_update(&b, None, &running, &never).unwrap();
    }
    close(&running.mean, &whole.mean, 1e-14);
    close(
        running.var.as_ref().unwrap(),
        whole.var.as_ref().unwrap(),
        1e-9,
    );
    assert_eq!(running.count, whole.count);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (n, d) = (5000, 33);
    let x = data(n, d, 17);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let b = Batch::new(&x, n, d, Layout::Rows).unwrap();
            let r = dense_update(&b, None, &zeros(d, true), &never).unwrap();
            let s = scale_from_variance(r.var.as_ref().unwrap(), &r.mean, &r.count);
            let out = scaled(
                &x,
                n,
                d,
                Layout::Rows,
                &Scaling {
                    mean: Some(&r.mean),
                    scale: Some(&s),
                    inverse: false,
                },
            )
            .unwrap();
            (r, out)
        })
    };
    let (r1, o1) = run(1);
    for threads in [2, 3] {
        let (r, o) = run(threads);
        assert_eq!(r, r1);
        assert!(o.iter().zip(&o1).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn near_constant_features_get_scale_one() {
    // Variance within the error bound of the mean (scikit-learn's _is_constant_feature).
    let n = 1000.0;
    let mean = [1e8, 1.0, 0.0];
    let var = [1e-10, 4.0, 0.0];
    let s = scale_from_variance(&var, &mean, &[n; 3]);
    assert_eq!(s, vec![1.0, 2.0, 1.0]);
}

#[test]
fn transform_in_place_and_into_new_buffer_agree() {
    let (n, d) = (300, 4);
    let x: Vec<f32> = data(n, d, 0).iter().map(|&v| v as f32).collect();
    let mean = [1e4f32, 1.5e4, 0.0, -3.0];
    let scale = [2.0f32, 3.0, 1.0, 0.5];
    for inverse in [false, true] {
        for (m, s) in [
            (Some(&mean[..]), Some(&scale[..])),
            (Some(&mean[..]), None),
            (None, Some(&scale[..])),
        ] {
            let sc = Scaling {
                mean: m,
                scale: s,
                inverse,
            };
            let out = scaled(&x, n, d, Layout::Rows, &sc).unwrap();
            let mut inplace = x.clone();
            scale_in_place(&mut inplace, n, d, Layout::Rows, &sc).unwrap();
            assert_eq!(out, inplace);
            for (k, (&o, &v)) in out.iter().zip(&x).enumerate() {
                let j = k % d;
                let want = if inverse {
                    let t = s.map_or(v, |s| v * s[j]);
                    m.map_or(t, |m| t + m[j])
                } else {
                    let t = m.map_or(v, |m| v - m[j]);
                    s.map_or(t, |s| t / s[j])
                };
                assert_eq!(o.to_bits(), want.to_bits());
            }
            // The feature-major layout gives the transposed result.
            let xt: Vec<f32> = (0..n * d).map(|k| x[(k % n) * d + k / n]).collect();
            let out_t = scaled(&xt, n, d, Layout::Columns, &sc).unwrap();
            assert!((0..n * d).all(|k| out_t[k] == out[(k % n) * d + k / n]));
        }
    }
}

#[test]
fn sparse_statistics_match_dense_ones() {
    // 6 x 3 with implicit zeros, one NaN.
    let dense = [
        1.0,
        0.0,
        2.0,
        0.0,
        0.0,
        3.0,
        4.0,
        5.0,
        0.0,
        0.0,
        f64::NAN,
        0.0,
        1.5,
        0.0,
        -2.0,
        0.0,
        6.0,
        0.0,
    ];
    let (n, d) = (6, 3);
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
    let csr = Compressed {
        data: &data[..],
        indices: &indices[..],
        indptr: &indptr[..],
        n_samples: n,
        n_features: d,
        by_rows: true,
    };
    let ones = vec![1.0; n];
    let (m, v, c) = sparse::mean_variance(&csr, &ones, &never).unwrap();
    let (rm, rv, rc) = reference(&dense, n, d, None);
    close(&m, &rm, 1e-14);
    close(&v, &rv, 1e-13);
    assert_eq!(c, rc);
    // Two halves folded incrementally give the same statistics.
    let top = Compressed {
        data: &data[..indptr[3] as usize],
        indices: &indices[..indptr[3] as usize],
        indptr: &indptr[..4],
        n_samples: 3,
        n_features: d,
        by_rows: true,
    };
    let shifted: Vec<i64> = indptr[3..].iter().map(|p| p - indptr[3]).collect();
    let bottom = Compressed {
        data: &data[indptr[3] as usize..],
        indices: &indices[indptr[3] as usize..],
        indptr: &shifted[..],
        n_samples: 3,
        n_features: d,
        by_rows: true,
    };
    let (m1, v1, c1) = sparse::mean_variance(&top, &ones[..3], &never).unwrap();
    let (m2, v2, c2) = sparse::incremental(&bottom, &ones[..3], &m1, &v1, &c1, &never).unwrap();
    close(&m2, &rm, 1e-14);
    close(&v2, &rv, 1e-13);
    assert_eq!(c2, rc);
}

#[test]
fn malformed_sparse_input_is_an_error() {
    let data = [1.0f64, 2.0];
    let bad = Compressed {
        data: &data[..],
        indices: &[0i32, 5][..],
        indptr: &[0i64, 1, 2][..],
        n_samples: 2,
        n_features: 3,
        by_rows: true,
    };
    assert!(sparse::mean_variance(&bad, &[1.0, 1.0], &never).is_err());
    let mut d = data;
    assert!(sparse::scale_columns(&mut d, &[0i32, 3], &[1.0, 2.0]).is_err());
}

#[test]
fn passes_chained_over_row_pieces_equal_one_pass() {
    let (n, d) = (1000, 7);
    let x = data(n, d, 37);
    let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 5) as f64).collect();
    for weights in [None, Some(w.as_slice())] {
        let whole = Batch::new(&x, n, d, Layout::Rows).unwrap();
        let first = dense::first_pass(&whole, weights, &never).unwrap();
        let t: Vec<f64> = first
            .sum
            .iter()
            .zip(&first.count)
            .map(|(s, c)| s / c)
            .collect();
        let second = dense::second_pass(&whole, weights, &t, first.any_nan, &never).unwrap();
        let cuts = [0, 1, 300, 301, 777, n];
        let (mut chained_first, mut chained_second) = (None, None);
        for piece in cuts.windows(2) {
            let rows = &x[piece[0] * d..piece[1] * d];
            let b = Batch::new(rows, piece[1] - piece[0], d, Layout::Rows).unwrap();
            let w = weights.map(|w| &w[piece[0]..piece[1]]);
            let f = dense::first_pass_from(&b, w, chained_first.as_ref(), &never).unwrap();
            chained_first = Some(f);
        }
        assert_eq!(chained_first.as_ref(), Some(&first));
        for piece in cuts.windows(2) {
            let rows = &x[piece[0] * d..piece[1] * d];
            let b = Batch::new(rows, piece[1] - piece[0], d, Layout::Rows).unwrap();
            let w = weights.map(|w| &w[piece[0]..piece[1]]);
            let s = dense::second_pass_from(&b, w, &t, true, chained_second.as_ref(), &never);
            chained_second = Some(s.unwrap());
        }
        let second = second;
        let chained = chained_second.unwrap();
        assert_eq!(
            chained
                .correction
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            second
                .correction
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            chained
                .squares
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            second
                .squares
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn only_row_major_passes_continue_running_sums() {
    let x = data(10, 1, 0);
    let columns = Batch::new(&x, 10, 1, Layout::Columns).unwrap();
    let start = dense::first_pass(&columns, None, &never).unwrap();
    assert!(dense::first_pass_from(&columns, None, Some(&start), &never).is_err());
    let rows = Batch::new(&x, 5, 2, Layout::Rows).unwrap();
    assert!(dense::first_pass_from(&rows, None, Some(&start), &never).is_err());
}
